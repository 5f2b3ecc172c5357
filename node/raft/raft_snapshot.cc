// Log compaction and InstallSnapshot (§5): the caller's applied state stands in for the
// log it covers; a follower behind the compacted log receives that state in chunks.
#include <algorithm>

#include "node/raft/raft_group.h"

namespace magpie {

Status RaftGroup::Compact(uint64_t index) {
  MAGPIE_CHECK(loaded_, "Compact before Load");
  if (index > log_.applied()) {
    return Status::InvalidArgument("cannot compact group " + config_.group_id + " to " +
                                   std::to_string(index) + ": applied only through " +
                                   std::to_string(log_.applied()));
  }
  // A live follower installing a snapshot will continue from the entries after it: keep
  // them, or it would need another snapshot at once, and another (a livelock when the
  // transfer takes longer than the caller takes to compact again). A follower silent for an
  // election timeout holds nothing back.
  for (const auto& [id, pr] : progress_) {
    if (pr.state == ProgressState::kSnapshot && pr.snapshot_index > 0 &&
        now_ - pr.last_ack_at < config_.election_timeout) {
      index = std::min(index, pr.snapshot_index);
    }
  }
  if (index <= log_.snapshot_index()) return Status::Ok();
  snapshot_members_ = ConfigAt(index);
  config_entries_.erase(config_entries_.begin(), config_entries_.upper_bound(index));
  log_.CompactTo(index);
  snapshot_meta_dirty_ = true;  // unsynced is fine: if lost, the log it replaced is too
  if (outgoing_ && outgoing_->index < index) {
    // A follower installing it would find the entries after it gone: ask for a newer one.
    outgoing_.reset();
    for (auto& [id, pr] : progress_) {
      if (pr.state == ProgressState::kSnapshot) StartSnapshot(pr);
    }
  }
  return Status::Ok();
}

Status RaftGroup::ProvideSnapshot(uint64_t index, std::string data) {
  MAGPIE_CHECK(loaded_, "ProvideSnapshot before Load");
  if (index > log_.applied() || index < log_.snapshot_index()) {
    return Status::InvalidArgument("a snapshot of group " + config_.group_id + " at " +
                                   std::to_string(index) + " must lie in [" +
                                   std::to_string(log_.snapshot_index()) + ", " +
                                   std::to_string(log_.applied()) + "] (compacted, applied)");
  }
  if (data.size() > config_.max_snapshot_bytes) {
    return Status::InvalidArgument("snapshot of " + std::to_string(data.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(config_.max_snapshot_bytes));
  }
  outgoing_ = Outgoing{index, *log_.Term(index), ConfigAt(index), std::move(data)};
  snapshot_requested_ = false;
  snapshot_request_reported_ = false;
  for (auto& [id, pr] : progress_) {
    if (pr.state == ProgressState::kSnapshot && pr.snapshot_index != index) pr.BecomeSnapshot(index);
  }
  appends_pending_ = true;
  return Status::Ok();
}

void RaftGroup::StartSnapshot(Progress& pr) {
  if (outgoing_ && outgoing_->index >= log_.snapshot_index()) {
    pr.BecomeSnapshot(outgoing_->index);
    return;
  }
  // Index 0: waiting for the caller's ProvideSnapshot.
  pr.BecomeSnapshot(0);
  if (!snapshot_requested_) {
    snapshot_requested_ = true;
    snapshot_request_reported_ = false;
  }
}

void RaftGroup::SendSnapshotChunk(const std::string& id, Progress& pr) {
  if (pr.probe_sent || !outgoing_ || pr.snapshot_index == 0 || outgoing_->index != pr.snapshot_index) {
    return;
  }
  const std::string& data = outgoing_->data;
  const uint64_t offset = std::min<uint64_t>(pr.snapshot_offset, data.size());
  const size_t n = std::min<size_t>(config_.snapshot_chunk_bytes, data.size() - offset);
  RaftMessage m = NewMessage(RaftMessageType::kInstallSnapshot, id);
  m.index = outgoing_->index;
  m.log_term = outgoing_->term;
  if (offset == 0) m.members = outgoing_->members;
  m.offset = offset;
  m.total_bytes = data.size();
  m.data = data.substr(offset, n);
  m.echo_us = now_.micros();
  if (offset == 0) {
    logger_->info("group {}: sending {} a snapshot at index {} ({} bytes)", config_.group_id, id,
                  m.index, m.total_bytes);
  }
  Send(m);
  pr.probe_sent = true;  // one chunk at a time; answered, or resent after a timeout
  pr.snapshot_sent_at = now_;
}

void RaftGroup::HandleInstallSnapshot(Instant now, const RaftMessage& m) {
  if (role_ == RaftRole::kLeader) {
    ++counters_.unsafe_appends_refused;
    return;
  }
  if (m.offset == 0 && m.members.VoterCount() == 0) {
    ++counters_.malformed_messages;  // a configuration without voters is no configuration
    return;
  }
  FollowLeader(now, m.from);
  RaftMessage r = NewMessage(RaftMessageType::kInstallSnapshotResponse, m.from);
  r.index = m.index;
  r.echo_us = m.echo_us;
  if (m.index <= log_.committed()) {
    // Everything it covers is committed here already: nothing to install.
    assembly_.reset();
    r.done = true;
    r.offset = m.total_bytes;
    Send(r);
    return;
  }
  if (m.total_bytes > config_.max_snapshot_bytes) {
    ++counters_.snapshots_refused;
    logger_->error("group {}: refusing a snapshot of {} bytes from {} (limit {})", config_.group_id,
                   m.total_bytes, m.from, config_.max_snapshot_bytes);
    r.reject = true;
    Send(r);
    return;
  }
  if (m.offset == 0) {
    assembly_ = Assembly{term_, m.index, m.log_term, m.total_bytes, m.members, {}};
  }
  bool same = assembly_ && assembly_->leader_term == term_ && assembly_->index == m.index &&
              assembly_->term == m.log_term && assembly_->total == m.total_bytes;
  if (!same || m.offset != assembly_->data.size()) {
    // A chunk out of order (a resend, or a lost one before it): say where to resume.
    r.reject = true;
    r.offset = same ? assembly_->data.size() : 0;
    Send(r);
    return;
  }
  assembly_->data.append(m.data);
  if (assembly_->data.size() < assembly_->total) {
    r.offset = assembly_->data.size();
    Send(r);
    return;
  }
  if (config_.check_snapshot) {
    Status s = config_.check_snapshot(assembly_->data);
    if (!s.ok()) {
      ++counters_.malformed_messages;
      logger_->error("group {}: refusing the snapshot at index {} from {}: {}", config_.group_id,
                     m.index, m.from, s.ToString());
      assembly_.reset();
      r.reject = true;
      r.offset = 0;
      Send(r);
      return;
    }
  }
  RestoreSnapshot(*assembly_);
  assembly_.reset();
  r.done = true;
  r.offset = m.total_bytes;
  Send(r);  // leaves once the restore is durable (its Ready syncs)
}

void RaftGroup::RestoreSnapshot(const Assembly& a) {
  if (log_.MatchTerm(a.index, a.term)) {
    // The log already holds the snapshot's last entry, so it holds everything before it
    // (log matching): only commit moves, and the entries apply as usual.
    log_.CommitTo(a.index);
    commit_dirty_ = true;
    return;
  }
  logger_->info("group {}: installing a snapshot at index {} term {} ({} bytes)", config_.group_id,
                a.index, a.term, a.data.size());
  log_.Restore(a.index, a.term);
  snapshot_members_ = a.members;
  config_entries_.clear();
  RefreshMembership();
  pending_snapshot_ = RaftSnapshotToApply{a.index, a.term, a.members, a.data};
  snapshot_meta_dirty_ = true;
  snapshot_meta_sync_ = true;
  commit_dirty_ = true;
}

void RaftGroup::HandleInstallSnapshotResponse(Instant now, const RaftMessage& m) {
  if (role_ != RaftRole::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  RecordAck(pr, m);
  if (pr.state != ProgressState::kSnapshot || m.index != pr.snapshot_index) return;
  pr.probe_sent = false;
  appends_pending_ = true;
  if (!m.done || m.reject) {
    pr.snapshot_offset = std::min<uint64_t>(m.offset, outgoing_ ? outgoing_->data.size() : 0);
    return;
  }
  logger_->info("group {}: {} installed the snapshot at index {}", config_.group_id, m.from, m.index);
  pr.MaybeUpdate(m.index);
  pr.BecomeProbe();
  pr.BecomeReplicate();
  ReleaseOutgoingIfUnused();
  MaybeCommit();
  if (role_ != RaftRole::kLeader) return;  // committing may have ended this leadership
  MaybePromoteLearners(now);
}

void RaftGroup::ReleaseOutgoingIfUnused() {
  if (!outgoing_) return;
  for (const auto& [id, pr] : progress_) {
    if (pr.state == ProgressState::kSnapshot && pr.snapshot_index == outgoing_->index) return;
  }
  outgoing_.reset();  // it can be large; a later need asks the caller again
}

}  // namespace magpie
