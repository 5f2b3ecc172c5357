#include "node/json_log_formatter.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

namespace magpie {

namespace {

void AppendString(std::string_view s, spdlog::memory_buf_t& dest) {
  // replace: a byte that is not UTF-8 (a task's name, a path) must not make the line invalid.
  std::string quoted = nlohmann::json(std::string(s)).dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  dest.append(quoted.data(), quoted.data() + quoted.size());
}

void AppendLiteral(std::string_view s, spdlog::memory_buf_t& dest) {
  dest.append(s.data(), s.data() + s.size());
}

}  // namespace

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  // UTC with milliseconds: lines from machines in different zones sort together.
  const auto since_epoch = msg.time.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - secs);
  std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char time[96];  // room for any int the seven fields could hold, so nothing is ever cut
  std::snprintf(time, sizeof(time), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis.count()));
  AppendLiteral("{\"time\":", dest);
  AppendLiteral(time, dest);
  AppendLiteral(",\"level\":", dest);
  auto level = spdlog::level::to_string_view(msg.level);
  AppendString(std::string_view(level.data(), level.size()), dest);
  AppendLiteral(",\"logger\":", dest);
  AppendString(std::string_view(msg.logger_name.data(), msg.logger_name.size()), dest);
  AppendLiteral(",\"msg\":", dest);
  AppendString(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  AppendLiteral("}\n", dest);
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>();
}

void SetLogFormat(spdlog::logger* logger, const std::string& format) {
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
}

}  // namespace magpie
