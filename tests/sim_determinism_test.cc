// Same seed, same world: two runs of one seed end with the same trace hash (and the same
// result), whatever ran before them in the process; different seeds give different worlds.
#include <gtest/gtest.h>

#include "simulations/world.h"

namespace magpie {
namespace {

RunReport RunQuietly(const SimOptions& o) {
  World w(o, spdlog::level::off);
  return w.Run();
}

TEST(SimDeterminism, SameSeedTwiceGivesTheSameTraceHash) {
  SimOptions o;
  o.seed = 1;
  o.nodes = 5;
  o.duration_s = 30;
  o.faults = kAllFaults;
  const RunReport a = RunQuietly(o);
  const RunReport b = RunQuietly(o);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.trace_records, b.trace_records);
  EXPECT_EQ(a.passed, b.passed);
  EXPECT_EQ(a.ended, b.ended);
  EXPECT_GT(a.trace_records, 1000u) << "the run should have done something";
}

TEST(SimDeterminism, AnotherRunInBetweenChangesNothing) {
  SimOptions o = DrawSwarmOptions(7, "");
  const RunReport a = RunQuietly(o);
  RunQuietly(DrawSwarmOptions(8, "grant_running_task"));  // buggify on, then off again
  const RunReport b = RunQuietly(o);
  EXPECT_EQ(a.trace_hash, b.trace_hash);
}

TEST(SimDeterminism, DifferentSeedsGiveDifferentWorlds) {
  SimOptions o;
  o.duration_s = 10;
  o.seed = 1;
  const uint64_t h1 = RunQuietly(o).trace_hash;
  o.seed = 2;
  EXPECT_NE(h1, RunQuietly(o).trace_hash);
}

TEST(SimDeterminism, DrawnOptionsAreAFunctionOfTheSeed) {
  SimOptions o;
  o.seed = 42;
  World a(o, spdlog::level::off);
  World b(o, spdlog::level::off);
  EXPECT_EQ(a.DescribeOptions(), b.DescribeOptions());
}

}  // namespace
}  // namespace magpie
