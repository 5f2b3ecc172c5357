// Work stealing and execution leases (DESIGN §4 "Leases and fencing", §6). The thief side
// asks idle-time questions and runs what it is granted under a lease; the leader side
// grants from its excess, keeps the leases, and takes back what goes silent.
#include <algorithm>

#include "base/buggify.h"
#include "node/node_core.h"
#include "node/scheduler.h"

namespace magpie {

namespace {
constexpr size_t kMaxStealsRemembered = 64;
constexpr size_t kMaxThievesRemembered = 4096;
constexpr size_t kAnswersRememberedPerThief = 8;
constexpr Duration kFinishResendInterval = Duration::Seconds(1);
constexpr int kMaxFinishSends = 60;
constexpr size_t kMaxStealScan = 4096;
constexpr Duration kStartNewsDelay = Duration::Millis(20);
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
  if (m.type == kForwardRequestType) {
    auto v = UnpackBody<ForwardRequest>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnForwardRequest(now, m.from, *v);
  }
  if (m.type == kForwardReplyType) {
    auto v = UnpackBody<ForwardReply>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnForwardReply(*v);
  }
  if (m.type == kTakeBackType) {
    auto v = UnpackBody<TakeBack>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnTakeBack(now, *v);
  }
  if (m.type == kNameQueryType) {
    auto v = UnpackBody<NameQuery>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnNameQuery(m.from, *v);
  }
  if (m.type == kNameAnswerType) {
    auto v = UnpackBody<NameAnswer>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnNameAnswer(now, *v);
  }
  if (m.type == kUpstreamQueryType) {
    auto v = UnpackBody<UpstreamQuery>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnUpstreamQuery(now, m.from, *v);
  }
  if (m.type == kUpstreamAnswerType) {
    auto v = UnpackBody<UpstreamAnswer>(m.payload);
    if (!v.ok()) return drop(v.status());
    return OnUpstreamAnswer(*v);
  }
  drop(Status::InvalidArgument("unknown type"));
}

// --- Thief side -------------------------------------------------------------------------

void NodeCore::MaybeSteal(Instant now) {
  if (!options_.stealing || stopping_ || membership_ == nullptr) return;
  if (steal_in_flight_ != 0) {
    // Past the timeout without an answer the thief asks again (elsewhere, perhaps); a later
    // answer is still used, its lease counted from when that request was sent.
    if (now - steal_sent_at_ < steal_round_trip_.Timeout()) return;
    // No answer yet: ask again (a late one is still used, or handed back).
    steal_in_flight_ = 0;
  }
  // Schedule has already taken every local task that fits and StartHeld every held one:
  // free slots left over mean nothing runnable is queued here. With none free, a thief
  // may still ask ahead for up to steal_prefetch_slots, if it has no ready work of its own.
  // Work is asked for ahead only where it will be reached soon: a thief whose running
  // tasks are long (or that has not yet seen how long they take) holding work ahead keeps
  // it from nodes that would start it now.
  const int32_t free_slots = options_.slots - used_slots_;
  const int32_t idle_slots = std::max(0, free_slots - held_slots_);
  const int32_t ahead_room = options_.slots + options_.steal_prefetch_slots - used_slots_ - held_slots_ - idle_slots;
  const bool soon = SlotFreesSoon(now);
  const int32_t want = idle_slots + (soon ? std::max(0, ahead_room) : 0);
  const bool ahead = idle_slots == 0;
  // Not asking now: with a slot free (a held task wider than it waits for more), look again
  // later, or NextDeadline would stay on a past next_steal_at_.
  auto not_now = [&] {
    if (free_slots > 0 && !MAGPIE_BUGGIFY_ON(thief_forgets_backoff)) {
      next_steal_at_ = std::max(next_steal_at_, now + options_.steal_backoff_max);
    }
  };
  if (want <= 0) return not_now();
  if (ahead) {
    for (const auto& [g, r] : replicas_) {
      if (r->raft.is_leader() && r->table.ready_count() > 0) return not_now();
    }
  }
  // Power of two choices over gossiped load: of two random members that gossip says have
  // ready work, ask the one with more ready work per slot. Gossip lags by up to a probe
  // interval, so when it shows no work anywhere, ask a random member now and then anyway
  // (classic randomized stealing), backing off while the answers are empty.
  // A backoff earned by asking blindly ends as soon as gossip shows someone with work.
  if (now < next_steal_at_ && !blind_backoff_) return;
  // The membership's own indexes, not a copy of the member list: at 1,000 members the
  // copy on every ask was most of what an idle node did.
  const size_t with_work = membership_->NumAliveWithWork();
  if (now < next_steal_at_ && with_work == 0) return;
  MemberView victim;
  if (with_work > 0) {
    victim = membership_->AliveWithWork(prng_.Below(with_work), now);
    if (with_work > 1) {
      MemberView other = membership_->AliveWithWork(prng_.Below(with_work), now);
      auto per_slot = [](const MemberView& v) {
        return static_cast<double>(v.load.ready) / std::max(1, v.load.slots);
      };
      if (per_slot(other) > per_slot(victim)) victim = std::move(other);
    }
  } else {
    if (ahead) return not_now();  // ahead of a free slot, only where gossip shows work
    const size_t others = membership_->NumAliveOthers();
    if (others == 0) {
      next_steal_at_ = now + options_.steal_backoff_max;  // alone: look again later
      return;
    }
    victim = membership_->AliveOther(prng_.Below(others), now);
  }
  StealRequest req;
  req.seq = next_steal_seq_++;
  req.thief_id = options_.node_id;
  req.free_slots = want;
  req.labels = options_.labels;
  req.thief_life = life_;
  req.idle_slots = idle_slots;
  for (const auto& [seq, at] : steal_asked_at_) {
    if (now < at + HolderLease() / 2) req.awaiting.push_back(seq);  // later answers go back
  }
  SendPeer(victim.address, kStealRequestType, req);
  steal_blind_ = with_work == 0;
  blind_backoff_ = false;
  log_->debug("steal: asking {} for up to {} slots of work (request {}{})", victim.address, want, req.seq,
              ahead ? ", ahead of a free slot" : "");
  steal_in_flight_ = req.seq;
  steal_sent_at_ = now;
  steal_asked_at_[req.seq] = now;
  while (steal_asked_at_.size() > kMaxStealsRemembered) steal_asked_at_.erase(steal_asked_at_.begin());
}

bool NodeCore::SlotFreesSoon(Instant now) const {
  if (run_ms_average_ < 0) return false;  // nothing has ended here yet: no telling
  const int64_t horizon_ms = 2 * steal_round_trip_.Timeout().millis();
  const int64_t now_ms = now.unix_millis();
  for (const auto& [id, la] : local_) {
    if (la.held || la.started_ms == 0) continue;
    if (la.started_ms + run_ms_average_ - now_ms <= horizon_ms) return true;
  }
  return false;
}

void NodeCore::OnStealReply(Instant now, const std::string& from, const StealReply& reply) {
  const bool in_flight = reply.seq == steal_in_flight_ && steal_in_flight_ != 0;
  if (in_flight) steal_in_flight_ = 0;
  // When we asked bounds the lease (the grant came after): an answer to a request we no
  // longer remember (very late, or a duplicate) cannot be run safely.
  auto asked = steal_asked_at_.find(reply.seq);
  const bool known = asked != steal_asked_at_.end();
  const Instant asked_at = known ? asked->second : Instant();
  if (known) {
    steal_asked_at_.erase(asked);
    steal_round_trip_.Observe(now - asked_at);
  }
  log_->debug("steal: {} gave {} tasks (request {}, {})", from, reply.tasks.size(), reply.seq,
              in_flight ? "current" : known ? "late" : "unknown");
  if (reply.tasks.empty()) {
    if (in_flight) {
      steal_backoff_ = std::clamp(steal_backoff_ * 2, options_.steal_backoff_min, options_.steal_backoff_max);
      next_steal_at_ = now + steal_backoff_;
      blind_backoff_ = steal_blind_;
    }
    return;
  }
  blind_backoff_ = false;
  steal_backoff_ = options_.steal_backoff_min;
  next_steal_at_ = now;
  for (const auto& st : reply.tasks) {
    const AttemptRef ref{st.task_id, st.attempt};
    auto running = local_.find(st.task_id);
    if ((running != local_.end() && running->second.attempt == st.attempt) || finishes_.count(ref) != 0) {
      continue;  // a duplicate of an answer already acted on
    }
    if (Superseded(st.task_id, st.attempt)) {
      // Our own replica of the group already closed or replaced this attempt (we came to
      // lead it and swept the grant as never started, say): a late answer, not to run.
      continue;
    }
    const bool fits_now = options_.slots - used_slots_ >= st.spec.slots;
    const bool fits_ahead = st.spec.slots <= options_.slots &&
                            held_slots_ + st.spec.slots <= options_.steal_prefetch_slots;
    // Start only within the first half of the lease counted from the asking, the rule
    // StartHeld keeps: an answer read that late (the thief was paused) may meet a
    // leader whose clock ran fast beyond max_drift and re-granted already. Half the lease
    // keeps this safe to about 35 % relative drift instead of max_drift alone.
    if (!known || now >= asked_at + HolderLease() / 2 || stopping_ || running != local_.end() ||
        (!fits_now && !fits_ahead)) {
      // Cannot run it: hand it back at once rather than let it wait out its lease.
      log_->debug("steal: handing {} back to {}: {}", st.task_id, from,
                  !known ? "an answer to an ask not remembered"
                  : now >= asked_at + HolderLease() / 2 ? "answered after half the lease"
                  : stopping_ ? "stopping"
                  : running != local_.end() ? "an older attempt still runs here"
                                            : "no slot free for it");
      PendingFinish pf;
      pf.group = GroupOfTaskId(st.task_id);
      pf.finish = FinishEntry{st.task_id, st.attempt, Outcome::kLost, -1, 0, now.unix_millis(),
                              "stolen but not run: the thief could not take it", "", ""};
      pf.leader_hint = from;
      pf.send_at = now;
      auto [fit, inserted] = finishes_.insert_or_assign(ref, std::move(pf));
      SendFinish(now, fit);
      continue;
    }
    LocalAttempt la;
    la.group = GroupOfTaskId(st.task_id);
    la.attempt = st.attempt;
    la.slots = st.spec.slots;
    la.leader_hint = from;
    // The grant happened after we asked, so a lease counted from the asking is never
    // longer than the one the leader counts.
    la.lease_base = asked_at;
    la.extended_to = la.lease_base + HolderLease();
    ++stolen_count_;
    if (fits_now) {
      local_[st.task_id] = la;
      StartStolen(now, st.task_id, local_[st.task_id], st.spec);
    } else {
      la.held = true;
      local_[st.task_id] = la;
      held_specs_[st.task_id] = st.spec;
      held_order_.push_back(st.task_id);
      held_slots_ += la.slots;
    }
  }
  if (next_renew_at_ < now || next_renew_at_ == Instant()) next_renew_at_ = now + options_.lease / 3;
}

void NodeCore::StartStolen(Instant now, const std::string& task_id, LocalAttempt& la,
                           const TaskSpec& spec) {
  la.held = false;
  if (spec.timeout_ms > 0) la.timeout_at = now + Duration::Millis(spec.timeout_ms);
  la.extended_to = la.lease_base + HolderLease();
  la.started_ms = now.unix_millis();
  used_slots_ += la.slots;
  // Its leader learns of the start from the next renewal: soon, so the task shows running,
  // and late enough that quick tasks have ended and tell it in their Finish instead.
  next_renew_at_ = std::min(next_renew_at_, now + kStartNewsDelay);
  StartProcess sp;
  sp.task_id = task_id;
  sp.attempt = la.attempt;
  sp.spec = spec;
  sp.magpie_env["MAGPIE_TASK_ID"] = task_id;
  sp.magpie_env["MAGPIE_ATTEMPT"] = std::to_string(la.attempt);
  sp.magpie_env["MAGPIE_NODE_ID"] = options_.node_id;
  sp.magpie_env["MAGPIE_NODE"] = options_.client_address;
  if (!spec.name.empty()) sp.magpie_env["MAGPIE_TASK_NAME"] = spec.name;
  sp.kill_deadline = la.extended_to;
  outbox_.starts.push_back(std::move(sp));
}

bool NodeCore::Superseded(const std::string& task_id, uint32_t attempt) const {
  const Replica* r = FindReplica(GroupOfTaskId(task_id));
  if (r == nullptr) return false;  // not a replica: its leader judges, at renewal
  const Task* t = r->table.Find(task_id);
  if (t == nullptr || t->attempts.empty()) return false;  // may still be catching up
  const Attempt& a = t->attempts.back();
  return a.number > attempt || (a.number == attempt && a.outcome != Outcome::kNone);
}

void NodeCore::StartHeld(Instant now) {
  while (!held_order_.empty() && !stopping_) {
    const std::string id = held_order_.front();
    auto la = local_.find(id);
    auto spec = held_specs_.find(id);
    if (la == local_.end() || !la->second.held || spec == held_specs_.end()) {
      held_order_.pop_front();  // dropped meanwhile
      continue;
    }
    if (Superseded(id, la->second.attempt)) {
      DropHeld(now, id, Outcome::kNone, "");
      continue;
    }
    // Start only within the first half of the lease as last confirmed: the leader's
    // clock may run fast beyond max_drift, and work held that long is better
    // handed back for someone free now.
    if (now >= la->second.lease_base + HolderLease() / 2) {
      DropHeld(now, id, Outcome::kLost, "stolen ahead but not started within half its lease");
      continue;
    }
    if (options_.slots - used_slots_ < la->second.slots) return;  // in order of arrival
    held_order_.pop_front();
    held_slots_ -= la->second.slots;
    TaskSpec s = std::move(spec->second);
    held_specs_.erase(spec);
    StartStolen(now, id, la->second, s);
  }
}

void NodeCore::DropHeld(Instant now, const std::string& task_id, Outcome outcome,
                        const std::string& reason) {
  auto it = local_.find(task_id);
  if (it == local_.end() || !it->second.held) return;
  LocalAttempt la = it->second;
  local_.erase(it);
  held_slots_ -= la.slots;
  held_specs_.erase(task_id);
  std::erase(held_order_, task_id);
  if (outcome == Outcome::kNone) return;
  FinishEntry f{task_id, la.attempt, outcome, -1, 0, now.unix_millis(), reason, "", ""};
  f.handed_back = true;
  FinishLocal(now, task_id, la, std::move(f));
}

void NodeCore::RenewLeases(Instant now) {
  const bool due = now >= next_renew_at_;
  std::map<std::pair<std::string, std::string>, LeaseRenew> by_leader;  // (address, group)
  std::vector<std::string> held_out;  // held attempts whose lease ran out
  for (auto& [id, la] : local_) {
    if (la.killed_for != Outcome::kNone) continue;
    Replica* r = FindReplica(la.group);
    if (r != nullptr && CanGrant(*r, now)) {
      // We lead the group: our own contact with a quorum is the renewal.
      Instant base = std::min(now, r->raft.QuorumContactSince());
      if (base > la.lease_base) la.lease_base = base;
    }
    // The deliberate bug: the holder counts its lease from half a lease ago at the most,
    // renewed or not, so it never kills the attempt and keeps its watchdog's deadline ahead.
    if (MAGPIE_BUGGIFY_ON(outlive_lease) && !la.held) la.lease_base = std::max(la.lease_base, now - HolderLease() / 2);
    // The lease is ours to keep only while a renewal sent within it was answered.
    if (now >= la.lease_base + HolderLease() && la.held) {
      held_out.push_back(id);  // never started: nothing to kill, and its leader re-grants it
      continue;
    }
    if (now >= la.lease_base + HolderLease()) {
      la.killed_for = Outcome::kLost;
      outbox_.kills.push_back(KillProcess{id, la.attempt, Outcome::kLost});
      log_->warn("lease of {} attempt {} ran out before its group's leader renewed it; killing it",
                 id, la.attempt);
      continue;
    }
    // Tell the watchdog, in steps, so that it is not told every heartbeat.
    Instant deadline = la.lease_base + HolderLease();
    if (!la.held && deadline >= la.extended_to + options_.lease / 6) {
      la.extended_to = deadline;
      outbox_.extends.push_back(ExtendDeadline{id, la.attempt, deadline});
    }
    if (r != nullptr && r->raft.is_leader()) continue;
    std::string leader = LeaderAddress(la.group, la.leader_hint);
    if (leader.empty() || leader == options_.client_address) continue;
    LeaseRenew& renew = by_leader[{leader, la.group}];
    renew.attempts.push_back(AttemptRef{id, la.attempt});
    if (la.started_ms > 0) renew.started.push_back(StartedAttempt{id, la.attempt, la.started_ms});
  }
  for (const auto& id : held_out) {
    log_->info("lease of held {} ran out before it could start; dropping it", id);
    DropHeld(now, id, Outcome::kNone, "");
  }
  if (!due) return;
  next_renew_at_ = now + options_.lease / 3;
  for (auto& [key, renew] : by_leader) {
    renew.seq = next_renew_seq_++;
    renew.holder_id = options_.node_id;
    renew.group = key.second;
    renewals_.Sent(renew.seq, RenewalSent{now, renew.group,
                                          std::set<AttemptRef>(renew.attempts.begin(), renew.attempts.end())});
    SendPeer(key.first, kLeaseRenewType, renew);
  }
  renewals_.ForgetSentBefore(now - HolderLease());
}

void NodeCore::OnLeaseRenewAck(Instant now, const LeaseRenewAck& ack) {
  std::optional<RenewalSent> answered = renewals_.TakeAnswered(ack.seq);
  if (!answered) return;  // unknown, or too old to extend anything
  const RenewalSent renewal = std::move(*answered);
  const Instant sent_at = renewal.at;
  if (ack.not_leader) {
    // Asked the wrong node: it vouches for nothing. Ask again soon, where gossip or the
    // group's members now say the leader is.
    next_renew_at_ = std::min(next_renew_at_, now + Duration::Millis(100));
    return;
  }
  std::set<AttemptRef> current(ack.current.begin(), ack.current.end());
  std::vector<std::string> held_gone;
  for (auto& [id, la] : local_) {
    // Judge only what this renewal asked about: an attempt stolen while it was in flight,
    // or renewed with another leader, is not in its answer.
    if (la.killed_for != Outcome::kNone || renewal.asked.count(AttemptRef{id, la.attempt}) == 0) continue;
    if (current.count(AttemptRef{id, la.attempt}) != 0) {
      if (sent_at > la.lease_base) la.lease_base = sent_at;
    } else if (sent_at >= la.lease_base && la.held) {
      held_gone.push_back(id);
    } else if (sent_at >= la.lease_base) {
      // Asked about after we started it, and the leader says it is no longer ours
      // (cancelled, or re-granted after its lease ran out).
      la.killed_for = Outcome::kLost;
      outbox_.kills.push_back(KillProcess{id, la.attempt, Outcome::kLost});
      log_->info("leader no longer grants {} attempt {} to us; killing it", id, la.attempt);
    }
  }
  for (const auto& id : held_gone) DropHeld(now, id, Outcome::kNone, "");
}

void NodeCore::SendFinishes(Instant now) {
  while (!finishes_due_.empty() && finishes_due_.begin()->first <= now) {
    const auto [at, ref] = *finishes_due_.begin();
    finishes_due_.erase(finishes_due_.begin());
    auto it = finishes_.find(ref);
    if (it == finishes_.end() || it->second.send_at != at) continue;  // gone, or due later
    SendFinish(now, it);
  }
}

std::map<AttemptRef, NodeCore::PendingFinish>::iterator NodeCore::SendFinish(
    Instant now, std::map<AttemptRef, PendingFinish>::iterator it) {
  PendingFinish& pf = it->second;
  Replica* r = FindReplica(pf.group);
  if (r != nullptr) {
    // We hold the group's table: once it shows the attempt closed or superseded, we are
    // done. A task it lacks proves nothing: a new replica may still be catching up.
    const Task* t = r->table.Find(it->first.task_id);
    if (t != nullptr && !t->attempts.empty() &&
        (t->attempts.back().number != it->first.attempt ||
         t->attempts.back().outcome != Outcome::kNone)) {
      return finishes_.erase(it);
    }
  }
  if (r != nullptr && CanGrant(*r, now)) {
    // Ours to decide: propose it (again, if a leadership of ours ended meanwhile).
    if (pf.proposed_term != r->raft.term() &&
        Propose(*r, EntryType::kFinish, EncodePayload(pf.finish)).ok()) {
      pf.proposed_term = r->raft.term();
    }
    pf.send_at = now + kFinishResendInterval;
    finishes_due_.emplace(pf.send_at, it->first);
    return std::next(it);
  }
  if (pf.send_at > now) return std::next(it);
  if (++pf.sends > kMaxFinishSends) {
    log_->warn("no leader of group {} acknowledged the finish of {} attempt {}; its lease decides",
               pf.group, it->first.task_id, it->first.attempt);
    return finishes_.erase(it);
  }
  std::string leader = LeaderAddress(pf.group, pf.leader_hint);
  if (!leader.empty() && leader != options_.client_address) {
    SendPeer(leader, kFinishReportType, FinishReport{options_.node_id, pf.finish});
  }
  pf.send_at = now + kFinishResendInterval;
  finishes_due_.emplace(pf.send_at, it->first);
  return std::next(it);
}

void NodeCore::SweepOwnAttempts(Instant now) {
  // Attempts granted to this node that no process here runs died with an earlier life of
  // this node (the watchdog killed them when it died), or were granted by a leadership of
  // ours that ended before the grant committed. Report them lost so they run again now
  // rather than after their lease.
  for (auto& [g, rp] : replicas_) {
    Replica& r = *rp;
    const bool leading = CanGrant(r, now);
    for (const auto& id : r.table.running_ids()) {
      const Task& t = *r.table.Find(id);
      if (t.attempts.empty()) continue;
      const Attempt& a = t.attempts.back();
      if (a.outcome != Outcome::kNone || a.node != options_.node_id) continue;
      AttemptRef ref{t.id, a.number};
      if (finishes_.count(ref) != 0 || r.lost_reported.count(ref) != 0) continue;
      auto la = local_.find(t.id);
      if (la != local_.end() && la->second.attempt == a.number) continue;
      const bool earlier_life = a.life < life_;
      const bool orphan = leading && r.granting.count(t.id) == 0;
      if (!earlier_life && !orphan) continue;
      // The deliberate bug: a restarted node forgets the attempts it held, which then stay
      // "running" forever.
      if (earlier_life && MAGPIE_BUGGIFY_ON(forget_lost_on_recover)) continue;
      // The deliberate bug: it runs them again, under the numbers they started with.
      if (earlier_life && MAGPIE_BUGGIFY_ON(rerun_after_restart) && !stopping_) {
        used_slots_ += t.spec.slots;
        StartLocal(now, r, t);
        continue;
      }
      FinishEntry f;
      f.task_id = t.id;
      f.attempt = a.number;
      f.outcome = Outcome::kLost;
      f.ended_ms = now.unix_millis();
      f.reason = earlier_life ? "node restarted while the attempt ran" : "granted but never started";
      PendingFinish pf;
      pf.group = g;
      pf.finish = std::move(f);
      pf.send_at = now;
      log_->warn("{} attempt {}: {}; it will run again", t.id, a.number, pf.finish.reason);
      r.lost_reported.insert(ref);
      auto [fit, inserted] = finishes_.insert_or_assign(ref, std::move(pf));
      SendFinish(now, fit);
    }
  }
}

void NodeCore::OnFinishAck(const FinishAck& ack) { finishes_.erase(ack.attempt); }

// --- Leader side ------------------------------------------------------------------------

void NodeCore::OnStealRequest(Instant now, const std::string& sender, const StealRequest& req) {
  // Answers go to the thief, also when a follower passed its request on to us.
  const std::string from = req.thief_address.empty() ? sender : req.thief_address;
  StealReply reply;
  reply.seq = req.seq;
  reply.victim_id = options_.node_id;
  if (stopping_ || req.free_slots <= 0 || req.thief_id == options_.node_id) {
    return SendPeer(from, kStealReplyType, reply);
  }
  // A thief that heard nothing for a while asks again, not knowing that Grants for its
  // earlier ask are still being committed here: its free slots are those less what is on
  // its way. Granting both put a second batch in front of a full thief, which handed it
  // back as lost (thousands of wasted attempts per million tasks in W1 at R=3, and tasks
  // one lost attempt closer to failing).
  int32_t thief_free = req.free_slots - SlotsOnTheWayTo(req.thief_id, req.awaiting, now);
  if (thief_free <= 0) return SendPeer(from, kStealReplyType, reply);
  // From the groups this node leads: keep what this node can start now; of the rest (the
  // excess), give up to half, most urgent first, only what the thief's labels and free
  // slots allow. One group per answer, so one commit completes it.
  int32_t local_free = std::max(0, options_.slots - used_slots_);
  for (auto& [g, rp] : replicas_) {
    Replica& r = *rp;
    if (!CanGrant(r, now)) continue;
    std::vector<const Task*> excess;
    size_t scanned = 0;
    // Half of an excess this long already fills the thief's free slots: scanning on (up to
    // kMaxStealScan, a lookup each) cost a W1 leader a tenth of its CPU per steal request.
    const size_t enough = 2 * static_cast<size_t>(thief_free);
    r.table.ForEachReady(now.unix_millis(), [&](const Task& t) {
      if (++scanned > kMaxStealScan) return false;
      if (r.granting.count(t.id) != 0) return true;
      if (t.spec.slots <= local_free && LabelsMatch(options_.labels, t.spec.labels)) {
        local_free -= t.spec.slots;
        return true;
      }
      excess.push_back(&t);
      return excess.size() < enough;
    });
    size_t give = (excess.size() + 1) / 2;
    uint64_t last = 0;
    PendingSteal ps;
    ps.thief_id = req.thief_id;
    ps.thief_address = from;
    ps.seq = req.seq;
    StealReply early{req.seq, options_.node_id, {}};  // the deliberate bug's answer
    for (const Task* t : excess) {
      if (ps.task_ids.size() >= give || thief_free <= 0) break;
      if (t->spec.slots > thief_free || !LabelsMatch(req.labels, t->spec.labels)) continue;
      GrantEntry ge;
      ge.task_id = t->id;
      ge.attempt = (t->attempts.empty() ? 0 : t->attempts.back().number) + 1;
      ge.holder = req.thief_id;
      ge.holder_life = req.thief_life;
      ge.stolen_from = options_.node_id;
      ge.granted_ms = now.unix_millis();
      auto idx = Propose(r, EntryType::kGrant, EncodePayload(ge));
      if (!idx.ok()) break;
      last = *idx;
      r.granting[t->id] = 0;  // the thief's slots, not ours
      if (MAGPIE_BUGGIFY_ON(steal_answer_before_commit)) {
        early.tasks.push_back(StolenTask{t->id, ge.attempt, r.table.RunSpec(*t)});
      }
      thief_free -= t->spec.slots;
      ps.slots += t->spec.slots;
      ps.task_ids.push_back(t->id);
    }
    if (ps.task_ids.empty()) continue;
    // The deliberate bug: the thief hears of its Grants as they are proposed, before any
    // replica holds them; the answer at commit follows as usual (a duplicate to the thief).
    if (!early.tasks.empty()) SendPeer(from, kStealReplyType, early);
    r.pending_steals[last] = Proposed<PendingSteal>{r.raft.term(), std::move(ps)};
    return;
  }
  // Nothing to give from what we lead. What we granted ahead to other holders and they have
  // not started comes back for this idle thief's next ask.
  for (auto& [g, rp] : replicas_) {
    if (req.idle_slots > 0 && CanGrant(*rp, now)) TakeBackHeld(now, *rp, req.idle_slots, req.thief_id, req.labels);
  }
  // A follower of a group whose table shows ready work passes the request on to that
  // group's leader, once (DESIGN §6).
  if (req.hops == 0) {
    for (auto& [g, rp] : replicas_) {
      if (rp->raft.is_leader() || rp->table.ready_count() == 0) continue;
      std::string leader = LeaderAddress(g, "");
      if (leader.empty() || leader == options_.client_address || leader == from) continue;
      StealRequest fwd = req;
      fwd.thief_address = from;
      fwd.hops = 1;
      log_->debug("steal: passing {}'s request {} on to {}, leader of {}", req.thief_id, req.seq, leader, g);
      return SendPeer(leader, kStealRequestType, fwd);
    }
  }
  SendPeer(from, kStealReplyType, reply);
}

int32_t NodeCore::SlotsOnTheWayTo(const std::string& thief_id, const std::vector<uint64_t>& awaiting,
                                  Instant now) const {
  int32_t slots = 0;
  for (const auto& [g, r] : replicas_) {
    for (const auto& [index, ps] : r->pending_steals) {
      if (ps.what.thief_id == thief_id) slots += ps.what.slots;
    }
  }
  // Answers sent that the thief had not read when it asked (they crossed on the way).
  if (auto it = steal_answers_.find(thief_id); it != steal_answers_.end()) {
    for (const SentStealAnswer& a : it->second) {
      if (now < a.sent_at + HolderLease() &&
          std::find(awaiting.begin(), awaiting.end(), a.seq) != awaiting.end()) {
        slots += a.slots;
      }
    }
  }
  return slots;
}

void NodeCore::RememberStealAnswer(Instant now, const std::string& thief_id, uint64_t seq, int32_t slots) {
  if (steal_answers_.size() >= kMaxThievesRemembered && steal_answers_.count(thief_id) == 0) {
    steal_answers_.clear();  // a bound; forgetting only risks a batch handed back
  }
  auto& answers = steal_answers_[thief_id];
  answers.push_back(SentStealAnswer{seq, slots, now});
  while (answers.size() > kAnswersRememberedPerThief) answers.pop_front();
}

void NodeCore::OnGrantApplied(Instant now, Replica& r, const GrantEntry& g, const ApplyResult& res) {
  if (g.holder == options_.node_id) return;
  r.granting.erase(g.task_id);
  if (!res.accepted || !r.raft.is_leader()) return;
  Lease& l = r.leases[g.task_id];
  l.holder_id = g.holder;
  l.attempt = g.attempt;
  l.last_renewal = now;
  l.expiry_proposed = false;
  ++given_count_;
}

void NodeCore::OnLeaseRenew(Instant now, const std::string& from, const LeaseRenew& renew) {
  LeaseRenewAck ack;
  ack.seq = renew.seq;
  Replica* r = FindReplica(renew.group);
  if (r == nullptr || !CanGrant(*r, now)) {
    // Only a leader in contact with a quorum may vouch for a lease.
    ack.not_leader = true;
    if (r != nullptr) ack.leader_id = r->raft.leader_id();
    return SendPeer(from, kLeaseRenewAckType, ack);
  }
  for (const auto& ref : renew.attempts) {
    const Task* t = r->table.Find(ref.task_id);
    if (t == nullptr || !HoldsGrant(t->state)) continue;
    const Attempt& a = t->attempts.back();
    if (a.number != ref.attempt || a.node != renew.holder_id) continue;
    Lease& l = r->leases[ref.task_id];
    if (l.attempt != ref.attempt) {  // first renewal heard in this leadership
      l.holder_id = renew.holder_id;
      l.attempt = ref.attempt;
      l.expiry_proposed = false;
    }
    if (l.expiry_proposed) continue;  // too late: its expiry is already on the way
    l.last_renewal = now;
    ack.current.push_back(ref);
  }
  std::vector<StartedAttempt> started;
  for (const auto& s : renew.started) {
    const Task* t = r->table.Find(s.task_id);
    if (t != nullptr && t->state == TaskState::kAssigned && t->attempts.back().node == renew.holder_id) {
      started.push_back(s);
    }
  }
  ProposeStarted(*r, std::move(started));
  SendPeer(from, kLeaseRenewAckType, ack);
}

void NodeCore::ExpireLeases(Instant now) {
  for (auto& [g, rp] : replicas_) {
    Replica& r = *rp;
    if (!CanGrant(r, now)) continue;
    for (auto it = r.leases.begin(); it != r.leases.end();) {
      const Task* t = r.table.Find(it->first);
      Lease& l = it->second;
      // Kept until the attempt's record is closed: a cancelled task's attempt on a silent
      // holder is closed by its expiry, so the task can be restarted.
      if (t == nullptr || t->attempts.empty() || t->attempts.back().number != l.attempt ||
          t->attempts.back().outcome != Outcome::kNone) {
        it = r.leases.erase(it);
        continue;
      }
      if (!l.expiry_proposed && now - l.last_renewal >= LeaderLease() && now >= r.leases_valid_from) {
        FinishEntry f;
        f.task_id = it->first;
        f.attempt = l.attempt;
        f.outcome = Outcome::kLost;
        f.ended_ms = now.unix_millis();
        f.reason = "lease expired: holder " + l.holder_id + " stopped renewing";
        if (Propose(r, EntryType::kFinish, EncodePayload(f)).ok()) {
          l.expiry_proposed = true;
          log_->warn("lease of {} attempt {} on {} expired; it will run again", it->first, l.attempt, l.holder_id);
        }
      }
      ++it;
    }
  }
}

void NodeCore::OnFinishReport(Instant now, const std::string& from, const FinishReport& report) {
  const AttemptRef ref{report.finish.task_id, report.finish.attempt};
  Replica* r = FindReplica(GroupOfTaskId(ref.task_id));
  if (r == nullptr || !CanGrant(*r, now)) return;  // not the leader: the holder asks again
  const Task* t = r->table.Find(ref.task_id);
  const bool current = t != nullptr && !t->attempts.empty() &&
                       t->attempts.back().number == ref.attempt &&
                       t->attempts.back().outcome == Outcome::kNone &&
                       t->attempts.back().node == report.holder_id;
  // The deliberate bug drops the whole fence: this check and the one at apply.
  const bool accept_stale = MAGPIE_BUGGIFY_ON(accept_stale_finish) && t != nullptr &&
                            !t->attempts.empty() && t->attempts.back().outcome == Outcome::kNone &&
                            ref.attempt < t->attempts.back().number;
  if (!current && !accept_stale) {
    // Stale (re-granted, already finished, or not ours): acknowledge so the holder stops
    // resending; the fencing number already kept it from deciding anything.
    if (t != nullptr) log_->info("stale finish of {} attempt {} from {} rejected", ref.task_id, ref.attempt, report.holder_id);
    return SendPeer(from, kFinishAckType, FinishAck{ref});
  }
  for (const auto& [idx, p] : r->pending_finish_acks) {
    if (p.what.second == ref) return;  // already on its way to commit
  }
  auto idx = Propose(*r, EntryType::kFinish, EncodePayload(report.finish));
  if (!idx.ok()) return;
  r->pending_finish_acks[*idx] = {r->raft.term(), {from, ref}};
}

void NodeCore::OnFinishApplied(Replica& r, const Entry& entry) {
  if (auto f = DecodePayload<FinishEntry>(entry.payload); f.ok()) {
    finishes_.erase(AttemptRef{f->task_id, f->attempt});
  }
  auto it = r.pending_finish_acks.find(entry.index);
  if (it == r.pending_finish_acks.end()) return;
  if (entry.term == it->second.term) {
    SendPeer(it->second.what.first, kFinishAckType, FinishAck{it->second.what.second});
  }
  r.pending_finish_acks.erase(it);
}

// --- Dependencies across groups ----------------------------------------------------------

std::vector<UpstreamEntry> NodeCore::UpstreamOutcomes(const Replica& r,
                                                      const std::vector<std::string>& ids) const {
  std::vector<UpstreamEntry> out;
  for (const auto& id : ids) {
    const Task* t = r.table.Find(id);
    if (t == nullptr || t->spec.is_schedule()) {
      // A schedule never succeeds: waiting on one is waiting on nothing that will come.
      out.push_back(UpstreamEntry{id, false, TaskState::kBlocked, 0});
    } else if (IsEnded(t->state)) {
      out.push_back(UpstreamEntry{id, true, t->state, t->finished_ms});
    }
  }
  return out;
}

void NodeCore::PollUpstreams(Instant now) {
  constexpr size_t kMaxIdsPerQuery = 1024;
  for (auto& [g, rp] : replicas_) {
    Replica& r = *rp;
    if (!CanGrant(r, now) || now < r.next_upstream_poll) continue;
    r.next_upstream_poll = now + Duration::Millis(500);
    std::map<std::string, std::vector<std::string>> by_group;
    for (const auto& up : r.table.ForeignWaits()) {
      if (r.upstream_proposed.count(up) != 0) continue;
      auto& ids = by_group[GroupOfTaskId(up)];
      if (ids.size() < kMaxIdsPerQuery) ids.push_back(up);
    }
    for (auto& [ug, ids] : by_group) {
      const Replica* local = FindReplica(ug);
      if (local != nullptr && CanGrant(*local, now)) {
        for (const auto& e : UpstreamOutcomes(*local, ids)) ProposeUpstream(e);
        continue;
      }
      std::string leader = LeaderAddress(ug, "");
      if (leader.empty() || leader == options_.client_address) continue;
      SendPeer(leader, kUpstreamQueryType, UpstreamQuery{next_upstream_seq_++, ug, std::move(ids)});
    }
  }
}

void NodeCore::OnUpstreamQuery(Instant now, const std::string& from, const UpstreamQuery& q) {
  UpstreamAnswer a;
  a.seq = q.seq;
  const Replica* r = FindReplica(q.group);
  if (r == nullptr || !CanGrant(*r, now)) {
    a.not_leader = true;
  } else {
    a.outcomes = UpstreamOutcomes(*r, q.ids);
  }
  SendPeer(from, kUpstreamAnswerType, a);
}

void NodeCore::OnUpstreamAnswer(const UpstreamAnswer& a) {
  for (const auto& e : a.outcomes) ProposeUpstream(e);
}

void NodeCore::ProposeUpstream(const UpstreamEntry& e) {
  for (auto& [g, rp] : replicas_) {
    Replica& r = *rp;
    if (!CanGrant(r, last_now_) || r.upstream_proposed.count(e.upstream_id) != 0) continue;
    auto waits = r.table.ForeignWaits();
    if (std::find(waits.begin(), waits.end(), e.upstream_id) == waits.end()) continue;
    if (Propose(r, EntryType::kUpstream, EncodePayload(e)).ok()) r.upstream_proposed.insert(e.upstream_id);
  }
}

}  // namespace magpie
