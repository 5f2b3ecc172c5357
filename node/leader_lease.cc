#include "node/leader_lease.h"

#include "base/buggify.h"

namespace magpie {

bool HoldsLeaderLease(const RaftGroup& raft, Instant now, Duration election_timeout, int max_drift_percent) {
  if (MAGPIE_BUGGIFY_ON(grant_during_transfer)) {
    // The old rule: its own quorum-contact window only, transfer or not.
    if (!raft.is_leader()) return false;
  } else if (!raft.HasQuorumContact(now) || !raft.transferee().empty()) {
    return false;
  }
  const Duration window = election_timeout.Scaled(100 - max_drift_percent, 100 + max_drift_percent);
  return now - raft.QuorumContactSince() < window;
}

}  // namespace magpie
