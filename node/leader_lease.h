// Whether a replica group's leader holds the leader lease: the right to grant attempts and
// to acknowledge their lease renewals, which is safe only while no other leader of the
// group can exist (docs/raft.md, "Leases"; docs/DESIGN.md, "Transfer before granting").
#ifndef MAGPIE_NODE_LEADER_LEASE_H_
#define MAGPIE_NODE_LEADER_LEASE_H_

#include "base/time.h"
#include "node/raft/raft_group.h"

namespace magpie {

// True while `raft` leads with a majority's contact within T(1-d)/(1+d) of `now` (T the
// election timeout, d the bound on clock drift between nodes), and has not begun handing
// the group over: once it has, the transferee may win an election that bypasses the
// followers' stickiness at any moment.
bool HoldsLeaderLease(const RaftGroup& raft, Instant now, Duration election_timeout, int max_drift_percent);

}  // namespace magpie

#endif  // MAGPIE_NODE_LEADER_LEASE_H_
