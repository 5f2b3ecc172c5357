// The checkers can fail: each deliberate fault switch in the core (base/buggify.h) is caught
// by a swarm within a stated number of seeds, with the promise it breaks, and the replay
// command the simulator prints for the failing seed reproduces the same violation.
#include <gtest/gtest.h>

#include <sstream>

#include "simulations/world.h"

namespace magpie {
namespace {

struct Variant {
  const char* name;
  const char* promise;  // the promise the switch breaks; empty: not observable yet
  uint64_t caught_within;  // seeds of the swarm, from seed 1
  const char* why;
};

// The numbers are stated in docs/simulation.md; the swarm usually needs far fewer.
const Variant kVariants[] = {
    {"grant_running_task", kOneAttempt, 5,
     "a running task is granted again: two attempts are open in the log, two processes run"},
    {"forget_lost_on_recover", kLiveness, 10,
     "after a crash the node keeps dead attempts running: they never end"},
    {"ack_before_durable", kNoAckedTaskLost, 10,
     "a submit is answered in a Ready of its own before its entries are synced: a crash in "
     "between loses an acknowledged task"},
    // Replica groups (issue 5's three broken variants).
    {"regrant_without_lease_wait", kOneAttempt, 6,
     "a new leader re-grants at once what ran under the old one: the old holder's process is "
     "still alive when the new attempt starts"},
    {"ack_before_quorum", kNoAckedTaskLost, 5,
     "a submit is answered once durable on the leader alone: the ack reaches the client "
     "before any replica applied the entry, and a leader lost then takes the task with it"},
{"accept_stale_finish", kOneOutcome, 8,
     "a finish of an older attempt closes the current one: the current attempt's process "
     "outlives its attempt"},
    // Schedules (issue 10): runs with --schedules 3.
    {"fire_twice", kScheduleOnce, 3,
     "a leader fires a slot again while its Fire is in flight, and the table takes it: two "
     "tasks run for one slot"},
    // States that tell the truth.
    {"start_before_commit", kStartAfterGrant, 3,
     "a leader starts its own task when it proposes the Grant: the process runs before any "
     "replica applied it"},
    {"overfill_slots", kSlotsBound, 5,
     "a leader grants itself twice its free slots: more processes run than the node has slots"},
};

RunReport RunQuietly(const SimOptions& o) {
  World w(o, spdlog::level::off);
  return w.Run();
}

std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string w; ss >> w;) out.push_back(w);
  return out;
}

class SimBuggify : public ::testing::TestWithParam<Variant> {};

TEST_P(SimBuggify, SwarmCatchesItAndTheReplayCommandReproducesIt) {
  const Variant v = GetParam();
  if (v.promise[0] == '\0') GTEST_SKIP() << v.name << " is not observable: " << v.why;
  SimOptions caught;
  RunReport first;
  bool found = false;
  for (uint64_t seed = 1; seed <= v.caught_within && !found; ++seed) {
    SimOptions o = DrawSwarmOptions(seed, v.name);
    RunReport r = RunQuietly(o);
    if (!r.passed && r.violations.front().promise == v.promise) {
      caught = o;
      first = r;
      found = true;
    }
  }
  ASSERT_TRUE(found) << v.name << " (" << v.why << ") was not caught as " << v.promise
                     << " within " << v.caught_within << " seeds";

  // The printed replay command, parsed as the command line would be, reproduces it.
  auto words = Words(ReplayCommand(caught));
  ASSERT_EQ(words.front(), "magpie-sim");
  words.erase(words.begin());
  auto cl = ParseCommandLine(words);
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  const RunReport again = RunQuietly(cl->run);
  ASSERT_FALSE(again.passed);
  EXPECT_EQ(again.violations.front().promise, first.violations.front().promise);
  EXPECT_EQ(again.violations.front().detail, first.violations.front().detail);
  EXPECT_EQ(again.violations.front().at, first.violations.front().at);
  EXPECT_EQ(again.trace_hash, first.trace_hash);
}

INSTANTIATE_TEST_SUITE_P(EverySwitch, SimBuggify, ::testing::ValuesIn(kVariants),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SimBuggify, TheSwitchesAreOffAfterARun) {
  SimOptions o = DrawSwarmOptions(1, "grant_running_task");
  RunQuietly(o);
  o.buggify = "";
  o.faults = 0;
  o.duration_s = 10;
  const RunReport r = RunQuietly(o);
  for (const auto& v : r.violations) {
    EXPECT_NE(v.promise, std::string(kOneAttempt)) << "grant_running_task leaked: " << v.ToString();
  }
}

}  // namespace
}  // namespace magpie
