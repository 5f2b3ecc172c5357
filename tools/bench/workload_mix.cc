// MIX of ../shared/bench/README.md: long and short tasks together with a schedule, all sent
// to one node of a cluster of 3 nodes x 2 slots. It shows whether work a node took ahead
// of its free slots leaves other nodes idle, and how late a schedule's runs start while
// every slot is busy.
//
// Timed from the client, on its monotonic clock: from just before the first submit is sent
// (the schedule's) to the reply of the wait that says the last task ended. The schedule's
// runs are not part of that span; the schedule is removed once the tasks have ended (and on
// every way out, so a run against an external node leaves nothing firing).
#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tools/bench/bench_util.h"
#include "tools/bench/workloads.h"

namespace magpie {
namespace {

// A task whose successful attempt lasted this much longer than its sleep was granted before
// a slot was free to run it: held ahead by a busy node.
constexpr int64_t kHeldAheadMs = 250;

TaskSpec SleepTask(double seconds, bool process) {
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%g", seconds);
  TaskSpec s;
  s.command = {process ? "sleep" : "@sleep", secs};
  s.cwd = "/";
  return s;
}

// Removes the schedule when it goes out of scope unless Remove() did: a schedule left
// behind on an external cluster would fire for ever.
class ScheduleGuard {
 public:
  ScheduleGuard(Client& client, std::string id) : client_(client), id_(std::move(id)) {}
  ~ScheduleGuard() {
    if (!id_.empty()) (void)Remove();
  }
  ScheduleGuard(const ScheduleGuard&) = delete;
  ScheduleGuard& operator=(const ScheduleGuard&) = delete;

  // The schedule's record once its removal has committed: nothing fires after it.
  Result<Task> Remove() {
    ScheduleRequest req;
    req.id = id_;
    req.action = "rm";
    auto r = client_.ChangeSchedule(req);
    if (!r.ok()) return r.status();
    id_.clear();
    return std::move(r->task);
  }

 private:
  Client& client_;
  std::string id_;
};

// The ids of the tasks the schedule fired, from the node's listing of the groups it holds
// (the schedule lives in the home group of the node it was added through).
Result<std::vector<std::string>> ListRuns(Client& client, const Task& schedule) {
  std::vector<std::string> ids;
  ListRequest req;
  req.since_ms = schedule.submitted_ms;
  req.limit = 1000;
  for (int page = 0; page < 1000; ++page) {
    auto r = client.List(req);
    if (!r.ok()) return r.status();
    for (const Task& t : r->tasks) {
      if (t.fired_by == schedule.id) ids.push_back(t.id);
    }
    if (!r->truncated || r->tasks.empty()) break;
    req.after_id = r->tasks.back().id;
  }
  return ids;
}

// The final records of every run the removed schedule fired. A follower's copy of the group
// may trail its leader by a moment, so the listing is asked again (bounded) until it holds
// as many runs as the schedule's record counts.
Result<std::vector<Task>> EndedRuns(Client& client, const Task& schedule) {
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    auto found = ListRuns(client, schedule);
    if (!found.ok()) return found.status();
    ids = std::move(*found);
    if (ids.size() >= schedule.fired) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (ids.size() != schedule.fired) {
    return Status::Unavailable("found " + std::to_string(ids.size()) + " runs of schedule " +
                               schedule.id + ", which fired " + std::to_string(schedule.fired));
  }
  if (ids.empty()) return std::vector<Task>{};
  return WaitAll(client, ids, 120);
}

// The shortest makespan there could be: the work's slot-seconds over the cluster's slots,
// or the longest task if that is longer. The work includes the schedule's runs whose slots
// fall within that span; each adds a little to the span, so it is found by iterating.
struct Ideal {
  double s = 0;
  double work_slot_s = 0;
  int firings = 0;
};

Ideal IdealMakespan(const WorkloadOptions& o) {
  const double tasks_slot_s = o.mix_long * o.mix_long_s + o.mix_short * o.mix_short_s;
  const double longest_s = std::max(o.mix_long > 0 ? o.mix_long_s : 0.0, o.mix_short_s);
  Ideal ideal;
  for (int i = 0; i < 64; ++i) {
    ideal.work_slot_s = tasks_slot_s + ideal.firings * o.mix_short_s;
    ideal.s = std::max(ideal.work_slot_s / o.mix_slots, longest_s);
    const int firings = static_cast<int>(std::floor(ideal.s / o.mix_every_s));
    if (firings == ideal.firings) break;
    ideal.firings = firings;
  }
  return ideal;
}

// What each node ran (by the node of each task's last attempt), and when it last ended a
// task, in s after the first submit as the node recorded it.
struct NodeShare {
  int long_tasks = 0;
  int short_tasks = 0;
  int runs = 0;
  int64_t last_end_ms = 0;
};

nlohmann::json Shares(const std::map<std::string, NodeShare>& shares, int64_t first_ms) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [node, n] : shares) {
    out[node] = {{"long", n.long_tasks},
                 {"short", n.short_tasks},
                 {"schedule_runs", n.runs},
                 {"last_end_s", Round2(static_cast<double>(n.last_end_ms - first_ms) / 1000.0)}};
  }
  return out;
}

bool HeldAhead(const Task& t, double sleep_s) {
  if (t.attempts.empty()) return false;
  const Attempt& a = t.attempts.back();
  return a.ended_ms - a.started_ms > static_cast<int64_t>(sleep_s * 1000) + kHeldAheadMs;
}

}  // namespace

Result<nlohmann::json> RunMix(Client& client, const WorkloadOptions& o) {
  const bool process = o.mix_processes;
  const char* name = process ? "MIXP" : "MIX";
  if (o.mix_long + o.mix_short < 1) return Status::InvalidArgument("MIX needs at least one task");
  std::vector<TaskSpec> specs;
  for (int i = 0; i < o.mix_long; ++i) specs.push_back(SleepTask(o.mix_long_s, process));
  for (int i = 0; i < o.mix_short; ++i) specs.push_back(SleepTask(o.mix_short_s, process));
  TaskSpec every = SleepTask(o.mix_short_s, process);
  every.name = "mix-every-" + std::to_string(UnixMicros());
  every.schedule.every_ms = std::llround(o.mix_every_s * 1000);
  const Ideal ideal = IdealMakespan(o);

  const int64_t start_us = MonotonicMicros();
  SubmitRequest add;
  add.tasks.push_back(every);
  auto added = client.Submit(add);
  if (!added.ok()) return added.status();
  ScheduleGuard guard(client, added->ids.at(0));
  auto sub = SubmitPipelined(client, specs, o.batch, o.window);
  if (!sub.ok()) return sub.status();
  std::fprintf(stderr, "%s: %zu tasks and a schedule every %g s submitted; waiting\n", name,
               specs.size(), o.mix_every_s);
  const int wait_s = std::max(60, static_cast<int>(std::ceil(20 * ideal.s)));
  auto tasks = WaitAll(client, sub->ids, wait_s);
  if (!tasks.ok()) return tasks.status();
  const int64_t end_us = MonotonicMicros();

  auto schedule = guard.Remove();
  if (!schedule.ok()) return schedule.status();
  auto runs = EndedRuns(client, *schedule);
  if (!runs.ok()) return runs.status();

  size_t failed = 0;
  int held_ahead = 0;
  int64_t first_ms = INT64_MAX;
  int64_t last_ms = 0;
  std::map<std::string, NodeShare> shares;
  for (size_t i = 0; i < tasks->size(); ++i) {
    const Task& t = (*tasks)[i];
    const bool is_long = static_cast<int>(i) < o.mix_long;
    failed += t.state != TaskState::kSucceeded;
    held_ahead += HeldAhead(t, is_long ? o.mix_long_s : o.mix_short_s);
    first_ms = std::min(first_ms, t.submitted_ms);
    last_ms = std::max(last_ms, t.finished_ms);
    if (t.attempts.empty()) continue;
    NodeShare& n = shares[t.attempts.back().node];
    ++(is_long ? n.long_tasks : n.short_tasks);
    n.last_end_ms = std::max(n.last_end_ms, t.finished_ms);
  }
  // Lateness of each firing: its run's first attempt's start (started_ms: the grant) minus
  // its slot; and, since a grant to a node whose slots are busy precedes the start, the
  // latest the run can have started (its end minus its sleep) minus its slot.
  std::sort(runs->begin(), runs->end(),
            [](const Task& a, const Task& b) { return a.slot_ms < b.slot_ms; });
  nlohmann::json lateness_ms = nlohmann::json::array();
  nlohmann::json worst_ms = nullptr;
  nlohmann::json worst_by_end_ms = nullptr;
  const int64_t short_ms = std::llround(o.mix_short_s * 1000);
  for (const Task& r : *runs) {
    failed += r.state != TaskState::kSucceeded;
    held_ahead += HeldAhead(r, o.mix_short_s);
    if (r.attempts.empty()) continue;
    const int64_t late_ms = r.attempts.front().started_ms - r.slot_ms;
    const int64_t by_end_ms = r.finished_ms - short_ms - r.slot_ms;
    lateness_ms.push_back(late_ms);
    if (worst_ms.is_null() || late_ms > worst_ms.get<int64_t>()) worst_ms = late_ms;
    if (worst_by_end_ms.is_null() || by_end_ms > worst_by_end_ms.get<int64_t>()) worst_by_end_ms = by_end_ms;
    NodeShare& n = shares[r.attempts.back().node];
    ++n.runs;
    n.last_end_ms = std::max(n.last_end_ms, r.finished_ms);
  }

  const double makespan_s = static_cast<double>(end_us - start_us) / 1e6;
  std::vector<int> per_node;
  for (const auto& [node, n] : shares) per_node.push_back(n.long_tasks + n.short_tasks);
  std::sort(per_node.rbegin(), per_node.rend());
  nlohmann::json j;
  j["workload"] = name;
  j["processes"] = process;
  j["long_tasks"] = o.mix_long;
  j["long_s"] = o.mix_long_s;
  j["short_tasks"] = o.mix_short;
  j["short_s"] = o.mix_short_s;
  j["schedule_every_s"] = o.mix_every_s;
  j["slots_total"] = o.mix_slots;
  j["tasks"] = tasks->size();
  j["failed"] = failed;
  j["makespan_s"] = Round2(makespan_s);
  j["span_from_records_s"] = Round2(static_cast<double>(last_ms - first_ms) / 1000.0);
  j["ideal_s"] = Round2(ideal.s);
  j["ideal_work_slot_s"] = Round2(ideal.work_slot_s);
  j["makespan_over_ideal"] = Round2(makespan_s / ideal.s);
  j["schedule_firings"] = schedule->fired;
  j["schedule_skipped"] = schedule->skipped;
  j["schedule_lateness_ms"] = std::move(lateness_ms);
  j["schedule_worst_lateness_ms"] = worst_ms;
  j["schedule_worst_lateness_by_end_ms"] = worst_by_end_ms;
  j["held_ahead_tasks"] = held_ahead;
  j["nodes_used"] = shares.size();
  j["tasks_per_node"] = per_node;
  j["per_node"] = Shares(shares, first_ms);
  if (!o.timeline_path.empty()) {
    std::vector<Task> all = std::move(*tasks);
    all.insert(all.end(), runs->begin(), runs->end());
    Status st = AppendTimeline(o.timeline_path, name, all, first_ms * 1000);
    if (!st.ok()) return st;
  }
  return j;
}

}  // namespace magpie
