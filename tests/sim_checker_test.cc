// The checkers themselves, on facts fed by hand: each reports the promise it guards, with
// the task, the nodes and the times, and stays quiet when nothing is wrong.
#include <gtest/gtest.h>

#include "simulations/liveness_checker.h"
#include "simulations/safety_checker.h"

namespace magpie {
namespace {

SimProcess Process(uint64_t id, int node, const std::string& task, uint32_t attempt, int64_t at_us) {
  SimProcess p;
  p.id = id;
  p.node = node;
  p.task_id = task;
  p.attempt = attempt;
  p.started = SimTime::FromMicros(at_us);
  return p;
}

struct Fixture {
  explicit Fixture(bool drift_bounded = true) : safety(&oracle, &nodes, drift_bounded) {}
  Oracle oracle;
  std::vector<std::unique_ptr<SimNode>> nodes;
  SafetyChecker safety;

  void Start(const SimProcess& p) {
    safety.OnProcessStart(p.started, p);
    oracle.RecordProcessStart(p);
  }
};

TEST(SimSafetyChecker, TwoLiveProcessesOfOneTaskBreakOneAttemptAtATime) {
  Fixture f;
  f.Start(Process(1, 0, "g-1", 1, 100));
  ASSERT_TRUE(f.safety.violations().empty());
  f.Start(Process(2, 0, "g-1", 2, 250));
  ASSERT_EQ(f.safety.violations().size(), 1u);
  const Violation& v = f.safety.violations()[0];
  EXPECT_EQ(v.promise, kOneAttempt);
  EXPECT_EQ(v.at, SimTime::FromMicros(250));
  EXPECT_NE(v.detail.find("g-1"), std::string::npos);
  EXPECT_NE(v.detail.find("attempt 1 on node 0"), std::string::npos) << v.detail;
}

TEST(SimSafetyChecker, AProcessThatEndedDoesNotOverlapItsSuccessor) {
  Fixture f;
  SimProcess a = Process(1, 0, "g-1", 1, 100);
  f.Start(a);
  f.oracle.RecordProcessStop(SimTime::FromMicros(200), a);
  f.Start(Process(2, 0, "g-1", 2, 200));
  EXPECT_TRUE(f.safety.violations().empty());
}

TEST(SimSafetyChecker, AttemptNumbersMustGrow) {
  Fixture f;
  SimProcess a = Process(1, 0, "g-1", 3, 100);
  f.Start(a);
  f.oracle.RecordProcessStop(SimTime::FromMicros(150), a);
  f.Start(Process(2, 1, "g-1", 2, 300));
  ASSERT_EQ(f.safety.violations().size(), 1u);
  EXPECT_EQ(f.safety.violations()[0].promise, kFencing);
}

TEST(SimSafetyChecker, BeyondTheDriftBoundOnlySameNodeOverlapCounts) {
  Fixture f(/*drift_bounded=*/false);
  f.Start(Process(1, 0, "g-1", 1, 100));
  f.Start(Process(2, 1, "g-1", 2, 200));  // another node: leases cannot promise this
  EXPECT_TRUE(f.safety.violations().empty());
  f.Start(Process(3, 1, "g-2", 1, 300));
  f.Start(Process(4, 1, "g-2", 2, 400));  // the same node: still a violation
  EXPECT_EQ(f.safety.violations().size(), 1u);
}

// Which groups survive wipes is now judged from each replica's list of voters (oracle.h,
// docs/simulation.md); the world tests exercise it. Here only the id-to-group rule.
TEST(SimOracle, ATaskIdNamesItsGroup) {
  EXPECT_EQ(Oracle::GroupOf("1a2b3c4d-17"), "1a2b3c4d");
}

TEST(SimReplayCheck, DifferencesAreNamedFieldByField) {
  Task a;
  a.id = "g-1";
  a.state = TaskState::kSucceeded;
  Task b = a;
  b.state = TaskState::kBlocked;
  b.blocked_by = "g-0";
  const std::string words = DescribeDifference(EncodePayload(a), EncodePayload(b));
  EXPECT_NE(words.find("state succeeded -> blocked"), std::string::npos) << words;
  EXPECT_NE(words.find("blocked_by"), std::string::npos) << words;
  std::vector<std::unique_ptr<SimNode>> none;
  Oracle oracle;
  LivenessChecker live(&oracle, &none);
  auto v = live.CheckReplay(SimTime::Zero(), 0, {{"g-1", EncodePayload(a)}}, {{"g-1", EncodePayload(b)}});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].promise, kReplayConsistency);
  EXPECT_TRUE(live.CheckReplay(SimTime::Zero(), 0, {{"g-1", EncodePayload(a)}},
                               {{"g-1", EncodePayload(a)}}).empty());
}

}  // namespace
}  // namespace magpie
