// magpie-bench: drives the standard workloads of ../shared/bench/README.md against a local
// cluster it starts itself, or against a running node (--node). One JSON line per
// workload on stdout with what produced it; progress on stderr.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "node/client.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/local_cluster.h"
#include "tools/bench/workloads.h"

#ifndef MAGPIE_COMMIT
#define MAGPIE_COMMIT "unknown"
#endif

namespace magpie {
namespace {

struct Target {
  std::unique_ptr<LocalCluster> cluster;  // null when driving an external node
  std::string address;
  int nodes = 1;
  int slots = 0;
};

struct NodeFlags {
  std::string binary;
  std::string log_level = "warn";
  bool keep = false;
};

Result<Target> StartLocal(const NodeFlags& flags, int nodes, int slots) {
  Target t;
  t.cluster = std::make_unique<LocalCluster>();
  LocalClusterOptions lo;
  lo.node_binary = flags.binary;
  lo.log_level = flags.log_level;
  lo.keep = flags.keep;
  lo.nodes = nodes;
  lo.slots = slots;
  Status s = t.cluster->Start(lo);
  if (!s.ok()) return s;
  t.address = t.cluster->addresses()[0];
  t.nodes = nodes;
  t.slots = slots;
  std::fprintf(stderr, "started %d local node(s) with %d slots each\n", nodes, slots);
  return t;
}

}  // namespace
}  // namespace magpie

int main(int argc, char** argv) {
  using namespace magpie;
  std::string workloads = "W1,W2,W3,W3P,W4,W5";
  std::string node;
  NodeFlags node_flags;
  node_flags.binary = SelfDir() + "/magpie-node";
  int repeat = 1;
  int nodes = 1;
  int slots = 256;
  WorkloadOptions o;
  CLI::App app{"magpie-bench: the standard workloads W1-W5 (and W3P: W3 with real processes), one JSON line each"};
  app.add_option("--workload", workloads, "comma-separated W1, W2, W3, W3P, W4, W5")->capture_default_str();
  app.add_option("--repeat", repeat, "run the whole list this many times (W3 and W3P on a fresh cluster each time)")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--tasks", o.w1_tasks, "tasks for W1")->capture_default_str()->check(CLI::Range(1, 10000000));
  app.add_option("--w2-tasks", o.w2_tasks, "tasks for W2")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--w3-tasks", o.w3_tasks, "tasks for W3")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_flag("--w3-processes", o.w3_processes, "run W3 as W3P: real `sleep` processes instead of @sleep");
  app.add_option("--timeline", o.timeline_path, "W3/W3P: append every task's attempts to this file, one JSON line each");
  app.add_option("--node-binary", node_flags.binary, "the magpie-node to start (default: the one beside magpie-bench)")
      ->capture_default_str();
  app.add_option("--node-log-level", node_flags.log_level, "--log-level of the nodes started")->capture_default_str();
  app.add_flag("--keep", node_flags.keep, "keep each local cluster's folder (data, n<i>.log) and print where");
  app.add_option("--round-trips", o.w4_round_trips, "round trips for W4")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--chain", o.w5_chain, "W5 chain length")->capture_default_str()->check(CLI::Range(2, 10000));
  app.add_option("--fan", o.w5_fan, "W5 fan width")->capture_default_str()->check(CLI::Range(1, 9998));
  app.add_option("--node", node, "HOST:PORT of a running node (default: start a local cluster)");
  app.add_option("--nodes", nodes, "nodes of the local cluster")->capture_default_str()->check(CLI::Range(1, 16));
  app.add_option("--slots", slots, "slots per local node (W3 always uses 3 x 4)")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--batch", o.batch, "tasks per submit request")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--window", o.window, "submit requests in flight")->capture_default_str()->check(CLI::Range(1, 1024));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  std::vector<std::string> list;
  std::stringstream ss(workloads);
  for (std::string w; std::getline(ss, w, ',');) {
    if (w != "W1" && w != "W2" && w != "W3" && w != "W3P" && w != "W4" && w != "W5") {
      std::fprintf(stderr, "magpie-bench: unknown workload '%s' (W1, W2, W3, W3P, W4, W5)\n", w.c_str());
      return 2;
    }
    list.push_back(w);
  }
  const bool w3_processes = o.w3_processes;
  int rc = 0;
  Target main_target;
  std::vector<std::pair<int, std::string>> runs;  // (round, workload), in order
  for (int round = 1; round <= repeat; ++round) {
    for (const auto& w : list) runs.emplace_back(round, w);
  }
  for (const auto& [round, w] : runs) {
    const bool w3 = w == "W3" || w == "W3P";
    o.w3_processes = w == "W3P" || (w == "W3" && w3_processes);
    // W3 is defined on its own cluster shape: 3 nodes x 4 slots, all work sent to one.
    Target w3_target;
    Target* target = &main_target;
    if (!node.empty()) {
      main_target.address = node;
    } else if (w3) {
      auto t = StartLocal(node_flags, 3, 4);
      if (!t.ok()) {
        std::fprintf(stderr, "magpie-bench: %s\n", t.status().ToString().c_str());
        return 3;
      }
      w3_target = std::move(*t);
      target = &w3_target;
    } else if (!main_target.cluster) {
      auto t = StartLocal(node_flags, nodes, slots);
      if (!t.ok()) {
        std::fprintf(stderr, "magpie-bench: %s\n", t.status().ToString().c_str());
        return 3;
      }
      main_target = std::move(*t);
    }
    auto client = Client::Connect(target->address);
    if (!client.ok()) {
      std::fprintf(stderr, "magpie-bench: %s\n", client.status().ToString().c_str());
      return 3;
    }
    Result<nlohmann::json> r = Status::InvalidArgument("unreachable");
    if (w == "W1") r = RunW1(**client, o);
    if (w == "W2") r = RunW2(**client, o);
    if (w3) r = RunW3(**client, o);
    if (w == "W4") r = RunW4(**client, o);
    if (w == "W5") r = RunW5(**client, o);
    if (!r.ok()) {
      std::fprintf(stderr, "magpie-bench: %s: %s\n", w.c_str(), r.status().ToString().c_str());
      rc = 3;
      continue;
    }
    nlohmann::json j = std::move(*r);
    j["commit"] = MAGPIE_COMMIT;
    j["external"] = target->cluster == nullptr;
    j["nodes"] = target->nodes;
    j["slots_per_node"] = target->slots;
    j["replication"] = 1;
    if (repeat > 1) j["round"] = round;
    if (w3) {
      double load[3] = {0, 0, 0};
      if (getloadavg(load, 3) > 0) j["loadavg_1m"] = Round2(load[0]);
    }
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return rc;
}
