// Lifeguard's local health (memberlist awareness.go): a score in [0, max) that rises when
// this node seems to be the one with the problem — its probes fail although the members it
// asked to help did not send the nacks they should have, or others accuse it and it must
// refute — and falls with every probe that succeeds. Timeouts are scaled by score + 1, so
// a slow or overloaded node waits longer before accusing anyone, instead of flooding the
// cluster with false suspicions.
#ifndef MAGPIE_GOSSIP_AWARENESS_H_
#define MAGPIE_GOSSIP_AWARENESS_H_

#include <algorithm>

#include "base/time.h"

namespace magpie {

class Awareness {
 public:
  // REQUIRES: max >= 1 (1 turns local health off: the score stays 0).
  explicit Awareness(int max) : max_(std::max(max, 1)) {}

  // Adds delta, clamped to [0, max - 1].
  void ApplyDelta(int delta) { score_ = std::clamp(score_ + delta, 0, max_ - 1); }

  Duration ScaleTimeout(Duration d) const { return d * (score_ + 1); }

  int score() const { return score_; }

 private:
  int max_;
  int score_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_AWARENESS_H_
