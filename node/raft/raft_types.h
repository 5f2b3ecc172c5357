// The vocabulary of one replica group's Raft: its configuration knobs, its members, the
// roles a member plays, and the change kinds of single-server membership changes
// (Raft dissertation §4.1). Plain data; docs/raft.md explains every default.
#ifndef MAGPIE_NODE_RAFT_RAFT_TYPES_H_
#define MAGPIE_NODE_RAFT_RAFT_TYPES_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time.h"
#include "node/log_entry.h"

namespace magpie {

struct RaftConfig {
  std::string group_id;
  std::string self_id;
  // Where peers reach this node (HOST:PORT). Carried in every message so that a member that
  // does not yet know the sender (a new member, empty configuration) can answer it.
  std::string self_address;

  // A follower that hears nothing from a leader for a random time in [T, 2T) campaigns; a
  // leader that has not heard from a majority for T steps down (check-quorum); a follower
  // that heard from its leader within T refuses to vote for anyone else (leader stickiness).
  Duration election_timeout = Duration::Millis(1000);
  // The leader's heartbeat period: ten per election timeout, so that losing a few in a row
  // does not start an election.
  Duration heartbeat_interval = Duration::Millis(100);

  // Bounds on one AppendEntries message (at least one entry always goes, so an entry must
  // itself fit the peer message limit: see max_entry_bytes).
  size_t max_entries_per_append = 1024;
  size_t max_bytes_per_append = 1 << 20;
  // AppendEntries messages in flight to one follower in the pipelined (replicate) state.
  size_t max_inflight_appends = 64;
  // A proposal whose payload is larger is refused (it could never be sent).
  size_t max_entry_bytes = 1 << 20;
  // Proposed but not yet committed; past either bound Propose answers Busy.
  size_t max_uncommitted_entries = 1 << 17;
  size_t max_uncommitted_bytes = 64 << 20;
  // Committed entries handed out per Ready, so one Ready stays bounded after a long outage.
  size_t max_committed_per_ready = 4096;
  // InstallSnapshot is sent in chunks of this size, one at a time.
  size_t snapshot_chunk_bytes = 1 << 20;
  // A follower refuses a snapshot larger than this (it holds it in memory while assembling).
  size_t max_snapshot_bytes = size_t{1} << 30;
  // Messages queued for one Ready; past it they are dropped and counted (Raft tolerates
  // loss, and the next heartbeat repairs it).
  size_t max_outbox_messages = 4096;

  // The caller's check of a snapshot's data (its decoder), run once the last chunk arrives
  // and before anything is installed: a snapshot it refuses is answered with a rejection and
  // counted as malformed. Unset: every snapshot is taken.
  std::function<Status(std::string_view data)> check_snapshot;

  bool pre_vote = true;      // §9.6: a partitioned node cannot inflate the term on return
  bool check_quorum = true;  // §6.2/§9.6: a leader cut off from a majority steps down
  // (Leader stickiness, §4.2.3, is always on: no vote while a leader is heard from.)
};

struct RaftMember {
  std::string id;       // node id: stable for the node's life
  std::string address;  // HOST:PORT the node listens on
  bool voter = true;    // false: a learner, which receives the log but never votes or counts
  // A learner the leader promotes to voter once it has caught up (added with kAddVoter).
  bool catching_up = false;

  bool operator==(const RaftMember&) const = default;
};

enum class RaftRole : uint8_t {
  kFollower = 0,
  kPreCandidate = 1,  // asking whether it could win, without raising the term (§9.6)
  kCandidate = 2,
  kLeader = 3,
};
const char* RaftRoleName(RaftRole role);

// Single-server membership changes: one at a time, in effect once appended (§4.1).
enum class RaftChangeKind : uint8_t {
  kAddLearner = 1,  // add a non-voting member; it stays one
  kAddVoter = 2,    // add as a learner, promoted automatically once caught up (§4.2.1)
  kPromote = 3,     // make a learner a voter now
  kRemove = 4,      // remove a member (the leader itself included: it steps down at commit)
};
const char* RaftChangeKindName(RaftChangeKind kind);

// The entry type of a membership change in the log. It shares the numbering of EntryType
// (node/log_entry.h) and stays clear of the task entries; the caller sees these entries in
// RaftReady::committed and ignores them (members() already reflects them).
inline constexpr EntryType kRaftConfigEntryType = static_cast<EntryType>(16);

// The members of the group, sorted by id. Every helper is a pure function of the list.
struct RaftMembership {
  std::vector<RaftMember> members;

  const RaftMember* Find(const std::string& id) const;
  bool IsVoter(const std::string& id) const;
  size_t VoterCount() const;
  // Votes (or acknowledgements) a decision needs: a strict majority of voters.
  size_t Quorum() const { return VoterCount() / 2 + 1; }
  void Sort();
  bool operator==(const RaftMembership&) const = default;
};

// A membership change as stored in the log: what changed and the whole resulting list, so
// the configuration at any index is read from one entry.
struct RaftConfigChange {
  RaftChangeKind kind = RaftChangeKind::kAddLearner;
  RaftMember member;
  RaftMembership after;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_RAFT_RAFT_TYPES_H_
