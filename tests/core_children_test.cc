// Child tasks and progress (docs/children.md): the task table's rules, applied entry by
// entry as every replica applies them, and their survival across a reload from records.
#include <gtest/gtest.h>

#include "node/log_entry.h"
#include "node/task_table.h"
#include "tests/core_harness.h"

namespace magpie {
namespace {

class ChildrenTable : public ::testing::Test {
 protected:
  ApplyResult Apply(EntryType type, std::string payload) {
    Entry e;
    e.index = ++index_;
    e.term = 1;
    e.type = type;
    e.payload = std::move(payload);
    return table_.Apply(e);
  }
  ApplyResult Submit(const std::string& id, TaskSpec spec) {
    uint64_t seq = std::stoull(id.substr(id.rfind('-') + 1));
    return Apply(EntryType::kSubmit, EncodePayload(SubmitEntry{id, seq, std::move(spec), now_}));
  }
  ApplyResult Grant(const std::string& id, uint32_t attempt, const std::string& node = "n1") {
    return Apply(EntryType::kGrant, EncodePayload(GrantEntry{id, attempt, node, "", now_}));
  }
  ApplyResult Finish(const std::string& id, uint32_t attempt, Outcome o) {
    FinishEntry f{id, attempt, o, o == Outcome::kSucceeded ? 0 : 1, 0, now_, "", "", ""};
    return Apply(EntryType::kFinish, EncodePayload(f));
  }
  ApplyResult Cancel(const std::string& id) {
    return Apply(EntryType::kCancel, EncodePayload(CancelEntry{id, now_}));
  }
  TaskSpec Child(const std::string& parent, std::vector<std::string> cmd = {"true"}) {
    TaskSpec s = Spec(std::move(cmd));
    s.parent = parent;
    return s;
  }
  TaskState StateOf(const std::string& id) { return table_.Find(id)->state; }

  TaskTable table_;
  uint64_t index_ = 0;
  int64_t now_ = 1000;
};

TEST_F(ChildrenTable, ParentWaitsForItsChildrenThenMergesWithTheirOutcomes) {
  TaskSpec parent = Spec({"split"});
  parent.on_children = {"merge"};
  ASSERT_TRUE(Submit("g-1", parent).accepted);
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  ASSERT_TRUE(Submit("g-2", Child("g-1")).accepted);
  ASSERT_TRUE(Submit("g-3", Child("g-1")).accepted);
  EXPECT_EQ(table_.Find("g-1")->children, (std::vector<std::string>{"g-2", "g-3"}));
  EXPECT_EQ(table_.Find("g-1")->children_open, 2);

  // The split exits while its children still go: the parent waits, holding no attempt.
  ASSERT_TRUE(Finish("g-1", 1, Outcome::kSucceeded).accepted);
  EXPECT_EQ(StateOf("g-1"), TaskState::kWaiting);
  EXPECT_EQ(table_.Unfinished(), 3u) << "a waiting parent is not finished";

  ASSERT_TRUE(Grant("g-2", 1).accepted);
  ASSERT_TRUE(Finish("g-2", 1, Outcome::kSucceeded).accepted);
  EXPECT_EQ(StateOf("g-1"), TaskState::kWaiting);
  ASSERT_TRUE(Grant("g-3", 1).accepted);
  ASSERT_TRUE(Finish("g-3", 1, Outcome::kFailed).accepted);
  ASSERT_TRUE(Grant("g-3", 2).accepted);
  ASSERT_TRUE(Finish("g-3", 2, Outcome::kSucceeded).accepted);

  // All ended: the merge step is next, with the children in its environment.
  EXPECT_EQ(StateOf("g-1"), TaskState::kReady);
  const Task& p = *table_.Find("g-1");
  EXPECT_TRUE(p.merging);
  TaskSpec run = table_.RunSpec(p);
  EXPECT_EQ(run.command, std::vector<std::string>{"merge"});
  EXPECT_EQ(run.env.at("MAGPIE_CHILDREN"), "g-2 g-3");
  EXPECT_EQ(run.env.at("MAGPIE_CHILDREN_OUTCOMES"), "g-2=succeeded g-3=succeeded");
  EXPECT_EQ(run.env.at("MAGPIE_CHILDREN_SUCCEEDED"), "2");
  EXPECT_EQ(table_.RunSpec(*table_.Find("g-2")).command, std::vector<std::string>{"true"});
  EXPECT_EQ(p.history.back().kind, "children");

  EXPECT_FALSE(Submit("g-4", Child("g-1")).accepted) << "a merging parent takes no children";
  ASSERT_TRUE(Grant("g-1", 2).accepted);
  ASSERT_TRUE(Finish("g-1", 2, Outcome::kSucceeded).accepted);
  EXPECT_EQ(StateOf("g-1"), TaskState::kSucceeded) << "the merge decides the parent's outcome";
}

TEST_F(ChildrenTable, WithoutMergeStepTheParentEndsByItsChildren) {
  ASSERT_TRUE(Submit("g-1", Spec({"split"})).accepted);
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  TaskSpec once = Child("g-1");
  once.max_attempts = 1;
  ASSERT_TRUE(Submit("g-2", once).accepted);
  ASSERT_TRUE(Finish("g-1", 1, Outcome::kSucceeded).accepted);
  ASSERT_TRUE(Grant("g-2", 1).accepted);
  ASSERT_TRUE(Finish("g-2", 1, Outcome::kFailed).accepted);
  EXPECT_EQ(StateOf("g-1"), TaskState::kFailed);
  EXPECT_NE(table_.Find("g-1")->end_reason.find("g-2"), std::string::npos);
}

TEST_F(ChildrenTable, ChildrenThatEndBeforeTheParentExitsLetItEndAtOnce) {
  ASSERT_TRUE(Submit("g-1", Spec({"split"})).accepted);
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  ASSERT_TRUE(Submit("g-2", Child("g-1")).accepted);
  ASSERT_TRUE(Grant("g-2", 1).accepted);
  ASSERT_TRUE(Finish("g-2", 1, Outcome::kSucceeded).accepted);
  EXPECT_EQ(table_.Find("g-1")->children_open, 0);
  ASSERT_TRUE(Finish("g-1", 1, Outcome::kSucceeded).accepted);
  EXPECT_EQ(StateOf("g-1"), TaskState::kSucceeded);
}

TEST_F(ChildrenTable, CancellingAParentCancelsItsFamilyAndStopsRunningAttempts) {
  ASSERT_TRUE(Submit("g-1", Spec({"split"})).accepted);
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  ASSERT_TRUE(Submit("g-2", Child("g-1")).accepted);
  ASSERT_TRUE(Grant("g-2", 1, "n2").accepted);
  ASSERT_TRUE(Submit("g-3", Child("g-2")).accepted) << "a child may split too";
  ASSERT_TRUE(Grant("g-3", 1, "n3").accepted);
  ASSERT_TRUE(Submit("g-4", Child("g-1")).accepted);
  TaskSpec downstream = Spec({"true"}, "", {"g-3"});
  ASSERT_TRUE(Submit("g-5", downstream).accepted);
  table_.TakeAttemptsToStop();

  ASSERT_TRUE(Cancel("g-1").accepted);
  for (const char* id : {"g-1", "g-2", "g-3", "g-4"}) EXPECT_EQ(StateOf(id), TaskState::kCancelled) << id;
  EXPECT_EQ(StateOf("g-5"), TaskState::kBlocked) << "a cancelled child blocks what waits on it";
  auto stops = table_.TakeAttemptsToStop();
  ASSERT_EQ(stops.size(), 3u) << "the parent's, the child's and the grandchild's attempts";
  std::set<std::string> holders;
  for (const auto& s : stops) holders.insert(s.holder);
  EXPECT_EQ(holders, (std::set<std::string>{"n1", "n2", "n3"}));
  EXPECT_EQ(table_.Find("g-3")->history.back().detail, "parent g-2 cancelled");
}

TEST_F(ChildrenTable, AParentThatFailsForGoodCancelsItsChildren) {
  TaskSpec parent = Spec({"split"});
  parent.max_attempts = 1;
  ASSERT_TRUE(Submit("g-1", parent).accepted);
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  ASSERT_TRUE(Submit("g-2", Child("g-1")).accepted);
  ASSERT_TRUE(Finish("g-1", 1, Outcome::kFailed).accepted);
  EXPECT_EQ(StateOf("g-1"), TaskState::kFailed);
  EXPECT_EQ(StateOf("g-2"), TaskState::kCancelled);
}

TEST_F(ChildrenTable, ChildrenAreRefusedOnceTheParentHasEnded) {
  ASSERT_TRUE(Submit("g-1", Spec({"true"})).accepted);
  EXPECT_FALSE(Submit("g-2", Child("g-1")).accepted) << "not yet running";
  EXPECT_FALSE(Submit("g-3", Child("g-9")).accepted) << "no such parent";
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  ASSERT_TRUE(Finish("g-1", 1, Outcome::kSucceeded).accepted);
  EXPECT_FALSE(Submit("g-4", Child("g-1")).accepted) << "ended";
  EXPECT_EQ(table_.Find("g-4"), nullptr);
}

TEST_F(ChildrenTable, RestartedParentSplitsAfresh) {
  ASSERT_TRUE(Submit("g-1", Spec({"split"})).accepted);
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  ASSERT_TRUE(Submit("g-2", Child("g-1")).accepted);
  ASSERT_TRUE(Finish("g-1", 1, Outcome::kSucceeded).accepted);
  ASSERT_TRUE(Grant("g-2", 1).accepted);
  ASSERT_TRUE(Finish("g-2", 1, Outcome::kSucceeded).accepted);
  ASSERT_EQ(StateOf("g-1"), TaskState::kSucceeded);

  ASSERT_TRUE(Apply(EntryType::kRestart, EncodePayload(RestartEntry{"g-1", now_})).accepted);
  EXPECT_TRUE(table_.Find("g-1")->children.empty());
  // The old child restarted on its own does not hold up the new run.
  ASSERT_TRUE(Apply(EntryType::kRestart, EncodePayload(RestartEntry{"g-2", now_})).accepted);
  ASSERT_TRUE(Grant("g-1", 2).accepted);
  ASSERT_TRUE(Finish("g-1", 2, Outcome::kSucceeded).accepted);
  EXPECT_EQ(StateOf("g-1"), TaskState::kSucceeded);
}

TEST_F(ChildrenTable, WaitingParentSurvivesAReloadFromItsRecords) {
  TaskSpec parent = Spec({"split"});
  parent.on_children = {"merge"};
  ASSERT_TRUE(Submit("g-1", parent).accepted);
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  ASSERT_TRUE(Submit("g-2", Child("g-1")).accepted);
  ASSERT_TRUE(Finish("g-1", 1, Outcome::kSucceeded).accepted);

  TaskTable reloaded;
  for (const char* id : {"g-1", "g-2"}) reloaded.Load(*table_.Find(id));
  reloaded.FinishLoad();
  EXPECT_EQ(reloaded.Find("g-1")->state, TaskState::kWaiting);
  EXPECT_EQ(reloaded.CountInState(TaskState::kWaiting), 1u);
  Entry e{++index_, 1, EntryType::kGrant, EncodePayload(GrantEntry{"g-2", 1, "n1", "", now_})};
  ASSERT_TRUE(reloaded.Apply(e).accepted);
  e = {++index_, 1, EntryType::kFinish,
       EncodePayload(FinishEntry{"g-2", 1, Outcome::kSucceeded, 0, 0, now_, "", "", ""})};
  ASSERT_TRUE(reloaded.Apply(e).accepted);
  EXPECT_EQ(reloaded.Find("g-1")->state, TaskState::kReady);
  EXPECT_TRUE(reloaded.Find("g-1")->merging);
}

TEST_F(ChildrenTable, ProgressIsKeptForTheCurrentAttemptOnly) {
  ASSERT_TRUE(Submit("g-1", Spec({"work"})).accepted);
  EXPECT_FALSE(Apply(EntryType::kProgress, EncodePayload(ProgressEntry{"g-1", 1, 10, "early", now_})).accepted);
  ASSERT_TRUE(Grant("g-1", 1).accepted);
  ASSERT_TRUE(Apply(EntryType::kProgress, EncodePayload(ProgressEntry{"g-1", 1, 40, "parsing", now_})).accepted);
  EXPECT_EQ(table_.Find("g-1")->progress_percent, 40);
  EXPECT_EQ(table_.Find("g-1")->progress_message, "parsing");
  size_t events = table_.Find("g-1")->history.size();
  EXPECT_FALSE(Apply(EntryType::kProgress, EncodePayload(ProgressEntry{"g-1", 2, 90, "stale", now_})).accepted);
  EXPECT_EQ(table_.Find("g-1")->progress_percent, 40);
  EXPECT_EQ(table_.Find("g-1")->history.size(), events) << "progress stays out of the audit trail";
  ASSERT_TRUE(Finish("g-1", 1, Outcome::kLost).accepted);
  ASSERT_TRUE(Grant("g-1", 2).accepted);
  EXPECT_EQ(table_.Find("g-1")->progress_percent, -1) << "a new attempt starts with no progress";
}

}  // namespace
}  // namespace magpie
