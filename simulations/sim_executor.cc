#include "simulations/sim_executor.h"

#include <algorithm>
#include <vector>

#include "simulations/command_model.h"

namespace magpie {

namespace {
constexpr int32_t kSigKill = 9;
}  // namespace

SimExecutor::SimExecutor(int node, ExecutorOptions options, const SimClock* clock, Prng* prng,
                         EventQueue* events, TraceHash* trace, ProcessObserver* observer,
                         uint64_t* next_process_id)
    : node_(node),
      options_(options),
      clock_(clock),
      prng_(prng),
      events_(events),
      trace_(trace),
      observer_(observer),
      next_process_id_(next_process_id) {}

const SimProcess* SimExecutor::Find(const std::string& task_id, uint32_t attempt) const {
  auto it = by_attempt_.find({task_id, attempt});
  return it == by_attempt_.end() ? nullptr : &live_.at(it->second);
}

std::optional<ExecutorEvent> SimExecutor::Start(SimTime now, uint64_t incarnation,
                                                const StartProcess& sp) {
  if (by_attempt_.count({sp.task_id, sp.attempt}) != 0) return std::nullopt;
  ProcessPlan plan = PlanProcess(sp.spec.command, *prng_);
  if (plan.start_fails) {
    ExecutorEvent ev;
    ev.kind = ExecutorEvent::Kind::kStartFailed;
    ev.task_id = sp.task_id;
    ev.attempt = sp.attempt;
    ev.error = plan.error;
    return ev;
  }
  SimProcess p;
  p.id = (*next_process_id_)++;
  p.node = node_;
  p.incarnation = incarnation;
  p.task_id = sp.task_id;
  p.attempt = sp.attempt;
  p.started = now;
  p.exit_code = plan.exit_code;
  p.signal = plan.signal;
  p.kill_deadline = sp.kill_deadline;
  events_->Push(now + plan.runs_for, EventKind::kProcessExit, node_, p.id);
  if (p.kill_deadline < Instant::Never()) {
    events_->Push(std::max(now, clock_->TrueAt(p.kill_deadline)), EventKind::kWatchdogDeadline,
                  node_, p.id);
  }
  trace_->Record(now, node_, TraceKind::kProcessStart, p.id, p.attempt);
  by_attempt_[{p.task_id, p.attempt}] = p.id;
  const uint64_t id = p.id;
  auto [it, inserted] = live_.emplace(id, std::move(p));
  observer_->OnProcessStart(now, it->second);
  return std::nullopt;
}

void SimExecutor::Kill(SimTime now, const KillProcess& kill) {
  auto a = by_attempt_.find({kill.task_id, kill.attempt});
  if (a == by_attempt_.end()) return;  // already exited: its exit was reported once
  SimProcess& p = live_.at(a->second);
  if (p.killing) return;
  p.killing = true;
  events_->Push(now + Duration::Micros(prng_->Between(10, options_.kill_latency_max_us)),
                EventKind::kProcessKilled, node_, p.id);
}

void SimExecutor::Extend(SimTime now, const ExtendDeadline& extend) {
  auto a = by_attempt_.find({extend.task_id, extend.attempt});
  if (a == by_attempt_.end()) return;
  SimProcess& p = live_.at(a->second);
  p.kill_deadline = extend.kill_deadline;
  if (p.kill_deadline < Instant::Never()) {
    events_->Push(std::max(now, clock_->TrueAt(p.kill_deadline)), EventKind::kWatchdogDeadline,
                  node_, p.id);
  }
}

void SimExecutor::Stop(SimTime now, std::map<uint64_t, SimProcess>::iterator it, const char* why) {
  SimProcess& p = it->second;
  p.ended_by = why;
  trace_->Record(now, node_, TraceKind::kProcessStop, p.id, p.attempt);
  observer_->OnProcessStop(now, p);
  by_attempt_.erase({p.task_id, p.attempt});
  live_.erase(it);
}

std::optional<std::pair<uint64_t, ExecutorEvent>> SimExecutor::End(SimTime now,
                                                                   uint64_t process_id,
                                                                   bool killed) {
  auto it = live_.find(process_id);
  if (it == live_.end()) return std::nullopt;
  ExecutorEvent ev;
  ev.kind = ExecutorEvent::Kind::kExited;
  ev.task_id = it->second.task_id;
  ev.attempt = it->second.attempt;
  if (killed) {
    ev.exit_code = -1;
    ev.signal = kSigKill;
  } else {
    ev.exit_code = it->second.exit_code;
    ev.signal = it->second.signal;
    ev.stdout_tail = "attempt " + std::to_string(ev.attempt) + " output\n";
  }
  const uint64_t incarnation = it->second.incarnation;
  Stop(now, it, killed ? "kill" : "exit");
  return std::make_pair(incarnation, std::move(ev));
}

void SimExecutor::CheckDeadline(SimTime now, uint64_t process_id) {
  auto it = live_.find(process_id);
  if (it == live_.end()) return;
  // An Extend may have moved the deadline since this check was scheduled.
  if (clock_->LocalAt(now) < it->second.kill_deadline) return;
  if (!watchdog_alive_) return;  // nothing outside the node enforces it any more
  // The watchdog kills the group; the node (if alive) sees the exit as a kill.
  KillProcess k{it->second.task_id, it->second.attempt, Outcome::kLost};
  Kill(now, k);
}

void SimExecutor::NodeDied(SimTime now, uint64_t incarnation) {
  const SimTime at = now + Duration::Micros(prng_->Between(100, options_.watchdog_latency_max_us));
  sweep_done_at_ = std::max(sweep_done_at_, at);
  events_->Push(at, EventKind::kWatchdogSweep, node_, incarnation);
}

void SimExecutor::Sweep(SimTime now, uint64_t incarnation) {
  std::vector<uint64_t> doomed;
  for (const auto& [id, p] : live_) {
    if (p.incarnation == incarnation) doomed.push_back(id);
  }
  for (uint64_t id : doomed) Stop(now, live_.find(id), "watchdog-node-died");
}

}  // namespace magpie
