// The membership checker on facts fed by hand: a death declared of a node the fault record
// shows undisturbed for longer than the window is a violation, with the nodes and times
// named; deaths of nodes that are down, paused, gone, or recently disturbed are not.
#include <gtest/gtest.h>

#include "simulations/membership_checker.h"

namespace magpie {
namespace {

SimTime At(int64_t seconds) { return SimTime::Zero() + Duration::Seconds(seconds); }

struct Fixture {
  Fixture() : record(3, Duration::Millis(250)), checker(&record) {
    record.Booted(At(0), 0, "aaaa");
    record.Booted(At(0), 1, "bbbb");
    record.Booted(At(0), 2, "cccc");
  }
  Duration window() const { return checker.Window(record.ids()); }
  FaultRecord record;
  MembershipChecker checker;
};

TEST(SimMembershipChecker, TheWindowCoversThreeMaximalSuspicionsAndTwoSlowProbes) {
  Fixture f;
  // 10 nodes or fewer: suspicion at most 6 x 4 s; probes stretched to 8 s by local health.
  EXPECT_EQ(f.window(), Duration::Seconds(3 * 24 + 2 * 8));
}

TEST(SimMembershipChecker, AHealthyNodeDeclaredDeadIsAViolation) {
  Fixture f;
  const SimTime late = At(0) + f.window() + Duration::Seconds(1);
  f.checker.OnDeathDeclared(late, 1, "cccc", 3);
  ASSERT_EQ(f.checker.violations().size(), 1u);
  const Violation& v = f.checker.violations()[0];
  EXPECT_EQ(v.promise, kNoFalseDeath);
  EXPECT_EQ(v.at, late);
  EXPECT_NE(v.detail.find("node 1 declared member cccc (node 2, incarnation 3) dead"), std::string::npos)
      << v.detail;
  EXPECT_NE(v.detail.find("since t=0.000000s"), std::string::npos) << v.detail;
  EXPECT_EQ(f.checker.declarations_of_live(), 1u);
}

TEST(SimMembershipChecker, ADeathWithinTheWindowOfAFaultIsLegitimate) {
  Fixture f;
  const SimTime lost = At(500);
  f.record.Disturbed(lost, 0, 2);  // a packet from node 0 to node 2 was lost
  f.checker.OnDeathDeclared(lost + f.window(), 1, "cccc", 3);
  EXPECT_TRUE(f.checker.violations().empty());
  // A slow packet disturbs too; one just under half the probe timeout does not.
  f.record.Delayed(At(1000), 2, 1, Duration::Millis(249));
  f.checker.OnDeathDeclared(At(1000) + f.window() - Duration::Seconds(1), 1, "cccc", 4);
  EXPECT_EQ(f.checker.violations().size(), 1u);
  f.record.Delayed(At(2000), 2, 1, Duration::Millis(251));
  f.checker.OnDeathDeclared(At(2000) + f.window(), 1, "cccc", 5);
  EXPECT_EQ(f.checker.violations().size(), 1u);
}

TEST(SimMembershipChecker, DownPausedAndGoneNodesMayBeDeclaredDead) {
  Fixture f;
  const SimTime late = At(10'000);
  f.record.Crashed(At(100), 0);
  f.checker.OnDeathDeclared(late, 1, "aaaa", 1);  // still down
  f.record.Paused(At(200), 1);
  f.checker.OnDeathDeclared(late, 2, "bbbb", 1);  // still paused
  f.record.Booted(At(300), 0, "dddd");             // node 0 came back with a wiped disk
  f.checker.OnDeathDeclared(late, 1, "aaaa", 1);  // its old identity is gone for good
  EXPECT_TRUE(f.checker.violations().empty());
  EXPECT_EQ(f.checker.declarations(), 3u);
  EXPECT_EQ(f.checker.declarations_of_live(), 0u);
  // Back from the pause: the window starts at the resume.
  f.record.Resumed(At(400), 1);
  f.checker.OnDeathDeclared(At(400) + f.window(), 2, "bbbb", 2);
  EXPECT_TRUE(f.checker.violations().empty());
  f.checker.OnDeathDeclared(At(400) + f.window() + Duration::Seconds(1), 2, "bbbb", 2);
  EXPECT_EQ(f.checker.violations().size(), 1u);
}

TEST(SimMembershipChecker, ClientsAreNotNodes) {
  Fixture f;
  f.record.Disturbed(At(50), 7, 8);  // endpoints past the nodes: clients
  f.checker.OnDeathDeclared(At(0) + f.window() + Duration::Seconds(1), 0, "bbbb", 1);
  EXPECT_EQ(f.checker.violations().size(), 1u);
}

}  // namespace
}  // namespace magpie
