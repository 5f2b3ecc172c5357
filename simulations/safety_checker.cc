#include "simulations/safety_checker.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "simulations/entry_words.h"

namespace magpie {

namespace {

constexpr size_t kMaxViolations = 64;

// FNV-1a over an entry's type and payload: two applied entries are the same entry when
// their terms and these agree.
uint64_t EntryHash(const Entry& e) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  mix(static_cast<unsigned char>(e.type));
  for (char c : e.payload) mix(static_cast<unsigned char>(c));
  return h;
}

std::string Describe(const ProcessRecord& r) {
  return "attempt " + std::to_string(r.attempt) + " on node " + std::to_string(r.node) +
         " (process " + std::to_string(r.id) + ", started t=" + r.started.ToString() + ")";
}

}  // namespace

SafetyChecker::SafetyChecker(const Oracle* oracle,
                             const std::vector<std::unique_ptr<SimNode>>* nodes,
                             bool drift_bounded)
    : oracle_(oracle), nodes_(nodes), drift_bounded_(drift_bounded) {}

void SafetyChecker::Report(SimTime now, const char* promise, std::string detail) {
  if (violations_.size() >= kMaxViolations) return;
  violations_.push_back(Violation{now, promise, std::move(detail)});
}

void SafetyChecker::OnProcessStart(SimTime now, const SimProcess& p) {
  ++checks_;
  CheckStartOnNode(now, p);
  CheckAttemptsOfTask(now, p);
}

void SafetyChecker::CheckStartOnNode(SimTime now, const SimProcess& p) {
  if (p.node < 0 || static_cast<size_t>(p.node) >= nodes_->size()) return;  // a checker test's process
  const SimNode& n = *(*nodes_)[p.node];
  if (granted_.count({p.task_id, p.attempt, n.node_id()}) == 0 && !GrantInSomeTable(p, n.node_id())) {
    Report(now, kStartAfterGrant,
           "task " + p.task_id + ": attempt " + std::to_string(p.attempt) + " started on node " +
               std::to_string(p.node) + " with no committed Grant of that attempt to it");
  }
  // Processes of this life only: an earlier life's may outlive it until the watchdog.
  size_t here = 1;
  for (const auto& [pid, q] : n.executor().processes()) {
    if (pid != p.id && q.incarnation == p.incarnation) ++here;
  }
  if (here > static_cast<size_t>(n.core().options().slots)) {
    Report(now, kSlotsBound,
           "node " + std::to_string(p.node) + " runs " + std::to_string(here) + " processes with " +
               std::to_string(n.core().options().slots) + " slots (task " + p.task_id + " attempt " +
               std::to_string(p.attempt) + " just started)");
  }
}

void SafetyChecker::CheckAttemptsOfTask(SimTime now, const SimProcess& p) {
  const uint32_t max = oracle_->MaxAttemptStarted(p.task_id);
  if (max >= p.attempt) {
    const bool stolen = oracle_->HomeOf(Oracle::GroupOf(p.task_id)) != p.node;
    Report(now, kFencing,
           "task " + p.task_id + ": attempt " + std::to_string(p.attempt) + " started on node " +
               std::to_string(p.node) + (stolen ? " (a stolen attempt)" : "") + " after attempt " +
               std::to_string(max) + " had already started; attempt numbers must only grow");
  }
  const auto* live = oracle_->LiveOf(p.task_id);
  if (live == nullptr) return;
  for (const auto& [id, other] : *live) {
    // Across machines, "one at a time" rests on leases and therefore on the drift bound.
    if (other.node != p.node && !drift_bounded_) continue;
    Report(now, kOneAttempt,
           "task " + p.task_id + ": attempt " + std::to_string(p.attempt) + " started on node " +
               std::to_string(p.node) + " (process " + std::to_string(p.id) + ") while " +
               Describe(other) + " was still running");
  }
}

void SafetyChecker::NoteApplied(SimTime now, int node, const std::string& group,
                                const std::vector<Entry>& entries) {
  const SimNode& n = *(*nodes_)[node];
  if (!n.up() || entries.empty()) return;
  std::vector<const Entry*> fresh;
  for (const auto& e : entries) {
    if (CheckLogMatching(now, node, group, e)) fresh.push_back(&e);
  }
  const Replica* replica = n.core().replica(group);
  if (replica != nullptr && !fresh.empty()) CheckForeignAfter(now, node, replica->table, fresh);
}

void SafetyChecker::NoteGrants(const std::vector<Entry>& entries) {
  for (const auto& e : entries) {
    if (e.type != EntryType::kGrant) continue;
    if (auto g = DecodePayload<GrantEntry>(e.payload); g.ok()) granted_.insert({g->task_id, g->attempt, g->holder});
  }
}

bool SafetyChecker::GrantInSomeTable(const SimProcess& p, const std::string& holder) const {
  // Tables hold only what was committed; one applied at recovery is never reported as
  // applied, so a restarted holder's own table is where its replayed Grant shows.
  for (const auto& node : *nodes_) {
    if (!node->up()) continue;
    const Replica* r = node->core().replica(Oracle::GroupOf(p.task_id));
    const Task* t = r != nullptr ? r->table.Find(p.task_id) : nullptr;
    if (t == nullptr) continue;
    for (const auto& a : t->attempts) {
      if (a.number == p.attempt && a.node == holder) return true;
    }
  }
  return false;
}

void SafetyChecker::OnAck(SimTime now, const AckRecord& ack) {
  ++checks_;
  if (!oracle_->GroupSurvives(ack.group)) return;
  // Every replica applies an entry only once a quorum holds it, and the leader answers a
  // submit only after applying it: so some replica applied the Submit before the answer
  // left. An ack that outruns every replica's apply was given before the quorum had it.
  const CommittedSubmit* c = oracle_->Committed(ack.id);
  if (c == nullptr) {
    Report(now, kNoAckedTaskLost,
           "client " + std::to_string(ack.client) + " was given id " + ack.id + " by node " +
               std::to_string(ack.node) + ", but no replica of group " + ack.group +
               " has applied its Submit: it was acknowledged before it was committed");
    return;
  }
  if (!ack.key.empty() && c->key != ack.key) {
    Report(now, kNoAckedTaskLost,
           "client " + std::to_string(ack.client) + " was given id " + ack.id + " by node " +
               std::to_string(ack.node) + " for its submit with key " + ack.key +
               ", but group " + ack.group + " committed that id at index " +
               std::to_string(c->index) + " for another task (key " + c->key +
               "): the acknowledged submit was lost");
  }
}

SafetyChecker::View& SafetyChecker::ViewOf(int node) {
  View& v = views_[node];
  const std::string& id = (*nodes_)[node]->node_id();
  if (v.node_id != id) {
    v = View{};  // a new identity (a wiped disk): none of the old replicas exist
    v.node_id = id;
  }
  return v;
}

void SafetyChecker::ForgetGroup(View& v, const std::string& group) {
  const std::string prefix = group + "-";
  auto forget = [&prefix](auto& m) {
    for (auto it = m.lower_bound(prefix); it != m.end() && it->first.rfind(prefix, 0) == 0;) {
      it = m.erase(it);
    }
  };
  forget(v.ended);
  for (auto it = v.seen.lower_bound(prefix); it != v.seen.end() && it->rfind(prefix, 0) == 0;) {
    it = v.seen.erase(it);
  }
  forget(v.chain_start);
  forget(v.met_at_start);
  forget(v.last_success);
  forget(v.own_finish);
}

bool SafetyChecker::CheckLogMatching(SimTime now, int node, const std::string& group,
                                     const Entry& e) {
  ++checks_;
  const uint64_t hash = EntryHash(e);
  auto [it, fresh] = log_[group].emplace(e.index, LogRecord{e.term, hash, node, now});
  if (fresh || (it->second.term == e.term && it->second.hash == hash)) return fresh;
  Report(now, kLogMatching,
         "group " + group + " index " + std::to_string(e.index) + ": node " +
             std::to_string(node) + " applied " + DescribeEntry(e) + " of term " +
             std::to_string(e.term) + ", but node " + std::to_string(it->second.node) +
             " applied a different entry (term " + std::to_string(it->second.term) +
             ") there at t=" + it->second.at.ToString());
  return false;
}

void SafetyChecker::CheckForeignAfter(SimTime now, int node, const TaskTable& table,
                                      const std::vector<const Entry*>& fresh) {
  auto foreign_ups = [](const Task& t) {
    std::vector<std::string> out;
    for (const auto& up : t.spec.after) {
      if (Oracle::GroupOf(up) != Oracle::GroupOf(t.id)) out.push_back(up);
    }
    return out;
  };
  auto begin_chain = [&](const std::string& id) {
    const Task* t = table.Find(id);
    if (t == nullptr) return;
    const auto ups = foreign_ups(*t);
    if (ups.empty()) return;
    Chain& c = foreign_chains_[id];
    c.start = now;
    c.met.clear();
    for (const auto& up : ups) {
      if (auto s = succeeded_.find(up); s != succeeded_.end() && s->second) c.met.insert(up);
    }
  };
  std::set<std::string> restarted_here;
  for (const Entry* e : fresh) {
    switch (e->type) {
      case EntryType::kSubmit: {
        auto s = DecodePayload<SubmitEntry>(e->payload);
        if (!s.ok()) break;
        begin_chain(s->id);
        // A cache hit ends succeeded at its submit.
        const Task* t = table.Find(s->id);
        if (t != nullptr && !t->cached_from.empty() && t->state == TaskState::kSucceeded) {
          succeeded_[s->id] = true;
          succeeded_at_[s->id] = now;
        }
        break;
      }
      case EntryType::kRestart: {
        auto r = DecodePayload<RestartEntry>(e->payload);
        if (!r.ok()) break;
        succeeded_[r->task_id] = false;
        // Only the first restart in a batch applies (the table refuses to restart what has
        // not ended), as CheckAfter counts it.
        if (restarted_here.insert(r->task_id).second) begin_chain(r->task_id);
        break;
      }
      case EntryType::kFinish: {
        auto f = DecodePayload<FinishEntry>(e->payload);
        if (!f.ok()) break;
        // Accepted, if the attempt it names carries its outcome (a stale one is refused).
        const Task* t = table.Find(f->task_id);
        if (t == nullptr) break;
        for (const auto& a : t->attempts) {
          if (a.number != f->attempt || a.outcome != f->outcome) continue;
          succeeded_[f->task_id] = f->outcome == Outcome::kSucceeded;
          if (f->outcome == Outcome::kSucceeded) succeeded_at_[f->task_id] = now;
        }
        break;
      }
      case EntryType::kGrant: {
        auto g = DecodePayload<GrantEntry>(e->payload);
        if (!g.ok()) break;
        auto c = foreign_chains_.find(g->task_id);
        const Task* t = table.Find(g->task_id);
        if (c == foreign_chains_.end() || t == nullptr) break;
        ++checks_;
        for (const auto& up : foreign_ups(*t)) {
          if (c->second.met.count(up) != 0) continue;
          auto at = succeeded_at_.find(up);
          if (at != succeeded_at_.end() && at->second >= c->second.start) continue;
          auto s = succeeded_.find(up);
          Report(now, kAfterHonoured,
                 "task " + g->task_id + " was granted attempt " + std::to_string(g->attempt) +
                     " (applied first by node " + std::to_string(node) + ") but its upstream " + up +
                     " in group " + Oracle::GroupOf(up) + " has not succeeded since the task's chain began at t=" +
                     c->second.start.ToString() + " (" +
                     (s == succeeded_.end() ? "no end of it applied anywhere"
                      : s->second         ? "it succeeded before that, then was restarted"
                                          : "it stands not succeeded") +
                     ")");
          break;
        }
        break;
      }
      default:
        break;
    }
  }
}

std::string SafetyChecker::Note(const Entry& e, std::set<std::string>* restarts) {
  switch (e.type) {
    case EntryType::kNoop:
      return "";
    case EntryType::kSubmit: {
      auto s = DecodePayload<SubmitEntry>(e.payload);
      if (!s.ok()) return "";
      for (const auto& up : s->spec.after) downstream_[up].insert(s->id);
      return s->id;
    }
    case EntryType::kGrant: {
      auto g = DecodePayload<GrantEntry>(e.payload);
      return g.ok() ? g->task_id : "";
    }
    case EntryType::kFinish: {
      auto f = DecodePayload<FinishEntry>(e.payload);
      return f.ok() ? f->task_id : "";
    }
    case EntryType::kCancel: {
      auto c = DecodePayload<CancelEntry>(e.payload);
      return c.ok() ? c->task_id : "";
    }
    case EntryType::kRestart: {
      auto r = DecodePayload<RestartEntry>(e.payload);
      if (!r.ok()) return "";
      restarts->insert(r->task_id);
      restarted_.insert(r->task_id);
      return r->task_id;
    }
    // These change no task's outcome or attempts by themselves: nothing to note.
    case EntryType::kUpstream:
    case EntryType::kProgress:
    case EntryType::kFire:
    case EntryType::kSchedulePause:
    case EntryType::kStarted:
      return "";
  }
  return "";
}

std::set<std::string> SafetyChecker::Closure(const std::set<std::string>& roots) const {
  std::set<std::string> seen(roots.begin(), roots.end());
  std::deque<std::string> todo(roots.begin(), roots.end());
  while (!todo.empty() && seen.size() < kMaxClosure) {
    auto it = downstream_.find(todo.front());
    todo.pop_front();
    if (it == downstream_.end()) continue;
    for (const auto& d : it->second) {
      if (seen.insert(d).second) todo.push_back(d);
    }
  }
  return seen;
}

void SafetyChecker::CheckOutcome(SimTime now, int node, View& v, const Task* t,
                                 const std::string& id, bool restarted) {
  ++checks_;
  auto it = v.ended.find(id);
  if (t == nullptr) return;  // a task the table never had is promise 1's business
  if (it == v.ended.end()) {
    if (IsEnded(t->state)) v.ended.emplace(id, Ended{t->state, now});
    if (t->state == TaskState::kSucceeded) v.last_success[id] = now;
    return;
  }
  if (t->state == it->second.state) {
    // Restarted and succeeded again within one batch: a new success all the same (a
    // downstream submitted in that batch, between the restart and the new success, may be
    // granted in the next).
    if (restarted && t->state == TaskState::kSucceeded) v.last_success[id] = now;
    return;
  }
  if (restarted) {
    v.ended.erase(it);
    if (IsEnded(t->state)) v.ended.emplace(id, Ended{t->state, now});
    if (t->state == TaskState::kSucceeded) v.last_success[id] = now;
    return;
  }
  Report(now, kOneOutcome,
         "task " + id + " on node " + std::to_string(node) + " ended " +
             TaskStateName(it->second.state) + " at t=" + it->second.at.ToString() +
             " but is now " + TaskStateName(t->state) +
             ", with no restart of it or of what blocked it");
  v.ended.erase(it);
}

void SafetyChecker::CheckOneOpenAttempt(SimTime now, int node, const Task* t) {
  ++checks_;
  if (t == nullptr) return;
  const bool restarted = restarted_.erase(t->id) != 0;
  if (t->attempts.size() < 2) return;
  // Only the newest attempt may still be open: the log ends one before it grants the next.
  // An attempt granted over an open one leaves that one's record open for good (its Finish
  // is rejected as stale) and its process may still run.
  const Attempt& before = t->attempts[t->attempts.size() - 2];
  if (before.outcome != Outcome::kNone) return;
  Report(now, kOneAttempt,
         "task " + t->id + " on node " + std::to_string(node) + ": the log granted attempt " +
             std::to_string(t->attempts.back().number) + " to " + t->attempts.back().node +
             " while attempt " + std::to_string(before.number) + " (on " + before.node +
             ") had not ended" +
             (restarted ? " (the task ended and was restarted before that attempt's end was "
                          "recorded)"
                        : ""));
}

void SafetyChecker::CheckAfter(SimTime now, int node, View& v, const TaskTable& table,
                               const Task* t, const std::set<std::string>& batch_met) {
  ++checks_;
  if (t == nullptr || !HoldsGrant(t->state)) return;
  auto start = v.chain_start.find(t->id);
  if (start == v.chain_start.end()) return;  // submitted before this node's history began
  const std::set<std::string>& met = v.met_at_start[t->id];
  for (const auto& up : t->spec.after) {
    if (Oracle::GroupOf(up) != Oracle::GroupOf(t->id)) continue;  // another group's news
    if (met.count(up) != 0 || batch_met.count(up) != 0) continue;
    auto s = v.last_success.find(up);
    if (s != v.last_success.end() && s->second >= start->second) continue;
    const Task* u = table.Find(up);
    Report(now, kAfterHonoured,
           "task " + t->id + " on node " + std::to_string(node) + " was granted attempt " +
               std::to_string(t->attempts.back().number) + " but its upstream " + up +
               " has not succeeded since the task was " +
               (t->attempts.size() > 1 && t->attempts.back().restarted_from != 0 ? "restarted"
                                                                               : "submitted") +
               " at t=" + start->second.ToString() + " (it is " +
               (u == nullptr ? "missing" : TaskStateName(u->state)) + ")");
    return;
  }
}

void SafetyChecker::OnCommitted(SimTime now, int node, const std::string& group,
                                const std::vector<Entry>& entries) {
  const SimNode& n = *(*nodes_)[node];
  if (!n.up() || entries.empty()) return;
  const Replica* replica = n.core().replica(group);
  if (replica == nullptr) return;
  View& v = ViewOf(node);
  // A replica that skipped ahead (a snapshot) or started over (re-added after removal)
  // tells this group's story afresh.
  auto last = v.last_index.find(group);
  // No history of the group's outcomes before this batch on this node: what the table
  // showed before it cannot be told from what the batch did.
  bool story_starts_here = last == v.last_index.end();
  if (last != v.last_index.end() &&
      (entries.front().index != last->second + 1 ||
       replica->raft.snapshot_index() > last->second)) {
    ForgetGroup(v, group);
    story_starts_here = true;
  }
  v.last_index[group] = entries.back().index;
  const TaskTable& table = replica->table;
  std::set<std::string> touched;
  std::set<std::string> restarts;
  std::vector<std::pair<std::string, uint64_t>> chains;  // submit or restart, with its index
  std::map<std::string, uint64_t> restart_index;         // the batch's restarts, by task
  std::vector<std::pair<std::string, uint64_t>> grants;  // with their index
  // What the batch did to each task's outcome, in log order: (index, succeeded after it).
  // A Finish sets it; a Restart clears it (one refused for a task not ended changes
  // nothing, and such a task had not succeeded anyway).
  std::map<std::string, std::vector<std::pair<uint64_t, bool>>> outcome_steps;
  for (const auto& e : entries) {
    std::string id = Note(e, &restarts);
    if (id.empty()) continue;
    if (e.type == EntryType::kFinish) {
      if (auto f = DecodePayload<FinishEntry>(e.payload); f.ok()) {
        outcome_steps[id].emplace_back(e.index, f->outcome == Outcome::kSucceeded);
      }
    } else if (e.type == EntryType::kRestart) {
      outcome_steps[id].emplace_back(e.index, false);
    }
    // Only the first restart of a task in a batch applies: it leaves the task not ended,
    // and the table refuses to restart what has not ended (retried requests land here).
    const bool first_restart = e.type == EntryType::kRestart && restart_index.emplace(id, e.index).second;
    if (e.type == EntryType::kSubmit || first_restart) chains.emplace_back(id, e.index);
    if (e.type == EntryType::kGrant) grants.emplace_back(id, e.index);
    touched.insert(std::move(id));
  }
  // Which upstreams had succeeded when each chain began: the table shows the whole batch
  // applied, so an upstream restarted later in the same batch is judged by the end state
  // it held before the batch.
  for (const auto& [id, index] : chains) {
    const Task* t = table.Find(id);
    if (t == nullptr) continue;
    v.chain_start[id] = now;
    std::set<std::string>& met = v.met_at_start[id];
    met.clear();
    for (const auto& up : t->spec.after) {
      const Task* u = table.Find(up);
      const auto r = restart_index.find(up);
      const auto before = v.ended.find(up);
      // A replica catching up applies a long stretch at once: the upstream's last Finish
      // or Restart in this batch before the chain began decides.
      std::optional<bool> batch_success;
      if (auto f = outcome_steps.find(up); f != outcome_steps.end()) {
        for (const auto& [fi, ok] : f->second) {
          if (fi < index) batch_success = ok;
        }
      }
      if (batch_success.has_value()) {
        if (*batch_success) met.insert(up);
        continue;
      }
      // Nothing before it in the batch: its end state before the batch, which the table
      // still shows unless a restart later in the batch changed it.
      // Without a history it is unknown: not judged (a leader's no-op, which the checker
      // is not shown, is not a gap).
      const bool restarted_later = r != restart_index.end() && r->second > index;
      // Nor when no batch touched it since the story began here (a snapshot drops the
      // history of an upstream that succeeded long before).
      const bool unknown_then = story_starts_here || v.seen.count(up) == 0;
      const bool succeeded_then = restarted_later &&
                                  ((before != v.ended.end() && before->second.state == TaskState::kSucceeded) ||
                                   (before == v.ended.end() && unknown_then));
      if ((u != nullptr && u->state == TaskState::kSucceeded) || succeeded_then) met.insert(up);
    }
  }
  v.seen.insert(touched.begin(), touched.end());
  const std::set<std::string> allowed = Closure(restarts);
  for (const auto& id : Closure(touched)) {
    if (Oracle::GroupOf(id) != group) continue;  // downstream in another group: its own batch
    CheckOutcome(now, node, v, table.Find(id), id, allowed.count(id) != 0);
  }
  for (const auto& [id, gi] : grants) {
    const Task* t = table.Find(id);
    CheckOneOpenAttempt(now, node, t);
    std::set<std::string> batch_met;
    if (t != nullptr) {
      for (const auto& up : t->spec.after) {
        auto f = outcome_steps.find(up);
        if (f == outcome_steps.end()) continue;
        std::optional<bool> ok;
        for (const auto& [fi, succeeded] : f->second) {
          if (fi < gi) ok = succeeded;
        }
        if (ok.value_or(false)) batch_met.insert(up);
      }
    }
    CheckAfter(now, node, v, table, t, batch_met);
  }
  // Fencing of ends (§1.3): a Finish of attempt a may close attempt a only. A later attempt
  // that carries exactly this Finish's end (time, outcome, exit code, words), and whose own
  // Finish this node never applied, took it.
  for (const auto& e : entries) {
    if (e.type != EntryType::kFinish) continue;
    if (auto f = DecodePayload<FinishEntry>(e.payload); f.ok()) {
      v.own_finish[f->task_id].insert(f->attempt);
    }
  }
  for (const auto& e : entries) {
    if (e.type != EntryType::kFinish) continue;
    ++checks_;
    auto f = DecodePayload<FinishEntry>(e.payload);
    if (!f.ok()) continue;
    const Task* t = table.Find(f->task_id);
    if (t == nullptr) continue;
    for (const auto& a : t->attempts) {
      if (a.number <= f->attempt || a.outcome != f->outcome || a.ended_ms != f->ended_ms ||
          a.exit_code != f->exit_code || a.reason != f->reason) {
        continue;
      }
      if (auto own = v.own_finish.find(t->id); own != v.own_finish.end() && own->second.count(a.number) != 0) {
        continue;
      }
      Report(now, kOneOutcome,
             "task " + t->id + " on node " + std::to_string(node) + ": the finish of attempt " +
                 std::to_string(f->attempt) + " (" + OutcomeName(f->outcome) + ", index " +
                 std::to_string(e.index) + ") closed attempt " + std::to_string(a.number) +
                 ": a stale report must be rejected by its fencing number");
      break;
    }
  }
}

void SafetyChecker::OnDurableUnapplied(SimTime now, int node, const std::vector<Entry>& entries) {
  std::set<std::string> restarts;
  for (const auto& e : entries) Note(e, &restarts);
  unapplied_restarts_[node].insert(restarts.begin(), restarts.end());
}

void SafetyChecker::CheckAckedPresent(SimTime now, int node, const std::string& group,
                                      const Replica& r, const std::string& why) {
  if (!oracle_->GroupSurvives(group)) return;
  const uint64_t applied = r.raft.applied_index();
  for (const auto& id : oracle_->AcksOfGroup(group)) {
    ++checks_;
    const CommittedSubmit* c = oracle_->Committed(id);
    if (c == nullptr || c->index > applied) continue;  // OnAck's business; or not here yet
    if (r.table.Find(id) != nullptr) continue;
    const AckRecord& ack = oracle_->acks().at(id);
    Report(now, kNoAckedTaskLost,
           "task " + id + " was acknowledged to client " + std::to_string(ack.client) +
               " at t=" + ack.at.ToString() + " (committed at index " + std::to_string(c->index) +
               ") but is missing from node " + std::to_string(node) + "'s replica of group " +
               group + ", applied to index " + std::to_string(applied) + ", " + why);
  }
}

void SafetyChecker::OnRecovered(SimTime now, int node) {
  const SimNode& n = *(*nodes_)[node];
  View& v = ViewOf(node);
  const std::set<std::string> allowed = Closure(unapplied_restarts_[node]);
  unapplied_restarts_.erase(node);
  for (const auto& group : n.core().groups()) {
    const Replica* r = n.core().replica(group);
    if (r == nullptr) continue;
    CheckAckedPresent(now, node, group, *r, "after it recovered");
    auto last = v.last_index.find(group);
    // Skipped ahead (a snapshot), or came back behind what it had applied: a snapshot
    // installed, or a commit index learned, whose fsync the crash cut short. The log it replays was checked when first applied; the
    // table's story here starts afresh.
    // (A snapshot being installed shows in the table before applied_index moves.)
    const uint64_t reflects = std::max(r->raft.applied_index(), r->raft.snapshot_index());
    if (last != v.last_index.end() && (r->raft.snapshot_index() > last->second || reflects < last->second)) {
      ForgetGroup(v, group);
    }
    v.last_index[group] = reflects;
    r->table.ForEachBySeq(0, [&](const Task& t) {
      CheckOutcome(now, node, v, &t, t.id, allowed.count(t.id) != 0);
      return true;
    });
  }
}

}  // namespace magpie
