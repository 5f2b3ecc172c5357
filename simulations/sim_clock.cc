#include "simulations/sim_clock.h"

#include "base/check.h"

namespace magpie {

namespace {

// floor(a / b) for b > 0, also for negative a.
int64_t FloorDiv(__int128 a, int64_t b) {
  __int128 q = a / b;
  if (a % b != 0 && a < 0) --q;
  return static_cast<int64_t>(q);
}

}  // namespace

SimClock::SimClock(int64_t offset_us, int32_t drift_ppm)
    : offset_us_(offset_us), drift_ppm_(drift_ppm) {
  MAGPIE_CHECK(drift_ppm >= -kMaxBeyondDriftPpm && drift_ppm <= kMaxBeyondDriftPpm,
               "clock drift out of range");
}

Instant SimClock::LocalAt(SimTime t) const {
  const int64_t us = t.micros();
  return Instant::FromMicros(kEpochMicros + offset_us_ + us +
                             FloorDiv(static_cast<__int128>(us) * drift_ppm_, 1'000'000));
}

SimTime SimClock::TrueAt(Instant local) const {
  if (local >= Instant::Never()) return SimTime::Never();
  if (LocalAt(SimTime::Zero()) >= local) return SimTime::Zero();
  // Invert the rate, then walk the last microseconds: LocalAt is monotonic, and the
  // estimate is off by at most a couple of units of rounding.
  const int64_t want = local.micros() - kEpochMicros - offset_us_;
  int64_t t = FloorDiv(static_cast<__int128>(want) * 1'000'000, 1'000'000 + drift_ppm_);
  if (t < 0) t = 0;
  for (int i = 0; i < 8 && LocalAt(SimTime::FromMicros(t)) < local; ++i) ++t;
  for (int i = 0; i < 8 && t > 0 && LocalAt(SimTime::FromMicros(t - 1)) >= local; ++i) --t;
  MAGPIE_CHECK(LocalAt(SimTime::FromMicros(t)) >= local, "TrueAt did not converge");
  return SimTime::FromMicros(t);
}

}  // namespace magpie
