// The thief's wait for a victim's answer before it asks again (node/round_trip_estimate.h).
#include "node/round_trip_estimate.h"

#include <gtest/gtest.h>

namespace magpie {
namespace {

TEST(RoundTripEstimate, WaitsTheFloorUntilItHasHeardAnAnswer) {
  RoundTripEstimate e(Duration::Millis(150), Duration::Seconds(1));
  EXPECT_EQ(e.Timeout(), Duration::Millis(150));
}

TEST(RoundTripEstimate, SlowAnswersLengthenTheWaitUpToTheCeiling) {
  RoundTripEstimate e(Duration::Millis(150), Duration::Seconds(1));
  e.Observe(Duration::Millis(100));  // srtt 100, deviation 50: 300 ms
  EXPECT_EQ(e.Timeout(), Duration::Millis(300));
  for (int i = 0; i < 50; ++i) e.Observe(Duration::Millis(400));
  EXPECT_GT(e.Timeout(), Duration::Millis(400)) << "asks again before a typical answer came";
  EXPECT_LE(e.Timeout(), Duration::Millis(450));
  e.Observe(Duration::Seconds(30));
  EXPECT_EQ(e.Timeout(), Duration::Seconds(1));
}

TEST(RoundTripEstimate, FastSteadyAnswersBringItBackToTheFloor) {
  RoundTripEstimate e(Duration::Millis(150), Duration::Seconds(1));
  e.Observe(Duration::Millis(900));
  EXPECT_EQ(e.Timeout(), Duration::Seconds(1));
  for (int i = 0; i < 100; ++i) e.Observe(Duration::Millis(5));
  EXPECT_EQ(e.Timeout(), Duration::Millis(150));
}

}  // namespace
}  // namespace magpie
