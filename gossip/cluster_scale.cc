#include "gossip/cluster_scale.h"

#include <algorithm>
#include <bit>

namespace magpie {

int64_t Log2Fixed(uint64_t x) {
  if (x <= 1) return 0;
  const int integer = 63 - std::countl_zero(x);
  // Mantissa x / 2^integer in [1, 2), as a Q1.31 fixed-point number (fits 32 bits).
  uint64_t m = integer >= 31 ? (x >> (integer - 31)) : (x << (31 - integer));
  int64_t result = static_cast<int64_t>(integer) << 32;
  // Bit-by-bit: squaring the mantissa doubles its logarithm; when the square reaches 2 the
  // next fractional bit of the logarithm is 1.
  for (int bit = 31; bit >= 0; --bit) {
    m = (m * m) >> 31;  // < 2^64 because m < 2^32
    if (m >= (uint64_t{1} << 32)) {
      m >>= 1;
      result |= int64_t{1} << bit;
    }
  }
  return result;
}

int CeilLog10(uint64_t x) {
  int d = 0;
  uint64_t p = 1;
  while (p < x && d < 19) {
    p *= 10;
    ++d;
  }
  return p < x ? 20 : d;
}

int RetransmitLimit(int mult, uint64_t n) { return mult * CeilLog10(n + 1); }

Duration SuspicionTimeout(int mult, uint64_t n, Duration interval) {
  static const int64_t kLog2Of10 = Log2Fixed(10);
  // log10(n) in thousandths, floored. The small bias keeps exact powers of ten (where the
  // fixed-point log2 may land a unit low) from flooring to 999, 1999, ...
  int64_t milli = (1000 * Log2Fixed(std::max<uint64_t>(n, 1)) + 4096) / kLog2Of10;
  milli = std::max<int64_t>(milli, 1000);
  return Duration::Micros(interval.micros() * mult * milli / 1000);
}

Duration PushPullScale(Duration interval, uint64_t n) {
  constexpr uint64_t kThreshold = 32;
  if (n <= kThreshold) return interval;
  // ceil(log2(n) - log2(32)) + 1, in integers.
  int64_t mult = 1;
  while ((kThreshold << (mult - 1)) < n) ++mult;
  return interval * mult;
}

}  // namespace magpie
