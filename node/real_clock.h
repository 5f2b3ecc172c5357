// The production clock: steady_clock, anchored to Unix time once at start (see base/time.h).
// Only drivers use it; the core gets `now` passed in.
#ifndef MAGPIE_NODE_REAL_CLOCK_H_
#define MAGPIE_NODE_REAL_CLOCK_H_

#include <chrono>

#include "base/time.h"

namespace magpie {

class RealClock {
 public:
  RealClock()
      : steady_start_(std::chrono::steady_clock::now()),
        unix_start_us_(std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()) {}

  Instant Now() const { return FromSteady(std::chrono::steady_clock::now()); }

  Instant FromSteady(std::chrono::steady_clock::time_point t) const {
    return Instant::FromMicros(
        unix_start_us_ +
        std::chrono::duration_cast<std::chrono::microseconds>(t - steady_start_).count());
  }

  // steady_clock is CLOCK_MONOTONIC on Linux, shared by every process on the machine, so a
  // deadline converted here means the same instant to the watchdog process.
  std::chrono::steady_clock::time_point ToSteady(Instant i) const {
    return steady_start_ + std::chrono::microseconds(i.micros() - unix_start_us_);
  }

 private:
  std::chrono::steady_clock::time_point steady_start_;
  int64_t unix_start_us_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_REAL_CLOCK_H_
