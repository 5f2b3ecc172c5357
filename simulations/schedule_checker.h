// The promises of schedules (docs/schedules.md), checked once the faults have healed and
// the cluster has converged, on each group's leader:
//
//   schedule-fires-once     the tasks a schedule fired have distinct slots, each one of its
//                           slots after its creation and not past the latest slot decided;
//                           every slot up to that one was decided exactly once, fired or
//                           skipped (fired + skipped = slots), and under the skip policy
//                           nothing fired late (beyond the on-time grace)
//   schedule-keeps-firing   after the heal, every schedule that was not removed has decided
//                           its slots up to the end of the run (less a period and a grace)
#ifndef MAGPIE_SIMULATIONS_SCHEDULE_CHECKER_H_
#define MAGPIE_SIMULATIONS_SCHEDULE_CHECKER_H_

#include <memory>
#include <vector>

#include "simulations/liveness_checker.h"
#include "simulations/sim_node.h"
#include "simulations/violation.h"

namespace magpie {

inline constexpr const char* kScheduleOnce = "schedule-fires-once";
inline constexpr const char* kScheduleLive = "schedule-keeps-firing";

struct ScheduleTotals {
  size_t schedules = 0;
  uint64_t fired = 0;
  uint64_t skipped = 0;
};

// `healed_at`: when the faults stopped; a schedule is held to firing only from then on.
std::vector<Violation> CheckSchedules(SimTime now, SimTime healed_at, const LivenessChecker& liveness,
                                      const std::vector<std::unique_ptr<SimNode>>& nodes,
                                      ScheduleTotals* totals);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SCHEDULE_CHECKER_H_
