// --log-format json: every message, whatever bytes it holds, is one line that is one JSON
// object with time, level, logger and msg.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "node/json_log_formatter.h"

namespace magpie {
namespace {

TEST(JsonLog, AwkwardMessagesStayOneValidObjectPerLine) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("node-a", sink);
  SetLogFormat(&logger, "json");
  const std::string messages[] = {
      "plain",
      "a \"quoted\" word and a back\\slash",
      "two\nlines\r\tand a tab",
      std::string("a nul \0 and \x01 control", 22),
      "not utf-8: \xff\xfe end",
  };
  for (const auto& m : messages) logger.warn("{}", m);

  std::istringstream lines(out.str());
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    ASSERT_LT(n, std::size(messages));
    nlohmann::json j = nlohmann::json::parse(line);  // throws (fails) if not JSON
    EXPECT_EQ(j.at("level"), "warning");
    EXPECT_EQ(j.at("logger"), "node-a");
    const std::string time = j.at("time");
    EXPECT_EQ(time.size(), 24u) << time;  // 2026-12-06T09:30:00.123Z
    EXPECT_EQ(time.back(), 'Z');
    if (n < 4) {
      EXPECT_EQ(j.at("msg"), messages[n]);
    }
    ++n;
  }
  EXPECT_EQ(n, std::size(messages));
}

TEST(JsonLog, TextFormatIsNotJson) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("node", sink);
  SetLogFormat(&logger, "text");
  logger.info("hello");
  EXPECT_NE(out.str().find(" info hello"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find('{'), std::string::npos);
}

}  // namespace
}  // namespace magpie
