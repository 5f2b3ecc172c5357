// The pure pieces of the protocol: Lifeguard's suspicion timeout, the cluster-size scaling
// functions, local health, and the retransmit-limited broadcast queue.
#include <gtest/gtest.h>

#include <cmath>

#include "gossip/awareness.h"
#include "gossip/broadcast_queue.h"
#include "gossip/cluster_scale.h"
#include "gossip/suspicion.h"

namespace magpie {
namespace {

Duration S(int64_t s) { return Duration::Seconds(s); }
Duration Ms(int64_t ms) { return Duration::Millis(ms); }

// memberlist's own table (suspicion_test.go), plus k = 0 and a small window.
TEST(RemainingSuspicionTimeTest, MatchesMemberlistTable) {
  struct Case {
    int n, k;
    Duration elapsed, min, max, expected;
  };
  const Case cases[] = {
      {0, 3, S(0), S(2), S(30), S(30)},
      {1, 3, S(2), S(2), S(30), S(14)},
      {2, 3, S(3), S(2), S(30), Ms(4810)},
      {3, 3, S(4), S(2), S(30), S(-2)},
      {4, 3, S(5), S(2), S(30), S(-3)},
      {5, 3, S(10), S(2), S(30), S(-8)},
      {0, 0, S(0), S(2), S(30), S(2)},       // nobody to confirm: the minimum
      {3, 0, S(1), S(2), S(30), S(1)},
      {1, 2, S(0), Ms(500), S(2), Ms(1053)},  // 2 - 1.5 * log 2 / log 3 = 1.0536 s
      {2, 2, S(0), Ms(500), S(2), Ms(500)},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(RemainingSuspicionTime(c.n, c.k, c.elapsed, c.min, c.max).micros(), c.expected.micros())
        << "n=" << c.n << " k=" << c.k << " elapsed=" << c.elapsed.millis();
  }
}

TEST(RemainingSuspicionTimeTest, AgreesWithTheFloatingPointFormulaToTheMillisecond) {
  for (int k = 1; k <= 8; ++k) {
    for (int n = 0; n <= k; ++n) {
      const double frac = std::log(n + 1.0) / std::log(k + 1.0);
      const double raw = 24.0 - frac * (24.0 - 4.0);
      const int64_t want_ms = std::max<int64_t>(static_cast<int64_t>(std::floor(raw * 1000)), 4000);
      EXPECT_EQ(RemainingSuspicionTime(n, k, S(0), S(4), S(24)).millis(), want_ms) << n << "/" << k;
    }
  }
}

TEST(SuspicionTest, ConfirmationsAreCountedOncePerMemberAndNeverForTheAccuser) {
  const Instant t0 = Instant::FromMicros(1'000'000);
  Suspicion s("accuser", 3, Ms(500), S(2), t0);
  EXPECT_EQ(s.Deadline(), t0 + S(2));
  EXPECT_FALSE(s.Confirm("accuser"));
  EXPECT_TRUE(s.Confirm("a"));
  EXPECT_FALSE(s.Confirm("a"));
  EXPECT_EQ(s.Deadline(), t0 + Ms(1250));
  EXPECT_TRUE(s.Confirm("b"));
  EXPECT_TRUE(s.Confirm("c"));
  EXPECT_EQ(s.Deadline(), t0 + Ms(500));
  EXPECT_FALSE(s.Confirm("d"));  // k reached: no more news
  EXPECT_EQ(s.confirmations(), 3);
}

TEST(ClusterScaleTest, Log2FixedIsExactForPowersOfTwoAndCloseOtherwise) {
  for (int e = 0; e < 63; ++e) EXPECT_EQ(Log2Fixed(uint64_t{1} << e), int64_t{e} << 32);
  for (uint64_t x : {3ull, 10ull, 1000ull, 123456789ull, 0xFFFFFFFFFFFFFFFFull}) {
    const double want = std::log2(static_cast<double>(x)) * 4294967296.0;
    EXPECT_NEAR(static_cast<double>(Log2Fixed(x)), want, want * 1e-9 + 8) << x;
  }
}

TEST(ClusterScaleTest, RetransmitLimitGrowsWithTheDigitsOfN) {
  struct Case {
    uint64_t n;
    int want;
  };
  for (const Case& c : {Case{1, 4}, Case{5, 4}, Case{9, 4}, Case{10, 8}, Case{99, 8}, Case{100, 12},
                        Case{999, 12}, Case{1000, 16}}) {
    EXPECT_EQ(RetransmitLimit(4, c.n), c.want) << c.n;
  }
}

TEST(ClusterScaleTest, SuspicionTimeoutFollowsLog10OfN) {
  struct Case {
    uint64_t n;
    Duration want;
  };
  for (const Case& c : {Case{1, S(4)}, Case{5, S(4)}, Case{10, S(4)}, Case{20, Ms(5204)}, Case{100, S(8)},
                        Case{1000, S(12)}}) {
    EXPECT_EQ(SuspicionTimeout(4, c.n, S(1)).micros(), c.want.micros()) << c.n;
  }
}

TEST(ClusterScaleTest, PushPullIntervalGrowsPerDoublingAbove32) {
  struct Case {
    uint64_t n;
    int64_t mult;
  };
  for (const Case& c : {Case{1, 1}, Case{32, 1}, Case{33, 2}, Case{64, 2}, Case{65, 3}, Case{1000, 6}}) {
    EXPECT_EQ(PushPullScale(S(30), c.n), S(30) * c.mult) << c.n;
  }
}

TEST(AwarenessTest, ScoreIsClampedAndScalesTimeouts) {
  Awareness a(8);
  a.ApplyDelta(-1);
  EXPECT_EQ(a.score(), 0);
  EXPECT_EQ(a.ScaleTimeout(Ms(500)), Ms(500));
  a.ApplyDelta(3);
  EXPECT_EQ(a.ScaleTimeout(S(1)), S(4));
  a.ApplyDelta(100);
  EXPECT_EQ(a.score(), 7);
  EXPECT_EQ(a.ScaleTimeout(S(1)), S(8));
}

TEST(BroadcastQueueTest, NewerUpdateAboutAMemberReplacesTheOlder) {
  BroadcastQueue q(16);
  q.Push("a", "a-suspect-----------");
  q.Push("b", "b-alive-------------");
  q.Push("a", "a-alive-------------");
  std::vector<std::string> out;
  q.Take(1000, 10, &out);
  EXPECT_EQ(out, (std::vector<std::string>{"a-alive-------------", "b-alive-------------"}));
}

TEST(BroadcastQueueTest, EachUpdateLeavesAfterTheTransmitLimit) {
  BroadcastQueue q(16);
  q.Push("a", std::string(20, 'a'));
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> out;
    q.Take(1000, 3, &out);
    EXPECT_EQ(out.size(), 1u) << i;
  }
  EXPECT_TRUE(q.empty());
}

TEST(BroadcastQueueTest, FreshUpdatesGoFirstAndTheBudgetIsRespected) {
  BroadcastQueue q(16);
  q.Push("old", std::string(40, 'o'));
  std::vector<std::string> out;
  q.Take(1000, 10, &out);  // "old" has been sent once
  q.Push("new", std::string(40, 'n'));
  q.Push("big", std::string(500, 'b'));
  out.clear();
  EXPECT_EQ(q.Take(100, 10, &out), 80u);  // big does not fit; new (0 sends) before old (1)
  EXPECT_EQ(out, (std::vector<std::string>{std::string(40, 'n'), std::string(40, 'o')}));
}

TEST(BroadcastQueueTest, OverflowDropsTheMostSentEntryAndCountsIt) {
  BroadcastQueue q(2);
  q.Push("a", std::string(20, 'a'));
  std::vector<std::string> out;
  q.Take(1000, 10, &out);
  q.Push("b", std::string(20, 'b'));
  q.Push("c", std::string(20, 'c'));
  EXPECT_EQ(q.dropped(), 1u);
  EXPECT_FALSE(q.Contains("a"));
  EXPECT_TRUE(q.Contains("b"));
  EXPECT_TRUE(q.Contains("c"));
}

}  // namespace
}  // namespace magpie
