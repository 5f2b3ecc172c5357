#include "gossip/suspicion.h"

#include <algorithm>

#include "base/check.h"
#include "gossip/cluster_scale.h"

namespace magpie {

Duration RemainingSuspicionTime(int n, int k, Duration elapsed, Duration min, Duration max) {
  MAGPIE_CHECK(n >= 0 && k >= 0 && min <= max, "bad suspicion parameters");
  // frac = log(n+1) / log(k+1); k == 0 means "expect nothing", which memberlist's float
  // division turns into +Inf and so the minimum: say that directly.
  int64_t timeout_us = min.micros();
  if (k > 0) {
    const int64_t num = Log2Fixed(static_cast<uint64_t>(n) + 1);
    const int64_t den = Log2Fixed(static_cast<uint64_t>(k) + 1);
    const __int128 span = max.micros() - min.micros();
    const int64_t shrink = static_cast<int64_t>(span * num / den);
    timeout_us = max.micros() - shrink;
    timeout_us = timeout_us / 1000 * 1000;  // floor to the millisecond, as memberlist does
    timeout_us = std::max(timeout_us, min.micros());
  }
  return Duration::Micros(timeout_us) - elapsed;
}

Suspicion::Suspicion(const std::string& accuser, int k, Duration min, Duration max, Instant start)
    : accuser_(accuser), k_(std::max(k, 0)), min_(min), max_(std::max(min, max)), start_(start) {
  confirmed_.insert(accuser);
  deadline_ = start_ + RemainingSuspicionTime(n_, k_, Duration::Zero(), min_, max_);
}

bool Suspicion::Confirm(const std::string& from) {
  if (n_ >= k_) return false;
  if (!confirmed_.insert(from).second) return false;
  ++n_;
  deadline_ = start_ + RemainingSuspicionTime(n_, k_, Duration::Zero(), min_, max_);
  return true;
}

}  // namespace magpie
