// RaftGroup: loading, bootstrapping, ticks, the term rules every message passes through,
// proposals, and sending. Roles and timers are in raft_roles.cc; the Ready/Advance cycle
// and the views in raft_ready.cc; message handlers in raft_election.cc,
// raft_replication.cc and raft_snapshot.cc; membership in raft_membership.cc.
#include "node/raft/raft_group.h"

#include <algorithm>

namespace magpie {

namespace {
// Peers outside the configuration whose address is remembered for answers.
constexpr size_t kMaxPeerAddresses = 64;
}  // namespace

RaftGroup::RaftGroup(RaftConfig config, uint64_t seed, std::shared_ptr<spdlog::logger> logger)
    : config_(std::move(config)), logger_(std::move(logger)), prng_(seed), log_(config_.group_id) {
  MAGPIE_CHECK(!config_.group_id.empty() && !config_.self_id.empty(), "group and self ids are required");
  MAGPIE_CHECK(config_.heartbeat_interval > Duration::Zero() &&
                   config_.heartbeat_interval < config_.election_timeout,
               "the heartbeat must be shorter than the election timeout");
  MAGPIE_CHECK(config_.max_entries_per_append > 0 && config_.max_inflight_appends > 0 &&
                   config_.snapshot_chunk_bytes > 0 && config_.max_committed_per_ready > 0,
               "raft bounds must be positive");
  // One append holds up to max_bytes_per_append, or one entry of up to max_entry_bytes; one
  // snapshot message one chunk. Each must fit a peer message with room for its header.
  constexpr size_t kHeaderRoom = 64 * 1024;
  MAGPIE_CHECK(config_.max_bytes_per_append + config_.max_entry_bytes + kHeaderRoom <= kMaxPeerMessageBytes &&
                   config_.snapshot_chunk_bytes + kHeaderRoom <= kMaxPeerMessageBytes,
               "raft message bounds exceed the peer message limit");
}

Status RaftGroup::Load(const Storage& storage, uint64_t applied_index) {
  MAGPIE_CHECK(!loaded_, "RaftGroup::Load called twice");
  RaftHardState hs;
  auto h = storage.Get(Column::kMeta, HardStateKey());
  if (!h.ok()) return h.status();
  if (h->has_value()) {
    auto d = DecodeHardState(**h);
    if (!d.ok()) return Status::Corruption("group " + config_.group_id + ": " + d.status().message());
    hs = std::move(*d);
  }
  RaftSnapshotMeta snap;
  auto s = storage.Get(Column::kMeta, SnapshotKey());
  if (!s.ok()) return s.status();
  if (s->has_value()) {
    auto d = DecodeSnapshotMeta(**s);
    if (!d.ok()) return Status::Corruption("group " + config_.group_id + ": " + d.status().message());
    snap = std::move(*d);
  }
  Status st = log_.Load(storage, snap.index, snap.term);
  if (!st.ok()) return st;
  snapshot_members_ = snap.members;
  std::vector<Entry> changes;  // only the membership changes: the log may be large
  for (uint64_t i = log_.first_index(); i <= log_.last_index(); ++i) {
    if (log_.At(i).type == kRaftConfigEntryType) changes.push_back(log_.At(i));
  }
  st = TrackConfigEntries(changes, &config_entries_);
  if (!st.ok()) return Status::Corruption("group " + config_.group_id + ": " + st.message());
  RefreshMembership();

  if (applied_index < snap.index || applied_index > log_.last_index()) {
    return Status::Corruption("group " + config_.group_id + ": the applied state is at index " +
                              std::to_string(applied_index) + ", outside the log [" +
                              std::to_string(snap.index) + ", " +
                              std::to_string(log_.last_index()) + "]");
  }
  term_ = hs.term;
  vote_ = hs.vote;
  if (term_ < log_.last_term()) {
    return Status::Corruption("group " + config_.group_id + ": term " + std::to_string(term_) +
                              " is older than the log's last term");
  }
  // The stored commit is a hint written without sync; applied entries were committed.
  log_.CommitTo(std::min(std::max(hs.commit, applied_index), log_.last_index()));
  log_.ResetApplied(applied_index);
  reported_ = RaftSoftState{role_, term_, leader_id_};
  loaded_ = true;
  logger_->info("group {}: loaded term {} vote '{}', snapshot {}, log {}..{}, commit {}, applied {}, {} members",
                config_.group_id, term_, vote_, snap.index, log_.first_index(), log_.last_index(),
                log_.committed(), applied_index, members_.members.size());
  return Status::Ok();
}

void RaftGroup::Bootstrap(const std::vector<RaftMember>& members) {
  MAGPIE_CHECK(loaded_, "Bootstrap before Load");
  MAGPIE_CHECK(term_ == 0 && log_.last_index() == 0 && log_.snapshot_index() == 0,
               "Bootstrap of group " + config_.group_id + ", which already has state");
  RaftConfigChange change;
  change.after.members = members;
  change.after.Sort();
  MAGPIE_CHECK(change.after.VoterCount() > 0, "Bootstrap needs a voter");
  for (size_t i = 1; i < change.after.members.size(); ++i) {
    MAGPIE_CHECK(change.after.members[i].id != change.after.members[i - 1].id, "duplicate member");
  }
  change.kind = RaftChangeKind::kAddVoter;
  change.member = change.after.members.front();
  // Every initial member writes this same entry at (1, 1), so it is committed everywhere.
  term_ = 1;
  hard_state_dirty_ = true;
  AppendLocal(Entry{0, 1, kRaftConfigEntryType, EncodeConfigChange(change)});
  log_.CommitTo(1);
  commit_dirty_ = true;
}

void RaftGroup::Observe(Instant now) {
  MAGPIE_CHECK(loaded_, "RaftGroup used before Load");
  now_ = std::max(now_, now);
  if (started_) return;
  started_ = true;
  // A restarted member may have acknowledged a leader just before it died: voting at once
  // would break that leader's quorum contact (QuorumContactSince), so it keeps the
  // stickiness it forgot, one election timeout from its first `now`.
  quiet_until_ = now_ + config_.election_timeout;
  ResetElectionTimer(now_);
  // A group of one needs nobody's vote: it leads at once instead of after a timeout.
  if (members_.VoterCount() == 1 && is_voter()) election_deadline_ = now_;
}

void RaftGroup::Tick(Instant now) {
  Observe(now);
  now = now_;
  if (role_ != RaftRole::kLeader) {
    if (is_voter() && now >= election_deadline_) {
      CampaignInternal(now, config_.pre_vote ? CampaignKind::kPreVote : CampaignKind::kElection);
    }
    return;
  }
  if (config_.check_quorum && now - leader_since_ >= config_.election_timeout &&
      now - QuorumContactSince() >= config_.election_timeout) {
    logger_->warn("group {}: leader at term {} has not heard from a majority for {} ms; stepping down",
                  config_.group_id, term_, config_.election_timeout.millis());
    BecomeFollower(now, term_, "");
    return;
  }
  if (!transferee_.empty() && now >= transfer_deadline_) {
    logger_->info("group {}: leadership transfer to {} timed out", config_.group_id, transferee_);
    transferee_.clear();
  }
  if (now >= heartbeat_deadline_) {
    BroadcastHeartbeat();
    heartbeat_deadline_ = now + config_.heartbeat_interval;
  }
  for (auto& [id, pr] : progress_) {
    // A snapshot chunk unanswered for an election timeout was lost: send it again.
    if (pr.state == ProgressState::kSnapshot && pr.probe_sent &&
        now - pr.snapshot_sent_at >= config_.election_timeout) {
      pr.probe_sent = false;
      appends_pending_ = true;
    }
  }
  MaybePromoteLearners(now);
}

void RaftGroup::Step(Instant now, PeerMessageType type, std::string_view payload) {
  auto m = DecodeRaftMessage(payload);
  if (!m.ok() || ToPeerMessageType(m->type) != type) {
    ++counters_.malformed_messages;
    logger_->debug("group {}: dropped a malformed raft message: {}", config_.group_id,
                   m.ok() ? "type differs from its envelope" : m.status().ToString());
    return;
  }
  Step(now, std::move(*m));
}

void RaftGroup::Step(Instant now, RaftMessage m) {
  Observe(now);
  now = now_;
  if (m.group_id != config_.group_id || m.to != config_.self_id || m.from.empty() ||
      m.from == config_.self_id) {
    ++counters_.misrouted_messages;
    return;
  }
  if (!m.from_address.empty() && members_.Find(m.from) == nullptr) {
    if (peer_addresses_.size() >= kMaxPeerAddresses && peer_addresses_.count(m.from) == 0) {
      peer_addresses_.erase(peer_addresses_.begin());
    }
    peer_addresses_[m.from] = m.from_address;
  }
  const bool vote_request = m.type == RaftMessageType::kVote || m.type == RaftMessageType::kPreVote;
  if (m.term > term_) {
    if (vote_request) {
      // Leader stickiness (§4.2.3, §9.6): while this member believes a leader is alive it
      // neither raises its term nor grants a vote, so a node that cannot see the leader (or
      // a removed member that never learned of its removal) cannot disrupt the ones that
      // can. Always on, whatever pre_vote and check_quorum say. A transfer's election is
      // exempt: the leader asked for it.
      if (!m.transfer && InLease(now)) {
        ++counters_.votes_ignored_in_lease;
        return;
      }
    }
    if (m.type == RaftMessageType::kPreVote) {
      // A pre-vote never changes the term: that is its whole point.
    } else if (m.type == RaftMessageType::kPreVoteResponse && !m.reject) {
      // Granted at the term we would campaign in; counted below.
    } else {
      bool from_leader = m.type == RaftMessageType::kAppend || m.type == RaftMessageType::kHeartbeat ||
                         m.type == RaftMessageType::kInstallSnapshot ||
                         m.type == RaftMessageType::kTimeoutNow;
      logger_->info("group {}: term {} -> {} on {} from {}", config_.group_id, term_, m.term,
                    RaftMessageTypeName(m.type), m.from);
      BecomeFollower(now, m.term, from_leader ? m.from : "");
    }
  } else if (m.term < term_) {
    ++counters_.stale_messages;
    if (m.type == RaftMessageType::kAppend || m.type == RaftMessageType::kHeartbeat ||
        m.type == RaftMessageType::kInstallSnapshot) {
      // A leader of an older term: tell it ours so it steps down. (With pre-vote and
      // check-quorum, votes may be ignored, so this is how a stale leader learns.)
      RaftMessage r = NewMessage(RaftMessageType::kAppendResponse, m.from);
      r.reject = true;
      Send(r);
    } else if (m.type == RaftMessageType::kPreVote) {
      RaftMessage r = NewMessage(RaftMessageType::kPreVoteResponse, m.from);
      r.reject = true;
      Send(r);
    }
    return;
  }

  switch (m.type) {
    case RaftMessageType::kPreVote:
    case RaftMessageType::kVote: HandleVoteRequest(now, m); break;
    case RaftMessageType::kPreVoteResponse:
    case RaftMessageType::kVoteResponse: HandleVoteResponse(now, m); break;
    case RaftMessageType::kAppend: HandleAppend(now, m); break;
    case RaftMessageType::kAppendResponse: HandleAppendResponse(now, m); break;
    case RaftMessageType::kHeartbeat: HandleHeartbeat(now, m); break;
    case RaftMessageType::kHeartbeatResponse: HandleHeartbeatResponse(now, m); break;
    case RaftMessageType::kInstallSnapshot: HandleInstallSnapshot(now, m); break;
    case RaftMessageType::kInstallSnapshotResponse: HandleInstallSnapshotResponse(now, m); break;
    case RaftMessageType::kTimeoutNow: HandleTimeoutNow(now, m); break;
  }
}

std::string RaftGroup::NotLeaderMessage() const {
  return "not the leader of group " + config_.group_id + "; leader is " +
         (leader_id_.empty() ? std::string("unknown") : leader_id_);
}

Result<uint64_t> RaftGroup::Propose(Instant now, EntryType type, std::string payload) {
  std::vector<std::string> one;
  one.push_back(std::move(payload));
  return ProposeAll(now, type, std::move(one));
}

Result<uint64_t> RaftGroup::ProposeAll(Instant now, EntryType type, std::vector<std::string> payloads) {
  Observe(now);
  if (Status s = CheckProposal(type, payloads); !s.ok()) return s;
  uint64_t last = 0;
  for (auto& payload : payloads) {
    uncommitted_bytes_ += payload.size();
    last = AppendLocal(Entry{0, term_, type, std::move(payload)});
  }
  return last;
}

Status RaftGroup::CheckProposal(EntryType type, const std::vector<std::string>& payloads) const {
  if (role_ != RaftRole::kLeader) return Status::Unavailable(NotLeaderMessage());
  if (!transferee_.empty()) {
    return Status::Unavailable("leadership of group " + config_.group_id +
                               " is moving to " + transferee_);
  }
  if (!is_voter()) return Status::Unavailable("this node is leaving group " + config_.group_id);
  if (type == kRaftConfigEntryType) {
    return Status::InvalidArgument("membership changes go through ProposeMembershipChange");
  }
  if (payloads.empty()) return Status::InvalidArgument("nothing to propose");
  size_t bytes = 0;
  for (const auto& payload : payloads) {
    if (payload.size() > config_.max_entry_bytes) {
      return Status::InvalidArgument("entry of " + std::to_string(payload.size()) +
                                     " bytes exceeds the limit of " +
                                     std::to_string(config_.max_entry_bytes));
    }
    bytes += payload.size();
  }
  if (payloads.size() > config_.max_uncommitted_entries || bytes > config_.max_uncommitted_bytes) {
    return Status::InvalidArgument(std::to_string(payloads.size()) + " entries of " +
                                   std::to_string(bytes) + " bytes in all are more than group " +
                                   config_.group_id + " takes at once (" +
                                   std::to_string(config_.max_uncommitted_bytes) + " bytes): split them");
  }
  if (log_.last_index() - log_.committed() + payloads.size() > config_.max_uncommitted_entries ||
      uncommitted_bytes_ + bytes > config_.max_uncommitted_bytes) {
    return Status::Busy("group " + config_.group_id + " has too much uncommitted work; retry later");
  }
  return Status::Ok();
}

uint64_t RaftGroup::AppendLocal(Entry e) {
  e.term = term_;
  uint64_t index = log_.Append(std::move(e));
  if (log_.At(index).type == kRaftConfigEntryType) {
    Status s = TrackConfigEntries({log_.At(index)}, &config_entries_);
    MAGPIE_CHECK(s.ok(), "own membership change undecodable: " + s.ToString());
    RefreshMembership();
  }
  appends_pending_ = true;
  return index;
}

RaftMessage RaftGroup::NewMessage(RaftMessageType type, const std::string& to) const {
  RaftMessage m;
  m.type = type;
  m.group_id = config_.group_id;
  m.from = config_.self_id;
  m.from_address = config_.self_address;
  m.to = to;
  m.term = term_;
  return m;
}

void RaftGroup::Send(const RaftMessage& m) {
  if (outbox_.size() >= config_.max_outbox_messages) {
    ++counters_.outbox_overflows;
    return;
  }
  RaftOutMessage out;
  out.to_id = m.to;
  if (const RaftMember* member = members_.Find(m.to)) {
    out.to_address = member->address;
  } else if (auto it = peer_addresses_.find(m.to); it != peer_addresses_.end()) {
    out.to_address = it->second;
  }
  out.type = ToPeerMessageType(m.type);
  out.payload = EncodeRaftMessage(m);
  outbox_.push_back(std::move(out));
}

}  // namespace magpie
