// The simulated clock: within max_drift its rate stays inside the bound, it never runs
// backwards, and TrueAt is the exact inverse the node's timers rely on.
#include <gtest/gtest.h>

#include <cstdlib>

#include "base/prng.h"
#include "simulations/drawn_options.h"
#include "simulations/sim_clock.h"

namespace magpie {
namespace {

TEST(SimClock, ReadsEpochPlusOffsetAtTheStart) {
  SimClock c(2'500'000, 0);
  EXPECT_EQ(c.LocalAt(SimTime::Zero()).micros(), SimClock::kEpochMicros + 2'500'000);
  EXPECT_EQ(c.LocalAt(SimTime::FromMicros(10)).micros(), SimClock::kEpochMicros + 2'500'010);
}

TEST(SimClock, DrawnDriftStaysWithinMaxDrift) {
  Prng prng(3);
  SimOptions o;
  o.nodes = 32;
  o.faults = kFaultDrift | kFaultSkew;
  for (int round = 0; round < 20; ++round) {
    DrawnOptions d = DrawOptions(o, prng);
    for (const auto& n : d.nodes) {
      ASSERT_LE(std::abs(n.clock_drift_ppm), SimClock::kMaxDriftPpm);
      SimClock c(n.clock_offset_us, n.clock_drift_ppm);
      // Over any interval the clock advances by (1 +- 5 %) of true time.
      const SimTime a = SimTime::FromMicros(prng.Between(0, 1'000'000'000));
      const Duration span = Duration::Micros(prng.Between(1, 1'000'000'000));
      const int64_t local_us = (c.LocalAt(a + span) - c.LocalAt(a)).micros();
      const int64_t bound_us = span.micros() / 20 + 1;
      EXPECT_LE(std::abs(local_us - span.micros()), bound_us)
          << "drift " << n.clock_drift_ppm << "ppm over " << span.micros() << "us";
    }
  }
}

TEST(SimClock, DriftBeyondModeExceedsTheBound) {
  Prng prng(4);
  SimOptions o;
  o.nodes = 16;
  o.faults = kFaultDriftBeyond;
  DrawnOptions d = DrawOptions(o, prng);
  for (const auto& n : d.nodes) {
    EXPECT_GT(std::abs(n.clock_drift_ppm), SimClock::kMaxDriftPpm);
    EXPECT_LE(std::abs(n.clock_drift_ppm), SimClock::kMaxBeyondDriftPpm);
  }
}

TEST(SimClock, NeverRunsBackwards) {
  for (int32_t ppm : {-SimClock::kMaxBeyondDriftPpm, -50'000, -1, 0, 1, 49'999, 300'000}) {
    SimClock c(-7, ppm);
    Instant last = c.LocalAt(SimTime::Zero());
    for (int64_t t = 1; t < 5000; t += 7) {
      Instant now = c.LocalAt(SimTime::FromMicros(t));
      ASSERT_GE(now, last) << ppm;
      last = now;
    }
  }
}

TEST(SimClock, TrueAtIsTheEarliestInstantTheClockReachesALocalTime) {
  Prng prng(5);
  for (int i = 0; i < 2000; ++i) {
    SimClock c(prng.Between(-30'000'000, 30'000'000),
               static_cast<int32_t>(prng.Between(-SimClock::kMaxBeyondDriftPpm, SimClock::kMaxBeyondDriftPpm)));
    const Instant want = c.LocalAt(SimTime::FromMicros(prng.Between(0, 100'000'000'000))) +
                         Duration::Micros(prng.Between(0, 3));
    const SimTime t = c.TrueAt(want);
    ASSERT_GE(c.LocalAt(t), want);
    if (t > SimTime::Zero()) {
      ASSERT_LT(c.LocalAt(t - Duration::Micros(1)), want);
    }
  }
  SimClock c(0, 0);
  EXPECT_EQ(c.TrueAt(Instant::Never()), SimTime::Never());
  EXPECT_EQ(c.TrueAt(Instant::FromMicros(0)), SimTime::Zero());
}

}  // namespace
}  // namespace magpie
