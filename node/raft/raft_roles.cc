// Role changes and the election timer. Every transition clears what the old role owned
// (votes, progress, transfers, the outgoing snapshot) so nothing outlives its term.
#include "node/raft/raft_group.h"

namespace magpie {

void RaftGroup::ResetElectionTimer(Instant now) {
  int64_t t = config_.election_timeout.micros();
  election_deadline_ = now + Duration::Micros(t + static_cast<int64_t>(prng_.Below(static_cast<uint64_t>(t))));
}

void RaftGroup::BecomeFollower(Instant now, uint64_t term, const std::string& leader) {
  if (term > term_) {
    term_ = term;
    vote_.clear();
    hard_state_dirty_ = true;
  }
  if (role_ == RaftRole::kLeader) {
    logger_->info("group {}: no longer leader (term {})", config_.group_id, term_);
    last_leader_contact_ = now;  // it was the leader until now (HeardFromLeader)
  }
  role_ = RaftRole::kFollower;
  leader_id_ = leader;
  if (!leader.empty()) last_leader_contact_ = now;
  progress_.clear();
  votes_.clear();
  transferee_.clear();
  outgoing_.reset();
  snapshot_requested_ = false;
  appends_pending_ = false;
  ResetElectionTimer(now);
}

void RaftGroup::FollowLeader(Instant now, const std::string& leader) {
  if (role_ != RaftRole::kFollower || leader_id_ != leader) {
    if (role_ == RaftRole::kFollower && leader_id_.empty()) {
      logger_->info("group {}: following {} at term {}", config_.group_id, leader, term_);
    }
    BecomeFollower(now, term_, leader);
  }
  last_leader_contact_ = now;
  ResetElectionTimer(now);
}

void RaftGroup::BecomePreCandidate(Instant now) {
  role_ = RaftRole::kPreCandidate;
  leader_id_.clear();
  votes_.clear();
  progress_.clear();
  votes_[config_.self_id] = true;
  campaign_sent_at_ = now;
  ResetElectionTimer(now);
  logger_->info("group {}: pre-campaigning for term {}", config_.group_id, term_ + 1);
}

void RaftGroup::BecomeCandidate(Instant now, bool transfer) {
  ++term_;
  vote_ = config_.self_id;
  hard_state_dirty_ = true;
  role_ = RaftRole::kCandidate;
  leader_id_.clear();
  votes_.clear();
  progress_.clear();
  votes_[config_.self_id] = true;
  campaign_sent_at_ = now;
  ResetElectionTimer(now);
  logger_->info("group {}: campaigning at term {}{}", config_.group_id, term_,
                transfer ? " (leadership transfer)" : "");
}

void RaftGroup::BecomeLeader(Instant now) {
  role_ = RaftRole::kLeader;
  leader_id_ = config_.self_id;
  leader_since_ = now;
  timeout_now_sent_ = false;
  progress_.clear();
  transferee_.clear();
  uncommitted_bytes_ = 0;
  for (const auto& m : members_.members) {
    if (m.id == config_.self_id) continue;
    Progress pr(config_.max_inflight_appends);
    pr.next = log_.last_index() + 1;
    // A granted vote answers a request sent at the campaign's start: that is contact.
    auto v = votes_.find(m.id);
    if (v != votes_.end() && v->second) pr.RecordAck(now, campaign_sent_at_);
    progress_.emplace(m.id, std::move(pr));
  }
  votes_.clear();
  heartbeat_deadline_ = now + config_.heartbeat_interval;
  logger_->info("group {}: became leader at term {} ({} members)", config_.group_id, term_,
                members_.members.size());
  // §3.6.2/§6.4: a no-op of the new term lets the leader commit (and so learn) everything
  // earlier leaders committed; nothing older is committed by counting replicas.
  term_start_index_ = AppendLocal(Entry{0, term_, EntryType::kNoop, {}});
}

}  // namespace magpie
