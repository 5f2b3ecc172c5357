#include "simulations/liveness_checker.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "node/log_entry.h"

namespace magpie {

namespace {

std::string AttemptWords(const Task& t) {
  const Attempt* a = t.current_attempt();
  if (a == nullptr) return "no attempts";
  return std::to_string(t.attempts.size()) + " attempts, current " + std::to_string(a->number) +
         " on " + a->node + " (" + OutcomeName(a->outcome) + ")";
}

std::string Join(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

template <typename T>
void Field(std::string* out, const char* name, const T& a, const T& b) {
  if (a == b) return;
  if (!out->empty()) *out += "; ";
  *out += name;
}

}  // namespace

TableImage ImageOf(const TaskTable& table) {
  TableImage image;
  table.ForEachBySeq(0, [&](const Task& t) {
    image.emplace(t.id, EncodePayload(t));
    return true;
  });
  return image;
}

std::string DescribeDifference(const std::string& before, const std::string& after) {
  auto a = DecodePayload<Task>(before);
  auto b = DecodePayload<Task>(after);
  if (!a.ok() || !b.ok()) return "undecodable record";
  std::string out;
  if (a->state != b->state) {
    out = std::string("state ") + TaskStateName(a->state) + " -> " + TaskStateName(b->state);
  }
  Field(&out, "attempts", a->attempts.size(), b->attempts.size());
  for (size_t i = 0; i < a->attempts.size() && i < b->attempts.size(); ++i) {
    const Attempt& x = a->attempts[i];
    const Attempt& y = b->attempts[i];
    if (x.outcome != y.outcome || x.ended_ms != y.ended_ms || x.exit_code != y.exit_code ||
        x.node != y.node || x.started_ms != y.started_ms) {
      if (!out.empty()) out += "; ";
      out += "attempt " + std::to_string(x.number) + " " + OutcomeName(x.outcome) + " -> " +
             OutcomeName(y.outcome);
    }
  }
  Field(&out, "finished_ms", a->finished_ms, b->finished_ms);
  Field(&out, "not_before_ms", a->not_before_ms, b->not_before_ms);
  Field(&out, "failed_attempts", a->failed_attempts, b->failed_attempts);
  Field(&out, "lost_attempts", a->lost_attempts, b->lost_attempts);
  Field(&out, "blocked_by", a->blocked_by, b->blocked_by);
  Field(&out, "end_reason", a->end_reason, b->end_reason);
  Field(&out, "output tails", a->stdout_tail + a->stderr_tail, b->stdout_tail + b->stderr_tail);
  Field(&out, "restart_of", a->restart_of, b->restart_of);
  Field(&out, "started_ms", a->started_ms, b->started_ms);
  Field(&out, "met_upstreams", a->met_upstreams, b->met_upstreams);
  Field(&out, "cached_from", a->cached_from, b->cached_from);
  if (a->history.size() != b->history.size()) {
    const auto& longer = a->history.size() > b->history.size() ? a->history : b->history;
    const TaskEvent& e = longer[std::min(a->history.size(), b->history.size())];
    if (!out.empty()) out += "; ";
    out += "history " + std::to_string(a->history.size()) + " -> " + std::to_string(b->history.size()) +
           " events (first unmatched: " + e.kind + " at index " + std::to_string(e.index) + ", '" + e.detail + "')";
  }
  for (size_t i = 0; i < a->history.size() && i < b->history.size(); ++i) {
    const TaskEvent& x = a->history[i];
    const TaskEvent& y = b->history[i];
    if (EncodePayload(x) == EncodePayload(y)) continue;
    if (!out.empty()) out += "; ";
    out += "history[" + std::to_string(i) + "] " + x.kind + " at " + std::to_string(x.at_ms) + " '" + x.detail +
           "' -> " + y.kind + " at " + std::to_string(y.at_ms) + " '" + y.detail + "'";
    break;
  }
  Field(&out, "children", a->children, b->children);
  Field(&out, "children_open", a->children_open, b->children_open);
  Field(&out, "merging", a->merging, b->merging);
  Field(&out, "progress", std::make_tuple(a->progress_percent, a->progress_message, a->progress_ms, a->progress_attempt),
        std::make_tuple(b->progress_percent, b->progress_message, b->progress_ms, b->progress_attempt));
  Field(&out, "last_slot_ms", a->last_slot_ms, b->last_slot_ms);
  Field(&out, "fired", a->fired, b->fired);
  Field(&out, "skipped", a->skipped, b->skipped);
  Field(&out, "last_fired", a->last_fired, b->last_fired);
  Field(&out, "paused", a->paused, b->paused);
  Field(&out, "fired_by", a->fired_by, b->fired_by);
  Field(&out, "slot_ms", a->slot_ms, b->slot_ms);
  Field(&out, "spec", EncodePayload(a->spec), EncodePayload(b->spec));
  return out.empty() ? "other fields differ" : out;
}

bool LivenessChecker::WaitsOnALostGroup(const TaskTable& table, const Task& t, int depth) const {
  // An `after` naming a task of another group is resolved by that group's leader; a lost
  // group never answers, so what waits on it (directly, or through pending upstreams in
  // this group or in other, surviving groups) may wait for
  // good: DESIGN §1.1 promises nothing past a majority's disks.
  if (depth > 64) return false;
  for (const auto& up : t.spec.after) {
    const std::string g = Oracle::GroupOf(up);
    if (!oracle_->GroupSurvives(g)) return true;
    const TaskTable* upstream_table = &table;
    if (g != Oracle::GroupOf(t.id)) {
      const int leader = LeaderOf(g);
      if (leader < 0) continue;  // reported as a group without a serving leader
      upstream_table = &(*nodes_)[leader]->core().replica(g)->table;
    }
    const Task* u = upstream_table->Find(up);
    if (u != nullptr && !IsEnded(u->state) && WaitsOnALostGroup(*upstream_table, *u, depth + 1)) return true;
  }
  return false;
}

size_t LivenessChecker::ExcludedAcks() const {
  size_t n = 0;
  for (const auto& [id, ack] : oracle_->acks()) {
    if (!oracle_->GroupSurvives(ack.group)) ++n;
  }
  return n;
}

int LivenessChecker::LeaderOf(const std::string& group) const {
  int best = -1;
  uint64_t best_term = 0;
  for (size_t i = 0; i < nodes_->size(); ++i) {
    const SimNode& n = *(*nodes_)[i];
    if (!n.up() || n.paused()) continue;
    const Replica* r = n.core().replica(group);
    if (r == nullptr || !r->raft.is_leader() || !r->serving) continue;
    if (best < 0 || r->raft.term() > best_term) {
      best = static_cast<int>(i);
      best_term = r->raft.term();
    }
  }
  return best;
}

namespace {

// Every group some node holds, and every group an acknowledged task names.
std::set<std::string> AllGroups(const Oracle& oracle, const std::vector<std::unique_ptr<SimNode>>& nodes) {
  std::set<std::string> out;
  for (const auto& n : nodes) {
    if (!n->up()) continue;
    for (const auto& g : n->core().groups()) out.insert(g);
  }
  for (const auto& [id, ack] : oracle.acks()) out.insert(ack.group);
  return out;
}

int NodeById(const std::vector<std::unique_ptr<SimNode>>& nodes, const std::string& id) {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i]->node_id() == id) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::vector<Violation> LivenessChecker::CheckConverged(SimTime now,
                                                       size_t outstanding_requests) const {
  std::vector<Violation> out;
  auto report = [&](std::string detail) {
    if (out.size() < kMaxReported) out.push_back(Violation{now, kLiveness, std::move(detail)});
  };
  if (outstanding_requests != 0) {
    report(std::to_string(outstanding_requests) + " client requests were never answered");
  }
  for (size_t i = 0; i < nodes_->size(); ++i) {
    const SimNode& n = *(*nodes_)[i];
    if (!n.up()) report("node " + std::to_string(i) + " is still down after the heal");
  }
  // Groups with acknowledged tasks, by group.
  std::map<std::string, std::vector<const AckRecord*>> acked;
  for (const auto& [id, ack] : oracle_->acks()) {
    if (oracle_->GroupSurvives(ack.group)) acked[ack.group].push_back(&ack);
  }
  for (const auto& group : AllGroups(*oracle_, *nodes_)) {
    const int leader = LeaderOf(group);
    auto a = acked.find(group);
    if (leader < 0) {
      if (a != acked.end()) {
        report("group " + group + " (" + std::to_string(a->second.size()) +
               " acknowledged tasks) has no serving leader after the quiet period");
      }
      continue;
    }
    const SimNode& l = *(*nodes_)[leader];
    const Replica& lr = *l.core().replica(group);
    for (const auto& m : lr.raft.members().members) {
      if (!m.voter) continue;
      const int mi = NodeById(*nodes_, m.id);
      if (mi < 0 || !(*nodes_)[mi]->up()) continue;  // a wiped identity; a down node (above)
      const Replica* mr = (*nodes_)[mi]->core().replica(group);
      if (mr == nullptr || mr->raft.applied_index() != lr.raft.applied_index()) {
        report("node " + std::to_string(mi) + ", a voter of group " + group + ", has applied " +
               (mr == nullptr ? std::string("nothing (no replica)")
                              : "to index " + std::to_string(mr->raft.applied_index())) +
               " but its leader, node " + std::to_string(leader) + ", to " +
               std::to_string(lr.raft.applied_index()));
      }
    }
    lr.table.ForEachBySeq(0, [&](const Task& t) {
      const Attempt* at = t.current_attempt();
      if (!HoldsGrant(t.state) || at == nullptr) return true;
      const int holder = NodeById(*nodes_, at->node);
      if (holder < 0 || !(*nodes_)[holder]->up() ||
          (*nodes_)[holder]->executor().Find(t.id, at->number) == nullptr) {
        report("task " + t.id + " is running in group " + group + "'s table at its leader, node " +
               std::to_string(leader) + " (attempt " + std::to_string(at->number) + " on " +
               (holder < 0 ? at->node + ", an identity no node has" : "node " + std::to_string(holder)) +
               ") but no process of that attempt is alive");
      }
      return true;
    });
    if (a == acked.end()) continue;
    for (const AckRecord* ack : a->second) {
      const Task* t = lr.table.Find(ack->id);
      if (t != nullptr && !IsEnded(t->state) && WaitsOnALostGroup(lr.table, *t)) continue;
      // A schedule never ends by itself: the schedule checker holds it to its promises.
      if (t != nullptr && t->state == TaskState::kScheduled) continue;
      if (t == nullptr) {
        report("task " + ack->id + " (acknowledged at t=" + ack->at.ToString() +
               ") is missing from its group's leader, node " + std::to_string(leader));
      } else if (!ack->key.empty() && t->spec.idempotency_key != ack->key) {
        report("task " + ack->id + " (acknowledged at t=" + ack->at.ToString() + " for key " +
               ack->key + ") is another task (key " + t->spec.idempotency_key +
               ") at its group's leader, node " + std::to_string(leader));
      } else if (!IsEnded(t->state)) {
        report("task " + ack->id + " (acknowledged at t=" + ack->at.ToString() + ") is still " +
               TaskStateName(t->state) + " after the quiet period: " + AttemptWords(*t) +
               (t->spec.after.empty() ? "" : "; it waits on " + Join(t->spec.after)));
      }
    }
  }
  for (size_t i = 0; i < nodes_->size(); ++i) {
    const SimNode& n = *(*nodes_)[i];
    if (!n.up()) continue;
    for (const auto& [pid, p] : n.executor().processes()) {
      const int leader = LeaderOf(Oracle::GroupOf(p.task_id));
      const Task* t =
          leader < 0 ? nullptr : (*nodes_)[leader]->core().replica(Oracle::GroupOf(p.task_id))->table.Find(p.task_id);
      const Attempt* a = t != nullptr ? t->current_attempt() : nullptr;
      if (t == nullptr || !HoldsGrant(t->state) || a == nullptr ||
          a->number != p.attempt || a->node != n.node_id()) {
        report("process " + std::to_string(pid) + " of task " + p.task_id + " attempt " +
               std::to_string(p.attempt) + " on node " + std::to_string(i) +
               " is still alive, but its attempt is not the running one (" +
               (t ? TaskStateName(t->state) : "no such task at a leader") + ")");
      }
    }
  }
  return out;
}

bool LivenessChecker::Converged(size_t outstanding_requests) const {
  if (outstanding_requests != 0) return false;
  for (const auto& n : *nodes_) {
    if (!n->up() || n->paused() || n->busy() || n->inbox_size() != 0) return false;
    if (n->executor().live() != 0) return false;
  }
  return CheckConverged(SimTime::Zero(), 0).empty();
}

std::vector<Violation> LivenessChecker::CheckReplay(SimTime now, int node, const TableImage& before,
                                                    const TableImage& after) const {
  std::vector<Violation> out;
  auto report = [&](std::string detail) {
    if (out.size() < kMaxReported) {
      out.push_back(Violation{now, kReplayConsistency, "node " + std::to_string(node) + ": " +
                                                            std::move(detail)});
    }
  };
  for (const auto& [id, rec] : before) {
    auto it = after.find(id);
    if (it == after.end()) {
      report("task " + id + " is gone after restarting from its own storage");
    } else if (it->second != rec) {
      report("task " + id + " differs after restarting from its own storage: " +
             DescribeDifference(rec, it->second));
    }
  }
  for (const auto& [id, rec] : after) {
    if (before.count(id) == 0) report("task " + id + " appeared after restarting");
  }
  return out;
}

}  // namespace magpie
