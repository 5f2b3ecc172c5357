// Log replication (§3.5): batched, pipelined AppendEntries, heartbeats, the follower's log
// matching and conflict resolution, and the leader's commit rule (§3.6.2, Figure 3.7).
#include <algorithm>

#include "base/buggify.h"
#include "node/raft/raft_group.h"

namespace magpie {

void RaftGroup::FlushAppends() {
  for (auto& [id, pr] : progress_) SendAppends(id, pr);
}

void RaftGroup::SendAppends(const std::string& id, Progress& pr) {
  if (pr.state == ProgressState::kSnapshot) {
    SendSnapshotChunk(id, pr);
    return;
  }
  bool nudge = pr.nudge;
  pr.nudge = false;
  const uint64_t last = log_.last_index();
  // Each round sends one message; the window bounds the rounds in replicate state.
  for (size_t round = 0; round <= config_.max_inflight_appends; ++round) {
    const bool has_entries = pr.next <= last;
    const bool has_commit = pr.sent_commit < log_.committed();
    if (!nudge && (pr.IsPaused() || (!has_entries && !has_commit))) return;
    const uint64_t prev = pr.next - 1;
    if (prev < log_.snapshot_index()) {
      // What the follower needs next was compacted away: it gets a snapshot instead.
      StartSnapshot(pr);
      SendSnapshotChunk(id, pr);
      return;
    }
    MAGPIE_CHECK(prev <= last, "follower's next index is past the log");
    RaftMessage m = NewMessage(RaftMessageType::kAppend, id);
    m.index = prev;
    m.log_term = *log_.Term(prev);
    m.commit = log_.committed();
    m.echo_us = now_.micros();
    if (has_entries) {
      m.entries = log_.Slice(pr.next, last, config_.max_entries_per_append,
                             config_.max_bytes_per_append);
    }
    if (pr.state == ProgressState::kReplicate && pr.inflight.Full()) pr.inflight.FreeFirst();
    const size_t count = m.entries.size();
    const uint64_t sent_last = count == 0 ? prev : m.entries.back().index;
    Send(m);
    pr.sent_commit = log_.committed();
    pr.SentEntries(sent_last, count);
    nudge = false;
    if (pr.state != ProgressState::kReplicate || count == 0) return;
  }
}

void RaftGroup::BroadcastHeartbeat() {
  for (auto& [id, pr] : progress_) {
    RaftMessage m = NewMessage(RaftMessageType::kHeartbeat, id);
    // Only what this follower is known to hold: its log past match may still differ.
    m.commit = std::min(pr.match, log_.committed());
    m.echo_us = now_.micros();
    Send(m);
  }
}

void RaftGroup::HandleAppend(Instant now, const RaftMessage& m) {
  if (role_ == RaftRole::kLeader) {
    // Two leaders in one term cannot happen in Raft; a peer claiming it is broken.
    ++counters_.unsafe_appends_refused;
    logger_->error("group {}: {} sent an append at my own leadership term {}", config_.group_id,
                   m.from, term_);
    return;
  }
  // The entries must be a well-formed continuation: terms never fall along a log and none
  // is newer than the leader's term.
  uint64_t previous_term = m.log_term;
  for (const auto& e : m.entries) {
    if (e.term < previous_term || e.term > m.term) {
      ++counters_.malformed_messages;
      return;
    }
    previous_term = e.term;
  }
  FollowLeader(now, m.from);
  known_commit_ = std::max(known_commit_, m.commit);
  RaftMessage r = NewMessage(RaftMessageType::kAppendResponse, m.from);
  r.echo_us = m.echo_us;
  if (m.index < log_.committed()) {
    // Everything up to commit is known to match; the leader resends the rest.
    r.index = log_.committed();
    Send(r);
    return;
  }
  if (!log_.MatchTerm(m.index, m.log_term)) {
    // §3.5 with etcd's hint: the highest index whose term could still match, so the leader
    // skips a whole divergent term per round trip instead of one entry.
    uint64_t hint = log_.FindConflictByTerm(std::min(m.index, log_.last_index()), m.log_term);
    r.reject = true;
    r.index = m.index;
    r.reject_hint = hint;
    r.log_term = log_.Term(hint).value_or(0);
    Send(r);
    return;
  }
  const uint64_t last_new = m.index + m.entries.size();
  const uint64_t conflict = log_.FindConflict(m.entries);
  if (conflict != 0) {
    if (conflict <= log_.committed()) {
      ++counters_.unsafe_appends_refused;
      logger_->error("group {}: {} tried to overwrite committed entry {}", config_.group_id,
                     m.from, conflict);
      return;
    }
    std::vector<Entry> tail(m.entries.begin() + static_cast<ptrdiff_t>(conflict - m.index - 1),
                            m.entries.end());
    std::map<uint64_t, RaftMembership> configs;
    Status s = TrackConfigEntries(tail, &configs);
    if (!s.ok()) {
      ++counters_.malformed_messages;
      logger_->warn("group {}: append from {} refused: {}", config_.group_id, m.from, s.ToString());
      return;
    }
    ForgetConfigFrom(conflict);  // a truncated change is undone (it took effect on append)
    log_.TruncateAndAppend(std::move(tail));
    config_entries_.insert(configs.begin(), configs.end());
    RefreshMembership();
  }
  if (std::min(m.commit, last_new) > log_.committed()) {
    log_.CommitTo(std::min(m.commit, last_new));
    commit_dirty_ = true;
  }
  r.index = last_new;  // sent only once these entries are durable (the Ready's rule)
  Send(r);
}

void RaftGroup::RecordAck(Progress& pr, const RaftMessage& m) {
  // Only answers that echo a send time of ours count; never trust a time from the future.
  if (m.echo_us <= 0) return;
  pr.RecordAck(now_, Instant::FromMicros(std::min(m.echo_us, now_.micros())));
}

void RaftGroup::HandleAppendResponse(Instant now, const RaftMessage& m) {
  if (role_ != RaftRole::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  RecordAck(pr, m);
  if (m.reject) {
    uint64_t next_probe = m.reject_hint;
    if (m.log_term > 0) next_probe = log_.FindConflictByTerm(m.reject_hint, m.log_term);
    if (next_probe < pr.match && pr.state == ProgressState::kProbe && pr.next - 1 == m.index) {
      logger_->warn("group {}: {} no longer holds entries up to {} it acknowledged; probing from {}",
                    config_.group_id, m.from, pr.match, next_probe + 1);
    }
    if (pr.MaybeDecrTo(m.index, next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
      appends_pending_ = true;
    }
    return;
  }
  if (m.index > log_.last_index()) {
    ++counters_.malformed_messages;  // acknowledges entries this leader never had
    return;
  }
  if (pr.MaybeUpdate(m.index) || (pr.match == m.index && pr.state == ProgressState::kProbe)) {
    switch (pr.state) {
      case ProgressState::kProbe: pr.BecomeReplicate(); break;
      case ProgressState::kSnapshot:
        if (pr.match >= pr.snapshot_index) {
          pr.BecomeProbe();
          pr.BecomeReplicate();
        }
        break;
      case ProgressState::kReplicate: pr.inflight.FreeUpTo(m.index); break;
    }
    const bool transfer_ready = m.from == transferee_ && pr.match == log_.last_index();
    appends_pending_ = true;
    MaybeCommit();
    if (role_ != RaftRole::kLeader) return;  // committing may end a leadership (removal)
    if (transfer_ready) SendTimeoutNow(m.from);
    MaybePromoteLearners(now);
  }
}

void RaftGroup::HandleHeartbeat(Instant now, const RaftMessage& m) {
  if (role_ == RaftRole::kLeader) {
    ++counters_.unsafe_appends_refused;
    return;
  }
  FollowLeader(now, m.from);
  known_commit_ = std::max(known_commit_, m.commit);
  uint64_t c = std::min(m.commit, log_.last_index());
  if (c > log_.committed()) {
    log_.CommitTo(c);
    commit_dirty_ = true;
  }
  RaftMessage r = NewMessage(RaftMessageType::kHeartbeatResponse, m.from);
  r.echo_us = m.echo_us;
  Send(r);
}

void RaftGroup::HandleHeartbeatResponse(Instant now, const RaftMessage& m) {
  if (role_ != RaftRole::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  RecordAck(pr, m);
  if (pr.state == ProgressState::kSnapshot) return;
  // The follower is alive: whatever was lost on the way to it is sent again.
  pr.probe_sent = false;
  if (pr.match < log_.last_index() || pr.sent_commit < log_.committed()) {
    pr.nudge = true;
    appends_pending_ = true;
  }
}

bool RaftGroup::MaybeCommit() {
  if (role_ != RaftRole::kLeader) return false;
  std::vector<uint64_t> matches;
  for (const auto& member : members_.members) {
    if (!member.voter) continue;
    if (member.id == config_.self_id) {
      matches.push_back(log_.durable_index());
    } else {
      auto it = progress_.find(member.id);
      matches.push_back(it == progress_.end() ? 0 : it->second.match);
    }
  }
  if (matches.empty()) return false;
  const uint64_t c = QuorumValue(std::move(matches), members_.Quorum());
  // Figure 3.7: an entry of an earlier term is never committed by counting replicas, only
  // by committing an entry of the current term after it.
  // (The deliberate bug counts replicas for any term.)
  if (c <= log_.committed() || (log_.Term(c) != term_ && !MAGPIE_BUGGIFY_ON(raft_commit_old_term))) return false;
  const uint64_t old = log_.committed();
  for (uint64_t i = std::max(old + 1, term_start_index_); i <= c; ++i) {
    uncommitted_bytes_ -= std::min(uncommitted_bytes_, log_.At(i).payload.size());
  }
  log_.CommitTo(c);
  commit_dirty_ = true;
  appends_pending_ = true;
  MaybeStepDownAfterRemoval();
  return true;
}

}  // namespace magpie
