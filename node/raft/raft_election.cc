// Elections: pre-vote and vote (§3.4, §9.6), leader stickiness, leadership transfer (§3.10).
#include "node/raft/raft_group.h"

namespace magpie {

void RaftGroup::Campaign(Instant now) {
  Observe(now);
  if (role_ == RaftRole::kLeader) return;
  CampaignInternal(now_, config_.pre_vote ? CampaignKind::kPreVote : CampaignKind::kElection);
}

void RaftGroup::CampaignInternal(Instant now, CampaignKind kind) {
  if (!is_voter()) {
    // Learners and removed members never campaign; their timer just keeps moving.
    ResetElectionTimer(now);
    return;
  }
  const bool transfer = kind == CampaignKind::kTransfer;
  RaftMessageType type = RaftMessageType::kVote;
  if (kind == CampaignKind::kPreVote) {
    BecomePreCandidate(now);
    type = RaftMessageType::kPreVote;
  } else {
    BecomeCandidate(now, transfer);
  }
  for (const auto& m : members_.members) {
    if (!m.voter || m.id == config_.self_id) continue;
    RaftMessage r = NewMessage(type, m.id);
    // A pre-vote asks about the term it would campaign in, without entering it.
    if (type == RaftMessageType::kPreVote) r.term = term_ + 1;
    r.index = log_.last_index();
    r.log_term = log_.last_term();
    r.transfer = transfer;
    Send(r);
  }
  Tally(now);
}

bool RaftGroup::HeardFromLeader(Instant now, Duration within) const {
  if (role_ == RaftRole::kLeader) return true;
  // A follower between leaders (an election under way) still counts its last contact.
  return last_leader_contact_ != Instant() && now - last_leader_contact_ < within;
}

bool RaftGroup::InLease(Instant now) const {
  if (now < quiet_until_) return true;
  if (role_ == RaftRole::kLeader) return HasQuorumContact(now);
  return !leader_id_.empty() && now - last_leader_contact_ < config_.election_timeout;
}

void RaftGroup::HandleVoteRequest(Instant now, const RaftMessage& m) {
  const bool pre = m.type == RaftMessageType::kPreVote;
  // A repeat of our vote; or no vote and no known leader in this term; or a pre-vote for a
  // later term (granting one binds nothing).
  bool can_vote = vote_ == m.from || (vote_.empty() && leader_id_.empty()) || (pre && m.term > term_);
  // §3.6.1: only a candidate whose log holds every committed entry may win.
  bool up_to_date = log_.IsUpToDate(m.index, m.log_term);
  // A member with no configuration knows nothing (a new member before its first snapshot,
  // or one whose data was erased): its vote could elect a leader of some stale configuration.
  // New members join as learners, so no election ever needs such a vote.
  if (members_.members.empty()) can_vote = false;
  RaftMessage r = NewMessage(pre ? RaftMessageType::kPreVoteResponse : RaftMessageType::kVoteResponse, m.from);
  if (can_vote && up_to_date) {
    // Answer at the request's term: for a pre-vote that is ahead of ours, and an answer at
    // our own term would be dropped as stale by the asker.
    r.term = m.term;
    if (!pre) {
      vote_ = m.from;
      hard_state_dirty_ = true;  // synced before this answer leaves (the Ready's rule)
      ResetElectionTimer(now);
    }
    logger_->info("group {}: granted {} to {} at term {}", config_.group_id,
                  pre ? "pre-vote" : "vote", m.from, m.term);
  } else {
    r.reject = true;
  }
  Send(r);
}

void RaftGroup::HandleVoteResponse(Instant now, const RaftMessage& m) {
  if (m.type == RaftMessageType::kPreVoteResponse) {
    if (role_ != RaftRole::kPreCandidate) return;
    if (m.term != (m.reject ? term_ : term_ + 1)) return;
  } else if (role_ != RaftRole::kCandidate || m.term != term_) {
    return;
  }
  if (!members_.IsVoter(m.from)) return;
  votes_[m.from] = !m.reject;
  Tally(now);
}

void RaftGroup::Tally(Instant now) {
  size_t granted = 0, rejected = 0;
  for (const auto& m : members_.members) {
    if (!m.voter) continue;
    auto it = votes_.find(m.id);
    if (it == votes_.end()) continue;
    (it->second ? granted : rejected) += 1;
  }
  const size_t quorum = members_.Quorum();
  if (granted >= quorum) {
    if (role_ == RaftRole::kPreCandidate) {
      CampaignInternal(now, CampaignKind::kElection);  // the real one: the pre-vote said it can win
    } else if (role_ == RaftRole::kCandidate) {
      BecomeLeader(now);
    }
  } else if (rejected > members_.VoterCount() - quorum) {
    logger_->info("group {}: lost the {} at term {}", config_.group_id,
                  role_ == RaftRole::kPreCandidate ? "pre-vote" : "election", term_);
    BecomeFollower(now, term_, "");
  }
}

void RaftGroup::HandleTimeoutNow(Instant now, const RaftMessage& m) {
  if (role_ == RaftRole::kLeader || !is_voter()) return;
  logger_->info("group {}: {} hands over leadership", config_.group_id, m.from);
  CampaignInternal(now, CampaignKind::kTransfer);
}

void RaftGroup::SendTimeoutNow(const std::string& to) {
  timeout_now_sent_ = true;
  Send(NewMessage(RaftMessageType::kTimeoutNow, to));
}

Status RaftGroup::TransferLeadership(Instant now, const std::string& to_id) {
  Observe(now);
  if (role_ != RaftRole::kLeader) return Status::Unavailable(NotLeaderMessage());
  if (to_id == config_.self_id) return Status::Ok();
  if (!members_.IsVoter(to_id)) {
    return Status::InvalidArgument(to_id + " is not a voting member of group " + config_.group_id);
  }
  if (transferee_ == to_id) return Status::Ok();
  transferee_ = to_id;
  transfer_deadline_ = now_ + config_.election_timeout;
  logger_->info("group {}: transferring leadership to {}", config_.group_id, to_id);
  auto it = progress_.find(to_id);
  if (it != progress_.end() && it->second.match == log_.last_index()) {
    SendTimeoutNow(to_id);
  } else {
    appends_pending_ = true;  // catch it up first; the ack that does so sends TimeoutNow
  }
  return Status::Ok();
}

}  // namespace magpie
