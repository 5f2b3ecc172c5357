#include "node/node_core.h"

#include <algorithm>
#include <climits>

#include "base/buggify.h"
#include "gossip/gossip_codec.h"
#include "node/scheduler.h"

namespace magpie {

namespace {
constexpr int32_t kSigKill = 9;  // SIGKILL on Linux; the core includes no system headers
// How often a tick looks for attempts granted here that nothing runs: a lost attempt is
// reported this much later at most, and a tick no longer walks every running task.
constexpr Duration kSweepInterval = Duration::Millis(100);
}  // namespace

NodeCore::NodeCore(CoreOptions options, std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)),
      log_(std::move(logger)),
      prng_(options_.seed ^ 0x6d61677069652d73ULL),
      steal_backoff_(options_.steal_backoff_min) {}

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
  life_ = incarnation;
  // Sequence numbers that peers echo back (forwarded requests, steal requests, renewals)
  // must not repeat across lives: an answer meant for the previous life, arriving after a
  // restart, would otherwise be taken for one of ours -- a forwarded submit's reply relayed
  // to another client's request. The life in the high bits, a random salt below it
  // for a node whose disk (and so its count of lives) was wiped.
  const uint64_t base = (life_ << 40) | ((prng_.Next() & 0xFFFF) << 24);
  next_forward_seq_ = base + 1;
  next_steal_seq_ = base + 1;
  next_renew_seq_ = base + 1;
  outbox_.writes.Put(Column::kMeta, kIncarnationKey, EncodePayload(incarnation));
  persisted_incarnation_ = incarnation;
  force_sync_ = true;
  membership_ = std::make_unique<Membership>(options_.gossip, options_.node_id,
                                             options_.client_address, incarnation, options_.seed,
                                             log_);
  membership_->SetLocalLoad(LocalLoad());
  membership_->Join(now, options_.join);
  return Status::Ok();
}

void NodeCore::PersistIncarnation() {
  // Refutations raise the incarnation; a restart must start above it (membership.h). No
  // sync: if the write is lost, the restarted node refutes what it hears about itself.
  if (membership_->incarnation() <= persisted_incarnation_) return;
  persisted_incarnation_ = membership_->incarnation();
  outbox_.writes.Put(Column::kMeta, "incarnation", EncodePayload(persisted_incarnation_));
}

MemberLoad NodeCore::LocalLoad() const {
  MemberLoad load;
  load.slots = options_.slots;
  load.running = used_slots_;
  int32_t ready = 0;
  std::vector<int32_t> bands(3, 0);
  for (const auto& [g, r] : replicas_) {
    if (!r->raft.is_leader()) continue;
    load.leader_hints[g] = options_.node_id;
    ready += static_cast<int32_t>(r->table.ready_count());
    auto b = r->table.ReadyByBand();
    for (size_t i = 0; i < b.size() && i < bands.size(); ++i) bands[i] += b[i];
  }
  load.ready = ready;
  load.ready_by_band = bands;
  load.labels = options_.labels;
  load.stolen = stolen_count_;
  load.given = given_count_;
  return load;
}

const TaskTable& NodeCore::tasks() const {
  const Replica* r = FindReplica(options_.group_id);
  return r != nullptr ? r->table : empty_table_;
}

const Task* NodeCore::LookupTask(const std::string& id_or_name) const {
  if (const Replica* r = FindReplica(GroupOfTaskId(id_or_name))) {
    if (const Task* t = r->table.Find(id_or_name)) return t;
  }
  return tasks().Lookup(id_or_name);
}

bool NodeCore::stopped() const {
  return stopping_ && local_.empty() && finishes_.empty() &&
         (membership_ == nullptr || membership_->leave_done());
}

void NodeCore::Step(Instant now, const PeerMessage& message) {
  last_now_ = std::max(last_now_, now);
  const auto type = static_cast<uint8_t>(message.type);
  // Every gossip kind, including kGossipUpdate, which carries most of the dissemination.
  if (IsGossipMessage(message.type)) {
    membership_->Step(now, message);
    PersistIncarnation();
    return;
  }
  if (IsRaftPeerMessageType(message.type)) {
    StepRaft(now, message);
    return;
  }
  if ((type >= static_cast<uint8_t>(kStealRequestType) && type <= static_cast<uint8_t>(kUpstreamAnswerType)) ||
      message.type == kNameQueryType || message.type == kNameAnswerType || message.type == kTakeBackType) {
    StepSteal(now, message);
    return;
  }
  ++dropped_peer_messages_;
  log_->debug("dropped peer message of type {} from {}", static_cast<int>(type), message.from);
}

bool NodeCore::HasReady() const {
  for (const auto& [g, r] : replicas_) {
    if (r->raft.HasReady()) return true;
  }
  return !outbox_.writes.empty() || !outbox_.replies.empty() || !outbox_.messages.empty() ||
         (membership_ && membership_->HasMessages()) || !outbox_.starts.empty() ||
         !outbox_.kills.empty() || !outbox_.extends.empty() || force_sync_ ||
         !starts_to_report_.empty();
}

Ready NodeCore::TakeReady() {
  Ready rd;
  // The deliberate bug: the early submit reply leaves in a Ready of its own, before the
  // batch holding its entries, so a crash in between loses an acknowledged task.
  if (MAGPIE_BUGGIFY_ON(ack_before_durable) && !outbox_.replies.empty()) {
    rd.replies = std::move(outbox_.replies);
    outbox_.replies.clear();
    return rd;
  }
  // The processes the last Ready started have been started by now, and the ones that ended
  // at once (built-ins) have reported it: the rest are running.
  ProposeStarts();
  // Committed entries are applied here, before the batch is written: they are durable on
  // a quorum already, and their effects (replies, starts) leave only after this batch.
  for (auto& [g, r] : replicas_) {
    MAGPIE_CHECK(!r->in_ready, "TakeReady before Advance of the previous Ready");
    if (r->raft.HasReady()) TakeRaftReady(*r, rd);
  }
  rd.writes.Append(std::move(outbox_.writes));
  rd.sync = rd.sync || force_sync_;
  force_sync_ = false;
  auto move_all = [](auto& to, auto& from) {
    for (auto& x : from) to.push_back(std::move(x));
    from.clear();
  };
  move_all(rd.messages, outbox_.messages);
  move_all(rd.replies, outbox_.replies);
  move_all(rd.starts, outbox_.starts);
  move_all(rd.kills, outbox_.kills);
  move_all(rd.extends, outbox_.extends);
  if (membership_) {
    for (auto& m : membership_->TakeMessages()) rd.messages.push_back(std::move(m));
  }
  outbox_ = Ready{};
  return rd;
}

void NodeCore::Advance(Instant now) {
  last_now_ = std::max(last_now_, now);
  for (auto it = replicas_.begin(); it != replicas_.end();) {
    Replica& r = *it->second;
    if (r.in_ready) {
      r.raft.Advance(now);
      r.in_ready = false;
      // The Ready's writes are in storage now, the records it persisted among them.
      if (size_t n = r.table.EvictEnded(); n > 0) {
        log_->debug("group {}: {} ended task records left memory ({} of {} in memory)", r.group, n,
                    r.table.resident(), r.table.size());
      }
    }
    if (MAGPIE_BUGGIFY_ON(ack_before_quorum)) {
      // The deliberate bug: a submit is answered once its entries are durable here, before
      // a quorum has them; a leader lost now takes an acknowledged task with it.
      for (auto p = r.pending.begin(); p != r.pending.end();) {
        if (p->second.what.type == RequestType::kSubmit && p->first <= r.raft.durable_index()) {
          Reply(p->second.what.to, p->second.what.type, SubmitReply{p->second.what.ids, p->second.what.existing});
          p = r.pending.erase(p);
        } else {
          ++p;
        }
      }
    }
    if (r.removed) {
      it = replicas_.erase(it);
    } else {
      ++it;
    }
  }
  if (sweep_due_) {
    SweepOwnAttempts(now);
    // After a restart the replay runs over several Readies: keep sweeping until it is done.
    sweep_due_ = !replayed();
  }
  RetryParked(now);
  Schedule(now);
}

void NodeCore::OnApplied(Instant now, Replica& r, const Entry& entry, const ApplyResult& res) {
  const bool real = entry.type != EntryType::kNoop && entry.type != kRaftConfigEntryType;
  if (real && !res.accepted) log_->debug("group {} entry {} not applied: {}", r.group, entry.index, res.reason);
  switch (entry.type) {
    case EntryType::kSubmit:
      if (res.task != nullptr) {
        r.inflight_ids.erase(res.task->id);
        if (!res.task->spec.name.empty()) {
          auto it = r.inflight_names.find(res.task->spec.name);
          if (it != r.inflight_names.end() && it->second == res.task->id) r.inflight_names.erase(it);
        }
        if (!res.task->spec.idempotency_key.empty()) r.inflight_keys.erase(res.task->spec.idempotency_key);
      } else if (auto e = DecodePayload<SubmitEntry>(entry.payload); e.ok()) {
        // Refused (its id is taken): forget it as in flight, and never acknowledge the
        // request it belongs to: the client's retry gets a fresh id.
        r.inflight_ids.erase(e->id);
        if (auto it = r.inflight_names.find(e->spec.name); it != r.inflight_names.end() && it->second == e->id) {
          r.inflight_names.erase(it);
        }
        if (auto it = r.inflight_keys.find(e->spec.idempotency_key); it != r.inflight_keys.end() && it->second == e->id) {
          r.inflight_keys.erase(it);
        }
        if (auto p = r.pending.lower_bound(entry.index); p != r.pending.end() && p->second.term == entry.term) {
          p->second.what.refused = true;
        }
        log_->warn("group {}: submit of {} at index {} refused: {}", r.group, e->id, entry.index, res.reason);
      }
      break;
    case EntryType::kGrant: {
      auto g = DecodePayload<GrantEntry>(entry.payload);
      MAGPIE_CHECK(g.ok(), "grant undecodable after apply");
      if (g->holder != options_.node_id) {
        OnGrantApplied(now, r, *g, res);
        break;
      }
      auto granted = r.granting.find(g->task_id);
      if (granted == r.granting.end()) break;  // not granted by us in this life
      const int32_t slots = granted->second;
      r.granting.erase(granted);
      if (res.accepted && !stopping_) {
        StartLocal(now, r, *res.task);
      } else {
        used_slots_ -= slots;
      }
      break;
    }
    case EntryType::kFinish:
      OnFinishApplied(r, entry);
      break;
    case EntryType::kUpstream:
      if (auto u = DecodePayload<UpstreamEntry>(entry.payload); u.ok()) r.upstream_proposed.erase(u->upstream_id);
      break;
    case EntryType::kFire:
      // Decided (fired, skipped or refused): the schedule may plan its next slot.
      if (auto f = DecodePayload<FireEntry>(entry.payload); f.ok()) {
        auto p = r.fires_proposed.find(f->schedule_id);
        if (p != r.fires_proposed.end() && f->slot_ms >= p->second.second) r.fires_proposed.erase(p);
      }
      break;
    default:
      break;
  }
  // Tasks cancelled under a running attempt (by a Cancel, or with their parent): every
  // replica applies it; the one whose node runs the attempt kills it. A holder that is not
  // a replica hears it when it next renews the lease.
  for (const RunningAttemptEnded& stop : r.table.TakeAttemptsToStop()) {
    if (stop.holder != options_.node_id) continue;
    auto it = local_.find(stop.task_id);
    if (it == local_.end() || it->second.attempt != stop.attempt) continue;
    if (it->second.held) {
      DropHeld(now, stop.task_id, Outcome::kCancelled, "cancelled before it started");
    } else if (it->second.killed_for == Outcome::kNone) {
      it->second.killed_for = Outcome::kCancelled;
      outbox_.kills.push_back(KillProcess{stop.task_id, stop.attempt, Outcome::kCancelled});
    }
  }

  if (auto ps = r.pending_steals.find(entry.index); ps != r.pending_steals.end()) {
    StealReply reply;
    reply.seq = ps->second.what.seq;
    reply.victim_id = options_.node_id;
    if (entry.term == ps->second.term) {
      for (const auto& id : ps->second.what.task_ids) {
        const Task* t = r.table.Find(id);
        if (t == nullptr || !HoldsGrant(t->state) || t->attempts.back().node != ps->second.what.thief_id) continue;
        reply.tasks.push_back(StolenTask{id, t->attempts.back().number, r.table.RunSpec(*t)});
      }
    }
    if (!reply.tasks.empty()) {
      RememberStealAnswer(now, ps->second.what.thief_id, reply.seq, ps->second.what.slots);
    }
    SendPeer(ps->second.what.thief_address, kStealReplyType, reply);
    r.pending_steals.erase(ps);
  }

  auto p = r.pending.find(entry.index);
  if (p == r.pending.end()) return;
  Proposed<PendingReply> pr = std::move(p->second);
  r.pending.erase(p);
  if (entry.term != pr.term) {
    ReplyError(pr.what.to, pr.what.type,
               Status::Unavailable("the leader of group " + r.group + " changed before the "
                                   "request committed: retry"));
  } else if (pr.what.type == RequestType::kSubmit && pr.what.refused) {
    ReplyError(pr.what.to, pr.what.type,
               Status::Unavailable("a task id of this submit was taken while it committed: retry "
                                   "(its idempotency keys make that safe)"));
  } else if (pr.what.type == RequestType::kSubmit) {
    Reply(pr.what.to, pr.what.type, SubmitReply{pr.what.ids, pr.what.existing});
  } else if (res.accepted && res.task != nullptr) {
    Reply(pr.what.to, pr.what.type, StatusReply{*res.task, ""});
  } else {
    ReplyError(pr.what.to, pr.what.type, Status::FailedPrecondition(res.reason));
  }
}

void NodeCore::StartLocal(Instant now, Replica& r, const Task& t) {
  const Attempt& a = t.attempts.back();
  LocalAttempt la;
  la.group = r.group;
  la.attempt = a.number;
  la.slots = t.spec.slots;
  if (t.spec.timeout_ms > 0) la.timeout_at = now + Duration::Millis(t.spec.timeout_ms);
  // Granted by us as leader: the lease runs from our last contact with a quorum.
  la.lease_base = std::min(now, r.raft.QuorumContactSince());
  la.extended_to = la.lease_base + HolderLease();
  la.started_ms = now.unix_millis();
  local_[t.id] = la;
  starts_to_report_.push_back(AttemptRef{t.id, a.number});

  StartProcess sp;
  sp.task_id = t.id;
  sp.attempt = a.number;
  sp.spec = r.table.RunSpec(t);
  sp.magpie_env["MAGPIE_TASK_ID"] = t.id;
  sp.magpie_env["MAGPIE_ATTEMPT"] = std::to_string(a.number);
  sp.magpie_env["MAGPIE_NODE_ID"] = options_.node_id;
  sp.magpie_env["MAGPIE_NODE"] = options_.client_address;
  if (!t.spec.name.empty()) sp.magpie_env["MAGPIE_TASK_NAME"] = t.spec.name;
  sp.kill_deadline = la.extended_to;
  outbox_.starts.push_back(std::move(sp));
}

void NodeCore::OnExecutorEvent(Instant now, const ExecutorEvent& ev) {
  last_now_ = std::max(last_now_, now);
  auto it = local_.find(ev.task_id);
  if (it == local_.end() || it->second.attempt != ev.attempt) {
    log_->warn("exit of {} attempt {} that this node does not run; ignored", ev.task_id, ev.attempt);
    return;
  }
  LocalAttempt la = it->second;
  local_.erase(it);
  used_slots_ -= la.slots;
  const bool ran = ev.kind == ExecutorEvent::Kind::kExited;
  if (la.started_ms > 0 && ran) {
    const int64_t ran_ms = std::max<int64_t>(0, now.unix_millis() - la.started_ms);
    run_ms_average_ = run_ms_average_ < 0 ? ran_ms : run_ms_average_ + (ran_ms - run_ms_average_) / 8;
  }

  FinishEntry f;
  f.task_id = ev.task_id;
  f.attempt = ev.attempt;
  f.exit_code = ev.exit_code;
  f.signal = ev.signal;
  f.ended_ms = now.unix_millis();
  f.stdout_tail = ev.stdout_tail;
  f.stderr_tail = ev.stderr_tail;
  if (ran) f.started_ms = la.started_ms;
  f.stdout_bytes = ev.stdout_bytes;
  f.stderr_bytes = ev.stderr_bytes;
  if (ev.kind == ExecutorEvent::Kind::kStartFailed) {
    f.outcome = Outcome::kFailed;
    f.reason = ev.error;
  } else if (ev.kind == ExecutorEvent::Kind::kNotStarted) {
    f.outcome = Outcome::kLost;
    f.reason = ev.error;
  } else if (la.killed_for == Outcome::kTimedOut) {
    f.outcome = Outcome::kTimedOut;
    const Task* t = LookupTask(ev.task_id);
    f.reason = "timed out after " + std::to_string(t ? t->spec.timeout_ms : 0) + " ms";
  } else if (la.killed_for == Outcome::kLost) {
    f.outcome = Outcome::kLost;
    f.reason = stopping_ ? "node stopped while the attempt ran" : "the attempt's lease ran out";
  } else if (la.killed_for != Outcome::kNone) {
    f.outcome = la.killed_for;
    f.reason = OutcomeName(la.killed_for);
  } else if (ev.signal == kSigKill && la.extended_to != Instant() && now >= la.extended_to) {
    // Not ours: the watchdog kills at the deadline it was last given, when this node could
    // not renew the lease in time (it was paused, cut off, or raced it). The attempt was
    // lost, not the task's failure: it runs again without counting against max_attempts.
    f.outcome = Outcome::kLost;
    f.reason = "killed at its lease deadline: this node could not renew the lease in time";
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
  FinishLocal(now, ev.task_id, std::move(la), std::move(f));
}

void NodeCore::ProposeStarts() {
  if (starts_to_report_.empty()) return;
  std::map<std::string, std::vector<StartedAttempt>> by_group;
  for (const auto& ref : starts_to_report_) {
    auto it = local_.find(ref.task_id);
    if (it == local_.end() || it->second.attempt != ref.attempt || it->second.started_ms == 0 ||
        it->second.killed_for != Outcome::kNone) {
      continue;  // ended already: its Finish carries the start
    }
    by_group[it->second.group].push_back(StartedAttempt{ref.task_id, ref.attempt, it->second.started_ms});
  }
  starts_to_report_.clear();
  for (auto& [g, starts] : by_group) {
    Replica* r = FindReplica(g);
    // Not leading it (any more): the renewals to its leader carry the starts.
    if (r != nullptr && CanGrant(*r, last_now_)) ProposeStarted(*r, std::move(starts));
  }
}

void NodeCore::ProposeStarted(Replica& r, std::vector<StartedAttempt> starts) {
  std::vector<StartedAttempt> fresh;
  for (auto& s : starts) {
    const Task* t = r.table.Find(s.task_id);
    const Attempt* a = t != nullptr ? t->current_attempt() : nullptr;
    if (t == nullptr || t->state != TaskState::kAssigned || a == nullptr || a->number != s.attempt) continue;
    fresh.push_back(std::move(s));
  }
  if (fresh.empty()) return;
  auto idx = Propose(r, EntryType::kStarted, EncodePayload(StartedEntry{std::move(fresh)}));
  if (!idx.ok()) log_->debug("group {}: starts not proposed: {}", r.group, idx.status().ToString());
}

void NodeCore::FinishLocal(Instant now, const std::string& task_id, LocalAttempt la, FinishEntry f) {
  // The group's leader decides: ourselves (propose) or another node (report until it
  // acknowledges). SendFinishes does either, now and again until it is done.
  AttemptRef ref{task_id, f.attempt};
  PendingFinish pf;
  pf.group = la.group;
  pf.finish = std::move(f);
  pf.leader_hint = la.leader_hint;
  pf.send_at = now;
  auto [it, inserted] = finishes_.insert_or_assign(ref, std::move(pf));
  SendFinish(now, it);
}

void NodeCore::Stop(Instant now) {
  stopping_ = true;
  ExpireWatchers(now);  // a held watch is answered now, not left to its timeout
  if (membership_) membership_->Leave(now);
  // Held work goes back to its leaders at once; running work is killed and reported lost.
  std::vector<std::string> held(held_order_.begin(), held_order_.end());
  for (const auto& id : held) {
    DropHeld(now, id, Outcome::kLost, "stolen ahead but not started: the thief stopped");
  }
  for (auto& [id, la] : local_) {
    if (la.killed_for == Outcome::kNone) {
      la.killed_for = Outcome::kLost;
      outbox_.kills.push_back(KillProcess{id, la.attempt, Outcome::kLost});
    }
  }
  // Hand the groups we lead to caught-up members, so they need not wait for a timeout.
  for (auto& [g, r] : replicas_) {
    if (!r->raft.is_leader()) continue;
    for (const auto& m : r->raft.members().members) {
      if (m.id == options_.node_id || !m.voter) continue;
      if (r->raft.TransferLeadership(now, m.id).ok()) break;
    }
  }
}

void NodeCore::Schedule(Instant now) {
  if (stopping_) return;
  for (auto& [g, rp] : replicas_) FireSchedules(now, *rp);
  StartHeld(now);  // already granted to us, under a running lease: before our own
  for (auto& [g, rp] : replicas_) {
    Replica& r = *rp;
    int32_t free_slots = options_.slots - used_slots_;
    // The deliberate bug: twice the slots there are.
    if (MAGPIE_BUGGIFY_ON(overfill_slots)) free_slots += options_.slots;
    if (free_slots <= 0 && !MAGPIE_BUGGIFY_ON(grant_running_task)) return;
    if (!CanGrant(r, now)) continue;
    auto picks = PickTasks(r.table, now.unix_millis(), free_slots, options_.labels, r.granting,
                           options_.max_scan_per_turn);
    if (MAGPIE_BUGGIFY_ON(grant_running_task)) {
      // The deliberate bug: a task already running here is granted a new attempt.
      for (const auto& [id, la] : local_) {
        if (la.group == g && r.granting.count(id) == 0) {
          picks.push_back(Pick{id, la.attempt + 1, 0});
          break;
        }
      }
    }
    for (const auto& p : picks) {
      GrantEntry ge;
      ge.task_id = p.task_id;
      ge.attempt = p.attempt;
      ge.holder = options_.node_id;
      ge.holder_life = life_;
      ge.granted_ms = now.unix_millis();
      if (!Propose(r, EntryType::kGrant, EncodePayload(ge)).ok()) break;
      r.granting[p.task_id] = p.slots;
      used_slots_ += p.slots;
      if (MAGPIE_BUGGIFY_ON(start_before_commit)) {
        // The deliberate bug: the process starts on the proposal, not on the commit.
        if (const Task* t = r.table.Find(p.task_id)) {
          StartProcess sp;
          sp.task_id = p.task_id;
          sp.attempt = p.attempt;
          sp.spec = r.table.RunSpec(*t);
          outbox_.starts.push_back(std::move(sp));
        }
      }
    }
    // Slots still free here and nothing of this group ready: what other nodes hold of it
    // ahead, not started, comes back to run here.
    if (picks.empty()) TakeBackHeld(now, r, options_.slots - used_slots_, "", options_.labels);
  }
}

void NodeCore::GrantBehindSubmit(Instant now, Replica& r, const std::vector<SubmitEntry>& submitted) {
  // Only on an idle group: with tasks already waiting, Schedule picks by priority and age
  // among them. A prediction that turns out wrong (the task is not ready when its Submit
  // applies: a parent ended meanwhile, say) costs a Grant every replica refuses alike.
  if (stopping_ || MAGPIE_BUGGIFY_ON(grant_running_task) || r.table.ready_count() != 0 || !CanGrant(r, now)) return;
  int32_t free_slots = options_.slots - used_slots_;
  std::vector<const SubmitEntry*> runnable;
  for (const SubmitEntry& e : submitted) {
    // Ready on apply: no upstream, not a schedule, not a possible cache hit.
    const TaskSpec& s = e.spec;
    if (!s.after.empty() || s.is_schedule() || !s.cache_key.empty()) continue;
    if (!LabelsMatch(options_.labels, s.labels)) continue;
    runnable.push_back(&e);
  }
  // PickTasks's order: the most urgent first, then the oldest (here, log order).
  std::stable_sort(runnable.begin(), runnable.end(), [](const SubmitEntry* a, const SubmitEntry* b) {
    return a->spec.priority > b->spec.priority;
  });
  for (const SubmitEntry* e : runnable) {
    if (free_slots <= 0) break;
    if (e->spec.slots > free_slots) continue;
    GrantEntry ge;
    ge.task_id = e->id;
    ge.attempt = 1;
    ge.holder = options_.node_id;
    ge.holder_life = life_;
    ge.granted_ms = now.unix_millis();
    if (!Propose(r, EntryType::kGrant, EncodePayload(ge)).ok()) break;
    r.granting[e->id] = e->spec.slots;
    used_slots_ += e->spec.slots;
    free_slots -= e->spec.slots;
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
  for (auto& [g, r] : replicas_) {
    r->raft.Tick(now);
    // Records read back for requests since the last tick (wait, status, list) leave again.
    r->table.EvictReadBack();
  }
  if (membership_) {
    membership_->SetLocalLoad(LocalLoad());
    membership_->Tick(now);
    PersistIncarnation();
    for (const auto& e : membership_->TakeEvents()) {
      // Load changes arrive every second from every peer: not worth an info line each.
      log_->log(e.type == MemberEventType::kUpdated ? spdlog::level::debug : spdlog::level::info,
                "member {} at {} {} (incarnation {})", e.id, e.address,
                MemberEventTypeName(e.type), e.incarnation);
    }
  }
  for (auto& [g, r] : replicas_) ManageMembers(*r, now);
  EnforceTimeouts(now);
  RenewLeases(now);
  if (now >= next_sweep_at_) {
    SweepOwnAttempts(now);
    next_sweep_at_ = now + kSweepInterval;
  }
  SendFinishes(now);
  ExpireLeases(now);
  RetryParked(now);
  FinishNameLookups(now);
  PollUpstreams(now);
  for (auto it = forwarded_.begin(); it != forwarded_.end();) {
    if (it->second.deadline <= now) {
      ReplyError(it->second.to, it->second.type,
                 Status::Unavailable("the node leading the task's group did not answer in time; retry"));
      it = forwarded_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.deadline <= now) {
      WaitReply wr;
      for (const auto& id : it->second.ids) {
        if (const Task* t = LookupTask(id)) wr.tasks.push_back(*t);
      }
      wr.all_ended = false;
      Reply(it->second.to, RequestType::kWait, wr);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  ExpireWatchers(now);
  Schedule(now);
  MaybeSteal(now);
}

void NodeCore::AnswerWaiters(Replica& r) {
  for (const auto& id : TakeEndedTasks(r)) {
    auto [lo, hi] = waiting_on_.equal_range(id);
    for (auto it = lo; it != hi;) {
      auto w = waiters_.find(it->second);
      it = waiting_on_.erase(it);
      if (w == waiters_.end()) continue;
      if (--w->second.remaining > 0) continue;
      SendReply(w->second.to, RequestType::kWait,
                ReplyFrame{w->second.to.request_id, Status::Ok(), PackWaitReply(r, w->second.ids, true)});
      waiters_.erase(w);
    }
  }
}

std::string NodeCore::PackWaitReply(const Replica& r, const std::vector<std::string>& ids, bool all_ended) const {
  // WaitReply's encoding (a map: tasks, all_ended), with each record appended as the table
  // holds it: ended records that left memory are copied from disk undecoded.
  msgpack::sbuffer records;
  uint32_t n = 0;
  for (const auto& id : ids) n += r.table.AppendEncoded(id, &records) ? 1 : 0;
  msgpack::sbuffer out(records.size() + 32);
  msgpack::packer<msgpack::sbuffer> pack(out);
  pack.pack_map(2);
  pack.pack_str(5);
  pack.pack_str_body("tasks", 5);
  pack.pack_array(n);
  out.write(records.data(), records.size());
  pack.pack_str(9);
  pack.pack_str_body("all_ended", 9);
  pack.pack(all_ended);
  return std::string(out.data(), out.size());
}

Instant NodeCore::NextDeadline() const {
  Instant next = Instant::Never();
  for (const auto& [g, r] : replicas_) {
    next = std::min(next, r->raft.NextDeadline());
    if (r->serving) next = std::min(next, r->next_membership_check);
    // What only a leader in contact with its quorum does: while it is not, the deadlines
    // below would stay in the past and spin the loop; Raft's own timers and the next
    // message bring the core back.
    if (CanGrant(*r, last_now_)) {
      if (!r->table.ForeignWaits().empty()) next = std::min(next, r->next_upstream_poll);
      // A stopping node grants and fires nothing (Schedule): those deadlines would spin.
      if (!stopping_) next = std::min(next, NextScheduleDeadline(*r));
      for (const auto& [id, l] : r->leases) {
        if (!l.expiry_proposed) next = std::min(next, std::max(l.last_renewal + LeaderLease(), r->leases_valid_from));
      }
      if (!stopping_ && used_slots_ < options_.slots) {
        int64_t nb = r->table.NextNotBefore(last_now_.unix_millis());
        if (nb != INT64_MAX) next = std::min(next, Instant::FromMicros(nb * 1000));
      }
    }
  }
  for (const auto& [id, la] : local_) {
    if (la.killed_for != Outcome::kNone) continue;
    next = std::min(next, la.timeout_at);
    next = std::min(next, la.lease_base + HolderLease());
  }
  if (!local_.empty()) next = std::min(next, next_renew_at_);
  for (const auto& [wid, w] : waiters_) next = std::min(next, w.deadline);
  next = std::min(next, NextWatchDeadline());
  if (!finishes_due_.empty()) next = std::min(next, finishes_due_.begin()->first);
  for (const auto& p : parked_) next = std::min(next, std::min(p.deadline, last_now_ + Duration::Millis(50)));
  for (const auto& [seq, f] : forwarded_) next = std::min(next, f.deadline);
  next = std::min(next, name_lookups_.NextDeadline());
  if (membership_) next = std::min(next, membership_->NextDeadline());
  if (options_.stealing && !stopping_ && used_slots_ < options_.slots) {
    // Gossip with news of work wakes the loop by itself (a message); here only the
    // fallback of asking blindly, or the lost-answer timeout.
    next = std::min(next, steal_in_flight_ != 0 ? steal_sent_at_ + steal_round_trip_.Timeout() : next_steal_at_);
  }
  return next;
}

void NodeCore::ReplyError(const ReplyTo& to, RequestType type, Status status) {
  SendReply(to, type, ReplyFrame{to.request_id, std::move(status), {}});
}

void NodeCore::SendReply(const ReplyTo& to, RequestType type, ReplyFrame frame) {
  if (!to.forward_to.empty()) {
    frame.request_id = to.forward_seq;
    SendPeer(to.forward_to, kForwardReplyType, ForwardReply{to.forward_seq, EncodeReply(frame)});
    return;
  }
  outbox_.replies.push_back(ClientReply{to, type, std::move(frame)});
}

}  // namespace magpie
