// The Ready/Advance cycle (what leaves, in which order, under which sync rule) and the
// views the caller's lease logic reads.
#include <algorithm>

#include "base/buggify.h"
#include "node/raft/raft_group.h"

namespace magpie {

bool RaftGroup::HasReady() const {
  if (!loaded_ || ready_outstanding_) return false;
  return !outbox_.empty() || log_.HasUnwritten() || hard_state_dirty_ || commit_dirty_ ||
         snapshot_meta_dirty_ || pending_snapshot_.has_value() || log_.HasCommittedToHand() ||
         (role_ == RaftRole::kLeader && appends_pending_) ||
         !(reported_ == RaftSoftState{role_, term_, leader_id_}) ||
         (snapshot_requested_ && !snapshot_request_reported_);
}

RaftReady RaftGroup::TakeReady() {
  MAGPIE_CHECK(loaded_ && !ready_outstanding_, "TakeReady before Advance of the previous Ready");
  if (role_ == RaftRole::kLeader) FlushAppends();
  appends_pending_ = false;
  RaftReady rd;
  if (pending_snapshot_) {
    rd.snapshot = std::move(pending_snapshot_);
    pending_snapshot_.reset();
  }
  rd.committed = log_.TakeCommitted(config_.max_committed_per_ready);
  ready_applied_to_ = log_.delivered();

  ready_entry_ = log_.WriteTo(&rd.writes);
  if (ready_entry_) rd.sync = true;  // acknowledgements of these entries are in messages
  if (snapshot_meta_dirty_) {
    RaftSnapshotMeta meta{log_.snapshot_index(), log_.snapshot_term(), snapshot_members_};
    rd.writes.Put(Column::kMeta, SnapshotKey(), EncodeSnapshotMeta(meta));
    rd.sync = rd.sync || snapshot_meta_sync_;
  }
  if (hard_state_dirty_ || commit_dirty_ || snapshot_meta_dirty_) {
    RaftHardState hs{term_, vote_, log_.committed()};
    rd.writes.Put(Column::kMeta, HardStateKey(), EncodeHardState(hs));
    // Term and vote are promises to peers (§3.8): synced before any message leaves.
    rd.sync = rd.sync || hard_state_dirty_;
  }
  // The deliberate bug: a member that does not lead answers appends and votes with the
  // write still in the page cache; a crash takes back what the leader or candidate counted.
  if (MAGPIE_BUGGIFY_ON(raft_ack_before_durable) && role_ != RaftRole::kLeader) rd.sync = false;
  // A leader whose term or vote is being written sends nothing early: term and vote are
  // promises, durable before any message carries them.
  const bool may_send_early = role_ == RaftRole::kLeader && !hard_state_dirty_;
  hard_state_dirty_ = commit_dirty_ = snapshot_meta_dirty_ = snapshot_meta_sync_ = false;
  rd.messages = std::move(outbox_);
  outbox_.clear();
  if (may_send_early) {
    auto late = std::stable_partition(rd.messages.begin(), rd.messages.end(), [](const RaftOutMessage& m) {
      return m.type == ToPeerMessageType(RaftMessageType::kAppend) ||
             m.type == ToPeerMessageType(RaftMessageType::kHeartbeat) ||
             m.type == ToPeerMessageType(RaftMessageType::kInstallSnapshot);
    });
    rd.messages_before_write = static_cast<size_t>(late - rd.messages.begin());
  }

  RaftSoftState now_state{role_, term_, leader_id_};
  if (!(now_state == reported_)) {
    bool was_leading = reported_.role == RaftRole::kLeader;
    bool same_leadership = was_leading && role_ == RaftRole::kLeader && reported_.term == term_;
    rd.became_leader = role_ == RaftRole::kLeader && !same_leadership;
    rd.lost_leadership = was_leading && !same_leadership;
    rd.soft_state = now_state;
    reported_ = now_state;
  }
  if (snapshot_requested_ && !snapshot_request_reported_) {
    rd.snapshot_requested = true;
    snapshot_request_reported_ = true;
  }
  ready_outstanding_ = true;
  return rd;
}

void RaftGroup::Advance(Instant now) {
  MAGPIE_CHECK(ready_outstanding_, "Advance without a Ready");
  Observe(now);
  ready_outstanding_ = false;
  if (ready_entry_) log_.StableTo(*ready_entry_);
  ready_entry_.reset();
  log_.AppliedTo(ready_applied_to_);
  // The leader's own copy counts toward the quorum only once durable.
  if (role_ == RaftRole::kLeader) MaybeCommit();
}

Instant RaftGroup::NextDeadline() const {
  if (!loaded_) return Instant::Never();
  if (!started_) return Instant();
  if (role_ != RaftRole::kLeader) return is_voter() ? election_deadline_ : Instant::Never();
  Instant next = heartbeat_deadline_;
  if (config_.check_quorum) {
    next = std::min(next, std::max(QuorumContactSince(), leader_since_) + config_.election_timeout);
  }
  if (!transferee_.empty()) next = std::min(next, transfer_deadline_);
  for (const auto& [id, pr] : progress_) {
    if (pr.state == ProgressState::kSnapshot && pr.probe_sent) {
      next = std::min(next, pr.snapshot_sent_at + config_.election_timeout);
    }
  }
  return next;
}

Instant RaftGroup::QuorumContactSince() const {
  if (role_ != RaftRole::kLeader) return Instant();
  std::vector<Instant> seen;
  for (const auto& m : members_.members) {
    if (!m.voter) continue;
    if (m.id == config_.self_id) {
      seen.push_back(now_);
    } else {
      auto it = progress_.find(m.id);
      seen.push_back(it == progress_.end() ? Instant() : it->second.acked_send_at);
    }
  }
  if (seen.empty()) return Instant();
  return QuorumInstant(std::move(seen), members_.Quorum());
}

bool RaftGroup::HasQuorumContact(Instant now) const {
  // Once it has asked a member to take over, a leader grants nothing more in its term: that
  // election bypasses stickiness, so a new leader may exist before its contact runs out.
  if (role_ != RaftRole::kLeader || timeout_now_sent_) return false;
  return now - QuorumContactSince() < config_.election_timeout;
}

std::vector<RaftPeerStatus> RaftGroup::Peers() const {
  std::vector<RaftPeerStatus> out;
  for (const auto& [id, pr] : progress_) {
    out.push_back(RaftPeerStatus{id, members_.IsVoter(id), pr.match, pr.next, pr.state,
                                 pr.acked_send_at, pr.last_ack_at});
  }
  return out;
}

}  // namespace magpie
