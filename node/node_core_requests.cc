// NodeCore's client request handlers: validate, then either answer from the applied table
// or propose entries and answer once they are committed and applied.
#include <algorithm>

#include "base/buggify.h"
#include "node/node_core.h"

namespace magpie {

namespace {

std::string Describe(const TaskSpec& spec, size_t index) {
  return spec.name.empty() ? "task " + std::to_string(index + 1) : "task '" + spec.name + "'";
}

}  // namespace

void NodeCore::Request(Instant now, const ReplyTo& from, const RequestFrame& frame) {
  last_now_ = std::max(last_now_, now);
  switch (frame.type) {
    case RequestType::kSubmit: return HandleSubmit(now, from, frame.body);
    case RequestType::kStatus: return HandleStatus(from, frame.body);
    case RequestType::kList: return HandleList(from, frame.body);
    case RequestType::kWait: return HandleWait(now, from, frame.body);
    case RequestType::kCancel: return HandleCancel(now, from, frame.body);
    case RequestType::kRestart: return HandleRestart(now, from, frame.body);
    case RequestType::kMembers: return HandleMembers(now, from);
    case RequestType::kLogs:
      // Output lives in files on the node that ran the attempt: the driver answers it.
      return ReplyError(from, frame.type, Status::InvalidArgument("logs are served by the driver"));
  }
  ReplyError(from, frame.type, Status::InvalidArgument("unknown request type"));
}

void NodeCore::HandleSubmit(Instant now, const ReplyTo& from, const std::string& body) {
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
  }

  // Ids: an idempotency key seen before gives its task back instead of a new one.
  std::vector<std::string> ids(specs.size());
  std::vector<bool> existing(specs.size(), false);
  std::vector<uint64_t> seqs(specs.size(), 0);
  std::map<std::string, size_t> batch_keys;
  uint64_t seq = next_seq_;
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string& key = specs[i].idempotency_key;
    if (!key.empty()) {
      if (const Task* t = table_.FindByIdempotencyKey(key)) {
        ids[i] = t->id;
        existing[i] = true;
        continue;
      }
      if (auto it = inflight_keys_.find(key); it != inflight_keys_.end()) {
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
    ids[i] = options_.group_id + "-" + std::to_string(seqs[i]);
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
      } else if (table_.Find(a) != nullptr || inflight_ids_.count(a) != 0) {
        after[i].push_back(a);
      } else if (const Task* t = table_.FindByName(a)) {
        after[i].push_back(t->id);
      } else if (auto n = inflight_names_.find(a); n != inflight_names_.end()) {
        after[i].push_back(n->second);
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
  if (fresh == 0) return Reply(from, kType, SubmitReply{ids, existing});

  next_seq_ = seq;
  uint64_t last = 0;
  for (size_t i : order) {
    SubmitEntry e;
    e.id = ids[i];
    e.seq = seqs[i];
    e.spec = specs[i];
    e.spec.after = after[i];
    e.submitted_ms = now.unix_millis();
    inflight_ids_.insert(e.id);
    if (!e.spec.name.empty()) inflight_names_[e.spec.name] = e.id;
    if (!e.spec.idempotency_key.empty()) inflight_keys_[e.spec.idempotency_key] = e.id;
    last = Propose(EntryType::kSubmit, EncodePayload(e));
  }
  if (MAGPIE_BUGGIFY_ON(ack_before_durable)) {
    return Reply(from, kType, SubmitReply{std::move(ids), std::move(existing)});
  }
  pending_[last] = PendingReply{from, kType, std::move(ids), std::move(existing)};
}

void NodeCore::HandleStatus(const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<StatusRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kStatus, req.status());
  const Task* t = table_.Lookup(req->id);
  if (t == nullptr) {
    return ReplyError(from, RequestType::kStatus,
                      Status::NotFound("no task with id or name '" + req->id + "'"));
  }
  Reply(from, RequestType::kStatus, StatusReply{*t});
}

void NodeCore::HandleList(const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<ListRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kList, req.status());
  std::optional<TaskState> state;
  if (!req->state.empty()) {
    state = ParseTaskState(req->state);
    if (!state) {
      return ReplyError(from, RequestType::kList,
                        Status::InvalidArgument("unknown state '" + req->state +
                                                "' (pending, ready, running, succeeded, failed, "
                                                "cancelled, blocked)"));
    }
  }
  uint64_t after_seq = 0;
  if (!req->after_id.empty()) {
    const Task* t = table_.Find(req->after_id);
    if (t == nullptr) {
      return ReplyError(from, RequestType::kList,
                        Status::NotFound("no task '" + req->after_id + "' to list after"));
    }
    after_seq = t->seq;
  }
  uint32_t limit = std::clamp<uint32_t>(req->limit, 1, 10000);
  ListReply reply;
  size_t scanned = 0;
  table_.ForEachBySeq(after_seq, [&](const Task& t) {
    if (state && t.state != *state) return ++scanned < 1000000;
    if (t.submitted_ms < req->since_ms) return ++scanned < 1000000;
    if (reply.tasks.size() == limit) {
      reply.truncated = true;
      return false;
    }
    reply.tasks.push_back(t);
    return true;
  });
  Reply(from, RequestType::kList, reply);
}

void NodeCore::HandleWait(Instant now, const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<WaitRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kWait, req.status());
  if (req->ids.empty() || req->ids.size() > 100000) {
    return ReplyError(from, RequestType::kWait,
                      Status::InvalidArgument("wait needs between 1 and 100000 task ids"));
  }
  Waiter w;
  w.to = from;
  for (const auto& id : req->ids) {
    const Task* t = table_.Lookup(id);
    if (t == nullptr) {
      return ReplyError(from, RequestType::kWait,
                        Status::NotFound("no task with id or name '" + id + "'"));
    }
    w.ids.push_back(t->id);
    if (!IsEnded(t->state)) ++w.remaining;
  }
  if (w.remaining == 0) {
    WaitReply wr;
    wr.all_ended = true;
    for (const auto& id : w.ids) wr.tasks.push_back(*table_.Find(id));
    return Reply(from, RequestType::kWait, wr);
  }
  w.deadline = now + Duration::Millis(std::clamp<int64_t>(req->timeout_ms, 0, 60000));
  uint64_t wid = next_waiter_++;
  for (const auto& id : w.ids) {
    if (!IsEnded(table_.Find(id)->state)) waiting_on_.emplace(id, wid);
  }
  waiters_[wid] = std::move(w);
}

void NodeCore::HandleCancel(Instant now, const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<CancelRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kCancel, req.status());
  const Task* t = table_.Lookup(req->id);
  if (t == nullptr) {
    return ReplyError(from, RequestType::kCancel,
                      Status::NotFound("no task with id or name '" + req->id + "'"));
  }
  if (IsEnded(t->state)) {
    return ReplyError(from, RequestType::kCancel,
                      Status::FailedPrecondition("task " + t->id + " already " +
                                                 TaskStateName(t->state)));
  }
  uint64_t idx = Propose(EntryType::kCancel, EncodePayload(CancelEntry{t->id, now.unix_millis()}));
  pending_[idx] = PendingReply{from, RequestType::kCancel, {t->id}, {}};
}

void NodeCore::HandleRestart(Instant now, const ReplyTo& from, const std::string& body) {
  auto req = UnpackBody<RestartRequest>(body);
  if (!req.ok()) return ReplyError(from, RequestType::kRestart, req.status());
  const Task* t = table_.Lookup(req->id);
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
  uint64_t idx = Propose(EntryType::kRestart, EncodePayload(RestartEntry{t->id, now.unix_millis()}));
  pending_[idx] = PendingReply{from, RequestType::kRestart, {t->id}, {}};
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
