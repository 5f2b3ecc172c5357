#include "tools/bench/workloads.h"

#include <algorithm>
#include <cstdio>
#include <map>

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
Result<nlohmann::json> Throughput(Client& client, const std::vector<TaskSpec>& specs,
                                  const WorkloadOptions& o, const char* name) {
  auto sub = SubmitPipelined(client, specs, o.batch, o.window);
  if (!sub.ok()) return sub.status();
  std::fprintf(stderr, "%s: %zu submitted in %.2f s; waiting\n", name, sub->ids.size(),
               (sub->all_acked_us - sub->first_sent_us) / 1e6);
  auto tasks = WaitAll(client, sub->ids, 600);
  if (!tasks.ok()) return tasks.status();
  std::vector<double> latency_ms;
  int64_t last_finish_ms = 0;
  size_t failed = 0;
  for (size_t i = 0; i < tasks->size(); ++i) {
    const Task& t = (*tasks)[i];
    if (t.state != TaskState::kSucceeded) ++failed;
    last_finish_ms = std::max(last_finish_ms, t.finished_ms);
    latency_ms.push_back(static_cast<double>(t.finished_ms * 1000 - sub->sent_us[i]) / 1000.0);
  }
  double span_s = static_cast<double>(last_finish_ms * 1000 - sub->first_sent_us) / 1e6;
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
  return j;
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
  auto j = Throughput(client, specs, o, "W3");
  if (!j.ok()) return j.status();
  double ideal_s = o.w3_tasks * o.w3_sleep_s / o.w3_slots;
  (*j)["ideal_s"] = Round2(ideal_s);
  (*j)["makespan_ratio"] = Round2((*j)["wall_s"].get<double>() / ideal_s);
  (*j)["processes"] = o.w3_processes;
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
    double wall_s = static_cast<double>((*tasks)[0].finished_ms * 1000 - sub->first_sent_us) / 1e6;
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
    double wall_s = static_cast<double>((*tasks)[0].finished_ms * 1000 - sub->first_sent_us) / 1e6;
    j["fan_tasks"] = specs.size();
    j["fan_wall_s"] = Round2(wall_s);
    j["fan_tasks_per_s"] = std::round(static_cast<double>(specs.size()) / wall_s);
    j["fan_succeeded"] = (*tasks)[0].state == TaskState::kSucceeded;
  }
  return j;
}

}  // namespace magpie
