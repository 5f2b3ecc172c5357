// The checkers can fail: each deliberate fault switch in the core (base/buggify.h) is caught
// by a swarm within a stated number of seeds, with the promise it breaks, and the replay
// command the simulator prints for the failing seed reproduces the same violation.
#include <gtest/gtest.h>

#include <sstream>

#include "base/buggify.h"
#include "simulations/schedule_checker.h"
#include "simulations/world.h"

namespace magpie {
namespace {

struct Variant {
  const char* name;
  const char* promise;  // the promise the switch breaks; empty: not observable yet
  uint64_t caught_within;  // seeds of the swarm at R=3, from seed 1
  const char* why;
  // Flags of one run that catches it, for a switch whose fault needs a fault mix the swarm
  // draws too rarely to find within a few seeds; nullptr: the swarm from seed 1.
  const char* run = nullptr;
};

// The numbers are stated in docs/simulation.md (and simulations/proofs.txt keeps one or two
// caught seeds of each for scripts/sim-ci.sh); the swarm usually needs fewer.
const Variant kVariants[] = {
    {"grant_running_task", kOneAttempt, 3,
     "a running task is granted again: two attempts are open in the log, two processes run"},
    {"forget_lost_on_recover", kLiveness, 3,
     "after a crash the node keeps dead attempts running: they never end"},
    {"ack_before_durable", kNoAckedTaskLost, 4,
     "a submit is answered in a Ready of its own before its entries are synced: the ack "
     "reaches the client before any replica applied the entry"},
    // Replica groups (issue 5's three broken variants).
    {"regrant_without_lease_wait", kOneAttempt, 10,
     "a new leader re-grants at once what ran under the old one: the old holder's process is "
     "still alive when the new attempt starts"},
    {"ack_before_quorum", kNoAckedTaskLost, 4,
     "a submit is answered once durable on the leader alone: the ack reaches the client "
     "before any replica applied the entry, and a leader lost then takes the task with it"},
    {"accept_stale_finish", kOneOutcome, 12,
     "a finish of an older attempt closes the current one: the current attempt's process "
     "outlives its attempt"},
    // Schedules (issue 10): DrawSwarmOptions gives these runs three schedules.
    {"fire_twice", kScheduleOnce, 3,
     "a leader fires a slot again while its Fire is in flight, and the table takes it: two "
     "tasks run for one slot"},
    {"only_home_fires", kScheduleLive, 20,
     "schedules stop once their group is led by another node than its home: slots go undecided"},
    // States that tell the truth.
    {"start_before_commit", kStartAfterGrant, 3,
     "a leader starts its own task when it proposes the Grant: the process runs before any "
     "replica applied it"},
    {"steal_answer_before_commit", kStartAfterGrant, 4,
     "a victim answers a thief when it proposes the Grants: the thief starts them before any "
     "replica applied them"},
    {"overfill_slots", kSlotsBound, 3,
     "a leader grants itself twice its free slots: more processes run than the node has slots"},
    // Raft.
    {"raft_ack_before_durable", kLogMatching, 10,
     "followers answer appends and votes before their fsync: a crash takes back a vote, two "
     "leaders share a term, and two entries are applied at one index"},
    {"raft_commit_old_term", "", 0,
     "not observable in the swarm: a new leader's no-op rides in the same append as the "
     "old-term entries before it, so a quorum never holds those without it (400 seeds: 0)"},
    // Leases and fencing.
    {"outlive_lease", kOneAttempt, 25,
     "a holder cut off from its leader keeps its attempt past the lease: the leader re-grants "
     "and a second process starts while the first runs"},
    {"rerun_after_restart", kFencing, 3,
     "a restarted node runs the attempts of its earlier life again under their old numbers"},
    // DAG order.
    {"after_running_is_enough", kAfterHonoured, 6,
     "a running upstream counts as done: its downstream is granted before it succeeded"},
    {"foreign_upstream_met_at_once", kAfterHonoured, 6,
     "an upstream in another group counts as done at once: its downstream is granted first"},
    // The table is a function of the log.
    {"apply_reads_clock", kReplayConsistency, 4,
     "an end applied live takes the node's clock, a replayed one the entry's time: the table "
     "recovered from the log differs from the one held"},
    // Gossip.
    {"dead_stays_dead", kMembershipAgreement, 6,
     "a member declared dead stays dead at a higher incarnation: after the heal the live nodes "
     "disagree about who is alive"},
    // The driver's contract.
    {"thief_forgets_backoff", kNodeContract, 6,
     "a thief that does not ask leaves its next look in the past: NextDeadline stays there"},
    // The driver loop's faults.
    {"grant_during_transfer", "", 0,
     "a leader handing its group over still grants and acknowledges renewals: a second "
     "attempt needs the old leader cut off from its successor within the transfer's first "
     "second, which no seed of 140 (stop, partition, delay) has shown; "
     "core_leader_lease_test shows the rule itself"},
    {"ignore_dead_watchdog", kOneAttempt, 1,
     "a node goes on running tasks after its watchdog died, then is paused past its leases: "
     "another node re-grants beside its processes",
     "--seed 1 --nodes 5 --duration 60 --faults watchdog --workload long --replication 3"},
    {"forget_renewals_past_64", "", 0,
     "a holder remembers only its last 64 renewals: the simulator's clusters of up to 6 "
     "nodes never have 64 in flight; core_renewals_test shows the answers it drops"},
    {"start_after_lease", kFencing, 1,
     "a node read-only on a full disk starts, once the disk takes writes again, a stolen "
     "attempt whose lease ran out meanwhile: its leader has granted a later one",
     "--seed 5024 --nodes 6 --duration 92 --faults drop,reorder,delay,drift,stop,disk "
     "--workload dag --replication 3 --schedules 3"},
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
    o.replication = 3;  // as scripts/sim-ci.sh runs its seed range
    if (v.run != nullptr) {
      auto words = Words(std::string(v.run) + " --buggify " + v.name);
      auto cl = ParseCommandLine(words);
      ASSERT_TRUE(cl.ok()) << cl.status().ToString();
      o = cl->run;
    }
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

TEST(SimBuggify, EverySwitchOfTheCoreHasAVariant) {
  for (const auto& sw : kBuggifySwitchNames) {
    bool listed = false;
    for (const auto& v : kVariants) listed = listed || std::string(v.name) == sw.name;
    EXPECT_TRUE(listed) << sw.name << " has no variant here: which checker catches it?";
  }
}

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
