#include "simulations/liveness_checker.h"

#include "node/log_entry.h"

namespace magpie {

namespace {

std::string AttemptWords(const Task& t) {
  const Attempt* a = t.current_attempt();
  if (a == nullptr) return "no attempts";
  return std::to_string(t.attempts.size()) + " attempts, current " + std::to_string(a->number) +
         " on " + a->node + " (" + OutcomeName(a->outcome) + ")";
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
  return out.empty() ? "other fields differ" : out;
}

size_t LivenessChecker::ExcludedAcks() const {
  size_t n = 0;
  for (const auto& [id, ack] : oracle_->acks()) {
    if (!oracle_->GroupSurvives(ack.group)) ++n;
  }
  return n;
}

bool LivenessChecker::Converged(size_t outstanding_requests) const {
  if (outstanding_requests != 0) return false;
  for (const auto& n : *nodes_) {
    if (!n->up() || n->paused() || n->busy() || n->inbox_size() != 0) return false;
    if (n->core().tasks().CountInState(TaskState::kRunning) != 0) return false;
    if (n->executor().live() != 0) return false;
  }
  for (const auto& [id, ack] : oracle_->acks()) {
    if (!oracle_->GroupSurvives(ack.group)) continue;
    const int home = oracle_->HomeOf(ack.group);
    if (home < 0) return false;
    const Task* t = (*nodes_)[home]->core().tasks().Find(id);
    if (t == nullptr || !IsEnded(t->state)) return false;
  }
  return true;
}

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
    if (!n.up()) {
      report("node " + std::to_string(i) + " is still down after the heal");
      continue;
    }
    n.core().tasks().ForEachBySeq(0, [&](const Task& t) {
      const Attempt* a = t.current_attempt();
      if (t.state != TaskState::kRunning || a == nullptr || a->node != n.node_id()) return true;
      if (n.executor().Find(t.id, a->number) == nullptr) {
        report("task " + t.id + " is running in node " + std::to_string(i) +
               "'s table (attempt " + std::to_string(a->number) +
               ") but no process of that attempt is alive");
      }
      return true;
    });
    for (const auto& [pid, p] : n.executor().processes()) {
      const Task* t = n.up() ? n.core().tasks().Find(p.task_id) : nullptr;
      const Attempt* a = t != nullptr ? t->current_attempt() : nullptr;
      if (t == nullptr || t->state != TaskState::kRunning || a == nullptr ||
          a->number != p.attempt) {
        report("process " + std::to_string(pid) + " of task " + p.task_id + " attempt " +
               std::to_string(p.attempt) + " on node " + std::to_string(i) +
               " is still alive, but its attempt is not the running one (" +
               (t ? TaskStateName(t->state) : "no such task") + ")");
      }
    }
  }
  for (const auto& [id, ack] : oracle_->acks()) {
    if (!oracle_->GroupSurvives(ack.group)) continue;
    const int home = oracle_->HomeOf(ack.group);
    if (home < 0 || !(*nodes_)[home]->up()) continue;  // reported above
    const Task* t = (*nodes_)[home]->core().tasks().Find(id);
    if (t == nullptr) {
      report("task " + id + " (acknowledged at t=" + ack.at.ToString() + ") is missing");
    } else if (!IsEnded(t->state)) {
      report("task " + id + " (acknowledged at t=" + ack.at.ToString() + ") is still " +
             TaskStateName(t->state) + " after the quiet period: " + AttemptWords(*t));
    }
  }
  return out;
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
