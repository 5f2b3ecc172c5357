// NodeCore's client request handlers: validate, then either answer from the applied table
// or propose entries and answer once they are committed and applied.
#include <algorithm>

#include "base/buggify.h"
#include "node/node_core.h"
#include "node/pending_reason.h"
#include "node/schedule_plan.h"

namespace magpie {

namespace {

std::string Describe(const TaskSpec& spec, size_t index) {
  return spec.name.empty() ? "task " + std::to_string(index + 1) : "task '" + spec.name + "'";
}

}  // namespace

void NodeCore::Request(Instant now, const ReplyTo& from, const RequestFrame& frame) {
  last_now_ = std::max(last_now_, now);
  Route(now, from, frame, 0);
}

std::string NodeCore::GroupForRequest(const RequestFrame& frame) const {
  // A task id names its group; a name is looked up in the home group; a submit goes to
  // the home group.
  std::string id;
  switch (frame.type) {
    case RequestType::kStatus: {
      auto r = UnpackBody<StatusRequest>(frame.body);
      if (r.ok()) id = r->id;
      break;
    }
    case RequestType::kCancel: {
      auto r = UnpackBody<CancelRequest>(frame.body);
      if (r.ok()) id = r->id;
      break;
    }
    case RequestType::kRestart: {
      auto r = UnpackBody<RestartRequest>(frame.body);
      if (r.ok()) id = r->id;
      break;
    }
    case RequestType::kWait: {
      auto r = UnpackBody<WaitRequest>(frame.body);
      if (r.ok() && !r->ids.empty()) id = r->ids.front();
      break;
    }
    case RequestType::kSubmit: {
      // Children live in their parent's group (docs/children.md).
      auto r = UnpackBody<SubmitRequest>(frame.body);
      if (r.ok()) {
        for (const auto& spec : r->tasks) {
          if (!spec.parent.empty()) {
            id = spec.parent;
            break;
          }
        }
      }
      break;
    }
    case RequestType::kProgress: {
      auto r = UnpackBody<ProgressRequest>(frame.body);
      if (r.ok()) id = r->id;
      break;
    }
    case RequestType::kSchedule: {
      auto r = UnpackBody<ScheduleRequest>(frame.body);
      if (r.ok()) id = r->id;
      break;
    }
    default:
      break;
  }
  std::string g = IsTaskId(id) ? GroupOfTaskId(id) : "";
  return g.empty() ? options_.group_id : g;
}

void NodeCore::Route(Instant now, const ReplyTo& from, const RequestFrame& frame, int32_t hops,
                     const std::string& group_hint, bool resolve_names) {
  switch (frame.type) {
    case RequestType::kList: return HandleList(from, frame.body);
    case RequestType::kMembers: return HandleMembers(now, from);
    case RequestType::kWatch: return HandleWatch(now, from, frame.body);
    case RequestType::kLogs:
      // Output lives in files on the node that ran the attempt: the driver answers it.
      return ReplyError(from, frame.type, Status::InvalidArgument("logs are served by the driver"));
    case RequestType::kSubmit:
    case RequestType::kStatus:
    case RequestType::kWait:
    case RequestType::kCancel:
    case RequestType::kRestart:
    case RequestType::kProgress:
    case RequestType::kSchedule:
      break;
    default:
      return ReplyError(from, frame.type, Status::InvalidArgument("unknown request type"));
  }
  // Names are resolved where the request arrived: a forwarded one carries ids.
  if (resolve_names && hops == 0 && group_hint.empty() && ResolveNames(now, from, frame, hops)) return;
  // A forwarded request keeps the group its first node chose: a submit belongs to that
  // node's home group, not ours.
  const std::string group = group_hint.empty() ? GroupForRequest(frame) : group_hint;
  Replica* r = FindReplica(group);
  if (r != nullptr && r->serving && r->raft.is_leader()) return Serve(now, *r, from, frame);
  // Not ours to answer: pass it to the group's leader, or wait a little for one.
  const bool leading_soon = r != nullptr && r->raft.is_leader();
  std::string leader = leading_soon ? "" : LeaderAddress(group, "");
  if (!leader.empty() && leader != options_.client_address && hops < 3) {
    uint64_t seq = next_forward_seq_++;
    forwarded_[seq] = Forwarded{from, frame.type, now + options_.route_wait + Duration::Seconds(60)};
    if (frame.type != RequestType::kWait) forwarded_[seq].deadline = now + options_.route_wait * 2;
    SendPeer(leader, kForwardRequestType, ForwardRequest{seq, hops + 1, group, EncodeRequest(frame)});
    return;
  }
  if (stopping_) {
    return ReplyError(from, frame.type, Status::Unavailable("this node is stopping; ask another"));
  }
  parked_.push_back(Parked{from, frame, group, hops, now + options_.route_wait});
}

void NodeCore::RetryParked(Instant now) {
  if (parked_.empty()) return;
  std::vector<Parked> parked = std::move(parked_);
  parked_.clear();
  for (auto& p : parked) {
    Replica* r = FindReplica(p.group);
    const bool serving = r != nullptr && r->serving && r->raft.is_leader();
    std::string leader = LeaderAddress(p.group, "");
    const bool elsewhere = !leader.empty() && leader != options_.client_address;
    if (serving || elsewhere) {
      Route(now, p.to, p.frame, p.hops, p.group);
    } else if (p.deadline <= now) {
      ReplyError(p.to, p.frame.type,
                 Status::Unavailable("no leader of group " + p.group + " is known yet (its "
                                     "nodes may be down or cut off); retry"));
    } else {
      parked_.push_back(std::move(p));
    }
  }
}

void NodeCore::OnForwardRequest(Instant now, const std::string& from, const ForwardRequest& req) {
  auto frame = DecodeRequest(req.request);
  if (!frame.ok()) {
    ++dropped_peer_messages_;
    return;
  }
  ReplyTo to;
  to.request_id = frame->request_id;
  to.forward_to = from;
  to.forward_seq = req.seq;
  Route(now, to, *frame, req.hops, req.group);
}

void NodeCore::OnForwardReply(const ForwardReply& reply) {
  auto it = forwarded_.find(reply.seq);
  if (it == forwarded_.end()) return;  // answered already (timed out)
  auto frame = DecodeReply(reply.reply);
  Forwarded f = std::move(it->second);
  forwarded_.erase(it);
  if (!frame.ok()) {
    return ReplyError(f.to, f.type, Status::Corruption("the leader's answer was unreadable: " +
                                                     frame.status().message()));
  }
  frame->request_id = f.to.request_id;
  SendReply(f.to, f.type, std::move(*frame));
}

bool NodeCore::KnownGroup(const std::string& group) const {
  if (FindReplica(group) != nullptr) return true;
  // Led elsewhere, by gossip's hints (a hint naming our own address is stale: this node
  // holds no replica of the group, so it came from an earlier life of this address).
  const std::string leader = LeaderAddress(group, "");
  return !leader.empty() && leader != options_.client_address;
}

void NodeCore::Serve(Instant now, Replica& r, const ReplyTo& from, const RequestFrame& frame) {
  switch (frame.type) {
    case RequestType::kSubmit: return HandleSubmit(now, r, from, frame.body);
    case RequestType::kStatus: return HandleStatus(r, from, frame.body);
    case RequestType::kWait: return HandleWait(now, r, from, frame.body);
    case RequestType::kCancel: return HandleCancel(now, r, from, frame.body);
    case RequestType::kRestart: return HandleRestart(now, r, from, frame.body);
    case RequestType::kProgress: return HandleProgress(now, r, from, frame.body);
    case RequestType::kSchedule: return HandleSchedule(now, r, from, frame.body);
    default: return ReplyError(from, frame.type, Status::InvalidArgument("not a group request"));
  }
}

void NodeCore::HandleSubmit(Instant now, Replica& r, const ReplyTo& from, const std::string& body) {
  constexpr RequestType kType = RequestType::kSubmit;
  auto req = UnpackBody<SubmitRequest>(body);
  if (!req.ok()) return ReplyError(from, kType, req.status());
  const auto& specs = req->tasks;
  if (specs.empty()) return ReplyError(from, kType, Status::InvalidArgument("no tasks to submit"));
  if (specs.size() > kMaxTasksPerSubmit) {
    return ReplyError(from, kType,
                      Status::InvalidArgument(std::to_string(specs.size()) +
                                              " tasks in one submit; the limit is " +
                                              std::to_string(kMaxTasksPerSubmit)));
  }

  std::map<std::string, size_t> batch_names;
  for (size_t i = 0; i < specs.size(); ++i) {
    std::string err = ValidateSpec(specs[i]);
    if (!err.empty()) {
      return ReplyError(from, kType, Status::InvalidArgument(Describe(specs[i], i) + ": " + err));
    }
    if (!specs[i].name.empty() && !batch_names.emplace(specs[i].name, i).second) {
      return ReplyError(from, kType, Status::InvalidArgument("two tasks are named '" +
                                                             specs[i].name + "'"));
    }
    if (specs[i].is_schedule()) {
      if (Status s = CheckScheduleSpec(specs[i].schedule); !s.ok()) {
        return ReplyError(from, kType, Status::InvalidArgument(Describe(specs[i], i) + ": " + s.message()));
      }
    }
    if (!specs[i].parent.empty()) {
      const Task* parent = r.table.Find(specs[i].parent);
      if (parent == nullptr) {
        return ReplyError(from, kType,
                          Status::NotFound(Describe(specs[i], i) + ": parent '" + specs[i].parent +
                                           "' is not a task of group " + r.group +
                                           " (children are submitted to their parent's group)"));
      }
      if (std::string why = r.table.ChildrenRefusedBy(*parent); !why.empty()) {
        return ReplyError(from, kType, Status::FailedPrecondition(Describe(specs[i], i) + ": " + why));
      }
    }
  }

  // Ids: an idempotency key seen before gives its task back instead of a new one.
  std::vector<std::string> ids(specs.size());
  std::vector<bool> existing(specs.size(), false);
  std::vector<uint64_t> seqs(specs.size(), 0);
  std::map<std::string, size_t> batch_keys;
  uint64_t seq = r.next_seq;
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string& key = specs[i].idempotency_key;
    if (!key.empty()) {
      if (const Task* t = r.table.FindByIdempotencyKey(key)) {
        ids[i] = t->id;
        existing[i] = true;
        continue;
      }
      if (auto it = r.inflight_keys.find(key); it != r.inflight_keys.end()) {
        ids[i] = it->second;
        existing[i] = true;
        continue;
      }
      if (auto it = batch_keys.find(key); it != batch_keys.end()) {
        ids[i] = ids[it->second];
        existing[i] = true;
        continue;
      }
      batch_keys[key] = i;
    }
    seqs[i] = seq++;
    ids[i] = r.group + "-" + std::to_string(seqs[i]);
  }

  // Resolve `after`: a name in this request, an id, or an existing task's name.
  std::vector<std::vector<std::string>> after(specs.size());
  std::vector<std::vector<size_t>> batch_deps(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    if (existing[i]) continue;
    for (const auto& a : specs[i].after) {
      if (auto it = batch_names.find(a); it != batch_names.end()) {
        if (it->second == i) {
          return ReplyError(from, kType, Status::InvalidArgument(Describe(specs[i], i) +
                                                                 " waits on itself"));
        }
        after[i].push_back(ids[it->second]);
        if (!existing[it->second]) batch_deps[i].push_back(it->second);
      } else if (const Task* up = r.table.Find(a); up != nullptr && up->spec.is_schedule()) {
        return ReplyError(from, kType,
                          Status::InvalidArgument(Describe(specs[i], i) + " waits on '" + a +
                                                  "', a schedule: it never ends; wait on one of "
                                                  "its runs instead"));
      } else if (r.table.Find(a) != nullptr || r.inflight_ids.count(a) != 0) {
        after[i].push_back(a);
      } else if (const Task* t = r.table.FindByName(a)) {
        after[i].push_back(t->id);
      } else if (auto n = r.inflight_names.find(a); n != r.inflight_names.end()) {
        after[i].push_back(n->second);
      } else if (std::string g = GroupOfTaskId(a);
                 !g.empty() && g != r.group && KnownGroup(g)) {
        // A task of another group that some node leads now: its outcome reaches this group
        // later (cross-group after). A group nobody leads (every replica lost) is refused
        // below like an unknown id, rather than leave the task waiting forever.
        after[i].push_back(a);
      } else {
        return ReplyError(from, kType,
                          Status::NotFound(Describe(specs[i], i) + " waits on '" + a +
                                           "', which is neither a task id nor a task name"));
      }
    }
  }

  // Order new tasks so each comes after the tasks of this request it waits on; what
  // cannot be ordered is a cycle.
  std::vector<int> indegree(specs.size(), 0);
  std::vector<std::vector<size_t>> downstream(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    for (size_t d : batch_deps[i]) {
      ++indegree[i];
      downstream[d].push_back(i);
    }
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!existing[i] && indegree[i] == 0) order.push_back(i);
  }
  for (size_t k = 0; k < order.size(); ++k) {
    for (size_t d : downstream[order[k]]) {
      if (--indegree[d] == 0) order.push_back(d);
    }
  }
  size_t fresh = std::count(existing.begin(), existing.end(), false);
  if (order.size() != fresh) {
    std::string names;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (!existing[i] && indegree[i] > 0) names += (names.empty() ? "" : ", ") + Describe(specs[i], i);
    }
    return ReplyError(from, kType,
                      Status::InvalidArgument("the tasks' `after` form a cycle among: " + names));
  }

  if (req->dry_run) return Reply(from, kType, SubmitReply{ids, existing});
  {
    std::vector<const TaskSpec*> new_specs;
    for (size_t i = 0; i < specs.size(); ++i) {
      if (!existing[i]) new_specs.push_back(&specs[i]);
    }
    if (Status admitted = Admit(new_specs); !admitted.ok()) return ReplyError(from, kType, admitted);
  }
  if (fresh == 0) {
    // Every task matched by key; if one of them only matched a proposal still in flight,
    // its id is not committed yet (a leader change can still lose it): answering now
    // would acknowledge it before a quorum has it.
    for (size_t i = 0; i < specs.size(); ++i) {
      if (r.inflight_ids.count(ids[i]) != 0) {
        return ReplyError(from, kType,
                          Status::Unavailable("an earlier copy of this submit is still being "
                                              "committed: retry (its idempotency keys make "
                                              "that safe)"));
      }
    }
    return Reply(from, kType, SubmitReply{ids, existing});
  }

  // The whole request is one proposal: taken whole or refused whole, so a refusal (too
  // much uncommitted work, an oversized task) leaves nothing behind that commits unanswered.
  std::vector<SubmitEntry> entries;
  std::vector<std::string> payloads;
  entries.reserve(order.size());
  payloads.reserve(order.size());
  for (size_t i : order) {
    SubmitEntry& e = entries.emplace_back();
    e.id = ids[i];
    e.seq = seqs[i];
    e.spec = specs[i];
    e.spec.after = after[i];
    e.submitted_ms = now.unix_millis();
    payloads.push_back(EncodePayload(e));
  }
  auto last = r.raft.ProposeAll(now, EntryType::kSubmit, std::move(payloads));
  if (!last.ok()) return ReplyError(from, kType, last.status());
  r.next_seq = seq;
  for (const SubmitEntry& e : entries) {
    r.inflight_ids.insert(e.id);
    if (!e.spec.name.empty()) r.inflight_names[e.spec.name] = e.id;
    if (!e.spec.idempotency_key.empty()) r.inflight_keys[e.spec.idempotency_key] = e.id;
  }
  GrantBehindSubmit(now, r, entries);
  if (MAGPIE_BUGGIFY_ON(ack_before_durable)) {
    return Reply(from, kType, SubmitReply{std::move(ids), std::move(existing)});
  }
  r.pending[*last] = Proposed<PendingReply>{r.raft.term(), PendingReply{from, kType, std::move(ids), std::move(existing)}};
}

Status NodeCore::Admit(const std::vector<const TaskSpec*>& new_specs) const {
  if (new_specs.empty()) return Status::Ok();
  uint64_t queued = 0;
  for (const auto& [g, rp] : replicas_) {
    if (rp->raft.is_leader()) queued += rp->table.Unfinished() + rp->inflight_ids.size();
  }
  const uint64_t max = options_.max_queued_tasks;
  if (max > 0 && queued + new_specs.size() > max) {
    return Status::Busy("node " + options_.node_id + " has " + std::to_string(queued) +
                               " unfinished tasks queued and takes at most " + std::to_string(max) +
                               " (--max-queued): submit fewer, later, or to another node" +
                               LessLoadedHint());
  }
  const uint64_t per = options_.max_queued_per_submitter;
  if (per == 0) return Status::Ok();
  std::map<std::string, uint64_t> adding;
  for (const TaskSpec* s : new_specs) ++adding[s->submitted_by];
  for (const auto& [who, n] : adding) {
    uint64_t theirs = 0;
    for (const auto& [g, rp] : replicas_) {
      if (rp->raft.is_leader()) theirs += rp->table.UnfinishedOf(who);
    }
    if (theirs + n > per) {
      return Status::Busy("submitter '" + (who.empty() ? std::string("(unnamed)") : who) +
                                 "' has " + std::to_string(theirs) + " unfinished tasks on node " +
                                 options_.node_id + ", which takes at most " + std::to_string(per) +
                                 " per submitter (--max-queued-per-submitter): wait for some to "
                                 "finish" + LessLoadedHint());
    }
  }
  return Status::Ok();
}

std::string NodeCore::LessLoadedHint() const {
  if (membership_ == nullptr) return "";
  std::string best_id, best_address;
  double best = 0;
  for (size_t i = 0; i < membership_->NumAliveOthers(); ++i) {
    const MemberView v = membership_->AliveOther(i, last_now_);
    const double load = static_cast<double>(v.load.ready + v.load.running) / std::max(1, v.load.slots);
    if (best_id.empty() || load < best || (load == best && v.id < best_id)) {
      best = load;
      best_id = v.id;
      best_address = v.address;
    }
  }
  if (best_id.empty()) return "";
  return "; node " + best_id + " (" + best_address + " among peers) is the least loaded member gossip shows";
}

void NodeCore::HandleStatus(Replica& r, const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<StatusRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kStatus, req.status());
  const Task* t = r.table.Lookup(req->id);
  if (t == nullptr) {
    return ReplyError(from, RequestType::kStatus,
                      Status::NotFound("no task with id or name '" + req->id + "'"));
  }
  PendingContext ctx;
  ctx.now_ms = last_now_.unix_millis();
  for (const auto& m : membership_->Members(last_now_)) {
    if (m.state == MemberState::kAlive || m.state == MemberState::kSuspect) ctx.live.push_back(m);
  }
  if (const Attempt* a = t->current_attempt(); a != nullptr && t->state == TaskState::kAssigned) {
    ctx.holder_address = AddressOf(a->node);
  }
  Reply(from, RequestType::kStatus, StatusReply{*t, PendingReason(r.table, *t, ctx)});
}

void NodeCore::HandleList(const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<ListRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kList, req.status());
  std::optional<TaskState> state;
  if (!req->state.empty()) {
    state = ParseTaskState(req->state);
    if (!state) {
      return ReplyError(from, RequestType::kList,
                        Status::InvalidArgument("unknown state '" + req->state + "' (" +
                                                TaskStateNames() + ")"));
    }
  }
  // Every group this node holds a replica of, in group order then submission order: with
  // R members per group that is the whole cluster up to R nodes, and this node's share
  // beyond (docs/replication.md). Followers' tables may trail their leader's by a moment.
  std::string after_group;
  uint64_t after_seq = 0;
  if (!req->after_id.empty()) {
    after_group = GroupOfTaskId(req->after_id);
    const Replica* ar = FindReplica(after_group);
    const Task* t = ar != nullptr ? ar->table.Find(req->after_id) : nullptr;
    if (t == nullptr) {
      return ReplyError(from, RequestType::kList,
                        Status::NotFound("no task '" + req->after_id + "' to list after"));
    }
    after_seq = t->seq;
  }
  uint32_t limit = std::clamp<uint32_t>(req->limit, 1, 10000);
  ListReply reply;
  size_t scanned = 0;
  for (const auto& [g, r] : replicas_) {
    if (!after_group.empty() && g < after_group) continue;
    // What a node says is true (DESIGN §1): a replica out of touch with its group's
    // leaders for longer than an ordinary failover takes (a leader is elected within two
    // election timeouts) is left out, and said to be, rather than shown as the present.
    if (!r->raft.HeardFromLeader(last_now_, options_.election_timeout.Scaled(5, 1))) {
      reply.groups_left_out.push_back(g);
      continue;
    }
    bool more = true;
    auto visit = [&](const Task& t) {
      if (state && t.state != *state) return more = ++scanned < 1000000;
      if (t.submitted_ms < req->since_ms) return more = ++scanned < 1000000;
      if (reply.tasks.size() == limit) {
        reply.truncated = true;
        return more = false;
      }
      reply.tasks.push_back(t);
      return true;
    };
    const uint64_t from_seq = g == after_group ? after_seq : 0;
    // Tasks not ended are always in memory; ended ones are read back from disk.
    if (state && !IsEnded(*state)) {
      r->table.ForEachResidentBySeq(from_seq, visit);
    } else {
      r->table.ForEachBySeq(from_seq, visit);
    }
    if (!more) break;
  }
  Reply(from, RequestType::kList, reply);
}

void NodeCore::HandleWait(Instant now, Replica& r, const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<WaitRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kWait, req.status());
  if (req->ids.empty() || req->ids.size() > 100000) {
    return ReplyError(from, RequestType::kWait,
                      Status::InvalidArgument("wait needs between 1 and 100000 task ids"));
  }
  Waiter w;
  w.to = from;
  w.group = r.group;
  for (const auto& id : req->ids) {
    const Task* t = r.table.Lookup(id);
    if (t == nullptr) {
      return ReplyError(from, RequestType::kWait,
                        Status::NotFound("no task with id or name '" + id + "'"));
    }
    w.ids.push_back(t->id);
    if (!IsEnded(t->state)) ++w.remaining;
  }
  if (w.remaining == 0) {
    return SendReply(from, RequestType::kWait, ReplyFrame{from.request_id, Status::Ok(), PackWaitReply(r, w.ids, true)});
  }
  w.deadline = now + Duration::Millis(std::clamp<int64_t>(req->timeout_ms, 0, 60000));
  uint64_t wid = next_waiter_++;
  for (const auto& id : w.ids) {
    if (!IsEnded(r.table.Find(id)->state)) waiting_on_.emplace(id, wid);
  }
  waiters_[wid] = std::move(w);
}

void NodeCore::HandleProgress(Instant now, Replica& r, const ReplyTo& from, const std::string& body) {
  constexpr RequestType kType = RequestType::kProgress;
  auto req = UnpackBody<ProgressRequest>(body);
  if (!req.ok()) return ReplyError(from, kType, req.status());
  if (req->percent < 0 || req->percent > 100) {
    return ReplyError(from, kType, Status::InvalidArgument("progress is a percentage from 0 to 100, not " +
                                                           std::to_string(req->percent)));
  }
  if (req->message.size() > kMaxProgressMessageBytes) {
    return ReplyError(from, kType, Status::InvalidArgument("a progress message may be at most " +
                                                           std::to_string(kMaxProgressMessageBytes) +
                                                           " bytes"));
  }
  const Task* t = r.table.Find(req->id);
  if (t == nullptr) {
    return ReplyError(from, kType, Status::NotFound("no task with id '" + req->id + "'"));
  }
  const Attempt* cur = t->current_attempt();
  if (!HoldsGrant(t->state) || cur == nullptr || cur->number != req->attempt ||
      cur->outcome != Outcome::kNone) {
    return ReplyError(from, kType,
                      Status::FailedPrecondition("attempt " + std::to_string(req->attempt) + " of " +
                                                 t->id + " is not running (the task is " +
                                                 TaskStateName(t->state) + ")"));
  }
  ProgressEntry e{t->id, req->attempt, req->percent, req->message, now.unix_millis()};
  auto idx = Propose(r, EntryType::kProgress, EncodePayload(e));
  if (!idx.ok()) return ReplyError(from, kType, idx.status());
  r.pending[*idx] = Proposed<PendingReply>{r.raft.term(), PendingReply{from, kType, {t->id}, {}}};
}

void NodeCore::HandleCancel(Instant now, Replica& r, const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<CancelRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kCancel, req.status());
  const Task* t = r.table.Lookup(req->id);
  if (t == nullptr) {
    return ReplyError(from, RequestType::kCancel,
                      Status::NotFound("no task with id or name '" + req->id + "'"));
  }
  if (IsEnded(t->state)) {
    return ReplyError(from, RequestType::kCancel,
                      Status::FailedPrecondition("task " + t->id + " already " +
                                                 TaskStateName(t->state)));
  }
  auto idx = Propose(r, EntryType::kCancel, EncodePayload(CancelEntry{t->id, now.unix_millis()}));
  if (!idx.ok()) return ReplyError(from, RequestType::kCancel, idx.status());
  r.pending[*idx] = Proposed<PendingReply>{r.raft.term(), PendingReply{from, RequestType::kCancel, {t->id}, {}}};
}

void NodeCore::HandleRestart(Instant now, Replica& r, const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<RestartRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kRestart, req.status());
  const Task* t = r.table.Lookup(req->id);
  if (t == nullptr) {
    return ReplyError(from, RequestType::kRestart,
                      Status::NotFound("no task with id or name '" + req->id + "'"));
  }
  if (!IsEnded(t->state)) {
    return ReplyError(from, RequestType::kRestart,
                      Status::FailedPrecondition("task " + t->id + " is " +
                                                 TaskStateName(t->state) +
                                                 "; only an ended task can be restarted"));
  }
  if (!t->attempts.empty() && t->attempts.back().outcome == Outcome::kNone) {
    return ReplyError(from, RequestType::kRestart,
                      Status::FailedPrecondition("attempt " + std::to_string(t->attempts.back().number) +
                                                 " of " + t->id + " is still being stopped; restart "
                                                 "it once it has ended"));
  }
  if (t->state == TaskState::kBlocked) {
    return ReplyError(from, RequestType::kRestart,
                      Status::FailedPrecondition("task " + t->id + " is blocked by " +
                                                 t->blocked_by + "; restart that one instead"));
  }
  auto idx = Propose(r, EntryType::kRestart, EncodePayload(RestartEntry{t->id, now.unix_millis()}));
  if (!idx.ok()) return ReplyError(from, RequestType::kRestart, idx.status());
  r.pending[*idx] = Proposed<PendingReply>{r.raft.term(), PendingReply{from, RequestType::kRestart, {t->id}, {}}};
}

void NodeCore::HandleMembers(Instant now, const ReplyTo& from) {
  MembersReply reply;
  for (const auto& m : membership_->Members(now)) {
    MemberInfo info;
    info.id = m.id;
    info.address = m.address;
    info.state = MemberStateName(m.state);
    info.incarnation = m.incarnation;
    info.slots = m.load.slots;
    info.running = m.load.running;
    info.ready = m.load.ready;
    info.labels = m.load.labels;
    info.age_ms = m.age_ms;
    info.stolen = m.load.stolen;
    info.given = m.load.given;
    reply.members.push_back(std::move(info));
  }
  Reply(from, RequestType::kMembers, reply);
}

}  // namespace magpie
