#include "node/task_table.h"

#include "base/buggify.h"

#include <algorithm>
#include <charconv>
#include <climits>

namespace magpie {

int64_t BackoffMillis(int64_t base_ms, int32_t failed_attempts) {
  constexpr int64_t kMaxBackoffMs = 3600 * 1000;
  int64_t d = base_ms;
  for (int32_t i = 1; i < failed_attempts && d < kMaxBackoffMs; ++i) d *= 2;
  return std::min(d, kMaxBackoffMs);
}

void TaskTable::Load(Task task, bool in_store) {
  std::string id = task.id;
  max_seq_ = std::max(max_seq_, task.seq);
  if (!task.spec.name.empty()) {
    auto it = by_name_.find(task.spec.name);
    const Task* holder = it == by_name_.end() ? nullptr : Get(it->second);
    if (holder == nullptr || holder->seq < task.seq) by_name_[task.spec.name] = id;
  }
  if (!task.spec.idempotency_key.empty()) by_key_[task.spec.idempotency_key] = id;
  Count(task, +1);
  if (in_store && store_ != nullptr && IsEnded(task.state)) {
    // What FinishLoad indexes for an ended record, without keeping the record.
    for (const auto& up : task.spec.after) dependents_[up].insert(id);
    if (task.state == TaskState::kSucceeded) AddCacheSource(task);
    ++evicted_;
    if (id == not_stored_) not_stored_.clear();
    return;
  }
  by_seq_[task.seq] = id;
  if (IsEnded(task.state)) evict_candidates_.push_back(id);
  tasks_[id] = std::move(task);
}

uint64_t SeqOfTaskId(const std::string& id) {
  const size_t dash = id.rfind('-');
  if (dash == std::string::npos || dash + 1 >= id.size()) return 0;
  uint64_t seq = 0;
  const char* last = id.data() + id.size();
  auto [end, ec] = std::from_chars(id.data() + dash + 1, last, seq);
  return ec == std::errc() && end == last ? seq : 0;
}

Task* TaskTable::Get(const std::string& id) const {
  auto it = tasks_.find(id);
  if (it != tasks_.end()) return &it->second;
  if (store_ == nullptr || evicted_ == 0 || id == not_stored_) return nullptr;
  // Ids are made as <group>-<seq> (the leader's next seq, or a Fire's), so an id whose seq
  // is past every seq this table holds names no record: a Submit's new id is not looked
  // up on disk (that miss cost more than a tenth of a node's CPU under W1).
  if (SeqOfTaskId(id) > max_seq_) return nullptr;
  std::optional<Task> t = store_->Read(id);
  if (!t.has_value()) {
    not_stored_ = id;  // a Submit asks twice (Apply, ApplySubmit) for the new id
    return nullptr;
  }
  MAGPIE_CHECK(t->id == id && IsEnded(t->state),
               "task record " + id + " read back from the store is " + TaskStateName(t->state) +
                   " under id " + t->id + ": only ended records leave memory");
  --evicted_;
  by_seq_[t->seq] = id;
  read_back_.push_back(id);
  return &(tasks_[id] = std::move(*t));
}

Task& TaskTable::At(const std::string& id) const {
  Task* t = Get(id);
  MAGPIE_CHECK(t != nullptr, "task " + id + " is indexed but has no record");
  return *t;
}

size_t TaskTable::EvictReadBack() {
  if (!evict_candidates_.empty()) return 0;  // one of them may be read back, changed, unwritten
  return EvictEnded();
}

size_t TaskTable::EvictEnded() {
  std::vector<std::string> ids;
  ids.swap(evict_candidates_);
  ids.insert(ids.end(), read_back_.begin(), read_back_.end());
  read_back_.clear();
  if (store_ == nullptr) return 0;
  not_stored_.clear();
  size_t n = 0;
  for (const auto& id : ids) {
    auto it = tasks_.find(id);
    if (it == tasks_.end() || !IsEnded(it->second.state)) continue;
    // Changed since it was written: TakeDirty makes it a candidate again when it is.
    if (dirty_.count(id) != 0) continue;
    by_seq_.erase(it->second.seq);
    tasks_.erase(it);
    ++evicted_;
    ++n;
  }
  return n;
}

void TaskTable::ForEachBySeq(uint64_t after_seq, const std::function<bool(const Task&)>& visit) const {
  if (store_ == nullptr || evicted_ == 0) {
    for (auto it = by_seq_.upper_bound(after_seq); it != by_seq_.end(); ++it) {
      if (!visit(tasks_.at(it->second))) return;
    }
    return;
  }
  // The records not in memory, by seq (from the id: ids are <group>-<seq>, so nothing is
  // decoded to order them); each is read back as it is visited, so a listing holds one at
  // a time. Both lists are taken first: a visit may read records back.
  std::vector<std::pair<uint64_t, std::string>> stored;
  store_->ForEachId([&](const std::string& id) {
    const uint64_t seq = SeqOfTaskId(id);
    if (seq > after_seq && tasks_.count(id) == 0) stored.emplace_back(seq, id);
    return true;
  });
  std::sort(stored.begin(), stored.end());
  std::vector<std::pair<uint64_t, std::string>> resident(by_seq_.upper_bound(after_seq), by_seq_.end());
  size_t i = 0, j = 0;
  while (i < resident.size() || j < stored.size()) {
    const bool take_resident = j == stored.size() || (i < resident.size() && resident[i].first < stored[j].first);
    const std::string& id = take_resident ? resident[i++].second : stored[j++].second;
    auto it = tasks_.find(id);
    if (it != tasks_.end()) {
      if (!visit(it->second)) return;
    } else if (std::optional<Task> t = store_->Read(id)) {
      if (!visit(*t)) return;
    }
  }
}

void TaskTable::Clear() {
  tasks_.clear();
  by_seq_.clear();
  evicted_ = 0;
  max_seq_ = 0;
  evict_candidates_.clear();
  read_back_.clear();
  not_stored_.clear();
  by_name_.clear();
  by_key_.clear();
  cache_sources_.clear();
  dependents_.clear();
  unmet_.clear();
  foreign_waits_.clear();
  ready_.clear();
  backoff_.clear();
  running_.clear();
  dirty_.clear();
  ended_.clear();
  for (auto& c : state_counts_) c = 0;
  unfinished_by_submitter_.clear();
  for (auto& c : ready_by_band_) c = 0;
  stale_finishes_ = 0;
  parents_to_check_.clear();
  attempts_to_stop_.clear();
  schedules_.clear();
}

void TaskTable::FinishLoad() {
  // The records loaded, taken first: indexing may read ended ones back into tasks_.
  std::vector<Task*> loaded;
  for (auto& [id, t] : tasks_) loaded.push_back(&t);
  for (Task* tp : loaded) {
    Task& t = *tp;
    const std::string& id = t.id;
    if (HoldsGrant(t.state)) running_.insert(id);
    for (const auto& up : t.spec.after) dependents_[up].insert(id);
    if (t.state == TaskState::kReady) {
      ready_.insert(KeyOf(t));
      ready_by_band_[BandOf(t.spec.priority)]++;
      if (t.not_before_ms > 0) backoff_.insert({t.not_before_ms, t.id});
    }
    if (t.state == TaskState::kPending) unmet_[id] = CountUnmet(t);
    if (t.state == TaskState::kSucceeded) AddCacheSource(t);
    if (t.state == TaskState::kScheduled) schedules_.insert(id);
  }
}

void TaskTable::AddCacheSource(const Task& t) {
  if (t.spec.cache_key.empty() || !t.cached_from.empty()) return;
  cache_sources_[t.spec.cache_key].insert({t.finished_ms, t.seq, t.id});
}

void TaskTable::RemoveCacheSource(const Task& t) {
  auto it = cache_sources_.find(t.spec.cache_key);
  if (it == cache_sources_.end()) return;
  it->second.erase({t.finished_ms, t.seq, t.id});
  if (it->second.empty()) cache_sources_.erase(it);
}

const Task* TaskTable::CacheHitFor(const Task& t) const {
  if (t.spec.cache_key.empty() || !t.spec.after.empty()) return nullptr;
  auto it = cache_sources_.find(t.spec.cache_key);
  if (it == cache_sources_.end()) return nullptr;
  const auto& [finished_ms, seq, id] = *it->second.rbegin();
  if (finished_ms < t.submitted_ms - kCacheTtlMs) return nullptr;
  return Find(id);
}

int TaskTable::CountUnmet(const Task& t) {
  int unmet = 0;
  for (const auto& up : t.spec.after) {
    if (IsForeign(t, up) && MAGPIE_BUGGIFY_ON(foreign_upstream_met_at_once)) continue;
    if (IsForeign(t, up)) {
      if (std::find(t.met_upstreams.begin(), t.met_upstreams.end(), up) == t.met_upstreams.end()) {
        foreign_waits_[up].insert(t.id);
        ++unmet;
      }
      continue;
    }
    const Task* u = Find(up);
    if (u != nullptr && u->state == TaskState::kRunning && MAGPIE_BUGGIFY_ON(after_running_is_enough)) continue;
    if (u == nullptr || u->state != TaskState::kSucceeded) ++unmet;
  }
  return unmet;
}

const Task* TaskTable::Find(const std::string& id) const { return Get(id); }

bool TaskTable::AppendEncoded(const std::string& id, msgpack::sbuffer* out) const {
  if (auto it = tasks_.find(id); it != tasks_.end()) {
    msgpack::pack(*out, it->second);
    return true;
  }
  if (store_ == nullptr || evicted_ == 0 || SeqOfTaskId(id) > max_seq_) return false;
  std::optional<std::string> stored = store_->ReadEncoded(id);
  if (!stored.has_value()) return false;
  out->write(stored->data(), stored->size());
  return true;
}

const Task* TaskTable::FindByName(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : Find(it->second);
}

const Task* TaskTable::FindByIdempotencyKey(const std::string& key) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() ? nullptr : Find(it->second);
}

const Task* TaskTable::Lookup(const std::string& id_or_name) const {
  const Task* t = Find(id_or_name);
  return t != nullptr ? t : FindByName(id_or_name);
}

int64_t TaskTable::NextNotBefore(int64_t now_ms) const {
  auto it = backoff_.upper_bound({now_ms, std::string(1, '\xff')});
  return it == backoff_.end() ? INT64_MAX : it->first;
}

std::vector<std::string> TaskTable::TakeDirty() {
  std::vector<std::string> out(dirty_.begin(), dirty_.end());
  for (const auto& id : out) {
    auto it = tasks_.find(id);
    if (it != tasks_.end() && IsEnded(it->second.state)) evict_candidates_.push_back(id);
  }
  dirty_.clear();
  return out;
}

std::vector<std::string> TaskTable::TakeEnded() {
  std::vector<std::string> out;
  out.swap(ended_);
  return out;
}

std::vector<RunningAttemptEnded> TaskTable::TakeAttemptsToStop() {
  std::vector<RunningAttemptEnded> out;
  out.swap(attempts_to_stop_);
  return out;
}

TaskSpec TaskTable::RunSpec(const Task& t) const {
  if (!t.merging) return t.spec;
  TaskSpec spec = t.spec;
  spec.command = t.spec.on_children;
  // The children's ids and outcomes, for the merge step to gather their results with
  // `magpie logs ID` or `magpie status ID`. One environment string may not pass 128 KiB
  // (MAX_ARG_STRLEN): past 64 KiB the lists are left out and the counts remain.
  std::string ids, outcomes;
  int total = 0, succeeded = 0;
  for (const auto& id : t.children) {
    const Task* c = Find(id);
    const TaskState st = c != nullptr ? c->state : TaskState::kCancelled;
    ++total;
    if (st == TaskState::kSucceeded) ++succeeded;
    ids += (ids.empty() ? "" : " ") + id;
    outcomes += (outcomes.empty() ? "" : " ") + id + "=" + TaskStateName(st);
  }
  constexpr size_t kMaxListBytes = 64 * 1024;
  if (outcomes.size() <= kMaxListBytes) {
    spec.env["MAGPIE_CHILDREN"] = ids;
    spec.env["MAGPIE_CHILDREN_OUTCOMES"] = outcomes;
  } else {
    spec.env["MAGPIE_CHILDREN_TRUNCATED"] = "1";
  }
  spec.env["MAGPIE_CHILDREN_TOTAL"] = std::to_string(total);
  spec.env["MAGPIE_CHILDREN_SUCCEEDED"] = std::to_string(succeeded);
  spec.env["MAGPIE_CHILDREN_FAILED"] = std::to_string(total - succeeded);
  spec.env["MAGPIE_MERGE"] = "1";
  return spec;
}

void TaskTable::Count(const Task& t, int delta) {
  state_counts_[static_cast<int>(t.state)] += delta;
  if (IsEnded(t.state) || t.state == TaskState::kScheduled) return;
  size_t& n = unfinished_by_submitter_[t.spec.submitted_by];
  n += delta;
  if (n == 0) unfinished_by_submitter_.erase(t.spec.submitted_by);
}

size_t TaskTable::Unfinished() const {
  return CountInState(TaskState::kPending) + CountInState(TaskState::kReady) +
         CountInState(TaskState::kAssigned) + CountInState(TaskState::kRunning) +
         CountInState(TaskState::kWaiting);
}

void TaskTable::SetState(Task& t, TaskState s) {
  if (t.state == TaskState::kReady) {
    ready_.erase(KeyOf(t));
    ready_by_band_[BandOf(t.spec.priority)]--;
    if (t.not_before_ms > 0) backoff_.erase({t.not_before_ms, t.id});
  }
  if (HoldsGrant(t.state)) running_.erase(t.id);
  if (t.state == TaskState::kScheduled) schedules_.erase(t.id);
  const bool was_open = !IsEnded(t.state);
  Count(t, -1);
  t.state = s;
  Count(t, +1);
  if (!t.spec.parent.empty() && was_open != !IsEnded(s)) OnChildOpenChanged(t, was_open ? -1 : +1);
  if (HoldsGrant(s)) running_.insert(t.id);
  if (s == TaskState::kReady) {
    ready_.insert(KeyOf(t));
    ready_by_band_[BandOf(t.spec.priority)]++;
    if (t.not_before_ms > 0) backoff_.insert({t.not_before_ms, t.id});
  }
  Touch(t);
}

ApplyResult TaskTable::Apply(const Entry& entry) {
  TaskEvent ev;
  ev.index = entry.index;
  ev.term = entry.term;
  apply_index_ = entry.index;
  apply_term_ = entry.term;
  std::string id;
  ApplyResult r;
  switch (entry.type) {
    case EntryType::kNoop:
      return {};
    case EntryType::kSubmit: {
      auto e = DecodePayload<SubmitEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Submit undecodable: " + e.status().ToString());
      id = e->id;
      ev = {entry.index, entry.term, e->submitted_ms, "submit", 0, "", "by " + e->spec.submitted_by};
      if (!e->spec.parent.empty()) ev.detail += ", child of " + e->spec.parent;
      const bool fresh = !Exists(id);
      apply_at_ms_ = e->submitted_ms;
      r = ApplySubmit(*e);
      if (!fresh) return r;  // a duplicate id: the record is another task's
      break;
    }
    case EntryType::kGrant: {
      auto e = DecodePayload<GrantEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Grant undecodable: " + e.status().ToString());
      id = e->task_id;
      ev = {entry.index, entry.term, e->granted_ms, "grant", e->attempt, e->holder,
            e->stolen_from.empty() ? "" : "stolen from " + e->stolen_from};
      apply_at_ms_ = e->granted_ms;
      r = ApplyGrant(*e);
      break;
    }
    case EntryType::kFinish: {
      auto e = DecodePayload<FinishEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Finish undecodable: " + e.status().ToString());
      id = e->task_id;
      std::string node;
      if (const Task* t = Get(id)) {
        for (const auto& a : t->attempts) {
          if (a.number == e->attempt) node = a.node;
        }
      }
      ev = {entry.index, entry.term, e->ended_ms, "finish", e->attempt, node,
            std::string(OutcomeName(e->outcome)) + (e->reason.empty() ? "" : ": " + e->reason)};
      apply_at_ms_ = e->ended_ms;
      r = ApplyFinish(*e);
      break;
    }
    case EntryType::kCancel: {
      auto e = DecodePayload<CancelEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Cancel undecodable: " + e.status().ToString());
      id = e->task_id;
      ev = {entry.index, entry.term, e->at_ms, "cancel", 0, "", ""};
      apply_at_ms_ = e->at_ms;
      r = ApplyCancel(*e);
      break;
    }
    case EntryType::kUpstream: {
      auto e = DecodePayload<UpstreamEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Upstream undecodable: " + e.status().ToString());
      apply_at_ms_ = e->finished_ms;
      r = ApplyUpstream(*e);  // names the upstream, not a task here
      AdvanceParents();
      return r;
    }
    case EntryType::kFire: {
      auto e = DecodePayload<FireEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Fire undecodable: " + e.status().ToString());
      apply_at_ms_ = e->at_ms;
      r = ApplyFire(*e);  // records its events on the schedule and the task it fires
      AdvanceParents();
      return r;
    }
    case EntryType::kSchedulePause: {
      auto e = DecodePayload<SchedulePauseEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed SchedulePause undecodable: " + e.status().ToString());
      id = e->schedule_id;
      apply_at_ms_ = e->at_ms;
      ev = {entry.index, entry.term, e->at_ms, e->paused ? "pause" : "resume", 0, "", ""};
      r = ApplySchedulePause(*e);
      break;
    }
    case EntryType::kStarted: {
      auto e = DecodePayload<StartedEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Started undecodable: " + e.status().ToString());
      for (const auto& s : e->starts) {
        ApplyResult one = ApplyStarted(s);
        if (one.accepted) {
          const Task* t = one.task;
          RecordEvent(s.task_id, TaskEvent{entry.index, entry.term, s.started_ms, "start", s.attempt,
                                           t->attempts.back().node, ""},
                      one);
        }
      }
      return {};
    }
    case EntryType::kProgress: {
      auto e = DecodePayload<ProgressEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Progress undecodable: " + e.status().ToString());
      // Not in the audit trail: a task may report progress often, and its history keeps 64.
      return ApplyProgress(*e);
    }
    case EntryType::kRestart: {
      auto e = DecodePayload<RestartEntry>(entry.payload);
      MAGPIE_CHECK(e.ok(), "committed Restart undecodable: " + e.status().ToString());
      id = e->task_id;
      ev = {entry.index, entry.term, e->at_ms, "restart", 0, "", ""};
      apply_at_ms_ = e->at_ms;
      r = ApplyRestart(*e);
      break;
    }
    default:
      return {false, "unknown entry type"};
  }
  RecordEvent(id, std::move(ev), r);
  AdvanceParents();
  return r;
}

void TaskTable::OnChildOpenChanged(const Task& child, int delta) {
  Task* found = Get(child.spec.parent);
  if (found == nullptr) return;
  Task& parent = *found;
  if (!CountsAsChild(child, parent)) return;  // a child of an earlier run, before a restart
  parent.children_open += delta;
  Touch(parent);
  if (parent.children_open == 0 && parent.state == TaskState::kWaiting) {
    parents_to_check_.insert(parent.id);
  }
}

void TaskTable::AdvanceParents() {
  while (!parents_to_check_.empty()) {
    const std::string id = *parents_to_check_.begin();
    parents_to_check_.erase(parents_to_check_.begin());
    Task* found = Get(id);
    if (found == nullptr) continue;
    Task& p = *found;
    if (p.state != TaskState::kWaiting || p.children_open != 0) continue;
    std::string first_unsucceeded;
    for (const auto& c : p.children) {
      const Task* ct = Find(c);
      if (ct == nullptr || ct->state != TaskState::kSucceeded) {
        first_unsucceeded = c;
        break;
      }
    }
    const std::string n = std::to_string(p.children.size());
    TaskEvent ev{apply_index_, apply_term_, apply_at_ms_, "children", 0, "", ""};
    if (!p.spec.on_children.empty()) {
      // The merge step runs with a fresh budget of attempts: the split's are spent.
      p.merging = true;
      p.failed_attempts = 0;
      p.lost_attempts = 0;
      p.not_before_ms = 0;
      SetState(p, TaskState::kReady);
      ev.detail = "all " + n + " children ended: merging";
    } else if (first_unsucceeded.empty()) {
      End(p, TaskState::kSucceeded, apply_at_ms_, "");
      ev.detail = "all " + n + " children succeeded";
    } else {
      const Task* ct = Find(first_unsucceeded);
      End(p, TaskState::kFailed, apply_at_ms_,
          "child " + first_unsucceeded + " " + (ct ? TaskStateName(ct->state) : "is gone"));
      ev.detail = "all " + n + " children ended; " + first_unsucceeded + " did not succeed";
    }
    RecordEvent(p.id, std::move(ev), ApplyResult{});
  }
}

void TaskTable::CancelChildren(const Task& root, int64_t at_ms) {
  // Iterative: a deep family cannot overflow the stack. End() does not recurse here
  // because it is only called on children whose own open children are cancelled by this
  // loop (End leaves children_open alone for a task reached from here).
  std::vector<std::string> stack{root.id};
  while (!stack.empty()) {
    const std::string id = std::move(stack.back());
    stack.pop_back();
    const Task& p = At(id);
    const std::string why = "parent " + id + " " + TaskStateName(p.state);
    for (const auto& c : p.children) {
      Task* ctp = Get(c);
      if (ctp == nullptr || IsEnded(ctp->state) || !CountsAsChild(*ctp, p)) continue;
      Task& ct = *ctp;
      EndOne(ct, TaskState::kCancelled, at_ms, why);
      RecordEvent(c, TaskEvent{apply_index_, apply_term_, at_ms, "cancel", 0, "", why}, ApplyResult{});
      stack.push_back(c);
    }
  }
}

void TaskTable::RecordEvent(const std::string& id, TaskEvent ev, const ApplyResult& r) {
  Task* found = Get(id);
  if (found == nullptr) return;
  Task& t = *found;
  ev.accepted = r.accepted;
  if (!r.accepted) ev.detail = "refused: " + r.reason + (ev.detail.empty() ? "" : " (" + ev.detail + ")");
  ev.state_after = t.state;
  if (t.history.size() >= kMaxTaskEvents) t.history.erase(t.history.begin() + 1);  // keep the submit
  t.history.push_back(std::move(ev));
  Touch(t);
}

bool TaskTable::IsForeign(const Task& t, const std::string& up) const {
  std::string g = GroupOfTaskId(up);
  return !g.empty() && g != GroupOfTaskId(t.id);
}

std::vector<std::string> TaskTable::ForeignWaits() const {
  std::vector<std::string> out;
  for (const auto& [up, deps] : foreign_waits_) {
    for (const auto& d : deps) {
      const Task* t = Find(d);
      if (t != nullptr && t->state == TaskState::kPending) {
        out.push_back(up);
        break;
      }
    }
  }
  return out;
}

ApplyResult TaskTable::ApplyUpstream(const UpstreamEntry& e) {
  auto it = foreign_waits_.find(e.upstream_id);
  if (it == foreign_waits_.end()) return {false, "nothing here waits on " + e.upstream_id};
  std::set<std::string> deps = std::move(it->second);
  foreign_waits_.erase(it);
  for (const auto& d : deps) {
    Task* found = Get(d);
    if (found == nullptr) continue;
    Task& dt = *found;
    if (dt.state != TaskState::kPending) continue;
    if (!e.exists) {
      dt.blocked_by = e.upstream_id;
      End(dt, TaskState::kBlocked, dt.submitted_ms, "upstream " + e.upstream_id + " does not exist");
    } else if (e.state == TaskState::kSucceeded) {
      dt.met_upstreams.push_back(e.upstream_id);
      Touch(dt);
      ResolveDependencies(dt);
    } else {
      dt.blocked_by = e.upstream_id;
      End(dt, TaskState::kBlocked, std::max(dt.submitted_ms, e.finished_ms),
          "upstream " + e.upstream_id + " " + TaskStateName(e.state));
    }
  }
  return {};
}

ApplyResult TaskTable::ApplySubmit(const SubmitEntry& e) {
  if (Exists(e.id)) return {false, "task " + e.id + " already exists"};
  Task* parent = nullptr;
  if (!e.spec.parent.empty()) {
    // Checked again here, not only when the leader took the request: the parent may have
    // ended while the submit was committing.
    parent = Get(e.spec.parent);
    if (parent == nullptr) return {false, "parent " + e.spec.parent + " is not a task of this group"};
    if (std::string why = ChildrenRefusedBy(*parent); !why.empty()) return {false, why};
  }
  Task t;
  t.id = e.id;
  t.seq = e.seq;
  t.spec = e.spec;
  // Duplicate upstreams would be counted twice as unmet and released once.
  std::sort(t.spec.after.begin(), t.spec.after.end());
  t.spec.after.erase(std::unique(t.spec.after.begin(), t.spec.after.end()), t.spec.after.end());
  t.submitted_ms = e.submitted_ms;
  t.state = t.spec.is_schedule() ? TaskState::kScheduled : TaskState::kPending;
  // The first slot comes after the schedule's creation, not at it.
  if (t.spec.is_schedule()) t.last_slot_ms = e.submitted_ms;
  max_seq_ = std::max(max_seq_, t.seq);
  Task& stored = tasks_[t.id] = std::move(t);
  Count(stored, +1);
  if (parent != nullptr) {
    parent->children.push_back(stored.id);
    ++parent->children_open;
    Touch(*parent);
  }
  by_seq_[stored.seq] = stored.id;
  if (!stored.spec.name.empty()) by_name_[stored.spec.name] = stored.id;
  if (!stored.spec.idempotency_key.empty()) by_key_[stored.spec.idempotency_key] = stored.id;
  for (const auto& up : stored.spec.after) dependents_[up].insert(stored.id);
  Touch(stored);
  if (stored.state == TaskState::kScheduled) {
    schedules_.insert(stored.id);
    ApplyResult r;
    r.task = &stored;
    return r;
  }
  if (const Task* source = CacheHitFor(stored)) {
    // A cache hit ends at once with the source run's outcome and output; it has no attempts.
    stored.cached_from = source->id;
    stored.stdout_tail = source->stdout_tail;
    stored.stderr_tail = source->stderr_tail;
    End(stored, TaskState::kSucceeded, stored.submitted_ms, "cache hit: the outcome of " + source->id);
    ApplyResult r;
    r.task = &stored;
    return r;
  }
  ResolveDependencies(stored);
  ApplyResult r;
  r.task = &stored;
  return r;
}

void TaskTable::RetryOnceUpstreamsAllow(Task& t) {
  // An upstream restarted while the attempt ran is being made again: the next attempt
  // waits for that run, and is blocked if it fails, as a task submitted now would be (seed
  // 40068 of an R=3 swarm: a retry ran while its restarted upstream was then cancelled).
  ResolveDependencies(t);
}

void TaskTable::ResolveDependencies(Task& t) {
  int unmet = 0;
  for (const auto& up : t.spec.after) {
    // The deliberate bug: an upstream in another group is taken as done at once.
    if (IsForeign(t, up) && MAGPIE_BUGGIFY_ON(foreign_upstream_met_at_once)) continue;
    if (IsForeign(t, up)) {
      // Its outcome arrives as an Upstream entry once this group's leader has learned it.
      if (std::find(t.met_upstreams.begin(), t.met_upstreams.end(), up) != t.met_upstreams.end()) continue;
      foreign_waits_[up].insert(t.id);
      ++unmet;
      continue;
    }
    const Task* u = Find(up);
    if (u == nullptr || u->spec.is_schedule()) {
      // A schedule never succeeds: its runs are tasks of their own (wait on one of those).
      t.blocked_by = up;
      End(t, TaskState::kBlocked, t.submitted_ms,
          "upstream " + up + (u == nullptr ? " does not exist" : " is a schedule, not a task"));
      return;
    }
    if (u->state == TaskState::kSucceeded) continue;
    // The deliberate bug: a running upstream is taken as done.
    if (u->state == TaskState::kRunning && MAGPIE_BUGGIFY_ON(after_running_is_enough)) continue;
    if (u->state == TaskState::kFailed || u->state == TaskState::kCancelled ||
        u->state == TaskState::kBlocked) {
      t.blocked_by = up;
      End(t, TaskState::kBlocked, std::max(t.submitted_ms, u->finished_ms),
          "upstream " + up + " " + TaskStateName(u->state));
      return;
    }
    ++unmet;
  }
  if (unmet == 0) {
    unmet_.erase(t.id);
    SetState(t, TaskState::kReady);
  } else {
    unmet_[t.id] = unmet;
    if (t.state != TaskState::kPending) SetState(t, TaskState::kPending);
  }
}

ApplyResult TaskTable::ApplyGrant(const GrantEntry& e) {
  Task* found = Get(e.task_id);
  if (found == nullptr) return {false, "grant for unknown task " + e.task_id};
  Task& t = *found;
  if (t.state != TaskState::kReady &&
      !(MAGPIE_BUGGIFY_ON(grant_running_task) && HoldsGrant(t.state))) {
    return {false, "grant for " + t.id + " which is " + TaskStateName(t.state)};
  }
  uint32_t last = t.attempts.empty() ? 0 : t.attempts.back().number;
  if (e.attempt != last + 1) {
    return {false, "grant of attempt " + std::to_string(e.attempt) + " for " + t.id +
                       " whose last attempt is " + std::to_string(last)};
  }
  Attempt a;
  a.number = e.attempt;
  a.node = e.holder;
  a.granted_ms = e.granted_ms;
  a.stolen_from = e.stolen_from;
  a.restarted_from = t.restart_of;
  a.life = e.holder_life;
  t.restart_of = 0;
  t.attempts.push_back(std::move(a));
  t.progress_percent = -1;  // a new attempt has said nothing yet
  t.progress_message.clear();
  t.progress_ms = 0;
  t.progress_attempt = 0;
  SetState(t, TaskState::kAssigned);
  ApplyResult r;
  r.task = &t;
  return r;
}

void TaskTable::MarkStarted(Task& t, Attempt& a, int64_t started_ms) {
  a.started_ms = started_ms;
  if (t.started_ms == 0) t.started_ms = started_ms;
  if (t.state == TaskState::kAssigned) SetState(t, TaskState::kRunning);
  Touch(t);
}

ApplyResult TaskTable::ApplyStarted(const StartedAttempt& s) {
  Task* found = Get(s.task_id);
  if (found == nullptr) return {false, "start of unknown task " + s.task_id};
  Task& t = *found;
  Attempt* cur = t.attempts.empty() ? nullptr : &t.attempts.back();
  if (t.state != TaskState::kAssigned || cur == nullptr || cur->number != s.attempt ||
      cur->outcome != Outcome::kNone || cur->started_ms != 0) {
    return {false, "start of attempt " + std::to_string(s.attempt) + " of " + t.id + " ignored"};
  }
  MarkStarted(t, *cur, s.started_ms);
  ApplyResult r;
  r.task = &t;
  return r;
}

ApplyResult TaskTable::ApplyFinish(const FinishEntry& e) {
  Task* found = Get(e.task_id);
  if (found == nullptr) return {false, "finish for unknown task " + e.task_id};
  Task& t = *found;
  Attempt* cur = t.attempts.empty() ? nullptr : &t.attempts.back();
  // The deliberate bug: a finish of an older attempt closes the current one.
  const bool accept_stale = MAGPIE_BUGGIFY_ON(accept_stale_finish) && cur != nullptr &&
                            cur->outcome == Outcome::kNone && e.attempt < cur->number;
  if (!accept_stale && (cur == nullptr || cur->number != e.attempt || cur->outcome != Outcome::kNone)) {
    ++stale_finishes_;
    return {false, "stale finish of attempt " + std::to_string(e.attempt) + " of " + t.id +
                       " rejected (current attempt " +
                       std::to_string(cur ? cur->number : 0) + ")"};
  }
  // A process that ended before its start was committed: the Finish carries the start.
  if (cur->started_ms == 0 && e.started_ms > 0) MarkStarted(t, *cur, e.started_ms);
  cur->ended_ms = e.ended_ms;
  cur->exit_code = e.exit_code;
  cur->signal = e.signal;
  cur->outcome = e.outcome;
  cur->reason = e.reason;
  cur->stdout_bytes = e.stdout_bytes;
  cur->stderr_bytes = e.stderr_bytes;
  t.stdout_tail = e.stdout_tail;
  t.stderr_tail = e.stderr_tail;
  Touch(t);
  ApplyResult r;
  r.task = &t;
  // A cancelled task keeps its end state; the attempt's record is all that changes.
  if (!HoldsGrant(t.state)) return r;

  switch (e.outcome) {
    case Outcome::kSucceeded:
      if (!t.merging && !t.children.empty()) {
        // It split itself: its outcome waits for its children (AdvanceParents).
        SetState(t, TaskState::kWaiting);
        if (t.children_open == 0) parents_to_check_.insert(t.id);
        break;
      }
      End(t, TaskState::kSucceeded, e.ended_ms, "");
      break;
    case Outcome::kLost:
      // The node or its lease went away, not the task: run it again at once, without
      // counting it against max_attempts, but not forever (a task that kills its node).
      if (!e.handed_back) ++t.lost_attempts;
      if (t.lost_attempts > kMaxLostAttempts) {
        End(t, TaskState::kFailed, e.ended_ms,
            "lost " + std::to_string(t.lost_attempts) + " attempts to node failures");
      } else {
        t.not_before_ms = 0;
        RetryOnceUpstreamsAllow(t);
      }
      break;
    case Outcome::kCancelled:
      End(t, TaskState::kCancelled, e.ended_ms, "cancelled");
      break;
    case Outcome::kNone:
    case Outcome::kFailed:
    case Outcome::kTimedOut:
      if (++t.failed_attempts < t.spec.max_attempts) {
        t.not_before_ms = e.ended_ms + BackoffMillis(t.spec.backoff_ms, t.failed_attempts);
        RetryOnceUpstreamsAllow(t);
      } else {
        End(t, TaskState::kFailed, e.ended_ms,
            e.reason + " (attempt " + std::to_string(cur->number) + ", no attempts left)");
      }
      break;
  }
  return r;
}

ApplyResult TaskTable::ApplyCancel(const CancelEntry& e) {
  Task* found = Get(e.task_id);
  if (found == nullptr) return {false, "cancel of unknown task " + e.task_id};
  Task& t = *found;
  if (IsEnded(t.state)) return {false, "task " + t.id + " already " + TaskStateName(t.state)};
  ApplyResult r;
  r.task = &t;
  if (HoldsGrant(t.state)) {
    r.was_running = true;
    r.running_holder = t.attempts.back().node;
    r.running_attempt = t.attempts.back().number;
  }
  End(t, TaskState::kCancelled, e.at_ms, "cancelled by request");
  return r;
}

ApplyResult TaskTable::ApplyRestart(const RestartEntry& e) {
  Task* found = Get(e.task_id);
  if (found == nullptr) return {false, "restart of unknown task " + e.task_id};
  Task& t = *found;
  if (!IsEnded(t.state) || t.state == TaskState::kBlocked) {
    return {false, "task " + t.id + " is " + TaskStateName(t.state) + "; only a succeeded, "
                   "failed or cancelled task can be restarted"};
  }
  if (t.spec.is_schedule()) {
    return {false, t.id + " is a removed schedule; add it again with magpie schedule add"};
  }
  if (!t.attempts.empty() && t.attempts.back().outcome == Outcome::kNone) {
    // A new attempt now would run beside the old one, which is still being stopped.
    return {false, "attempt " + std::to_string(t.attempts.back().number) + " of " + t.id +
                       " has not ended yet; restart it once it has"};
  }
  const bool was_succeeded = t.state == TaskState::kSucceeded;
  if (was_succeeded) RemoveCacheSource(t);  // its result is being made again
  t.failed_attempts = 0;
  t.lost_attempts = 0;
  t.not_before_ms = 0;
  t.finished_ms = 0;
  t.end_reason.clear();
  t.blocked_by.clear();
  t.restart_of = t.attempts.empty() ? 0 : t.attempts.back().number;
  // A new run splits afresh: the earlier run's children no longer count (they have all
  // ended: a parent ends only after its children, or cancels them).
  t.children.clear();
  t.children_open = 0;
  t.children_after_seq = max_seq();
  t.merging = false;
  if (was_succeeded) {
    // Downstream that has not started must wait for the new run too. This comes before
    // resolving t's own upstream: if that blocks t, End() must find them pending to block
    // them with it, or they wait forever.
    if (auto it = dependents_.find(t.id); it != dependents_.end()) {
      for (const auto& d : it->second) {
        Task& dt = At(d);
        if (dt.state == TaskState::kPending) {
          ++unmet_[d];
        } else if (dt.state == TaskState::kReady) {
          // Counted afresh, as a recovery from the stored records would count it: a task
          // ready again after a lost or failed attempt may wait on other upstreams that were
          // restarted while it ran; assuming 1 here would let it be granted before those
          // succeeded again, on the live replica only (a recovered one counts them).
          SetState(dt, TaskState::kPending);
          unmet_[d] = CountUnmet(dt) + 1;  // + t, which still shows succeeded here
        }
      }
    }
  }
  // A new run waits for the outcome its upstreams in other groups have now, learned again
  // through Upstream entries, as it does for those in this group: an old success of an
  // upstream restarted since (and perhaps cancelled) must not release it.
  t.met_upstreams.clear();
  ResolveDependencies(t);
  if (t.state != TaskState::kBlocked) UnblockDownstream(t);
  ApplyResult r;
  r.task = &t;
  return r;
}

TaskSpec TaskTable::FiredSpec(const Task& schedule) {
  TaskSpec spec = schedule.spec;
  spec.schedule = ScheduleSpec{};
  spec.idempotency_key.clear();  // it made `schedule add` safe to retry; it is not the runs'
  return spec;
}

ApplyResult TaskTable::ApplyFire(const FireEntry& e) {
  Task* found = Get(e.schedule_id);
  if (found == nullptr) return {false, "fire of unknown schedule " + e.schedule_id};
  Task& s = *found;
  const std::string slot = "slot " + std::to_string(e.slot_ms);
  if (s.state != TaskState::kScheduled) {
    return {false, "fire of " + e.schedule_id + " which is " + TaskStateName(s.state)};
  }
  if (s.paused) return {false, "fire of " + e.schedule_id + " which is paused"};
  // The exactly-once rule: a slot is decided once, by the first Fire for it to commit.
  if (e.slot_ms <= s.last_slot_ms && !MAGPIE_BUGGIFY_ON(fire_twice)) {
    return {false, slot + " of " + s.id + " was decided already (latest " +
                       std::to_string(s.last_slot_ms) + ")"};
  }
  if (e.run && (e.task_id.empty() || Exists(e.task_id))) {
    return {false, "fire of " + s.id + " names task id '" + e.task_id + "', which is taken"};
  }
  s.last_slot_ms = e.slot_ms;
  s.skipped += e.skipped_before;
  Touch(s);
  TaskEvent ev{apply_index_, apply_term_, e.at_ms, "fire", 0, "", ""};
  const std::string before =
      e.skipped_before > 0 ? " (" + std::to_string(e.skipped_before) + " missed slots before it skipped)" : "";
  ApplyResult done;
  done.task = &s;
  if (!e.run) {
    ++s.skipped;
    ev.detail = slot + " skipped: missed" + before;
    RecordEvent(s.id, std::move(ev), done);
    return done;
  }
  if (s.spec.schedule.no_overlap && !s.last_fired.empty()) {
    const Task* prev = Find(s.last_fired);
    if (prev != nullptr && !IsEnded(prev->state)) {
      ++s.skipped;
      ev.detail = slot + " skipped: " + prev->id + " is still " + TaskStateName(prev->state) + before;
      RecordEvent(s.id, std::move(ev), done);
      return done;
    }
  }
  ApplyResult r = ApplySubmit(SubmitEntry{e.task_id, e.seq, FiredSpec(s), e.at_ms});
  if (!r.accepted || r.task == nullptr) return r;
  Task& t = At(e.task_id);
  t.fired_by = s.id;
  t.slot_ms = e.slot_ms;
  ++s.fired;
  s.last_fired = t.id;
  RecordEvent(t.id, TaskEvent{apply_index_, apply_term_, e.at_ms, "submit", 0, "",
                              "fired by schedule " + s.id + " for " + slot},
              r);
  ev.detail = slot + " fired " + t.id + before;
  RecordEvent(s.id, std::move(ev), done);
  return r;
}

ApplyResult TaskTable::ApplySchedulePause(const SchedulePauseEntry& e) {
  Task* found = Get(e.schedule_id);
  if (found == nullptr) return {false, "no schedule " + e.schedule_id};
  Task& s = *found;
  if (s.state != TaskState::kScheduled) {
    return {false, s.id + " is not a schedule that fires (it is " + TaskStateName(s.state) + ")"};
  }
  if (s.paused == e.paused) return {false, s.id + " is already " + (e.paused ? "paused" : "running")};
  s.paused = e.paused;
  // Slots that passed while paused are not missed firings: nothing is caught up for them.
  if (!e.paused) s.last_slot_ms = std::max(s.last_slot_ms, e.at_ms);
  Touch(s);
  ApplyResult r;
  r.task = &s;
  return r;
}

std::string TaskTable::ChildrenRefusedBy(const Task& parent) const {
  if (parent.merging) {
    return "parent " + parent.id + " is merging its children's results; it takes no more children";
  }
  if (!HoldsGrant(parent.state) && parent.state != TaskState::kWaiting) {
    return "parent " + parent.id + " is " + TaskStateName(parent.state) +
           "; children may be added only while it runs or waits for its children";
  }
  if (parent.children.size() >= kMaxChildren) {
    return "parent " + parent.id + " has " + std::to_string(parent.children.size()) +
           " children, the limit";
  }
  return "";
}

ApplyResult TaskTable::ApplyProgress(const ProgressEntry& e) {
  Task* found = Get(e.task_id);
  if (found == nullptr) return {false, "progress for unknown task " + e.task_id};
  Task& t = *found;
  const Attempt* cur = t.current_attempt();
  if (!HoldsGrant(t.state) || cur == nullptr || cur->number != e.attempt ||
      cur->outcome != Outcome::kNone) {
    return {false, "attempt " + std::to_string(e.attempt) + " of " + t.id +
                       " is not running; its progress is not recorded"};
  }
  t.progress_percent = std::clamp(e.percent, 0, 100);
  t.progress_message = e.message.substr(0, kMaxProgressMessageBytes);
  t.progress_ms = e.at_ms;
  t.progress_attempt = e.attempt;
  Touch(t);
  ApplyResult r;
  r.task = &t;
  return r;
}

void TaskTable::End(Task& t, TaskState s, int64_t at_ms, std::string reason) {
  EndOne(t, s, at_ms, std::move(reason));
  // A parent that failed, was cancelled or blocked leaves no orphans behind.
  if (s != TaskState::kSucceeded && t.children_open > 0) {
    CancelChildren(t, at_ms);
  }
}

void TaskTable::EndOne(Task& t, TaskState s, int64_t at_ms, std::string reason) {
  if (HoldsGrant(t.state) && !t.attempts.empty() &&
      t.attempts.back().outcome == Outcome::kNone) {
    attempts_to_stop_.push_back({t.id, t.attempts.back().node, t.attempts.back().number});
  }
  SetState(t, s);
  t.finished_ms = at_ms;
  t.end_reason = std::move(reason);
  unmet_.erase(t.id);
  ended_.push_back(t.id);
  if (s == TaskState::kSucceeded) {
    OnSucceeded(t);
  } else {
    BlockDownstream(t, at_ms);
  }
}

void TaskTable::OnSucceeded(const Task& t) {
  AddCacheSource(t);
  auto it = dependents_.find(t.id);
  if (it == dependents_.end()) return;
  for (const auto& d : it->second) {
    auto u = unmet_.find(d);
    if (u == unmet_.end()) continue;
    if (--u->second == 0) {
      unmet_.erase(u);
      SetState(At(d), TaskState::kReady);
    }
  }
}

void TaskTable::BlockDownstream(const Task& root, int64_t at_ms) {
  // Iterative, so a long chain cannot overflow the stack.
  std::vector<std::string> stack{root.id};
  while (!stack.empty()) {
    std::string up = std::move(stack.back());
    stack.pop_back();
    auto it = dependents_.find(up);
    if (it == dependents_.end()) continue;
    const std::string up_state = TaskStateName(At(up).state);
    for (const auto& d : it->second) {
      Task& dt = At(d);
      if (dt.state != TaskState::kPending) continue;
      dt.blocked_by = up;
      SetState(dt, TaskState::kBlocked);
      dt.finished_ms = at_ms;
      dt.end_reason = "upstream " + up + " " + up_state;
      unmet_.erase(d);
      ended_.push_back(d);
      stack.push_back(d);
    }
  }
}

void TaskTable::UnblockDownstream(const Task& root) {
  std::vector<std::string> stack{root.id};
  while (!stack.empty()) {
    std::string up = std::move(stack.back());
    stack.pop_back();
    auto it = dependents_.find(up);
    if (it == dependents_.end()) continue;
    for (const auto& d : it->second) {
      Task& dt = At(d);
      if (dt.state != TaskState::kBlocked || dt.blocked_by != up) continue;
      dt.blocked_by.clear();
      dt.end_reason.clear();
      dt.finished_ms = 0;
      ResolveDependencies(dt);
      if (dt.state != TaskState::kBlocked) stack.push_back(d);
    }
  }
}

}  // namespace magpie
