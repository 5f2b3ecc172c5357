// --log-format json (docs/operations.md): each log line one JSON object,
//   {"time":"2026-12-06T09:30:00.123Z","level":"info","logger":"node","msg":"..."}
// so that journald, Loki or jq read it without a parser of our text format. The message is
// escaped as JSON (quotes, newlines, control bytes; bytes that are not UTF-8 become U+FFFD),
// so no message can break a line or the object.
#ifndef MAGPIE_NODE_JSON_LOG_FORMATTER_H_
#define MAGPIE_NODE_JSON_LOG_FORMATTER_H_

#include <memory>

#include <spdlog/formatter.h>
#include <spdlog/logger.h>

namespace magpie {

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

// Sets `logger`'s format: "text" (local time, level, message) or "json" (JsonLogFormatter).
// REQUIRES: format is "text" or "json" (ValidateSettings checks).
void SetLogFormat(spdlog::logger* logger, const std::string& format);

}  // namespace magpie

#endif  // MAGPIE_NODE_JSON_LOG_FORMATTER_H_
