// magpie-sim's stealing figure at a small size, as a test: with every task submitted to
// node 0 of six, the other nodes steal, every node runs work, every task succeeds exactly
// once, and the makespan stays near the ideal. docs/simulation.md ("Stealing figures") has
// the 10-, 100- and 1,000-node figures and their commands.
#include <gtest/gtest.h>

#include "simulations/sim_options.h"
#include "simulations/steal_figures.h"

namespace magpie {
namespace {

StealFiguresRequest SixNodes(uint64_t seed) {
  StealFiguresRequest r;
  r.world.seed = seed;
  r.world.nodes = 6;
  r.slots = 2;
  r.tasks_per_slot = 10;  // 120 tasks
  r.task_ms = 100;        // ideal 1 s
  return r;
}

TEST(SimStealFigures, WorkSubmittedToOneNodeIsStolenByEveryOtherNodeAndRunsOnce) {
  const StealFiguresRequest r = SixNodes(1);
  const StealFigures f = RunStealFigures(r, spdlog::level::off);
  for (const auto& p : f.problems) ADD_FAILURE() << p;
  EXPECT_TRUE(f.ok) << StealFiguresJson(r, f, 0);
  EXPECT_EQ(f.tasks, 120u);
  EXPECT_EQ(f.succeeded, 120u);
  EXPECT_EQ(f.extra_attempts, 0u) << "no faults: no task should need a second attempt";
  EXPECT_EQ(f.nodes_used, 6) << "every thief should have stolen";
  EXPECT_GT(f.tasks_min, 0);
  // Node 0 cannot run more than its share plus what the thieves take late: without
  // stealing it would run all 120.
  EXPECT_LT(f.tasks_max, 60);
  EXPECT_GE(f.stolen, 120u - static_cast<uint64_t>(f.tasks_max));
  EXPECT_DOUBLE_EQ(f.ideal_s, 1.0);
  EXPECT_GE(f.ratio, 1.0);
  EXPECT_LT(f.ratio, 2.0) << "without stealing the ratio would be 6";
  EXPECT_GT(f.first_steal_ms_max, 0);
  EXPECT_LT(f.first_steal_ms_max, 1000) << "a thief started late";
  EXPECT_GE(f.all_done_ms, f.makespan_ms);
  EXPECT_GE(f.submitted_ms, 0);
}

// A commit slower than the thief's wait for an answer (150 ms): the thief asks again while
// the Grants for its first ask are still being committed. The victim counts those against
// the second ask; granting both would hand a full thief a batch it must give back as lost.
TEST(SimStealFigures, AThiefAskingAgainDuringASlowCommitIsNotGivenTwice) {
  for (uint64_t seed : {3, 4}) {
    StealFiguresRequest r;
    r.world.seed = seed;
    r.world.nodes = 3;
    r.slots = 8;
    r.tasks_per_slot = 10;  // 240 tasks
    r.task_ms = 100;
    r.fsync_ms = 200;
    const StealFigures f = RunStealFigures(r, spdlog::level::off);
    for (const auto& p : f.problems) ADD_FAILURE() << p;
    EXPECT_TRUE(f.ok) << StealFiguresJson(r, f, 0);
    EXPECT_EQ(f.succeeded, 240u);
    EXPECT_GT(f.stolen, 0u);
    EXPECT_EQ(f.extra_attempts, 0u) << "a stolen batch was handed back: " << StealFiguresCommand(r);
  }
}

TEST(SimStealFigures, TheSameSeedGivesTheSameFigures) {
  const StealFiguresRequest r = SixNodes(2);
  const StealFigures a = RunStealFigures(r, spdlog::level::off);
  const StealFigures b = RunStealFigures(r, spdlog::level::off);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(StealFiguresJson(r, a, 0), StealFiguresJson(r, b, 0));
}

TEST(SimStealFigures, TheCommandLineSelectsTheModeAndItsParameters) {
  auto cl = ParseCommandLine({"--steal-figures", "--nodes", "100", "--seed", "7", "--slots", "2",
                              "--tasks-per-slot", "20", "--task-ms", "30", "--replication", "1"});
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_TRUE(cl->steal_figures);
  EXPECT_EQ(cl->run.nodes, 100);
  EXPECT_EQ(cl->run.seed, 7u);
  EXPECT_EQ(cl->slots, 2);
  EXPECT_EQ(cl->tasks_per_slot, 20);
  EXPECT_EQ(cl->task_ms, 30);
  EXPECT_EQ(cl->run.replication, 1);
  EXPECT_FALSE(ParseCommandLine({"--steal-figures", "--slots", "0"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--steal-figures", "--fsync-ms", "20000"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--steal-figures", "--gossip-figures", "loss"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--steal-figures", "--nodes", "1000", "--tasks-per-slot", "10000"}).ok());

  StealFiguresRequest r;
  r.world.seed = 7;
  r.world.nodes = 100;
  r.slots = 2;
  r.tasks_per_slot = 20;
  r.task_ms = 30;
  r.world.replication = 1;
  EXPECT_EQ(StealFiguresCommand(r),
            "magpie-sim --steal-figures --seed 7 --nodes 100 --slots 2 --tasks-per-slot 20 --task-ms 30 "
            "--replication 1");
}

}  // namespace
}  // namespace magpie
