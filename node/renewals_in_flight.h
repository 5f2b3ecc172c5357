// A holder's lease renewals awaiting their leaders' answers (DESIGN §4, "Leases and
// fencing"). A holder sends one renewal per (leader, group) it holds attempts of, every
// lease/3; an answer extends the lease from when its renewal was sent, so it must find
// that renewal here however many groups the holder works for.
#ifndef MAGPIE_NODE_RENEWALS_IN_FLIGHT_H_
#define MAGPIE_NODE_RENEWALS_IN_FLIGHT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "base/buggify.h"
#include "base/time.h"
#include "node/steal_messages.h"

namespace magpie {

struct RenewalSent {
  Instant at;
  std::string group;
  std::set<AttemptRef> asked;
};

class RenewalsInFlight {
 public:
  void Sent(uint64_t seq, RenewalSent renewal) {
    sent_[seq] = std::move(renewal);
    if (MAGPIE_BUGGIFY_ON(forget_renewals_past_64)) {
      while (sent_.size() > 64) sent_.erase(sent_.begin());  // the old bound, by count
    }
  }
  // The renewal an answer is for, once: nullopt for an unknown, repeated or forgotten one.
  std::optional<RenewalSent> TakeAnswered(uint64_t seq) {
    auto it = sent_.find(seq);
    if (it == sent_.end()) return std::nullopt;
    RenewalSent r = std::move(it->second);
    sent_.erase(it);
    return r;
  }
  // Forgets what was sent before `cutoff`: an answer to it could only extend a lease from
  // then, which has run out (callers pass now minus the holder's lease). The bound on
  // memory is therefore the renewals of one lease, whatever the number of groups.
  void ForgetSentBefore(Instant cutoff) {
    while (!sent_.empty() && sent_.begin()->second.at < cutoff) sent_.erase(sent_.begin());
  }
  size_t size() const { return sent_.size(); }

 private:
  std::map<uint64_t, RenewalSent> sent_;  // by seq, which grows with time
};

}  // namespace magpie

#endif  // MAGPIE_NODE_RENEWALS_IN_FLIGHT_H_
