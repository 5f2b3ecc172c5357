// Lifeguard's dynamic suspicion timeout (memberlist suspicion.go), as a deadline the
// membership core checks instead of a timer. A suspicion starts at `max` and shrinks
// towards `min` as independent members confirm it: one node's bad link makes a slow
// accusation, many nodes failing to reach the suspect make a quick one.
#ifndef MAGPIE_GOSSIP_SUSPICION_H_
#define MAGPIE_GOSSIP_SUSPICION_H_

#include <cstdint>
#include <set>
#include <string>

#include "base/time.h"

namespace magpie {

// The time left before a suspect is declared dead, given n confirmations out of the k
// wanted and `elapsed` since the suspicion began:
//   timeout = max - (max - min) * log(n + 1) / log(k + 1), floored to the millisecond and
//   never below min; the result is timeout - elapsed, and may be negative (fire at once).
// A pure function so it can be tested from a table. REQUIRES: n, k >= 0; min <= max.
Duration RemainingSuspicionTime(int n, int k, Duration elapsed, Duration min, Duration max);

class Suspicion {
 public:
  // Starts at `start` with no confirmations. `accuser` (the member whose failed probe
  // raised it) never counts as a confirmation: our own accusation may be gossiped back.
  // k == 0 means no confirmations are expected (too few members) and the timeout is min.
  Suspicion(const std::string& accuser, int k, Duration min, Duration max, Instant start);

  // Registers that `from` also suspects the member. True if this was new information (a
  // member not heard from before, while fewer than k have confirmed): the caller then
  // re-gossips the suspicion so confirmations keep flowing.
  bool Confirm(const std::string& from);

  // When the suspect is to be declared dead.
  Instant Deadline() const { return deadline_; }

  int confirmations() const { return n_; }
  const std::string& accuser() const { return accuser_; }
  Instant start() const { return start_; }

 private:
  std::string accuser_;
  int k_;
  int n_ = 0;
  Duration min_;
  Duration max_;
  Instant start_;
  Instant deadline_;  // recomputed on each confirmation; read on every NextDeadline
  std::set<std::string> confirmed_;  // at most k + 1 entries: the accuser and k others
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_SUSPICION_H_
