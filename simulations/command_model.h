// What a simulated process does: how long it runs and how it ends, decided when it starts.
// Built-ins behave as in node/process_executor.cc (@noop, @fail at once; @sleep S for S
// seconds); a few commands are interpreted as a shell would run them; everything else is
// "work" whose duration and exit code are drawn per attempt, so a retry may succeed.
//
//   true | false           exit 0 | 1 after a fork's worth of time
//   sleep N                exit 0 after N seconds (decimal, e.g. 0.25)
//   exit K                 exit K after a fork's worth of time
//   flaky P                exit 1 with probability P %, else 0; short
//   missing-...            cannot start ("no such file or directory")
//   anything else          drawn: 1 ms .. 10 s, log-uniform; exit 0 with 9/10, else 1..3,
//                          and 1/100 of them die by signal 11
#ifndef MAGPIE_SIMULATIONS_COMMAND_MODEL_H_
#define MAGPIE_SIMULATIONS_COMMAND_MODEL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/prng.h"
#include "base/time.h"

namespace magpie {

struct ProcessPlan {
  bool start_fails = false;
  std::string error;  // why it could not start
  Duration runs_for;
  int32_t exit_code = 0;
  int32_t signal = 0;  // non-zero: it dies by this signal at the end
};

ProcessPlan PlanProcess(const std::vector<std::string>& command, Prng& prng);

// "1.5" -> 1,500,000 us; at most six decimals; no floating point, so it is exact.
// std::nullopt for anything else (negative, empty, trailing garbage, over a year).
std::optional<int64_t> ParseSecondsMicros(const std::string& text);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_COMMAND_MODEL_H_
