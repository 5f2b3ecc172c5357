// Runs worlds and reports them: one run with its full report, or many (a swarm, a seeds
// file) with a line each and a summary. The wall clock is read here only, for the speed
// figure; it never reaches a world or its trace.
#ifndef MAGPIE_SIMULATIONS_RUNNER_H_
#define MAGPIE_SIMULATIONS_RUNNER_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "simulations/known_bugs.h"
#include "simulations/sim_options.h"
#include "simulations/world.h"

namespace magpie {

struct RunOutcome {
  RunReport report;
  double wall_seconds = 0;
};

// One run: prints the options first, then the report, the replay command if it failed,
// and the trace hash last.
RunOutcome RunOne(const SimOptions& options, spdlog::level::level_enum log_level,
                  const std::vector<KnownBug>& known, std::FILE* out);

struct SwarmSummary {
  uint64_t runs = 0;
  uint64_t failures = 0;         // runs that did not do what was expected of them
  uint64_t expected_failures = 0;  // expect= runs that failed as expected
  std::map<std::string, uint64_t> known;  // runs stopped by a known bug, by its id
  std::vector<std::string> failed_replays;
  double sim_seconds = 0;
  double wall_seconds = 0;
  // Every run's failover samples (RunReport::failover_*), true ms.
  std::vector<int64_t> failover_leader_ms;
  std::vector<int64_t> failover_other_ms;
};

// Many runs, one line each, then a summary. Stops nothing on a failure: a swarm reports
// every failing seed. A run with an expectation (PlannedRun::expect) counts as a failure
// when it passes or fails some other way.
SwarmSummary RunMany(const std::vector<PlannedRun>& runs, spdlog::level::level_enum log_level,
                     const std::vector<KnownBug>& known, std::FILE* out);

// The replay command of the run in progress, for the abort handler (a broken MAGPIE_CHECK
// in the core ends the process; the seed must still be printed).
void InstallAbortReport();
void SetRunInProgress(const SimOptions& options);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_RUNNER_H_
