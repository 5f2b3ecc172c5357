// True time in the simulated world: microseconds since the world began. Only the world,
// the network, the simulated processes and the oracle see it. A node never does: it sees
// its own Instant through its SimClock (sim_clock.h), which may be skewed and drift.
#ifndef MAGPIE_SIMULATIONS_SIM_TIME_H_
#define MAGPIE_SIMULATIONS_SIM_TIME_H_

#include <compare>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>

#include "base/time.h"

namespace magpie {

class SimTime {
 public:
  constexpr SimTime() = default;
  static constexpr SimTime FromMicros(int64_t us) { return SimTime(us); }
  static constexpr SimTime Zero() { return SimTime(0); }
  static constexpr SimTime Never() { return SimTime(std::numeric_limits<int64_t>::max() / 2); }

  constexpr int64_t micros() const { return us_; }
  constexpr double seconds() const { return static_cast<double>(us_) / 1e6; }

  constexpr SimTime operator+(Duration d) const { return SimTime(us_ + d.micros()); }
  constexpr SimTime operator-(Duration d) const { return SimTime(us_ - d.micros()); }
  constexpr Duration operator-(SimTime o) const { return Duration::Micros(us_ - o.us_); }
  constexpr auto operator<=>(const SimTime&) const = default;

  // "12.345678s": what every log line and report prints.
  std::string ToString() const {
    if (*this >= Never()) return "never";
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%lld.%06llds", static_cast<long long>(us_ / 1000000),
                  static_cast<long long>(us_ % 1000000));
    return buf;
  }

 private:
  constexpr explicit SimTime(int64_t us) : us_(us) {}
  int64_t us_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SIM_TIME_H_
