// Schedules (docs/schedules.md): the firing plan a leader makes, and the task table's rule
// that decides each slot once, whoever proposes it and however often.
#include <gtest/gtest.h>

#include "node/log_entry.h"
#include "node/schedule_plan.h"
#include "node/task_table.h"
#include "tests/core_harness.h"

namespace magpie {
namespace {

constexpr int64_t kCreated = 1'000'000;

Task EverySchedule(int64_t every_ms, int32_t catch_up = 0) {
  Task s;
  s.id = "g-1";
  s.submitted_ms = kCreated;
  s.last_slot_ms = kCreated;
  s.spec.command = {"@noop"};
  s.spec.schedule.every_ms = every_ms;
  s.spec.schedule.catch_up = catch_up;
  return s;
}

TEST(SchedulePlan, EverySlotsAreAnchoredAtCreation) {
  Task s = EverySchedule(10'000);
  EXPECT_EQ(NextSlot(s, kCreated), kCreated + 10'000);
  EXPECT_EQ(NextSlot(s, kCreated + 10'000), kCreated + 20'000) << "strictly after";
  EXPECT_EQ(NextSlot(s, kCreated + 10'001), kCreated + 20'000);
  EXPECT_TRUE(PlanFirings(s, kCreated, kCreated + 9'999).empty());
  auto plan = PlanFirings(s, kCreated, kCreated + 10'050);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].slot_ms, kCreated + 10'000);
  EXPECT_TRUE(plan[0].run);
  EXPECT_EQ(plan[0].skipped_before, 0u);
}

TEST(SchedulePlan, SkipPolicyRunsOnlyTheSlotStillOnTime) {
  Task s = EverySchedule(10'000);
  // Five slots passed without a leader; the fifth is 2 s old: on time (grace 10 s).
  auto plan = PlanFirings(s, kCreated, kCreated + 52'000);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].slot_ms, kCreated + 50'000);
  EXPECT_TRUE(plan[0].run);
  EXPECT_EQ(plan[0].skipped_before, 4u);
}

TEST(SchedulePlan, NothingOnTimeIsRecordedAsOneSkip) {
  Task s = EverySchedule(60'000 * 5);  // grace: a minute
  auto plan = PlanFirings(s, kCreated, kCreated + 300'000 * 3 + 120'000);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_FALSE(plan[0].run);
  EXPECT_EQ(plan[0].slot_ms, kCreated + 900'000);
  EXPECT_EQ(plan[0].skipped_before, 2u) << "three missed: two before, and this one";
}

TEST(SchedulePlan, CatchUpRunsTheLatestMissedSlotsOldestFirst) {
  Task s = EverySchedule(10'000, /*catch_up=*/2);
  auto plan = PlanFirings(s, kCreated, kCreated + 52'000);
  ASSERT_EQ(plan.size(), 3u);
  EXPECT_EQ(plan[0].slot_ms, kCreated + 30'000);
  EXPECT_EQ(plan[0].skipped_before, 2u);
  EXPECT_EQ(plan[1].slot_ms, kCreated + 40'000);
  EXPECT_EQ(plan[2].slot_ms, kCreated + 50'000);
  for (const auto& f : plan) EXPECT_TRUE(f.run);
}

TEST(SchedulePlan, ADayOfSecondsIsPlannedWithoutWalkingIt) {
  Task s = EverySchedule(1'000);
  auto plan = PlanFirings(s, kCreated, kCreated + 86'400'000 + 10, /*max_scan=*/10);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].slot_ms, kCreated + 86'400'000);
  EXPECT_EQ(plan[0].skipped_before, 86'399u);
}

TEST(SchedulePlan, CronSlotsAreWholeMinutes) {
  Task s = EverySchedule(0);
  s.spec.schedule.cron = "*/5 * * * *";
  // 2026-12-06T12:03:30Z
  const int64_t t = 1'796'558'610'000;
  EXPECT_EQ(NextSlot(s, t) % 300'000, 0);
  EXPECT_GT(NextSlot(s, t), t);
  EXPECT_LE(NextSlot(s, t) - t, 300'000);
  EXPECT_TRUE(CheckScheduleSpec(s.spec.schedule).ok());
  s.spec.schedule.cron = "61 * * * *";
  EXPECT_FALSE(CheckScheduleSpec(s.spec.schedule).ok());
}

class ScheduleTable : public ::testing::Test {
 protected:
  ApplyResult Apply(EntryType type, std::string payload) {
    Entry e;
    e.index = ++index_;
    e.term = 1;
    e.type = type;
    e.payload = std::move(payload);
    return table_.Apply(e);
  }
  void AddSchedule(int64_t every_ms, bool no_overlap = false) {
    TaskSpec spec = Spec({"@sleep", "30"}, "nightly");
    spec.schedule.every_ms = every_ms;
    spec.schedule.no_overlap = no_overlap;
    spec.idempotency_key = "add-nightly";
    ASSERT_TRUE(Apply(EntryType::kSubmit, EncodePayload(SubmitEntry{"g-1", 1, spec, kCreated})).accepted);
  }
  ApplyResult Fire(int64_t slot, uint64_t seq, bool run = true, uint64_t skipped_before = 0) {
    FireEntry f{"g-1", slot, skipped_before, run, run ? "g-" + std::to_string(seq) : "", seq, slot + 5};
    return Apply(EntryType::kFire, EncodePayload(f));
  }
  const Task& Schedule() { return *table_.Find("g-1"); }

  TaskTable table_;
  uint64_t index_ = 0;
};

TEST_F(ScheduleTable, EachSlotIsDecidedOnce) {
  AddSchedule(10'000);
  EXPECT_EQ(Schedule().state, TaskState::kScheduled);
  EXPECT_EQ(table_.schedule_ids().count("g-1"), 1u);
  EXPECT_EQ(table_.Unfinished(), 0u) << "a schedule is not a task waiting to run";

  ApplyResult r = Fire(kCreated + 10'000, 2);
  ASSERT_TRUE(r.accepted);
  const Task& run = *table_.Find("g-2");
  EXPECT_EQ(run.fired_by, "g-1");
  EXPECT_EQ(run.slot_ms, kCreated + 10'000);
  EXPECT_EQ(run.state, TaskState::kReady);
  EXPECT_FALSE(run.spec.is_schedule());
  EXPECT_TRUE(run.spec.idempotency_key.empty());

  // A second leader's Fire for the same slot (or an older one) commits later: refused.
  EXPECT_FALSE(Fire(kCreated + 10'000, 3).accepted);
  EXPECT_FALSE(Fire(kCreated, 4).accepted);
  EXPECT_EQ(table_.Find("g-3"), nullptr);
  EXPECT_EQ(Schedule().fired, 1u);

  ASSERT_TRUE(Fire(kCreated + 40'000, 5, /*run=*/true, /*skipped_before=*/2).accepted);
  EXPECT_EQ(Schedule().fired, 2u);
  EXPECT_EQ(Schedule().skipped, 2u);
  EXPECT_EQ(Schedule().last_fired, "g-5");
  EXPECT_EQ(Schedule().history.back().kind, "fire");
}

TEST_F(ScheduleTable, NoOverlapSkipsWhileThePreviousRunGoes) {
  AddSchedule(10'000, /*no_overlap=*/true);
  ASSERT_TRUE(Fire(kCreated + 10'000, 2).accepted);
  ASSERT_TRUE(Fire(kCreated + 20'000, 3).accepted);
  EXPECT_EQ(table_.Find("g-3"), nullptr) << "g-2 has not ended";
  EXPECT_EQ(Schedule().skipped, 1u);
  EXPECT_EQ(Schedule().last_slot_ms, kCreated + 20'000);
  ASSERT_TRUE(Apply(EntryType::kCancel, EncodePayload(CancelEntry{"g-2", kCreated + 21'000})).accepted);
  ASSERT_TRUE(Fire(kCreated + 30'000, 4).accepted);
  EXPECT_NE(table_.Find("g-4"), nullptr);
}

TEST_F(ScheduleTable, PausedSchedulesDoNotFireAndResumeWithoutCatchingUp) {
  AddSchedule(10'000);
  ASSERT_TRUE(Apply(EntryType::kSchedulePause, EncodePayload(SchedulePauseEntry{"g-1", true, kCreated + 1})).accepted);
  EXPECT_FALSE(Fire(kCreated + 10'000, 2).accepted);
  EXPECT_FALSE(Apply(EntryType::kSchedulePause, EncodePayload(SchedulePauseEntry{"g-1", true, kCreated + 2})).accepted);
  ASSERT_TRUE(Apply(EntryType::kSchedulePause, EncodePayload(SchedulePauseEntry{"g-1", false, kCreated + 55'000})).accepted);
  EXPECT_EQ(Schedule().last_slot_ms, kCreated + 55'000) << "slots passed while paused are not missed";
  EXPECT_FALSE(Fire(kCreated + 50'000, 3).accepted);
  EXPECT_TRUE(Fire(kCreated + 60'000, 4).accepted);
}

TEST_F(ScheduleTable, RemovedSchedulesStopAndSurviveAReload) {
  AddSchedule(10'000);
  ASSERT_TRUE(Fire(kCreated + 10'000, 2).accepted);
  TaskTable reloaded;
  reloaded.Load(*table_.Find("g-1"));
  reloaded.Load(*table_.Find("g-2"));
  reloaded.FinishLoad();
  EXPECT_EQ(reloaded.schedule_ids().count("g-1"), 1u);
  EXPECT_EQ(reloaded.Find("g-1")->last_slot_ms, kCreated + 10'000);

  ASSERT_TRUE(Apply(EntryType::kCancel, EncodePayload(CancelEntry{"g-1", kCreated + 11'000})).accepted);
  EXPECT_EQ(Schedule().state, TaskState::kCancelled);
  EXPECT_TRUE(table_.schedule_ids().empty());
  EXPECT_FALSE(Fire(kCreated + 20'000, 3).accepted);
  EXPECT_FALSE(Apply(EntryType::kRestart, EncodePayload(RestartEntry{"g-1", kCreated + 12'000})).accepted);
}

}  // namespace
}  // namespace magpie
