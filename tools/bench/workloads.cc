#include "tools/bench/workloads.h"

#include <algorithm>
#include <cstdio>
#include <climits>
#include <cmath>
#include <map>
#include <set>

#include "tools/bench/bench_util.h"

namespace magpie {

namespace {

TaskSpec Command(std::vector<std::string> argv, std::string name = "",
                 std::vector<std::string> after = {}) {
  TaskSpec s;
  s.command = std::move(argv);
  s.name = std::move(name);
  s.after = std::move(after);
  s.cwd = "/";
  return s;
}

// Throughput of independent tasks: first submit to last finish.
// Submits in waves of max_unfinished / 2, each once the wave two before it has finished,
// so the nodes always have work queued and never more than max_unfinished. The records
// those waits return are kept in `ended`, and the ids of the last waves, not waited for yet,
// in `rest`: asking for every record again at the end read back all of them from the
// leader's store while the last waves drained, which is the client's cost, not the
// cluster's slowing down.
Result<Submitted> SubmitInWaves(Client& client, const std::vector<TaskSpec>& specs,
                                const WorkloadOptions& o, std::vector<Task>* ended,
                                std::vector<std::string>* rest) {
  const size_t wave = std::max<size_t>(1, o.max_unfinished / 2);
  Submitted all;
  std::vector<std::vector<std::string>> waves;
  for (size_t from = 0; from < specs.size(); from += wave) {
    if (waves.size() >= 2) {
      auto done = WaitAll(client, waves[waves.size() - 2], 600);
      if (!done.ok()) return done.status();
      for (Task& t : *done) ended->push_back(std::move(t));
    }
    std::vector<TaskSpec> part(specs.begin() + from, specs.begin() + std::min(specs.size(), from + wave));
    auto sub = SubmitPipelined(client, part, o.batch, o.window);
    if (!sub.ok()) return sub.status();
    if (all.ids.empty()) all.first_sent_us = sub->first_sent_us;
    all.all_acked_us = sub->all_acked_us;
    all.ids.insert(all.ids.end(), sub->ids.begin(), sub->ids.end());
    all.sent_us.insert(all.sent_us.end(), sub->sent_us.begin(), sub->sent_us.end());
    waves.push_back(std::move(sub->ids));
    std::fprintf(stderr, "%zu of %zu submitted\n", all.ids.size(), specs.size());
  }
  for (size_t w = waves.size() >= 2 ? waves.size() - 2 : 0; w < waves.size(); ++w) {
    rest->insert(rest->end(), waves[w].begin(), waves[w].end());
  }
  return all;
}

Result<nlohmann::json> Throughput(Client& client, const std::vector<TaskSpec>& specs,
                                  const WorkloadOptions& o, const char* name,
                                  std::vector<Task>* records = nullptr,
                                  int64_t* first_submit_us = nullptr) {
  std::vector<Task> ended;        // records the waves' waits already returned
  std::vector<std::string> rest;  // and the ids still to wait for
  auto sub = o.max_unfinished > 0 ? SubmitInWaves(client, specs, o, &ended, &rest)
                                  : SubmitPipelined(client, specs, o.batch, o.window);
  if (!sub.ok()) return sub.status();
  if (o.max_unfinished == 0) rest = sub->ids;
  std::fprintf(stderr, "%s: %zu submitted in %.2f s; waiting\n", name, sub->ids.size(),
               (sub->all_acked_us - sub->first_sent_us) / 1e6);
  auto tasks = WaitAll(client, rest, 600);
  if (!tasks.ok()) return tasks.status();
  for (Task& t : ended) tasks->push_back(std::move(t));
  if (tasks->size() != sub->ids.size()) {
    return Status::Unavailable("waited for " + std::to_string(tasks->size()) + " of " +
                                std::to_string(sub->ids.size()) + " tasks");
  }
  // Spans and latencies from the task records alone (submitted_ms: when the node took the
  // request; finished_ms): one clock. The bench's own clock is not comparable: a node's
  // clock is Unix time at its start plus CLOCK_MONOTONIC since, and an NTP slew moves the
  // Unix clock by up to 0.5 ms per second.
  std::vector<double> latency_ms;
  int64_t first_submit_ms = INT64_MAX;
  int64_t last_finish_ms = 0;
  size_t failed = 0;
  for (const Task& t : *tasks) {
    if (t.state != TaskState::kSucceeded) ++failed;
    first_submit_ms = std::min(first_submit_ms, t.submitted_ms);
    last_finish_ms = std::max(last_finish_ms, t.finished_ms);
    latency_ms.push_back(static_cast<double>(t.finished_ms - t.submitted_ms));
  }
  double span_s = static_cast<double>(last_finish_ms - first_submit_ms) / 1000.0;
  std::map<std::string, int> per_node;
  for (const Task& t : *tasks) {
    if (!t.attempts.empty()) per_node[t.attempts.back().node]++;
  }
  std::vector<int> spread;
  for (const auto& [node, n] : per_node) spread.push_back(n);
  std::sort(spread.rbegin(), spread.rend());
  nlohmann::json j;
  j["workload"] = name;
  j["tasks_per_node"] = spread;
  j["tasks"] = tasks->size();
  j["failed"] = failed;
  j["tasks_per_s"] = std::round(static_cast<double>(tasks->size()) / span_s);
  j["submitted_per_s"] = std::round(static_cast<double>(sub->ids.size()) /
                                    ((sub->all_acked_us - sub->first_sent_us) / 1e6));
  j["p50_ms"] = Round2(Percentile(latency_ms, 0.50));
  j["p99_ms"] = Round2(Percentile(latency_ms, 0.99));
  j["wall_s"] = Round2(span_s);
  // Whether throughput holds up as tasks pile up: the rate over the first and over the last
  // 10 % of tasks to finish, each from its first to its last finish time (ms resolution:
  // null when a window is shorter than 5 ms).
  std::vector<int64_t> finish_ms;
  for (const Task& t : *tasks) finish_ms.push_back(t.finished_ms);
  std::sort(finish_ms.begin(), finish_ms.end());
  const size_t k = std::max<size_t>(2, finish_ms.size() / 10);
  auto rate = [&](size_t from) -> nlohmann::json {
    if (finish_ms.size() < k || from + k > finish_ms.size()) return nullptr;
    int64_t ms = finish_ms[from + k - 1] - finish_ms[from];
    if (ms < 5) return nullptr;
    return std::round(static_cast<double>(k - 1) * 1000.0 / static_cast<double>(ms));
  };
  j["tasks_per_s_start"] = rate(0);
  j["tasks_per_s_end"] = rate(finish_ms.size() >= k ? finish_ms.size() - k : 0);
  // The same for every tenth in turn, to tell a slowdown that grows with the tasks stored
  // from the last tenth's drain (no backlog left to batch).
  nlohmann::json deciles = nlohmann::json::array();
  for (size_t d = 0; d < 10 && finish_ms.size() >= 10 * k; ++d) deciles.push_back(rate(d * k));
  j["tasks_per_s_by_tenth"] = deciles;
  if (first_submit_us != nullptr) *first_submit_us = first_submit_ms * 1000;
  if (records != nullptr) *records = std::move(*tasks);
  return j;
}

// Where W3's time went, per node (by the node ids in the attempt records): tasks run,
// how many were stolen, attempts that did not end well (lost: a lease ran out), the span
// from the first submit to the node's first grant and its last finish, and the mean
// recorded attempt length beyond the sleep itself (grant to finish: for a stolen task
// that includes the victim's synced write and the reply's trip to the thief).
nlohmann::json W3Timeline(const std::vector<Task>& tasks, int64_t first_sent_us, double sleep_s) {
  struct PerNode {
    int tasks = 0, stolen = 0, lost = 0, attempts = 0;
    int64_t first_ms = INT64_MAX, last_ms = 0;
    double busy_ms = 0;
    std::set<int64_t> grant_ms;
  };
  std::map<std::string, PerNode> per;
  for (const Task& t : tasks) {
    for (const Attempt& a : t.attempts) {
      PerNode& p = per[a.node];
      ++p.attempts;
      if (a.outcome == Outcome::kLost) ++p.lost;
      if (a.started_ms > 0) p.first_ms = std::min(p.first_ms, a.started_ms);
      p.last_ms = std::max(p.last_ms, a.ended_ms);
      if (a.ended_ms > 0 && a.started_ms > 0) p.busy_ms += static_cast<double>(a.ended_ms - a.started_ms);
      p.grant_ms.insert(a.started_ms);
    }
    if (!t.attempts.empty()) {
      PerNode& p = per[t.attempts.back().node];
      ++p.tasks;
      p.stolen += !t.attempts.back().stolen_from.empty();
    }
  }
  const double t0_ms = static_cast<double>(first_sent_us) / 1000.0;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [node, p] : per) {
    nlohmann::json n;
    n["tasks"] = p.tasks;
    n["stolen"] = p.stolen;
    n["lost_attempts"] = p.lost;
    n["first_grant_s"] = Round2((static_cast<double>(p.first_ms) - t0_ms) / 1000.0);
    n["last_finish_s"] = Round2((static_cast<double>(p.last_ms) - t0_ms) / 1000.0);
    n["grant_times"] = p.grant_ms.size();  // distinct grant instants: steal rounds on a thief
    n["overhead_ms"] = Round2(p.attempts == 0 ? 0 : p.busy_ms / p.attempts - sleep_s * 1000);
    out[node] = std::move(n);
  }
  return out;
}

}  // namespace

Result<nlohmann::json> RunW1(Client& client, const WorkloadOptions& o) {
  std::vector<TaskSpec> specs(o.w1_tasks, Command({"@noop"}));
  return Throughput(client, specs, o, "W1");
}

Result<nlohmann::json> RunW2(Client& client, const WorkloadOptions& o) {
  std::vector<TaskSpec> specs(o.w2_tasks, Command({"/bin/true"}));
  return Throughput(client, specs, o, "W2");
}

Result<nlohmann::json> RunW3(Client& client, const WorkloadOptions& o) {
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%g", o.w3_sleep_s);
  TaskSpec s = o.w3_processes ? Command({"sleep", secs}) : Command({"@sleep", secs});
  std::vector<TaskSpec> specs(o.w3_tasks, s);
  const char* name = o.w3_processes ? "W3P" : "W3";
  std::vector<Task> tasks;
  int64_t first_sent_us = 0;  // the node's clock: when it took the first submit
  auto j = Throughput(client, specs, o, name, &tasks, &first_sent_us);
  if (!j.ok()) return j.status();
  double ideal_s = o.w3_tasks * o.w3_sleep_s / o.w3_slots;
  (*j)["ideal_s"] = Round2(ideal_s);
  (*j)["makespan_ratio"] = Round2((*j)["wall_s"].get<double>() / ideal_s);
  (*j)["processes"] = o.w3_processes;
  (*j)["per_node"] = W3Timeline(tasks, first_sent_us, o.w3_sleep_s);
  if (!o.timeline_path.empty()) {
    Status st = AppendTimeline(o.timeline_path, name, tasks, first_sent_us);
    if (!st.ok()) return st;
  }
  return j;
}

Result<nlohmann::json> RunW4(Client& client, const WorkloadOptions& o) {
  std::vector<double> rtt_ms;
  for (int i = 0; i < o.w4_round_trips; ++i) {
    int64_t t0 = UnixMicros();
    SubmitRequest req;
    req.tasks.push_back(Command({"@noop"}));
    auto sub = client.Submit(req);
    if (!sub.ok()) return sub.status();
    WaitRequest w;
    w.ids = sub->ids;
    w.timeout_ms = 10000;
    auto r = client.Wait(w, std::chrono::seconds(15));
    if (!r.ok()) return r.status();
    if (!r->all_ended) return Status::Unavailable("a W4 task did not finish within 10 s");
    rtt_ms.push_back(static_cast<double>(UnixMicros() - t0) / 1000.0);
  }
  nlohmann::json j;
  j["workload"] = "W4";
  j["round_trips"] = rtt_ms.size();
  j["p50_ms"] = Round2(Percentile(rtt_ms, 0.50));
  j["p99_ms"] = Round2(Percentile(rtt_ms, 0.99));
  return j;
}

Result<nlohmann::json> RunW5(Client& client, const WorkloadOptions& o) {
  nlohmann::json j;
  j["workload"] = "W5";
  // A chain: each link waits on the one before; submitted as one atomic request.
  {
    std::vector<TaskSpec> specs;
    for (int i = 0; i < o.w5_chain; ++i) {
      specs.push_back(Command({"@noop"}, "c" + std::to_string(i),
                              i == 0 ? std::vector<std::string>{}
                                     : std::vector<std::string>{"c" + std::to_string(i - 1)}));
    }
    // Names must be unique per request, not per cluster: run the chain under fresh names.
    std::string run = std::to_string(UnixMicros());
    for (auto& s : specs) {
      s.name = run + "-" + s.name;
      for (auto& a : s.after) a = run + "-" + a;
    }
    auto sub = SubmitPipelined(client, specs, o.w5_chain, 1);
    if (!sub.ok()) return sub.status();
    auto tasks = WaitAll(client, {sub->ids.back()}, 600);
    if (!tasks.ok()) return tasks.status();
    // All links were submitted in one request: the last one's submitted_ms is the first's.
    double wall_s = static_cast<double>((*tasks)[0].finished_ms - (*tasks)[0].submitted_ms) / 1000.0;
    j["chain_tasks"] = o.w5_chain;
    j["chain_wall_s"] = Round2(wall_s);
    j["chain_ms_per_link"] = Round2(wall_s * 1000 / o.w5_chain);
    j["chain_succeeded"] = (*tasks)[0].state == TaskState::kSucceeded;
  }
  // A fan: 1 -> F -> 1.
  {
    std::string run = std::to_string(UnixMicros());
    std::vector<TaskSpec> specs;
    specs.push_back(Command({"@noop"}, run + "-root"));
    std::vector<std::string> mids;
    for (int i = 0; i < o.w5_fan; ++i) {
      mids.push_back(run + "-m" + std::to_string(i));
      specs.push_back(Command({"@noop"}, mids.back(), {run + "-root"}));
    }
    specs.push_back(Command({"@noop"}, run + "-sink", mids));
    auto sub = SubmitPipelined(client, specs, static_cast<int>(specs.size()), 1);
    if (!sub.ok()) return sub.status();
    auto tasks = WaitAll(client, {sub->ids.back()}, 600);
    if (!tasks.ok()) return tasks.status();
    double wall_s = static_cast<double>((*tasks)[0].finished_ms - (*tasks)[0].submitted_ms) / 1000.0;
    j["fan_tasks"] = specs.size();
    j["fan_wall_s"] = Round2(wall_s);
    j["fan_tasks_per_s"] = wall_s > 0 ? nlohmann::json(std::round(static_cast<double>(specs.size()) / wall_s))
                                       : nlohmann::json(nullptr);  // under the 1 ms resolution
    j["fan_succeeded"] = (*tasks)[0].state == TaskState::kSucceeded;
  }
  return j;
}

}  // namespace magpie
