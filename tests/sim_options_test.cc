// The command line and seeds files: what the replay command prints parses back to the same
// run, fault lists round-trip, and bad input is refused with a reason.
#include <gtest/gtest.h>

#include <sstream>

#include "simulations/gossip_figures.h"
#include "simulations/sim_options.h"

namespace magpie {
namespace {

std::vector<std::string> Words(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  for (std::string w; ss >> w;) out.push_back(w);
  return out;
}

TEST(SimOptions, ReplayCommandParsesBackToTheSameRun) {
  for (uint64_t seed = 1; seed < 50; ++seed) {
    SimOptions o = DrawSwarmOptions(seed, seed % 2 ? "grant_running_task" : "");
    auto words = Words(ReplayCommand(o));
    ASSERT_EQ(words[0], "magpie-sim");
    words.erase(words.begin());
    auto cl = ParseCommandLine(words);
    ASSERT_TRUE(cl.ok()) << cl.status().ToString();
    EXPECT_EQ(cl->run.seed, o.seed);
    EXPECT_EQ(cl->run.nodes, o.nodes);
    EXPECT_EQ(cl->run.duration_s, o.duration_s);
    EXPECT_EQ(cl->run.faults, o.faults);
    EXPECT_EQ(cl->run.workload, o.workload);
    EXPECT_EQ(cl->run.buggify, o.buggify);
  }
}

TEST(SimOptions, TheGossipFiguresCommandParsesBack) {
  FiguresRequest r;
  r.what = "loss";
  r.world.seed = 7;
  r.world.nodes = 1000;
  r.world.faults = kFaultReorder;
  r.world.duration_s = 600;
  r.loss_percent = 20;
  auto words = Words(FiguresCommand(r));
  words.erase(words.begin());
  auto cl = ParseCommandLine(words);
  ASSERT_TRUE(cl.ok()) << cl.status().ToString();
  EXPECT_EQ(cl->gossip_figures, "loss");
  EXPECT_EQ(cl->run.seed, 7u);
  EXPECT_EQ(cl->run.nodes, 1000);
  EXPECT_EQ(cl->run.duration_s, 600);
  EXPECT_EQ(cl->run.faults, kFaultReorder);
  EXPECT_TRUE(cl->faults_given);
  EXPECT_EQ(cl->loss_percent, 20u);
}

TEST(SimOptions, FaultListsRoundTrip) {
  EXPECT_EQ(*ParseFaults("none"), 0u);
  EXPECT_EQ(*ParseFaults("all"), kAllFaults);
  EXPECT_EQ(kAllFaults & kFaultDriftBeyond, 0u) << "drift-beyond is a separate mode";
  auto f = ParseFaults("crash,partition,drift-beyond");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f, kFaultCrash | kFaultPartition | kFaultDriftBeyond);
  EXPECT_EQ(FaultsName(*f), "partition,crash,drift-beyond");
  EXPECT_EQ(*ParseFaults(FaultsName(kAllFaults)), kAllFaults);
  EXPECT_FALSE(ParseFaults("crash,meteor").ok());
}

TEST(SimOptions, BadFlagsAreRefusedWithAReason) {
  EXPECT_FALSE(ParseCommandLine({"--nodes", "0"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--nodes", "1001"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--nodes", "99999999999"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--gossip-figures", "speed"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--loss", "101"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--trials", "0"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--workload", "chaos"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--buggify", "everything"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--faults", "drift,drift-beyond"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--seed"}).ok());
  EXPECT_FALSE(ParseCommandLine({"--shard", "2/2"}).ok());
  auto ok = ParseCommandLine({"--seed=9", "--duration", "30s", "--shard", "1/2"});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->run.seed, 9u);
  EXPECT_EQ(ok->run.duration_s, 30);
  EXPECT_EQ(ok->shard, 1);
  EXPECT_EQ(ok->shards, 2);
}

TEST(SimOptions, SeedsFileTakesSeedsReplayLinesAndExpectations) {
  auto runs = ParseSeedsFile(
      "# a comment\n"
      "17\n"
      "\n"
      "magpie-sim --seed 5 --nodes 3 --duration 20 --faults crash --workload dag  # why\n"
      "23 expect=replay-consistency\n",
      "");
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  ASSERT_EQ(runs->size(), 3u);
  EXPECT_EQ((*runs)[0].options.seed, 17u);
  EXPECT_EQ((*runs)[0].options.nodes, DrawSwarmOptions(17, "").nodes);
  EXPECT_EQ((*runs)[1].options.nodes, 3);
  EXPECT_EQ((*runs)[1].options.faults, kFaultCrash);
  EXPECT_TRUE((*runs)[1].expect.empty());
  EXPECT_EQ((*runs)[2].expect, "replay-consistency");
  EXPECT_FALSE(ParseSeedsFile("--nodes\n", "").ok());
}

}  // namespace
}  // namespace magpie
