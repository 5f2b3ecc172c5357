#ifndef MAGPIE_NODE_ROUND_TRIP_ESTIMATE_H_
#define MAGPIE_NODE_ROUND_TRIP_ESTIMATE_H_

#include <algorithm>

#include "base/time.h"

namespace magpie {

// How long to wait for an answer before asking again: a smoothed round trip plus four
// times its mean deviation (Jacobson's estimator, as TCP's retransmission timer, RFC 6298),
// kept within [floor, ceiling]. A thief asking a loaded victim again after a fixed 150 ms
// got two batches when the victim's commits took longer, and gave the second one back.
class RoundTripEstimate {
 public:
  RoundTripEstimate(Duration floor, Duration ceiling) : floor_(floor), ceiling_(ceiling) {}

  // One answer came `sample` after its question.
  void Observe(Duration sample) {
    const int64_t s = std::max<int64_t>(0, sample.micros());
    if (samples_ == 0) {
      srtt_us_ = s;
      rttvar_us_ = s / 2;
    } else {
      const int64_t err = srtt_us_ > s ? srtt_us_ - s : s - srtt_us_;
      rttvar_us_ = (3 * rttvar_us_ + err) / 4;
      srtt_us_ = (7 * srtt_us_ + s) / 8;
    }
    ++samples_;
  }

  Duration Timeout() const {
    if (samples_ == 0) return floor_;
    return std::clamp(Duration::Micros(srtt_us_ + 4 * rttvar_us_), floor_, ceiling_);
  }

  Duration smoothed() const { return Duration::Micros(srtt_us_); }

 private:
  Duration floor_;
  Duration ceiling_;
  int64_t srtt_us_ = 0;
  int64_t rttvar_us_ = 0;
  uint64_t samples_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_ROUND_TRIP_ESTIMATE_H_
