// A holder's renewals in flight: every answer within a lease finds its renewal, however
// many (leader, group) pairs the holder renews with; only renewals older than a lease are
// forgotten.
#include <gtest/gtest.h>

#include "base/buggify.h"
#include "node/renewals_in_flight.h"

namespace magpie {
namespace {

RenewalSent SentAt(Instant at, int group) {
  return RenewalSent{at, "g" + std::to_string(group), {AttemptRef{"t" + std::to_string(group), 1}}};
}

// A holder working for 500 groups sends 500 renewals in one round. Before, only the last
// 64 were remembered: the answers for the others were dropped, and their attempts were
// killed as lost at every lease's end.
TEST(RenewalsInFlight, EveryAnswerOfARoundFindsItsRenewalHoweverManyGroups) {
  RenewalsInFlight r;
  const Instant now = Instant::FromMicros(1'000'000'000);
  for (int g = 0; g < 500; ++g) r.Sent(g + 1, SentAt(now, g));
  r.ForgetSentBefore(now - Duration::Seconds(6));
  for (int g = 499; g >= 0; --g) {
    auto got = r.TakeAnswered(g + 1);
    ASSERT_TRUE(got.has_value()) << "the answer for group " << g << " found no renewal";
    EXPECT_EQ(got->group, "g" + std::to_string(g));
  }
  EXPECT_EQ(r.size(), 0u);
}

// The old bound (the switch keeps it): the same round loses every answer but the last 64's.
TEST(RenewalsInFlight, TheOldBoundOfSixtyFourDropsTheRestOfARound) {
  Buggify().forget_renewals_past_64 = true;
  RenewalsInFlight r;
  const Instant now = Instant::FromMicros(1'000'000'000);
  for (int g = 0; g < 500; ++g) r.Sent(g + 1, SentAt(now, g));
  int found = 0;
  for (int g = 499; g >= 0; --g) found += r.TakeAnswered(g + 1).has_value();
  Buggify() = BuggifySwitches{};
  EXPECT_EQ(found, 64) << "436 attempts would be killed as lost at their lease's end";
}

TEST(RenewalsInFlight, AnAnswerIsTakenOnce) {
  RenewalsInFlight r;
  r.Sent(7, SentAt(Instant::FromMicros(5), 1));
  EXPECT_TRUE(r.TakeAnswered(7).has_value());
  EXPECT_FALSE(r.TakeAnswered(7).has_value()) << "a duplicated answer must not extend twice";
  EXPECT_FALSE(r.TakeAnswered(8).has_value());
}

TEST(RenewalsInFlight, RenewalsOlderThanALeaseAreForgotten) {
  RenewalsInFlight r;
  const Instant t0 = Instant::FromMicros(1'000'000'000);
  const Duration lease = Duration::Seconds(6);
  for (int round = 0; round < 10; ++round) {
    const Instant at = t0 + Duration::Seconds(2 * round);
    for (int g = 0; g < 100; ++g) r.Sent(round * 100 + g + 1, SentAt(at, g));
    r.ForgetSentBefore(at - lease);
  }
  // The last round went out at t0+18 s: the rounds at t0+12 s and later are kept.
  EXPECT_EQ(r.size(), 400u);
  EXPECT_FALSE(r.TakeAnswered(500).has_value());  // round 4, at t0+8 s
  EXPECT_TRUE(r.TakeAnswered(601).has_value());   // round 6, at t0+12 s
}

}  // namespace
}  // namespace magpie
