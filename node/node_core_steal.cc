// Work stealing and execution leases (DESIGN §4 "Leases and fencing", §6). The thief side
// asks idle-time questions and runs what it is granted under a lease; the leader side
// grants from its excess, keeps the leases, and takes back what goes silent.
#include <algorithm>

#include "node/node_core.h"
#include "node/scheduler.h"

namespace magpie {

namespace {
constexpr Duration kStealReplyTimeout = Duration::Seconds(1);
constexpr Duration kFinishResendInterval = Duration::Seconds(1);
constexpr int kMaxFinishSends = 60;
constexpr size_t kMaxStealScan = 4096;
constexpr size_t kMaxRenewalsRemembered = 64;
}  // namespace

void NodeCore::StepSteal(Instant now, const PeerMessage& m) {
  auto drop = [&](const Status& s) {
    ++dropped_peer_messages_;
    log_->debug("dropped a {} message from {}: {}", static_cast<int>(m.type), m.from, s.ToString());
  };
  if (m.type == kStealRequestType) {
    auto v = UnpackBody<StealRequest>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnStealRequest(now, m.from, *v);
  }
  if (m.type == kStealReplyType) {
    auto v = UnpackBody<StealReply>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnStealReply(now, m.from, *v);
  }
  if (m.type == kLeaseRenewType) {
    auto v = UnpackBody<LeaseRenew>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnLeaseRenew(now, m.from, *v);
  }
  if (m.type == kLeaseRenewAckType) {
    auto v = UnpackBody<LeaseRenewAck>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnLeaseRenewAck(now, *v);
  }
  if (m.type == kFinishReportType) {
    auto v = UnpackBody<FinishReport>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnFinishReport(now, m.from, *v);
  }
  if (m.type == kFinishAckType) {
    auto v = UnpackBody<FinishAck>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnFinishAck(*v);
  }
  drop(Status::InvalidArgument("unknown type"));
}

// --- Thief side -------------------------------------------------------------------------

void NodeCore::MaybeSteal(Instant now) {
  if (!options_.stealing || stopping_ || recovering_ || membership_ == nullptr) return;
  const int32_t free_slots = options_.slots - used_slots_;
  // Schedule has already taken every local task that fits: free slots left over mean
  // nothing runnable is queued here.
  if (free_slots <= 0) return;
  if (steal_in_flight_ != 0) {
    if (now - steal_sent_at_ < kStealReplyTimeout) return;
    steal_in_flight_ = 0;  // the answer was lost; its grants will expire at the victim
  }
  // Power of two choices over gossiped load: of two random members that gossip says have
  // ready work, ask the one with more ready work per slot. Gossip lags by up to a probe
  // interval, so when it shows no work anywhere, ask a random member now and then anyway
  // (classic randomized stealing), backing off while the answers are empty.
  std::vector<MemberView> with_work;
  std::vector<MemberView> others;
  for (auto& m : membership_->Members(now)) {
    if (m.is_self || m.state != MemberState::kAlive) continue;
    (m.load.ready > 0 ? with_work : others).push_back(std::move(m));
  }
  if (now < next_steal_at_) return;
  const MemberView* victim = nullptr;
  if (!with_work.empty()) {
    victim = &with_work[prng_.Below(with_work.size())];
    if (with_work.size() > 1) {
      const MemberView* other = &with_work[prng_.Below(with_work.size())];
      auto per_slot = [](const MemberView* v) {
        return static_cast<double>(v->load.ready) / std::max(1, v->load.slots);
      };
      if (per_slot(other) > per_slot(victim)) victim = other;
    }
  } else {
    if (others.empty()) {
      next_steal_at_ = now + options_.steal_backoff_max;  // alone: look again later
      return;
    }
    victim = &others[prng_.Below(others.size())];
  }
  StealRequest req;
  req.seq = next_steal_seq_++;
  req.thief_id = options_.node_id;
  req.free_slots = free_slots;
  req.labels = options_.labels;
  SendPeer(victim->address, kStealRequestType, req);
  log_->debug("steal: asking {} for up to {} slots of work (request {})", victim->address, free_slots, req.seq);
  steal_in_flight_ = req.seq;
  steal_sent_at_ = now;
}

void NodeCore::OnStealReply(Instant now, const std::string& from, const StealReply& reply) {
  // A reply that comes after the timeout (say, to a node that was paused) is late even if
  // nothing was asked since: its lease may already have run out at the leader.
  const bool current = reply.seq == steal_in_flight_ && steal_in_flight_ != 0 &&
                       now - steal_sent_at_ < kStealReplyTimeout;
  log_->debug("steal: {} gave {} tasks (request {}, {})", from, reply.tasks.size(), reply.seq,
              current ? "current" : "late");
  if (current) steal_in_flight_ = 0;
  if (reply.tasks.empty()) {
    if (current) {
      steal_backoff_ = std::clamp(steal_backoff_ * 2, options_.steal_backoff_min, options_.steal_backoff_max);
      next_steal_at_ = now + steal_backoff_;
    }
    return;
  }
  if (!current) {
    // We no longer know when we asked, so we cannot bound the lease: let it expire there.
    log_->info("late steal reply from {} with {} tasks ignored; their leases will expire",
               from, reply.tasks.size());
    return;
  }
  steal_backoff_ = options_.steal_backoff_min;
  next_steal_at_ = now;
  for (const auto& st : reply.tasks) {
    if (stopping_ || local_.count(st.task_id) != 0 || options_.slots - used_slots_ < st.spec.slots) {
      continue;  // cannot run it: its lease runs out at the victim and it is granted again
    }
    LocalAttempt la;
    la.attempt = st.attempt;
    la.slots = st.spec.slots;
    if (st.spec.timeout_ms > 0) la.timeout_at = now + Duration::Millis(st.spec.timeout_ms);
    la.remote = true;
    la.leader_address = from;
    // The grant happened after we asked, so a lease counted from the asking is never
    // longer than the one the leader counts.
    la.lease_base = steal_sent_at_;
    local_[st.task_id] = la;
    used_slots_ += la.slots;
    ++stolen_count_;

    StartProcess sp;
    sp.task_id = st.task_id;
    sp.attempt = st.attempt;
    sp.spec = st.spec;
    sp.magpie_env["MAGPIE_TASK_ID"] = st.task_id;
    sp.magpie_env["MAGPIE_ATTEMPT"] = std::to_string(st.attempt);
    sp.magpie_env["MAGPIE_NODE_ID"] = options_.node_id;
    sp.magpie_env["MAGPIE_NODE"] = options_.client_address;
    if (!st.spec.name.empty()) sp.magpie_env["MAGPIE_TASK_NAME"] = st.spec.name;
    sp.kill_deadline = la.lease_base + HolderLease();
    outbox_.starts.push_back(std::move(sp));
  }
  if (next_renew_at_ < now || next_renew_at_ == Instant()) next_renew_at_ = now + options_.lease / 3;
}

void NodeCore::RenewLeases(Instant now) {
  std::map<std::string, LeaseRenew> by_leader;
  for (auto& [id, la] : local_) {
    if (!la.remote || la.killed_for != Outcome::kNone) continue;
    // The lease is ours to keep only while a renewal sent within it was answered.
    if (now >= la.lease_base + HolderLease()) {
      la.killed_for = Outcome::kLost;
      outbox_.kills.push_back(KillProcess{id, la.attempt, Outcome::kLost});
      log_->warn("lease of {} attempt {} ran out before the leader answered; killing it", id, la.attempt);
      continue;
    }
    by_leader[la.leader_address].attempts.push_back(AttemptRef{id, la.attempt});
  }
  if (now < next_renew_at_) return;
  next_renew_at_ = now + options_.lease / 3;
  for (auto& [leader, renew] : by_leader) {
    renew.seq = next_renew_seq_++;
    renew.holder_id = options_.node_id;
    renew_sent_at_[renew.seq] = now;
    SendPeer(leader, kLeaseRenewType, renew);
  }
  while (renew_sent_at_.size() > kMaxRenewalsRemembered) renew_sent_at_.erase(renew_sent_at_.begin());
}

void NodeCore::OnLeaseRenewAck(Instant now, const LeaseRenewAck& ack) {
  auto sent = renew_sent_at_.find(ack.seq);
  if (sent == renew_sent_at_.end()) return;  // too old to trust
  const Instant sent_at = sent->second;
  renew_sent_at_.erase(sent);
  std::set<AttemptRef> current(ack.current.begin(), ack.current.end());
  for (auto& [id, la] : local_) {
    if (!la.remote || la.killed_for != Outcome::kNone) continue;
    if (current.count(AttemptRef{id, la.attempt}) != 0) {
      if (sent_at > la.lease_base) {
        la.lease_base = sent_at;
        outbox_.extends.push_back(ExtendDeadline{id, la.attempt, la.lease_base + HolderLease()});
      }
    } else if (sent_at >= la.lease_base) {
      // Asked about after we started it, and the leader says it is no longer ours.
      la.killed_for = Outcome::kLost;
      outbox_.kills.push_back(KillProcess{id, la.attempt, Outcome::kLost});
      log_->info("leader no longer grants {} attempt {} to us; killing it", id, la.attempt);
    }
  }
}

void NodeCore::ResendFinishes(Instant now) {
  for (auto it = remote_finishes_.begin(); it != remote_finishes_.end();) {
    RemoteFinish& rf = it->second;
    if (rf.resend_at > now) {
      ++it;
      continue;
    }
    if (++rf.sends > kMaxFinishSends) {
      log_->warn("leader {} never acknowledged the finish of {} attempt {}; its lease decides",
                 rf.leader_address, it->first.task_id, it->first.attempt);
      it = remote_finishes_.erase(it);
      continue;
    }
    SendPeer(rf.leader_address, kFinishReportType, FinishReport{options_.node_id, rf.finish});
    rf.resend_at = now + kFinishResendInterval;
    ++it;
  }
}

void NodeCore::OnFinishAck(const FinishAck& ack) { remote_finishes_.erase(ack.attempt); }

// --- Leader side ------------------------------------------------------------------------

void NodeCore::OnStealRequest(Instant now, const std::string& from, const StealRequest& req) {
  StealReply reply;
  reply.seq = req.seq;
  reply.victim_id = options_.node_id;
  if (stopping_ || req.free_slots <= 0 || req.thief_id == options_.node_id) {
    return SendPeer(from, kStealReplyType, reply);
  }
  // Keep what this node can start now; of the rest (the excess), give up to half, most
  // urgent first, only what the thief's labels and free slots allow.
  int32_t local_free = std::max(0, options_.slots - used_slots_);
  std::vector<const Task*> excess;
  size_t scanned = 0;
  table_.ForEachReady(now.unix_millis(), [&](const Task& t) {
    if (++scanned > kMaxStealScan) return false;
    if (granting_.count(t.id) != 0) return true;
    if (t.spec.slots <= local_free && LabelsMatch(options_.labels, t.spec.labels)) {
      local_free -= t.spec.slots;
      return true;
    }
    excess.push_back(&t);
    return true;
  });
  size_t give = (excess.size() + 1) / 2;
  int32_t thief_free = req.free_slots;
  uint64_t last = 0;
  PendingSteal ps;
  ps.thief_id = req.thief_id;
  ps.thief_address = from;
  ps.seq = req.seq;
  for (const Task* t : excess) {
    if (ps.task_ids.size() >= give || thief_free <= 0) break;
    if (t->spec.slots > thief_free || !LabelsMatch(req.labels, t->spec.labels)) continue;
    GrantEntry g;
    g.task_id = t->id;
    g.attempt = (t->attempts.empty() ? 0 : t->attempts.back().number) + 1;
    g.holder = req.thief_id;
    g.stolen_from = options_.node_id;
    g.granted_ms = now.unix_millis();
    last = Propose(EntryType::kGrant, EncodePayload(g));
    granting_.insert(t->id);
    thief_free -= t->spec.slots;
    ps.task_ids.push_back(t->id);
  }
  if (ps.task_ids.empty()) return SendPeer(from, kStealReplyType, reply);
  pending_steals_[last] = std::move(ps);
}

void NodeCore::OnGrantApplied(Instant now, const GrantEntry& g, const ApplyResult& r) {
  if (g.holder == options_.node_id) return;
  granting_.erase(g.task_id);
  if (!r.accepted) return;
  Lease& l = leases_[g.task_id];
  l.holder_id = g.holder;
  l.attempt = g.attempt;
  l.last_renewal = now;
  l.expiry_proposed = false;
  ++given_count_;
}

void NodeCore::OnLeaseRenew(Instant now, const std::string& from, const LeaseRenew& renew) {
  LeaseRenewAck ack;
  ack.seq = renew.seq;
  for (const auto& ref : renew.attempts) {
    const Task* t = table_.Find(ref.task_id);
    if (t == nullptr || t->state != TaskState::kRunning) continue;
    const Attempt& a = t->attempts.back();
    if (a.number != ref.attempt || a.node != renew.holder_id) continue;
    Lease& l = leases_[ref.task_id];
    if (l.attempt != ref.attempt) {  // first renewal heard since this node recovered
      l.holder_id = renew.holder_id;
      l.attempt = ref.attempt;
      l.expiry_proposed = false;
    }
    if (l.expiry_proposed) continue;  // too late: its expiry is already on the way
    l.last_renewal = now;
    l.holder_address = from;
    ack.current.push_back(ref);
  }
  SendPeer(from, kLeaseRenewAckType, ack);
}

void NodeCore::ExpireLeases(Instant now) {
  for (auto it = leases_.begin(); it != leases_.end();) {
    const Task* t = table_.Find(it->first);
    Lease& l = it->second;
    // Kept until the attempt's record is closed: a cancelled task's attempt on a silent
    // holder is closed by its expiry, so the task can be restarted.
    if (t == nullptr || t->attempts.empty() || t->attempts.back().number != l.attempt ||
        t->attempts.back().outcome != Outcome::kNone) {
      it = leases_.erase(it);
      continue;
    }
    if (!l.expiry_proposed && now - l.last_renewal >= LeaderLease() && now >= leases_valid_from_) {
      FinishEntry f;
      f.task_id = it->first;
      f.attempt = l.attempt;
      f.outcome = Outcome::kLost;
      f.ended_ms = now.unix_millis();
      f.reason = "lease expired: holder " + l.holder_id + " stopped renewing";
      Propose(EntryType::kFinish, EncodePayload(f));
      l.expiry_proposed = true;
      log_->warn("lease of {} attempt {} on {} expired; it will run again", it->first, l.attempt, l.holder_id);
    }
    ++it;
  }
}

void NodeCore::OnFinishReport(Instant now, const std::string& from, const FinishReport& report) {
  const AttemptRef ref{report.finish.task_id, report.finish.attempt};
  const Task* t = table_.Find(ref.task_id);
  const bool current = t != nullptr && !t->attempts.empty() &&
                       t->attempts.back().number == ref.attempt &&
                       t->attempts.back().outcome == Outcome::kNone &&
                       t->attempts.back().node == report.holder_id;
  if (!current) {
    // Stale (re-granted, already finished, or not ours): acknowledge so the holder stops
    // resending; the fencing number already kept it from deciding anything.
    if (t != nullptr) log_->info("stale finish of {} attempt {} from {} rejected", ref.task_id, ref.attempt, report.holder_id);
    return SendPeer(from, kFinishAckType, FinishAck{ref});
  }
  for (const auto& [idx, p] : pending_finish_acks_) {
    if (p.second == ref) return;  // already on its way to commit
  }
  FinishEntry f = report.finish;
  uint64_t idx = Propose(EntryType::kFinish, EncodePayload(f));
  pending_finish_acks_[idx] = {from, ref};
}

void NodeCore::OnFinishApplied(uint64_t index, const Entry& entry, const ApplyResult& r) {
  auto it = pending_finish_acks_.find(index);
  if (it == pending_finish_acks_.end()) return;
  if (!recovering_) SendPeer(it->second.first, kFinishAckType, FinishAck{it->second.second});
  pending_finish_acks_.erase(it);
}

}  // namespace magpie
