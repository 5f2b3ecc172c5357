#include "node/node_core.h"

#include <algorithm>
#include <climits>

#include "base/buggify.h"
#include "gossip/gossip_codec.h"
#include "node/scheduler.h"

namespace magpie {

NodeCore::NodeCore(CoreOptions options, std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)),
      log_(std::move(logger)),
      group_log_(options_.group_id),
      prng_(options_.seed ^ 0x6d61677069652d73ULL),
      steal_backoff_(options_.steal_backoff_min) {}

Status NodeCore::Recover(const Storage* storage, Instant now) {
  MAGPIE_CHECK(storage_ == nullptr, "Recover called twice");
  storage_ = storage;
  recovering_ = true;

  uint64_t applied = 0;
  auto a = storage->Get(Column::kMeta, group_log_.AppliedKey());
  if (!a.ok()) return a.status();
  if (a->has_value()) {
    auto v = DecodePayload<uint64_t>(**a);
    if (!v.ok()) return Status::Corruption("applied index: " + v.status().message());
    applied = *v;
  }

  Status decode_error;
  size_t loaded = 0;
  Status s = storage->Scan(Column::kTasks, "", "", [&](std::string_view key, std::string_view value) {
    auto t = DecodePayload<Task>(value);
    if (!t.ok()) {
      decode_error = Status::Corruption("task record " + std::string(key) + ": " +
                                        t.status().message());
      return false;
    }
    table_.Load(std::move(*t));
    ++loaded;
    return true;
  });
  if (!s.ok()) return s;
  if (!decode_error.ok()) return decode_error;
  table_.FinishLoad();

  s = group_log_.Load(*storage, applied);
  if (!s.ok()) return s;
  uint64_t replay = group_log_.commit_index() - applied;
  ApplyCommitted(now);
  last_compacted_ = group_log_.applied_index();
  next_seq_ = table_.max_seq() + 1;
  recovering_ = false;
  log_->info("recovered group {}: {} task records, {} log entries replayed, applied index {}",
             options_.group_id, loaded, replay, group_log_.applied_index());

  // Attempts this node held when it stopped are gone: the watchdog killed their process
  // groups when the node died, and the driver waited for it before calling Recover. Their
  // tasks run again; the lost attempt does not count against max_attempts.
  // Attempts other nodes hold run on under their leases: this node may have been down
  // for a while, so it first waits out one full lease from now before taking any back.
  leases_valid_from_ = now + options_.lease;
  std::vector<FinishEntry> lost;
  table_.ForEachBySeq(0, [&](const Task& t) {
    if (t.state == TaskState::kRunning && t.attempts.back().node != options_.node_id) {
      Lease& l = leases_[t.id];
      l.holder_id = t.attempts.back().node;
      l.attempt = t.attempts.back().number;
      l.last_renewal = now;
    }
    // Every attempt of ours still open (running, or cancelled while it ran) died with us.
    if (!t.attempts.empty() && t.attempts.back().outcome == Outcome::kNone &&
        t.attempts.back().node == options_.node_id) {
      FinishEntry f;
      f.task_id = t.id;
      f.attempt = t.attempts.back().number;
      f.outcome = Outcome::kLost;
      f.ended_ms = now.unix_millis();
      f.reason = "node restarted while the attempt ran";
      lost.push_back(std::move(f));
    }
    return true;
  });
  if (MAGPIE_BUGGIFY_ON(forget_lost_on_recover)) lost.clear();
  for (const auto& f : lost) Propose(EntryType::kFinish, EncodePayload(f));
  if (!lost.empty()) log_->warn("{} attempts were running when the node stopped; running them again", lost.size());
  s = StartGossip(*storage, now);
  if (!s.ok()) return s;
  Schedule(now);
  return Status::Ok();
}

Status NodeCore::StartGossip(const Storage& storage, Instant now) {
  // A restarted node must speak with a higher incarnation than anything it said before,
  // or its old "dead" would outrank its new "alive". The bump is written (synced, in the
  // first Ready) before any gossip leaves.
  constexpr const char* kIncarnationKey = "incarnation";
  uint64_t incarnation = 1;
  auto v = storage.Get(Column::kMeta, kIncarnationKey);
  if (!v.ok()) return v.status();
  if (v->has_value()) {
    auto prev = DecodePayload<uint64_t>(**v);
    if (!prev.ok()) return Status::Corruption("stored incarnation: " + prev.status().message());
    incarnation = *prev + 1;
  }
  outbox_.writes.Put(Column::kMeta, kIncarnationKey, EncodePayload(incarnation));
  force_sync_ = true;
  membership_ = std::make_unique<Membership>(options_.gossip, options_.node_id,
                                             options_.client_address, incarnation, options_.seed,
                                             log_);
  membership_->SetLocalLoad(LocalLoad());
  membership_->Join(now, options_.join);
  return Status::Ok();
}

MemberLoad NodeCore::LocalLoad() const {
  MemberLoad load;
  load.slots = options_.slots;
  load.running = used_slots_;
  load.ready = static_cast<int32_t>(table_.ready_count());
  load.ready_by_band = table_.ReadyByBand();
  load.labels = options_.labels;
  load.leader_hints[options_.group_id] = options_.node_id;
  load.stolen = stolen_count_;
  load.given = given_count_;
  return load;
}

bool NodeCore::stopped() const {
  return stopping_ && local_.empty() && (membership_ == nullptr || membership_->leave_done());
}

uint64_t NodeCore::Propose(EntryType type, std::string payload) {
  return group_log_.Append(type, std::move(payload));
}

void NodeCore::Step(Instant now, const PeerMessage& message) {
  last_now_ = std::max(last_now_, now);
  const auto type = static_cast<uint8_t>(message.type);
  // Every gossip kind, including kGossipUpdate, which carries most of the dissemination.
  if (IsGossipMessage(message.type)) {
    membership_->Step(now, message);
    return;
  }
  if (type >= static_cast<uint8_t>(kStealRequestType) && type <= static_cast<uint8_t>(kFinishAckType)) {
    StepSteal(now, message);
    return;
  }
  // Replica groups are not wired in yet.
  ++dropped_peer_messages_;
  log_->debug("dropped peer message of type {} from {}", static_cast<int>(type), message.from);
}

bool NodeCore::HasReady() const {
  return group_log_.HasUnstable() || !outbox_.writes.empty() || !outbox_.replies.empty() ||
         !outbox_.messages.empty() || (membership_ && membership_->HasMessages()) ||
         !outbox_.starts.empty() || !outbox_.kills.empty() || !outbox_.extends.empty();
}

Ready NodeCore::TakeReady() {
  MAGPIE_CHECK(in_flight_index_ == 0, "TakeReady before Advance of the previous Ready");
  Ready rd = std::move(outbox_);
  outbox_ = Ready{};
  if (membership_) {
    for (auto& m : membership_->TakeMessages()) rd.messages.push_back(std::move(m));
  }
  // The deliberate bug: the early submit reply leaves in a Ready of its own, before the
  // batch holding its entries, so a crash in between loses an acknowledged task.
  if (MAGPIE_BUGGIFY_ON(ack_before_durable) && !rd.replies.empty()) return rd;
  uint64_t last = group_log_.TakeUnstable(&rd.writes);
  if (last != 0) {
    in_flight_index_ = last;
    rd.sync = true;  // log entries are acknowledged and acted on only once durable
  }
  if (force_sync_) {
    rd.sync = true;
    force_sync_ = false;
  }
  return rd;
}

void NodeCore::Advance(Instant now) {
  last_now_ = std::max(last_now_, now);
  if (in_flight_index_ != 0) {
    // One member: durable is committed. (Raft counts a quorum here.)
    group_log_.MarkDurable(in_flight_index_);
    in_flight_index_ = 0;
  }
  ApplyCommitted(now);
  Schedule(now);
}

void NodeCore::Snapshot() {
  // The changed records, the applied index they reflect, and the removal of the log they
  // replace go in one batch: a crash keeps all of it or none. Between snapshots the log
  // alone is the truth, so a task that moved three times is written once, not three times.
  uint64_t applied = group_log_.applied_index();
  PersistDirty();
  outbox_.writes.Put(Column::kMeta, group_log_.AppliedKey(), EncodePayload(applied));
  group_log_.Compact(applied, &outbox_.writes);
  last_compacted_ = applied;
}

void NodeCore::PersistDirty() {
  for (const auto& id : table_.TakeDirty()) {
    const Task* t = table_.Find(id);
    if (t != nullptr) outbox_.writes.Put(Column::kTasks, id, EncodePayload(*t));
  }
}

void NodeCore::ApplyCommitted(Instant now) {
  std::vector<Entry> entries = group_log_.TakeCommitted();
  if (entries.empty()) return;
  for (const auto& e : entries) {
    ApplyResult r = table_.Apply(e);
    OnApplied(now, e, r);
  }
  if (group_log_.applied_index() - last_compacted_ >= options_.compact_every) Snapshot();
  if (!recovering_) AnswerWaiters(now);
}

void NodeCore::OnApplied(Instant now, const Entry& entry, const ApplyResult& r) {
  if (!r.accepted) log_->warn("entry {} not applied: {}", entry.index, r.reason);
  switch (entry.type) {
    case EntryType::kSubmit:
      if (r.task != nullptr) {
        inflight_ids_.erase(r.task->id);
        if (!r.task->spec.name.empty()) {
          auto it = inflight_names_.find(r.task->spec.name);
          if (it != inflight_names_.end() && it->second == r.task->id) inflight_names_.erase(it);
        }
        if (!r.task->spec.idempotency_key.empty()) inflight_keys_.erase(r.task->spec.idempotency_key);
      }
      break;
    case EntryType::kGrant: {
      auto g = DecodePayload<GrantEntry>(entry.payload);
      MAGPIE_CHECK(g.ok(), "grant undecodable after apply");
      if (recovering_) break;
      if (g->holder != options_.node_id) {
        OnGrantApplied(now, *g, r);
        break;
      }
      if (granting_.erase(g->task_id) == 0) break;
      if (r.accepted) {
        StartLocal(now, *r.task);
      } else {
        const Task* t = table_.Find(g->task_id);
        used_slots_ -= t != nullptr ? t->spec.slots : 1;
      }
      break;
    }
    case EntryType::kFinish:
      OnFinishApplied(entry.index, entry, r);
      break;
    case EntryType::kCancel:
      if (r.accepted && r.was_running && r.running_holder == options_.node_id && !recovering_) {
        auto it = local_.find(r.task->id);
        if (it != local_.end() && it->second.attempt == r.running_attempt) {
          it->second.killed_for = Outcome::kCancelled;
          outbox_.kills.push_back(KillProcess{r.task->id, r.running_attempt, Outcome::kCancelled});
        }
      }
      break;
    case EntryType::kRestart:
    case EntryType::kNoop:
      break;
  }

  if (auto ps = pending_steals_.find(entry.index); ps != pending_steals_.end()) {
    StealReply reply;
    reply.seq = ps->second.seq;
    reply.victim_id = options_.node_id;
    for (const auto& id : ps->second.task_ids) {
      const Task* t = table_.Find(id);
      if (t == nullptr || t->state != TaskState::kRunning || t->attempts.back().node != ps->second.thief_id) continue;
      reply.tasks.push_back(StolenTask{id, t->attempts.back().number, t->spec});
    }
    if (!recovering_) SendPeer(ps->second.thief_address, kStealReplyType, reply);
    pending_steals_.erase(ps);
  }

  auto p = pending_.find(entry.index);
  if (p == pending_.end()) return;
  PendingReply pr = std::move(p->second);
  pending_.erase(p);
  if (recovering_) return;
  if (pr.type == RequestType::kSubmit) {
    Reply(pr.to, pr.type, SubmitReply{pr.ids, pr.existing});
  } else if (r.accepted && r.task != nullptr) {
    Reply(pr.to, pr.type, StatusReply{*r.task});
  } else {
    ReplyError(pr.to, pr.type, Status::FailedPrecondition(r.reason));
  }
}

void NodeCore::StartLocal(Instant now, const Task& t) {
  const Attempt& a = t.attempts.back();
  LocalAttempt la;
  la.attempt = a.number;
  la.slots = t.spec.slots;
  if (t.spec.timeout_ms > 0) la.timeout_at = now + Duration::Millis(t.spec.timeout_ms);
  local_[t.id] = la;

  StartProcess sp;
  sp.task_id = t.id;
  sp.attempt = a.number;
  sp.spec = t.spec;
  sp.magpie_env["MAGPIE_TASK_ID"] = t.id;
  sp.magpie_env["MAGPIE_ATTEMPT"] = std::to_string(a.number);
  sp.magpie_env["MAGPIE_NODE_ID"] = options_.node_id;
  sp.magpie_env["MAGPIE_NODE"] = options_.client_address;
  if (!t.spec.name.empty()) sp.magpie_env["MAGPIE_TASK_NAME"] = t.spec.name;
  outbox_.starts.push_back(std::move(sp));
}

void NodeCore::OnExecutorEvent(Instant now, const ExecutorEvent& ev) {
  auto it = local_.find(ev.task_id);
  if (it == local_.end() || it->second.attempt != ev.attempt) {
    log_->warn("exit of {} attempt {} that this node does not run; ignored", ev.task_id, ev.attempt);
    return;
  }
  LocalAttempt la = it->second;
  local_.erase(it);
  used_slots_ -= la.slots;

  FinishEntry f;
  f.task_id = ev.task_id;
  f.attempt = ev.attempt;
  f.exit_code = ev.exit_code;
  f.signal = ev.signal;
  f.ended_ms = now.unix_millis();
  f.stdout_tail = ev.stdout_tail;
  f.stderr_tail = ev.stderr_tail;
  if (ev.kind == ExecutorEvent::Kind::kStartFailed) {
    f.outcome = Outcome::kFailed;
    f.reason = ev.error;
  } else if (la.killed_for == Outcome::kTimedOut) {
    f.outcome = Outcome::kTimedOut;
    const Task* t = table_.Find(ev.task_id);
    f.reason = "timed out after " + std::to_string(t ? t->spec.timeout_ms : 0) + " ms";
  } else if (la.killed_for == Outcome::kLost) {
    f.outcome = Outcome::kLost;
    f.reason = "node stopped while the attempt ran";
  } else if (la.killed_for != Outcome::kNone) {
    f.outcome = la.killed_for;
    f.reason = OutcomeName(la.killed_for);
  } else if (ev.signal != 0) {
    f.outcome = Outcome::kFailed;
    f.reason = "killed by signal " + std::to_string(ev.signal);
  } else if (ev.exit_code == 0) {
    f.outcome = Outcome::kSucceeded;
    f.reason = "exit 0";
  } else {
    f.outcome = Outcome::kFailed;
    f.reason = "exit " + std::to_string(ev.exit_code);
  }
  if (la.remote) {
    // Not our group: the leader decides. Report until it acknowledges.
    AttemptRef ref{f.task_id, f.attempt};
    SendPeer(la.leader_address, kFinishReportType, FinishReport{options_.node_id, f});
    remote_finishes_[ref] = RemoteFinish{la.leader_address, std::move(f), now + Duration::Seconds(1), 1};
    return;
  }
  Propose(EntryType::kFinish, EncodePayload(f));
}

void NodeCore::Stop(Instant now) {
  stopping_ = true;
  if (membership_) membership_->Leave(now);
  for (auto& [id, la] : local_) {
    if (la.killed_for == Outcome::kNone) {
      la.killed_for = Outcome::kLost;
      outbox_.kills.push_back(KillProcess{id, la.attempt, Outcome::kLost});
    }
  }
}

void NodeCore::Schedule(Instant now) {
  if (stopping_) return;
  int32_t free_slots = options_.slots - used_slots_;
  if (free_slots <= 0 && !MAGPIE_BUGGIFY_ON(grant_running_task)) return;
  auto picks = PickTasks(table_, now.unix_millis(), free_slots, options_.labels, granting_,
                         options_.max_scan_per_turn);
  if (MAGPIE_BUGGIFY_ON(grant_running_task)) {
    // The deliberate bug: a task already running here is granted a new attempt.
    for (const auto& [id, la] : local_) {
      if (granting_.count(id) == 0) {
        picks.push_back(Pick{id, la.attempt + 1, 0});
        break;
      }
    }
  }
  for (const auto& p : picks) {
    GrantEntry g;
    g.task_id = p.task_id;
    g.attempt = p.attempt;
    g.holder = options_.node_id;
    g.granted_ms = now.unix_millis();
    Propose(EntryType::kGrant, EncodePayload(g));
    granting_.insert(p.task_id);
    used_slots_ += p.slots;
  }
}

void NodeCore::EnforceTimeouts(Instant now) {
  for (auto& [id, la] : local_) {
    if (la.killed_for == Outcome::kNone && la.timeout_at <= now) {
      la.killed_for = Outcome::kTimedOut;
      outbox_.kills.push_back(KillProcess{id, la.attempt, Outcome::kTimedOut});
    }
  }
}

void NodeCore::Tick(Instant now) {
  last_now_ = std::max(last_now_, now);
  if (membership_) {
    membership_->SetLocalLoad(LocalLoad());
    membership_->Tick(now);
    // Replica groups will act on these; until then they are only logged.
    for (const auto& e : membership_->TakeEvents()) {
      // Load changes arrive every second from every peer: not worth an info line each.
      log_->log(e.type == MemberEventType::kUpdated ? spdlog::level::debug : spdlog::level::info,
                "member {} at {} {} (incarnation {})", e.id, e.address,
                MemberEventTypeName(e.type), e.incarnation);
    }
  }
  EnforceTimeouts(now);
  RenewLeases(now);
  ResendFinishes(now);
  ExpireLeases(now);
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.deadline <= now) {
      WaitReply wr;
      for (const auto& id : it->second.ids) {
        if (const Task* t = table_.Find(id)) wr.tasks.push_back(*t);
      }
      wr.all_ended = false;
      Reply(it->second.to, RequestType::kWait, wr);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  Schedule(now);
  MaybeSteal(now);
}

void NodeCore::AnswerWaiters(Instant now) {
  for (const auto& id : table_.TakeEnded()) {
    auto [lo, hi] = waiting_on_.equal_range(id);
    for (auto it = lo; it != hi;) {
      auto w = waiters_.find(it->second);
      it = waiting_on_.erase(it);
      if (w == waiters_.end()) continue;
      if (--w->second.remaining > 0) continue;
      WaitReply wr;
      wr.all_ended = true;
      for (const auto& tid : w->second.ids) {
        if (const Task* t = table_.Find(tid)) wr.tasks.push_back(*t);
      }
      Reply(w->second.to, RequestType::kWait, wr);
      waiters_.erase(w);
    }
  }
}

Instant NodeCore::NextDeadline() const {
  Instant next = Instant::Never();
  for (const auto& [id, la] : local_) {
    if (la.killed_for == Outcome::kNone) next = std::min(next, la.timeout_at);
  }
  for (const auto& [wid, w] : waiters_) next = std::min(next, w.deadline);
  if (membership_) next = std::min(next, membership_->NextDeadline());
  bool remote_running = false;
  for (const auto& [id, la] : local_) {
    if (la.remote && la.killed_for == Outcome::kNone) {
      remote_running = true;
      next = std::min(next, la.lease_base + HolderLease());
    }
  }
  if (remote_running) next = std::min(next, next_renew_at_);
  for (const auto& [ref, rf] : remote_finishes_) next = std::min(next, rf.resend_at);
  for (const auto& [id, l] : leases_) {
    if (!l.expiry_proposed) next = std::min(next, std::max(l.last_renewal + LeaderLease(), leases_valid_from_));
  }
  if (options_.stealing && !stopping_ && used_slots_ < options_.slots) {
    // Gossip with news of work wakes the loop by itself (a message); here only the
    // fallback of asking blindly, or the lost-answer timeout.
    next = std::min(next, steal_in_flight_ != 0 ? steal_sent_at_ + Duration::Seconds(1) : next_steal_at_);
  }
  if (used_slots_ < options_.slots) {
    int64_t nb = table_.NextNotBefore(last_now_.unix_millis());
    if (nb != INT64_MAX) next = std::min(next, Instant::FromMicros(nb * 1000));
  }
  return next;
}

void NodeCore::ReplyError(const ReplyTo& to, RequestType type, Status status) {
  outbox_.replies.push_back(ClientReply{to, type, ReplyFrame{to.request_id, std::move(status), {}}});
}

}  // namespace magpie
