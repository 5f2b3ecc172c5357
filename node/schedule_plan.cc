#include "node/schedule_plan.h"

#include <algorithm>
#include <climits>
#include <deque>

#include "node/cron.h"

namespace magpie {

int64_t NextSlot(const Task& schedule, int64_t after_ms) {
  const ScheduleSpec& spec = schedule.spec.schedule;
  if (spec.every_ms > 0) {
    // Slots are the schedule's creation + k * every (k >= 1), whatever the clock said when
    // earlier slots fired: a late firing does not move later ones.
    const int64_t anchor = schedule.submitted_ms;
    if (after_ms < anchor) return anchor + spec.every_ms;
    const int64_t k = (after_ms - anchor) / spec.every_ms + 1;
    if (k > (INT64_MAX - anchor) / spec.every_ms) return INT64_MAX;
    return anchor + k * spec.every_ms;
  }
  if (spec.cron.empty()) return INT64_MAX;
  auto cron = ParseCron(spec.cron);
  if (!cron.ok()) return INT64_MAX;
  return NextCronSlot(*cron, after_ms);
}

int64_t OnTimeGraceMs(const ScheduleSpec& spec) {
  constexpr int64_t kMinute = 60 * 1000;
  return spec.every_ms > 0 ? std::min(spec.every_ms, kMinute) : kMinute;
}

std::vector<PlannedFire> PlanFirings(const Task& schedule, int64_t after_ms, int64_t now_ms,
                                     size_t max_scan) {
  const ScheduleSpec& spec = schedule.spec.schedule;
  const size_t keep = static_cast<size_t>(std::max(spec.catch_up, 0)) + 1;
  // The latest `keep` due slots, and how many were due in all.
  std::deque<int64_t> latest;
  uint64_t due = 0;
  int64_t slot = NextSlot(schedule, after_ms);
  if (spec.every_ms > 0 && slot <= now_ms) {
    // Closed form: an --every 1s schedule after a day without quorum has 86,400 slots.
    due = static_cast<uint64_t>((now_ms - slot) / spec.every_ms) + 1;
    const int64_t last = slot + static_cast<int64_t>(due - 1) * spec.every_ms;
    for (uint64_t i = std::min<uint64_t>(due, keep); i > 0; --i) {
      latest.push_back(last - static_cast<int64_t>(i - 1) * spec.every_ms);
    }
  } else {
    for (size_t scanned = 0; slot <= now_ms && scanned < max_scan; ++scanned) {
      ++due;
      latest.push_back(slot);
      if (latest.size() > keep) latest.pop_front();
      slot = NextSlot(schedule, slot);
    }
  }
  std::vector<PlannedFire> plan;
  if (due == 0) return plan;
  const bool on_time = now_ms - latest.back() <= OnTimeGraceMs(spec);
  const uint64_t missed = due - (on_time ? 1 : 0);
  const uint64_t run_late = std::min<uint64_t>(missed, static_cast<uint64_t>(spec.catch_up));
  const uint64_t skipped = missed - run_late;
  const size_t to_run = static_cast<size_t>(run_late + (on_time ? 1 : 0));
  if (to_run == 0) {
    plan.push_back(PlannedFire{latest.back(), skipped - 1, false});
    return plan;
  }
  for (size_t i = latest.size() - to_run; i < latest.size(); ++i) {
    plan.push_back(PlannedFire{latest[i], plan.empty() ? skipped : 0, true});
  }
  return plan;
}

Status CheckScheduleSpec(const ScheduleSpec& spec) {
  if (spec.cron.empty()) return Status::Ok();
  auto cron = ParseCron(spec.cron);
  return cron.ok() ? Status::Ok() : cron.status();
}

}  // namespace magpie
