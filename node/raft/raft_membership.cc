// Single-server membership changes (§4.1): one member added or removed at a time, each
// change in effect on every member as soon as it is in that member's log (committed or
// not), undone if the entry is truncated. New members join as learners and are promoted
// once caught up (§4.2.1), so adding one never stalls commits while it copies the log.
#include <algorithm>
#include <iterator>

#include "node/raft/raft_group.h"

namespace magpie {

uint64_t RaftGroup::last_config_index() const {
  return config_entries_.empty() ? 0 : config_entries_.rbegin()->first;
}

RaftMembership RaftGroup::ConfigAt(uint64_t index) const {
  auto it = config_entries_.upper_bound(index);
  if (it == config_entries_.begin()) return snapshot_members_;
  return std::prev(it)->second;
}

Status RaftGroup::TrackConfigEntries(const std::vector<Entry>& entries,
                                     std::map<uint64_t, RaftMembership>* out) {
  for (const auto& e : entries) {
    if (e.type != kRaftConfigEntryType) continue;
    auto c = DecodeConfigChange(e.payload);
    if (!c.ok()) {
      return Status::Corruption("membership change at index " + std::to_string(e.index) + ": " +
                                c.status().message());
    }
    if (c->after.VoterCount() == 0) {
      return Status::Corruption("membership change at index " + std::to_string(e.index) +
                                " leaves no voter");
    }
    (*out)[e.index] = std::move(c->after);
  }
  return Status::Ok();
}

void RaftGroup::ForgetConfigFrom(uint64_t index) {
  config_entries_.erase(config_entries_.lower_bound(index), config_entries_.end());
}

void RaftGroup::RefreshMembership() {
  const RaftMembership& latest =
      config_entries_.empty() ? snapshot_members_ : config_entries_.rbegin()->second;
  if (latest == members_) return;
  const bool was_voter = is_voter();
  members_ = latest;
  std::string list;
  for (const auto& m : members_.members) {
    list += (list.empty() ? "" : ", ") + m.id + (m.voter ? "" : (m.catching_up ? " (catching up)" : " (learner)"));
  }
  logger_->info("group {}: members now [{}]", config_.group_id, list);
  if (role_ == RaftRole::kLeader) {
    for (const auto& m : members_.members) {
      if (m.id == config_.self_id || progress_.count(m.id) != 0) continue;
      Progress pr(config_.max_inflight_appends);
      pr.next = log_.last_index() + 1;
      progress_.emplace(m.id, std::move(pr));
    }
    for (auto it = progress_.begin(); it != progress_.end();) {
      it = members_.Find(it->first) == nullptr ? progress_.erase(it) : std::next(it);
    }
    if (!transferee_.empty() && !members_.IsVoter(transferee_)) transferee_.clear();
    appends_pending_ = true;
  } else if (!is_voter() && role_ != RaftRole::kFollower) {
    BecomeFollower(now_, term_, "");
  }
  if (!was_voter && is_voter() && started_) ResetElectionTimer(now_);
}

Status RaftGroup::CheckChangeAllowed() const {
  if (role_ != RaftRole::kLeader) return Status::Unavailable(NotLeaderMessage());
  if (!transferee_.empty()) {
    return Status::Unavailable("leadership of group " + config_.group_id + " is moving to " + transferee_);
  }
  if (last_config_index() > log_.committed()) {
    return Status::Busy("the membership change at index " + std::to_string(last_config_index()) +
                        " of group " + config_.group_id + " is not committed yet (one at a time)");
  }
  // A leader must commit an entry of its own term before changing membership, or a change
  // from an earlier term it never saw could combine with this one into two majorities
  // (the single-server change bug, found after the dissertation; raft-dev, 2015).
  if (log_.Term(log_.committed()) != term_) {
    return Status::Unavailable("the leader of group " + config_.group_id +
                               " has not committed an entry of its term yet");
  }
  return Status::Ok();
}

Result<uint64_t> RaftGroup::ProposeMembershipChange(Instant now, RaftChangeKind kind, RaftMember member) {
  Observe(now);
  Status allowed = CheckChangeAllowed();
  if (!allowed.ok()) return allowed;
  if (member.id.empty()) return Status::InvalidArgument("a member needs an id");
  RaftMembership after = members_;
  auto it = std::find_if(after.members.begin(), after.members.end(),
                         [&](const RaftMember& m) { return m.id == member.id; });
  switch (kind) {
    case RaftChangeKind::kAddLearner:
    case RaftChangeKind::kAddVoter:
      if (it != after.members.end()) {
        return Status::AlreadyExists(member.id + " is already a member of group " + config_.group_id);
      }
      member.voter = false;
      member.catching_up = kind == RaftChangeKind::kAddVoter;
      after.members.push_back(member);
      break;
    case RaftChangeKind::kPromote:
      if (it == after.members.end()) {
        return Status::NotFound(member.id + " is not a member of group " + config_.group_id);
      }
      if (it->voter) return Status::AlreadyExists(member.id + " already votes in group " + config_.group_id);
      it->voter = true;
      it->catching_up = false;
      member = *it;
      break;
    case RaftChangeKind::kRemove:
      if (it == after.members.end()) {
        return Status::NotFound(member.id + " is not a member of group " + config_.group_id);
      }
      if (it->voter && after.VoterCount() == 1) {
        return Status::FailedPrecondition("cannot remove the last voter of group " + config_.group_id);
      }
      member = *it;
      after.members.erase(it);
      break;
    default:
      return Status::InvalidArgument("unknown membership change");
  }
  after.Sort();
  RaftConfigChange change{kind, member, after};
  uint64_t index = AppendLocal(Entry{0, term_, kRaftConfigEntryType, EncodeConfigChange(change)});
  logger_->info("group {}: proposed {} {} at index {}", config_.group_id, RaftChangeKindName(kind),
                member.id, index);
  return index;
}

void RaftGroup::MaybePromoteLearners(Instant now) {
  if (role_ != RaftRole::kLeader) return;
  for (const auto& m : members_.members) {
    if (m.voter || !m.catching_up) continue;
    auto it = progress_.find(m.id);
    // Caught up: it holds everything committed, so as a voter it cannot slow commits down.
    if (it == progress_.end() || it->second.match == 0 || it->second.match < log_.committed()) continue;
    if (!CheckChangeAllowed().ok()) return;
    auto r = ProposeMembershipChange(now, RaftChangeKind::kPromote, m);
    if (!r.ok()) logger_->warn("group {}: promoting {}: {}", config_.group_id, m.id, r.status().ToString());
    return;  // one change at a time
  }
}

Status RaftGroup::EraseKeepingTombstone(WriteBatch* batch) const {
  if (members_.Find(config_.self_id) != nullptr || last_config_index() > log_.committed()) {
    return Status::FailedPrecondition(config_.self_id + " is still a member of group " +
                                      config_.group_id + " as far as its committed log says");
  }
  if (known_commit_ > log_.committed()) {
    return Status::FailedPrecondition(config_.self_id + " is still catching up in group " +
                                      config_.group_id + " (committed " +
                                      std::to_string(log_.committed()) + " of " +
                                      std::to_string(known_commit_) + ")");
  }
  batch->DeleteRange(Column::kLog, log_.LogBegin(), log_.LogEnd());
  batch->Delete(Column::kMeta, SnapshotKey());
  batch->Put(Column::kMeta, HardStateKey(), EncodeHardState(RaftHardState{term_, vote_, 0}));
  return Status::Ok();
}

void RaftGroup::MaybeStepDownAfterRemoval() {
  if (role_ != RaftRole::kLeader || is_voter() || last_config_index() > log_.committed()) return;
  // §4.2.2: a leader removed from the group leads until the change commits, then steps
  // down. It hands over to the most caught-up voter so nobody waits for a timeout.
  std::string best;
  uint64_t best_match = 0;
  for (const auto& [id, pr] : progress_) {
    if (members_.IsVoter(id) && pr.match >= best_match) {
      best = id;
      best_match = pr.match;
    }
  }
  if (!best.empty() && best_match == log_.last_index()) SendTimeoutNow(best);
  logger_->info("group {}: removed from the group; stepping down", config_.group_id);
  BecomeFollower(now_, term_, "");
}

}  // namespace magpie
