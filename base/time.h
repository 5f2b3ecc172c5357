// Time as strong types. The core never reads a clock: the driver passes `now` in.
//
// An Instant is microseconds on the node's own monotonic clock, anchored so that it reads
// as Unix time when the process starts (real driver) or as simulated time plus the node's
// skew (simulator). It never goes backwards; it may drift from true time within max_drift.
#ifndef MAGPIE_BASE_TIME_H_
#define MAGPIE_BASE_TIME_H_

#include <compare>
#include <cstdint>
#include <limits>

namespace magpie {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration Micros(int64_t us) { return Duration(us); }
  static constexpr Duration Millis(int64_t ms) { return Duration(ms * 1000); }
  static constexpr Duration Seconds(int64_t s) { return Duration(s * 1000000); }
  static constexpr Duration Zero() { return Duration(0); }
  static constexpr Duration Infinite() { return Duration(std::numeric_limits<int64_t>::max() / 4); }

  constexpr int64_t micros() const { return us_; }
  constexpr int64_t millis() const { return us_ / 1000; }
  constexpr double seconds() const { return static_cast<double>(us_) / 1e6; }

  constexpr Duration operator+(Duration o) const { return Duration(us_ + o.us_); }
  constexpr Duration operator-(Duration o) const { return Duration(us_ - o.us_); }
  constexpr Duration operator*(int64_t k) const { return Duration(us_ * k); }
  constexpr Duration operator/(int64_t k) const { return Duration(us_ / k); }
  // Scales by num/den in integers, so results are identical on every platform.
  constexpr Duration Scaled(int64_t num, int64_t den) const { return Duration(us_ * num / den); }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(int64_t us) : us_(us) {}
  int64_t us_ = 0;
};

class Instant {
 public:
  constexpr Instant() = default;
  static constexpr Instant FromMicros(int64_t us) { return Instant(us); }
  static constexpr Instant Never() { return Instant(std::numeric_limits<int64_t>::max() / 2); }

  constexpr int64_t micros() const { return us_; }
  constexpr int64_t unix_millis() const { return us_ / 1000; }

  constexpr Instant operator+(Duration d) const { return Instant(us_ + d.micros()); }
  constexpr Instant operator-(Duration d) const { return Instant(us_ - d.micros()); }
  constexpr Duration operator-(Instant o) const { return Duration::Micros(us_ - o.us_); }
  constexpr auto operator<=>(const Instant&) const = default;

 private:
  constexpr explicit Instant(int64_t us) : us_(us) {}
  int64_t us_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_BASE_TIME_H_
