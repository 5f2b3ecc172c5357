// What a schedule's group leader proposes when it looks at a schedule at `now`: a pure
// function of the schedule's committed record and the time, so every leader, the
// simulator's checker and the tests agree on it (docs/schedules.md).
#ifndef MAGPIE_NODE_SCHEDULE_PLAN_H_
#define MAGPIE_NODE_SCHEDULE_PLAN_H_

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "node/task.h"

namespace magpie {

// The first slot of the schedule strictly after after_ms; INT64_MAX if there is none (or
// its cron expression does not parse, which the leader refused at `schedule add`).
int64_t NextSlot(const Task& schedule, int64_t after_ms);

// How late a slot may fire and still count as on time rather than missed: a minute, or one
// period of an --every schedule shorter than that.
int64_t OnTimeGraceMs(const ScheduleSpec& spec);

struct PlannedFire {
  int64_t slot_ms = 0;
  uint64_t skipped_before = 0;
  bool run = true;
};

// The Fire entries for the slots due by now_ms after `after_ms` (the schedule's
// last_slot_ms, or a slot already proposed): the latest due slot if it is on time; of the
// missed ones, the latest spec.catch_up run late (oldest first) and the rest are counted
// skipped. When nothing runs, one entry (run = false) records the skip. Empty when no slot
// is due. At most catch_up + 1 entries; at most max_scan slots are looked at.
std::vector<PlannedFire> PlanFirings(const Task& schedule, int64_t after_ms, int64_t now_ms,
                                     size_t max_scan = 1000000);

// Checks a schedule's spec beyond ValidateSpec: that its cron expression parses.
Status CheckScheduleSpec(const ScheduleSpec& spec);

}  // namespace magpie

#endif  // MAGPIE_NODE_SCHEDULE_PLAN_H_
