// A run with no faults passes every checker, for every workload; and the checkers have
// something to check (tasks were acknowledged, processes ran, nodes replayed their logs).
// A violation that matches an open bug listed in simulations/known_bugs.txt is reported
// but tolerated: those are the core's to fix (docs/simulation.md, "Known open bugs").
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "simulations/known_bugs.h"
#include "simulations/world.h"

namespace magpie {
namespace {

std::vector<KnownBug> LoadKnownBugs() {
  std::string path = std::string(MAGPIE_SOURCE_DIR) + "/simulations/known_bugs.txt";
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  auto bugs = ParseKnownBugs(text.str());
  EXPECT_TRUE(f && bugs.ok()) << path;
  return bugs.ok() ? *bugs : std::vector<KnownBug>{};
}

// Fails the test for every violation that is not a known open bug.
void ExpectOnlyKnownBugs(const RunReport& r) {
  static const std::vector<KnownBug> kKnown = LoadKnownBugs();
  for (const auto& v : r.violations) {
    if (const KnownBug* b = MatchKnownBug(kKnown, v)) {
      std::cout << "known open bug " << b->id << ": " << v.ToString() << "\n";
    } else {
      ADD_FAILURE() << v.ToString() << "\n" << r.summary;
    }
  }
}

class SimCleanRun : public ::testing::TestWithParam<WorkloadKind> {};

TEST_P(SimCleanRun, NoFaultsPassesEveryChecker) {
  SimOptions o;
  o.seed = 11;
  o.nodes = 5;
  o.duration_s = 30;
  o.faults = 0;
  o.workload = WorkloadName(GetParam());
  World w(o, spdlog::level::off);
  const RunReport r = w.Run();
  ExpectOnlyKnownBugs(r);
  EXPECT_GT(r.acked_tasks, 10u) << r.summary;
  EXPECT_EQ(r.excluded_acks, 0u) << "no disk was wiped";
  if (r.passed) {
    EXPECT_NE(r.summary.find("replay: 5 nodes restarted"), std::string::npos) << r.summary;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryWorkload, SimCleanRun, ::testing::ValuesIn(AllWorkloads()),
                         [](const auto& info) {
                           std::string n = WorkloadName(info.param);
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

TEST(SimCleanRun, OneNodeClusterPasses) {
  SimOptions o;
  o.seed = 3;
  o.nodes = 1;
  o.duration_s = 20;
  o.faults = 0;
  World w(o, spdlog::level::off);
  ExpectOnlyKnownBugs(w.Run());
}

TEST(SimCleanRun, WorkloadsWithoutRestartsPassOutright) {
  // No restart, no cancel: none of the known open bugs can fire.
  for (const char* workload : {"random", "dag", "long"}) {
    SimOptions o;
    o.seed = 5;
    o.duration_s = 30;
    o.faults = 0;
    o.workload = workload;
    World w(o, spdlog::level::off);
    const RunReport r = w.Run();
    EXPECT_TRUE(r.passed) << workload << ": "
                          << (r.violations.empty() ? "" : r.violations[0].ToString());
  }
}

}  // namespace
}  // namespace magpie
