// How the protocol's timers and limits grow with the number of members N, after
// memberlist's util.go. memberlist computes these with float64 logarithms; we use integer
// fixed-point logarithms so every platform and standard library gets the same numbers
// (a simulator seed must replay bit for bit).
#ifndef MAGPIE_GOSSIP_CLUSTER_SCALE_H_
#define MAGPIE_GOSSIP_CLUSTER_SCALE_H_

#include <cstdint>

#include "base/time.h"

namespace magpie {

// floor-ish of log2(x) * 2^32, for x >= 1 (x = 0 gives 0). Exact for powers of two;
// otherwise within a few units of 2^-32 below the true value.
int64_t Log2Fixed(uint64_t x);
inline constexpr int64_t kLog2FixedOne = int64_t{1} << 32;

// ceil(log10(x)) for x >= 1: the smallest d with 10^d >= x.
int CeilLog10(uint64_t x);

// How many times each node sends one update: mult * ceil(log10(n + 1)). With mult = 4:
// 4 up to 9 members, 8 up to 99, 12 up to 999, 16 up to 9,999.
int RetransmitLimit(int mult, uint64_t n);

// The minimum suspicion timeout: mult * max(1, log10(n)) * interval, with log10 in
// milliseconds of precision as memberlist does. 4 s at 10 members, 8 s at 100.
Duration SuspicionTimeout(int mult, uint64_t n, Duration interval);

// The push-pull interval for n members: unchanged up to 32, then one more interval for
// every doubling, so the cluster-wide rate of full-state exchanges grows only as N/log N.
Duration PushPullScale(Duration interval, uint64_t n);

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_CLUSTER_SCALE_H_
