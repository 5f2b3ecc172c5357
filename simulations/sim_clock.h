// One node's clock: what its NodeCore is told `now` is. It reads Unix-like time (like
// node/real_clock.h), offset from true time by the node's skew, and runs at its own rate:
// drift_ppm parts per million fast (positive) or slow (negative). DESIGN §1.2 assumes
// |drift| below max_drift (5 %, kMaxDriftPpm); the drift-beyond mode breaks that bound
// on purpose. Integer arithmetic only, so every platform computes the same instants.
//
// The clock is a property of the machine: it keeps running while the node is crashed or
// paused, and a restarted node reads it where it left off (it never goes backwards).
#ifndef MAGPIE_SIMULATIONS_SIM_CLOCK_H_
#define MAGPIE_SIMULATIONS_SIM_CLOCK_H_

#include <cstdint>

#include "base/time.h"
#include "simulations/sim_time.h"

namespace magpie {

class SimClock {
 public:
  // Where every node's clock starts before its skew: 2023-11-14, a plausible Unix time.
  static constexpr int64_t kEpochMicros = 1'700'000'000'000'000;
  // DESIGN §1.2's max_drift, 5 %.
  static constexpr int32_t kMaxDriftPpm = 50'000;
  // Beyond-bound mode draws up to this (the clock still runs forwards).
  static constexpr int32_t kMaxBeyondDriftPpm = 500'000;

  // REQUIRES: -kMaxBeyondDriftPpm <= drift_ppm <= kMaxBeyondDriftPpm.
  SimClock(int64_t offset_us, int32_t drift_ppm);

  // The node's reading at true time t: epoch + offset + t * (1 + drift).
  Instant LocalAt(SimTime t) const;
  // The earliest true time at which the clock reads at least `local` (SimTime::Zero() if
  // it already did at the start; SimTime::Never() for Instant::Never()).
  SimTime TrueAt(Instant local) const;

  int64_t offset_us() const { return offset_us_; }
  int32_t drift_ppm() const { return drift_ppm_; }

 private:
  int64_t offset_us_;
  int32_t drift_ppm_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SIM_CLOCK_H_
