#include "simulations/schedule_checker.h"

#include <set>
#include <string>

#include "node/schedule_plan.h"

namespace magpie {

std::vector<Violation> CheckSchedules(SimTime now, SimTime healed_at, const LivenessChecker& liveness,
                                      const std::vector<std::unique_ptr<SimNode>>& nodes,
                                      ScheduleTotals* totals) {
  std::vector<Violation> out;
  auto report = [&](const char* promise, std::string what) {
    if (out.size() < LivenessChecker::kMaxReported) out.push_back(Violation{now, promise, std::move(what)});
  };
  std::set<std::string> groups;
  for (const auto& n : nodes) {
    if (!n->up()) continue;
    for (const auto& g : n->core().groups()) groups.insert(g);
  }
  for (const std::string& group : groups) {
    const int leader = liveness.LeaderOf(group);
    if (leader < 0) continue;  // liveness-after-heal reports a group without a leader
    const SimNode& node = *nodes[leader];
    const TaskTable& table = node.core().replica(group)->table;
    const int64_t leader_now_ms = node.clock().LocalAt(now).unix_millis();
    const int64_t healed_ms = node.clock().LocalAt(healed_at).unix_millis();
    // Every task a schedule fired, by schedule.
    // Copies: a record read back from disk lives only for its visit.
    std::map<std::string, std::vector<Task>> runs;
    table.ForEachBySeq(0, [&](const Task& t) {
      if (!t.fired_by.empty()) runs[t.fired_by].push_back(t);
      return true;
    });
    table.ForEachBySeq(0, [&](const Task& s) {
      if (!s.spec.is_schedule()) return true;
      if (totals != nullptr) {
        ++totals->schedules;
        totals->fired += s.fired;
        totals->skipped += s.skipped;
      }
      const ScheduleSpec& spec = s.spec.schedule;
      const std::string where = "schedule " + s.id + " (every " + std::to_string(spec.every_ms) +
                                " ms, catch-up " + std::to_string(spec.catch_up) +
                                (spec.no_overlap ? ", no-overlap" : "") + ") at node " +
                                std::to_string(leader);
      std::set<int64_t> slots;
      for (const Task& run : runs[s.id]) {
        const Task* t = &run;
        const int64_t slot = t->slot_ms;
        if (!slots.insert(slot).second) {
          report(kScheduleOnce, where + ": slot " + std::to_string(slot) + " fired twice (" + t->id + ")");
        }
        if (slot <= s.submitted_ms || slot > s.last_slot_ms ||
            (spec.every_ms > 0 && (slot - s.submitted_ms) % spec.every_ms != 0)) {
          report(kScheduleOnce, where + ": " + t->id + " fired for " + std::to_string(slot) +
                                    ", not one of its slots up to " + std::to_string(s.last_slot_ms));
        }
        if (spec.catch_up == 0 && t->submitted_ms - slot > OnTimeGraceMs(spec)) {
          report(kScheduleOnce, where + ": " + t->id + " fired " + std::to_string(t->submitted_ms - slot) +
                                    " ms after its slot under the skip policy");
        }
      }
      if (slots.size() != s.fired) {
        report(kScheduleOnce, where + ": counts " + std::to_string(s.fired) + " firings but " +
                                  std::to_string(slots.size()) + " fired tasks are in the table");
      }
      if (spec.every_ms > 0) {
        const uint64_t decided = static_cast<uint64_t>((s.last_slot_ms - s.submitted_ms) / spec.every_ms);
        if (decided != s.fired + s.skipped) {
          report(kScheduleOnce, where + ": " + std::to_string(decided) + " slots up to " +
                                    std::to_string(s.last_slot_ms) + " but " + std::to_string(s.fired) +
                                    " fired + " + std::to_string(s.skipped) + " skipped");
        }
      }
      if (s.state == TaskState::kScheduled && !s.paused) {
        // The slot after the last one decided must not be long overdue, counting from the
        // later of its own time and the heal.
        const int64_t next = NextSlot(s, s.last_slot_ms);
        const int64_t slack = (spec.every_ms > 0 ? spec.every_ms : 60'000) + OnTimeGraceMs(spec) + 5'000;
        if (next != INT64_MAX && std::max(next, healed_ms) + slack < leader_now_ms) {
          report(kScheduleLive, where + ": its next slot " + std::to_string(next) + " is " +
                                    std::to_string(leader_now_ms - next) + " ms overdue, " +
                                    std::to_string((leader_now_ms - healed_ms) / 1000) + " s after the heal");
        }
      }
      return true;
    });
  }
  return out;
}

}  // namespace magpie
