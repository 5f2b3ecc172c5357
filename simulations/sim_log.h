// Logging for the simulated world: every line carries simulated true time (never the wall
// clock, which would differ between runs) and the logger's name — "n2/1a2b3c4d" for node 2
// in group 1a2b3c4d, "world", "faults", "client-0". Lines go to stderr; the report goes to
// stdout, so the report stays clean at any log level.
#ifndef MAGPIE_SIMULATIONS_SIM_LOG_H_
#define MAGPIE_SIMULATIONS_SIM_LOG_H_

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/details/null_mutex.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include "simulations/sim_time.h"

namespace magpie {

class SimLogSink : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  // `now` is the world's true time; it must outlive the sink.
  explicit SimLogSink(const SimTime* now, std::FILE* out = stderr) : now_(now), out_(out) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    std::fprintf(out_, "[%14s] [%.*s] [%.*s] %.*s\n", now_->ToString().c_str(),
                 static_cast<int>(msg.logger_name.size()), msg.logger_name.data(),
                 static_cast<int>(level.size()), level.data(),
                 static_cast<int>(msg.payload.size()), msg.payload.data());
  }
  void flush_() override { std::fflush(out_); }

 private:
  const SimTime* now_;
  std::FILE* out_;
};

inline std::shared_ptr<spdlog::logger> MakeSimLogger(const std::string& name,
                                                     std::shared_ptr<spdlog::sinks::sink> sink,
                                                     spdlog::level::level_enum level) {
  auto log = std::make_shared<spdlog::logger>(name, std::move(sink));
  log->set_level(level);
  return log;
}

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SIM_LOG_H_
