// magpie-bench: drives the standard workloads of ../shared/bench/README.md against a local
// cluster it starts itself, or against a running node (--node). One JSON line per
// workload on stdout; progress on stderr.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "node/client.h"
#include "tools/bench/local_cluster.h"

#ifndef MAGPIE_COMMIT
#define MAGPIE_COMMIT "unknown"
#endif

namespace magpie {
namespace {

int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct BenchOptions {
  int tasks = 20000;
  int batch = 500;   // tasks per submit request
  int window = 8;    // submit requests in flight
};

// W1: N independent @noop tasks; throughput from first submit to last finish.
Result<nlohmann::json> RunW1(Client& client, const BenchOptions& o) {
  std::vector<std::string> ids;
  std::vector<int64_t> sent_us;
  ids.reserve(o.tasks);
  std::map<uint64_t, std::pair<int64_t, int>> inflight;  // request id -> (sent at, count)
  int submitted = 0, acked = 0;
  const int64_t t0 = UnixMicros();
  auto receive_one = [&]() -> Status {
    auto r = client.Receive(std::chrono::seconds(30));
    if (!r.ok()) return r.status();
    if (!r->status.ok()) return r->status;
    auto it = inflight.find(r->request_id);
    if (it == inflight.end()) return Status::Ok();
    auto reply = UnpackBody<SubmitReply>(r->body);
    if (!reply.ok()) return reply.status();
    for (const auto& id : reply->ids) {
      ids.push_back(id);
      sent_us.push_back(it->second.first);
    }
    acked += it->second.second;
    inflight.erase(it);
    return Status::Ok();
  };
  while (submitted < o.tasks) {
    while (static_cast<int>(inflight.size()) >= o.window) {
      Status s = receive_one();
      if (!s.ok()) return s;
    }
    SubmitRequest req;
    int n = std::min(o.batch, o.tasks - submitted);
    TaskSpec spec;
    spec.command = {"@noop"};
    req.tasks.assign(n, spec);
    uint64_t rid = 0;
    int64_t at = UnixMicros();
    Status s = client.Send(RequestType::kSubmit, PackBody(req), &rid);
    if (!s.ok()) return s;
    inflight[rid] = {at, n};
    submitted += n;
  }
  while (!inflight.empty()) {
    Status s = receive_one();
    if (!s.ok()) return s;
  }
  const int64_t t_acked = UnixMicros();
  std::fprintf(stderr, "W1: %d submitted in %.2f s; waiting for them to finish\n", acked,
               (t_acked - t0) / 1e6);

  std::vector<double> latency_ms;
  int64_t last_finish_ms = 0;
  size_t failed = 0;
  constexpr size_t kChunk = 5000;
  for (size_t from = 0; from < ids.size(); from += kChunk) {
    WaitRequest w;
    w.ids.assign(ids.begin() + from, ids.begin() + std::min(ids.size(), from + kChunk));
    w.timeout_ms = 10000;
    for (int tries = 0;; ++tries) {
      auto r = client.Wait(w, std::chrono::seconds(30));
      if (!r.ok()) return r.status();
      if (!r->all_ended) {
        if (tries > 30) return Status::Unavailable("tasks did not finish within 5 minutes");
        continue;
      }
      for (size_t i = 0; i < r->tasks.size(); ++i) {
        const Task& t = r->tasks[i];
        if (t.state != TaskState::kSucceeded) ++failed;
        last_finish_ms = std::max(last_finish_ms, t.finished_ms);
        latency_ms.push_back(static_cast<double>(t.finished_ms * 1000 - sent_us[from + i]) / 1000.0);
      }
      break;
    }
  }
  double span_s = static_cast<double>(last_finish_ms * 1000 - t0) / 1e6;
  nlohmann::json j;
  j["workload"] = "W1";
  j["tasks"] = ids.size();
  j["failed"] = failed;
  j["tasks_per_s"] = std::round(ids.size() / span_s);
  j["submitted_per_s"] = std::round(acked / ((t_acked - t0) / 1e6));
  j["p50_ms"] = std::round(Percentile(latency_ms, 0.50) * 100) / 100;
  j["p99_ms"] = std::round(Percentile(latency_ms, 0.99) * 100) / 100;
  j["wall_s"] = std::round(span_s * 1000) / 1000;
  return j;
}

}  // namespace
}  // namespace magpie

int main(int argc, char** argv) {
  using namespace magpie;
  std::string workloads = "W1";
  std::string node;
  int nodes = 1;
  int slots = 256;
  BenchOptions o;
  CLI::App app{"magpie-bench: the standard workloads, as one JSON line each"};
  app.add_option("--workload", workloads, "comma-separated: W1")->capture_default_str();
  app.add_option("--tasks", o.tasks, "tasks for W1")->capture_default_str()->check(CLI::Range(1, 10000000));
  app.add_option("--node", node, "HOST:PORT of a running node (default: start a local one)");
  app.add_option("--nodes", nodes, "nodes of the local cluster")->capture_default_str()->check(CLI::Range(1, 1));
  app.add_option("--slots", slots, "slots per local node")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--batch", o.batch, "tasks per submit request")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--window", o.window, "submit requests in flight")->capture_default_str()->check(CLI::Range(1, 1024));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  LocalCluster cluster;
  if (node.empty()) {
    LocalClusterOptions lo;
    lo.node_binary = SelfDir() + "/magpie-node";
    lo.nodes = nodes;
    lo.slots = slots;
    Status s = cluster.Start(lo);
    if (!s.ok()) {
      std::fprintf(stderr, "magpie-bench: %s\n", s.ToString().c_str());
      return 3;
    }
    node = cluster.addresses()[0];
    std::fprintf(stderr, "started %d local node(s) with %d slots: %s\n", nodes, slots, node.c_str());
  }
  auto client = Client::Connect(node);
  if (!client.ok()) {
    std::fprintf(stderr, "magpie-bench: %s\n", client.status().ToString().c_str());
    return 3;
  }
  int rc = 0;
  std::stringstream ss(workloads);
  for (std::string w; std::getline(ss, w, ',');) {
    Result<nlohmann::json> r = Status::InvalidArgument("unknown workload '" + w + "' (this build has W1)");
    if (w == "W1") r = RunW1(**client, o);
    if (!r.ok()) {
      std::fprintf(stderr, "magpie-bench: %s: %s\n", w.c_str(), r.status().ToString().c_str());
      rc = r.status().code() == Status::Code::kInvalidArgument ? 2 : 3;
      continue;
    }
    nlohmann::json j = std::move(*r);
    j["commit"] = MAGPIE_COMMIT;
    j["nodes"] = nodes;
    j["replication"] = 1;
    j["slots"] = node.empty() ? 0 : slots;
    j["external"] = cluster.addresses().empty();
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return rc;
}
