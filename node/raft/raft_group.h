// One member of one replica group: Raft as the dissertation writes it (Ongaro 2014, §3),
// with pre-vote and check-quorum (§9.6), single-server membership changes (§4.1, learners
// first: §4.2.1), log compaction by snapshot (§5), leadership transfer (§3.10).
//
// Deterministic, single-threaded and sans-IO, after etcd-io/raft's RawNode: input only
// through Tick, Step, Propose*, Compact and ProvideSnapshot, each with `now`; randomness
// only from the seeded Prng; output only through TakeReady, acknowledged by Advance. The
// driving contract (docs/raft.md has the long form):
//
//   Load(storage, applied) once; Bootstrap(members) on the very first start of a new group.
//   feed Tick / Step / Propose ...;
//   while (g.HasReady()) {
//     RaftReady rd = g.TakeReady();
//     if (rd.snapshot) replace the applied state by rd.snapshot->data, and add the writes
//                      that persist it to rd.writes;           // same batch: atomic
//     apply rd.committed in order (skip kNoop and kRaftConfigEntryType entries);
//     storage.Write(rd.writes, rd.sync);                        // FIRST: persist
//     send rd.messages;                                         // THEN: act
//     g.Advance(now);
//   }
//   call Tick at NextDeadline().
//
// Step, Tick and Propose may be called between TakeReady and Advance; their effects go in
// the next Ready. TakeReady twice without Advance is a bug.
#ifndef MAGPIE_NODE_RAFT_RAFT_GROUP_H_
#define MAGPIE_NODE_RAFT_RAFT_GROUP_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "base/prng.h"
#include "base/status.h"
#include "base/time.h"
#include "gossip/peer_message.h"
#include "node/log_entry.h"
#include "node/raft/raft_log.h"
#include "node/raft/raft_messages.h"
#include "node/raft/raft_progress.h"
#include "node/raft/raft_types.h"
#include "storage/storage.h"

namespace magpie {

struct RaftOutMessage {
  std::string to_id;
  // From the configuration, else the address the peer last sent from; may be empty when
  // neither is known (the caller then resolves to_id itself, e.g. through gossip).
  std::string to_address;
  PeerMessageType type = PeerMessageType::kGossipPing;
  std::string payload;  // EncodeRaftMessage; carries the group id for routing
};

// A snapshot the leader sent, to replace this member's applied state.
struct RaftSnapshotToApply {
  uint64_t index = 0;
  uint64_t term = 0;
  RaftMembership members;
  std::string data;  // the bytes the leader's caller passed to ProvideSnapshot
};

struct RaftSoftState {
  RaftRole role = RaftRole::kFollower;
  uint64_t term = 0;
  std::string leader_id;
  bool operator==(const RaftSoftState&) const = default;
};

// One batch of effects. Field order is the order the caller carries them out in.
struct RaftReady {
  // 1. Install: when set, the caller replaces its applied state with the snapshot and adds
  //    the writes persisting that state to `writes` (the log it replaces is deleted in the
  //    same batch, so a crash keeps both or neither).
  std::optional<RaftSnapshotToApply> snapshot;
  // 2. Apply, in order, after the snapshot. Every entry is committed and durable here.
  //    Includes leader no-ops (EntryType::kNoop) and membership changes
  //    (kRaftConfigEntryType), which the caller skips. A proposal (index, term) succeeded
  //    iff the entry committed at index has that term.
  std::vector<Entry> committed;
  // 3. Persist. When sync is true the write must be durable before anything below happens.
  WriteBatch writes;
  bool sync = false;
  // 4. Then send. Votes and append acknowledgements in here promise what `writes` holds.
  //    The first `messages_before_write` of them are a leader's appends, heartbeats and
  //    snapshot chunks, which promise nothing about this member's disk: they may leave
  //    before the write, so the leader's fsync overlaps its followers' (Raft thesis
  //    §10.2.1). The leader counts its own copy toward a quorum only once durable.
  std::vector<RaftOutMessage> messages;
  size_t messages_before_write = 0;

  // Notifications (no action needed beyond what they say).
  std::optional<RaftSoftState> soft_state;  // role, term or leader changed since last Ready
  bool became_leader = false;    // a new leadership began (wait out a lease before granting)
  bool lost_leadership = false;  // the leadership reported earlier ended
  // A follower needs a snapshot: call ProvideSnapshot with the applied state (soon).
  bool snapshot_requested = false;
};

struct RaftPeerStatus {
  std::string id;
  bool voter = false;
  uint64_t match = 0;
  uint64_t next = 0;
  ProgressState state = ProgressState::kProbe;
  Instant acked_send_at;  // leader clock: latest send of ours this peer answered
  Instant last_ack_at;    // leader clock: when that answer arrived
};

// Everything dropped or refused, for metrics. Nothing here is an error of this member.
struct RaftCounters {
  uint64_t malformed_messages = 0;   // undecodable, or inconsistent with itself
  uint64_t misrouted_messages = 0;   // another group, another recipient, or from ourselves
  uint64_t stale_messages = 0;       // from an older term
  uint64_t votes_ignored_in_lease = 0;
  uint64_t outbox_overflows = 0;
  uint64_t snapshots_refused = 0;
  uint64_t unsafe_appends_refused = 0;  // would overwrite a committed entry: a broken peer
};

class RaftGroup {
 public:
  RaftGroup(RaftConfig config, uint64_t seed, std::shared_ptr<spdlog::logger> logger);
  RaftGroup(const RaftGroup&) = delete;
  RaftGroup& operator=(const RaftGroup&) = delete;

  // Recovers hard state, snapshot metadata, configuration and log. applied_index is the
  // index the caller's durable state reflects (≥ the snapshot index): committed entries
  // after it are handed out again. REQUIRES: called once, before anything else.
  Status Load(const Storage& storage, uint64_t applied_index = 0);
  // The first start of a brand-new group: every initial member calls it with the same list
  // (a home group: just this node). REQUIRES: Load found nothing.
  void Bootstrap(const std::vector<RaftMember>& members);

  void Tick(Instant now);
  // A message from a peer. Malformed, misrouted or stale ones are dropped and counted.
  void Step(Instant now, PeerMessageType type, std::string_view payload);
  void Step(Instant now, RaftMessage message);

  // Appends an entry if this member leads; returns its index. Unavailable when not the
  // leader (the message names the leader, also in leader_id()), Busy past the bounds on
  // uncommitted entries, InvalidArgument for an oversized payload.
  Result<uint64_t> Propose(Instant now, EntryType type, std::string payload);
  // Appends every payload, in order, or none of them (the same refusals, judged for the
  // whole batch before anything is appended); returns the last index.
  Result<uint64_t> ProposeAll(Instant now, EntryType type, std::vector<std::string> payloads);
  // One change at a time, once the leader has committed an entry of its term (§4.1).
  Result<uint64_t> ProposeMembershipChange(Instant now, RaftChangeKind kind, RaftMember member);
  // Hands leadership to a caught-up voter (§3.10), e.g. before a graceful stop. Proposals
  // are refused until it completes or an election timeout passes.
  Status TransferLeadership(Instant now, const std::string& to_id);
  // Starts an election now, as if the election timeout had passed (voters only).
  void Campaign(Instant now);

  bool HasReady() const;
  RaftReady TakeReady();
  // The last Ready was carried out: its writes are durable, its entries applied.
  void Advance(Instant now);

  // The caller's applied state through index is durable (in this Ready's batch or an
  // earlier one): the log up to index is deleted in the next Ready. REQUIRES index ≤ applied.
  // While a live follower installs a snapshot, the entries after that snapshot are kept
  // (the compaction stops short of them) so it can continue from the log.
  Status Compact(uint64_t index);
  // The caller's applied state at index (applied ≥ index ≥ snapshot index), for followers
  // behind the compacted log. Answer snapshot_requested with it; may also be given early.
  Status ProvideSnapshot(uint64_t index, std::string data);

  // Deletes this member's log and snapshot metadata of the group, keeping its hard state
  // (term and vote) as a tombstone, for a member that has left: if it is ever added again
  // under the same id it must not have forgotten its term (a member at term 0 would accept
  // a stale leader of an old configuration). FailedPrecondition unless this member's own
  // committed configuration excludes it, or while it is still catching up: a member
  // replaying a prefix of the log meets configurations from before it was added, which
  // exclude it too. Drop the RaftGroup after writing the batch.
  Status EraseKeepingTombstone(WriteBatch* batch) const;

  // When the group next needs a Tick (Instant() before the first input: tick at once).
  Instant NextDeadline() const;

  // --- Views ---
  const RaftConfig& config() const { return config_; }
  RaftRole role() const { return role_; }
  bool is_leader() const { return role_ == RaftRole::kLeader; }
  uint64_t term() const { return term_; }
  const std::string& vote() const { return vote_; }
  const std::string& leader_id() const { return leader_id_; }
  uint64_t commit_index() const { return log_.committed(); }
  uint64_t applied_index() const { return log_.applied(); }
  uint64_t last_index() const { return log_.last_index(); }
  uint64_t durable_index() const { return log_.durable_index(); }
  uint64_t snapshot_index() const { return log_.snapshot_index(); }
  std::optional<uint64_t> TermAt(uint64_t index) const { return log_.Term(index); }
  const RaftMembership& members() const { return members_; }
  bool is_voter() const { return members_.IsVoter(config_.self_id); }
  // Index of the latest membership change in the log (0: none since the snapshot).
  uint64_t last_config_index() const;
  const std::string& transferee() const { return transferee_; }
  // The largest t such that a majority of voters (this leader included, at now) answered
  // a message this leader sent at or after t. Instant() when not leading.
  Instant QuorumContactSince() const;
  // Check-quorum status: leading, and a majority answered within an election timeout; and
  // no TimeoutNow sent in this term. While true, no other leader can exist (followers that
  // answered refuse votes for an election timeout, across restarts too); with clock drift δ
  // the caller must allow for it (docs/raft.md, "Leases").
  bool HasQuorumContact(Instant now) const;
  // Whether this replica's view of the group is current to within `within`: it leads, or
  // it heard from a leader that recently. One that has not for long (cut off, or removed
  // from the group without having learnt it) may trail its group by any amount.
  bool HeardFromLeader(Instant now, Duration within) const;
  std::vector<RaftPeerStatus> Peers() const;
  const RaftCounters& counters() const { return counters_; }

  std::string HardStateKey() const { return "raft/hs/" + config_.group_id; }
  std::string SnapshotKey() const { return "raft/snap/" + config_.group_id; }

 private:
  struct Assembly {  // a snapshot arriving in chunks
    uint64_t leader_term = 0;
    uint64_t index = 0;
    uint64_t term = 0;
    uint64_t total = 0;
    RaftMembership members;
    std::string data;
  };
  struct Outgoing {  // the snapshot this leader sends
    uint64_t index = 0;
    uint64_t term = 0;
    RaftMembership members;
    std::string data;
  };

  // raft_group.cc: roles, timers, sending, Ready.
  void Observe(Instant now);
  void ResetElectionTimer(Instant now);
  void BecomeFollower(Instant now, uint64_t term, const std::string& leader);
  void BecomePreCandidate(Instant now);
  void BecomeCandidate(Instant now, bool transfer);
  void BecomeLeader(Instant now);
  RaftMessage NewMessage(RaftMessageType type, const std::string& to) const;
  void Send(const RaftMessage& m);
  void FollowLeader(Instant now, const std::string& leader);
  std::string NotLeaderMessage() const;
  uint64_t AppendLocal(Entry e);
  // Why a batch of proposals would be refused now; Ok if it would be taken whole.
  Status CheckProposal(EntryType type, const std::vector<std::string>& payloads) const;

  // raft_election.cc
  enum class CampaignKind { kPreVote, kElection, kTransfer };  // transfer: bypasses stickiness
  void CampaignInternal(Instant now, CampaignKind kind);
  bool InLease(Instant now) const;
  void HandleVoteRequest(Instant now, const RaftMessage& m);
  void HandleVoteResponse(Instant now, const RaftMessage& m);
  void Tally(Instant now);
  void HandleTimeoutNow(Instant now, const RaftMessage& m);
  void SendTimeoutNow(const std::string& to);

  // raft_replication.cc
  void FlushAppends();
  void SendAppends(const std::string& id, Progress& pr);
  void BroadcastHeartbeat();
  void HandleAppend(Instant now, const RaftMessage& m);
  void HandleAppendResponse(Instant now, const RaftMessage& m);
  void HandleHeartbeat(Instant now, const RaftMessage& m);
  void HandleHeartbeatResponse(Instant now, const RaftMessage& m);
  bool MaybeCommit();
  void RecordAck(Progress& pr, const RaftMessage& m);

  // raft_snapshot.cc
  void StartSnapshot(Progress& pr);
  void SendSnapshotChunk(const std::string& id, Progress& pr);
  void HandleInstallSnapshot(Instant now, const RaftMessage& m);
  void HandleInstallSnapshotResponse(Instant now, const RaftMessage& m);
  void RestoreSnapshot(const Assembly& a);
  void ReleaseOutgoingIfUnused();

  // raft_membership.cc
  RaftMembership ConfigAt(uint64_t index) const;
  Status CheckChangeAllowed() const;
  // Decodes the membership changes among entries into out; nothing is kept on error.
  Status TrackConfigEntries(const std::vector<Entry>& entries,
                            std::map<uint64_t, RaftMembership>* out);
  void ForgetConfigFrom(uint64_t index);
  void RefreshMembership();
  void MaybePromoteLearners(Instant now);
  void MaybeStepDownAfterRemoval();

  RaftConfig config_;
  std::shared_ptr<spdlog::logger> logger_;
  Prng prng_;
  RaftLog log_;

  bool loaded_ = false;
  bool started_ = false;  // timers set from the first `now`
  Instant now_;

  // Persistent (hard) state.
  uint64_t term_ = 0;
  std::string vote_;
  bool hard_state_dirty_ = false;  // term or vote changed: written and synced next Ready
  bool commit_dirty_ = false;      // commit changed: written (unsynced) next Ready
  // The highest commit index any leader has told this member of. Commit never moves back,
  // whoever leads, so it needs no reset; below it this member is still catching up.
  uint64_t known_commit_ = 0;

  RaftRole role_ = RaftRole::kFollower;
  std::string leader_id_;
  Instant election_deadline_;
  Instant last_leader_contact_;  // a follower last heard from leader_id_ (or stopped leading)
  Instant quiet_until_;          // no votes before this (stickiness across a restart)

  // Candidates.
  std::map<std::string, bool> votes_;  // voter -> granted
  Instant campaign_sent_at_;

  // Leaders.
  std::map<std::string, Progress> progress_;  // every member but this one
  Instant leader_since_;
  Instant heartbeat_deadline_;
  bool appends_pending_ = false;
  uint64_t term_start_index_ = 0;  // this leadership's no-op
  size_t uncommitted_bytes_ = 0;
  std::string transferee_;
  Instant transfer_deadline_;
  bool timeout_now_sent_ = false;  // this leadership asked someone to take over
  std::optional<Outgoing> outgoing_;
  bool snapshot_requested_ = false;
  bool snapshot_request_reported_ = false;

  // Membership: the configuration at the snapshot and after each change in the log.
  RaftMembership snapshot_members_;
  std::map<uint64_t, RaftMembership> config_entries_;
  RaftMembership members_;  // in effect: the latest of the above (§4.1: once appended)
  bool snapshot_meta_dirty_ = false;
  bool snapshot_meta_sync_ = false;

  // Followers receiving a snapshot; the one restored, for the next Ready.
  std::optional<Assembly> assembly_;
  std::optional<RaftSnapshotToApply> pending_snapshot_;

  // Addresses of peers outside the configuration, as they last sent from (bounded).
  std::map<std::string, std::string> peer_addresses_;

  // Ready bookkeeping.
  std::vector<RaftOutMessage> outbox_;
  bool ready_outstanding_ = false;
  std::optional<RaftLog::EntryId> ready_entry_;
  uint64_t ready_applied_to_ = 0;
  RaftSoftState reported_;

  RaftCounters counters_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_RAFT_RAFT_GROUP_H_
