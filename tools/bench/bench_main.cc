// magpie-bench: drives the standard workloads of ../shared/bench/README.md against a local
// cluster it starts itself, or against a running node (--node). One JSON line per
// workload on stdout with what produced it; progress on stderr.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "node/client.h"
#include "node/key_files.h"
#include "tools/bench/bench_util.h"
#include "tools/bench/local_cluster.h"
#include "tools/bench/node_memory.h"
#include "tools/bench/workloads.h"
#include "magpie_commit.h"  // generated at build time: MAGPIE_COMMIT (tools/bench/commit.cmake)

namespace magpie {
namespace {

struct Target {
  std::unique_ptr<LocalCluster> cluster;  // null when driving an external node
  std::string address;
  int nodes = 1;
  int slots = 0;
  int replication = 0;  // voters per replica group; 0: not known (an external cluster)
  std::vector<double> rss_idle_mb;  // per node, once formed and settled (local clusters)
};

struct NodeFlags {
  std::string binary;
  // info, not warn: a multi-node cluster's replica groups are seen forming in the logs.
  // The node logs nothing per task at info.
  std::string log_level = "info";
  bool keep = false;
  int replication = 3;
  int settle_ms = 1000;
  ClientSecurity security;  // how to reach the nodes started
};

double KbToMb(long kb) { return std::round(static_cast<double>(kb) / 1024.0 * 10) / 10; }

// A field of /proc/<pid>/status of every node, in MB; empty if any cannot be read.
std::vector<double> NodesMb(const LocalCluster& c, const char* field) {
  std::vector<double> out;
  for (pid_t pid : c.pids()) {
    auto kb = ProcStatusKb(pid, field);
    if (!kb.ok()) return {};
    out.push_back(KbToMb(*kb));
  }
  return out;
}

// The keys to reach the nodes with (docs/security.md): the key the local nodes will find,
// made now if this user has none yet, as a node's first start would; for an external node,
// the key this user has.
Result<ClientSecurity> BenchSecurity(bool local) {
  Status curve = CheckCurveSupport();
  if (!curve.ok()) return curve;
  const KeyEnvironment env = KeyEnvironment::FromProcess();
  KeyFile file;
  KeyLocation where;
  if (local) {
    auto key = LoadNodeClusterKey("", env);
    if (!key.ok()) return key.status();
    file = key->file;
    where = key->location;
  } else {
    auto key = LoadClientKey("", env, &where);
    if (!key.ok()) return key.status();
    file = *key;
  }
  ClientSecurity security = ClientSecurityFor(file);
  security.key_source = where.Describe();
  return security;
}

Result<Target> StartLocal(const NodeFlags& flags, int nodes, int slots) {
  Target t;
  t.cluster = std::make_unique<LocalCluster>();
  LocalClusterOptions lo;
  lo.node_binary = flags.binary;
  lo.log_level = flags.log_level;
  lo.keep = flags.keep;
  lo.nodes = nodes;
  lo.slots = slots;
  lo.replication = flags.replication;
  lo.security = flags.security;
  Status s = t.cluster->Start(lo);
  if (!s.ok()) return s;
  t.address = t.cluster->addresses()[0];
  t.nodes = nodes;
  t.slots = slots;
  t.replication = t.cluster->replication();
  // Idle memory: the cluster formed, then a moment for gossip and heartbeats to settle.
  std::this_thread::sleep_for(std::chrono::milliseconds(flags.settle_ms));
  t.rss_idle_mb = NodesMb(*t.cluster, "VmRSS");
  std::fprintf(stderr, "started %d local node(s) with %d slots each, R = %d\n", nodes, slots,
               t.replication);
  return t;
}

// What an external cluster says of itself: its live members and the slots of the node
// driven. Its replication factor is not visible to a client.
Status DescribeExternal(Client& client, Target* t) {
  auto m = client.Members(std::chrono::seconds(5));
  if (!m.ok()) return m.status();
  t->nodes = 0;
  for (const auto& info : m->members) {
    t->nodes += info.state == "alive";
    if (info.address == t->address) t->slots = info.slots;
  }
  return Status::Ok();
}

}  // namespace
}  // namespace magpie

int main(int argc, char** argv) {
  using namespace magpie;
  std::string workloads = "W1,W2,W3,W3P,W4,W5,MIX";
  std::string node;
  NodeFlags node_flags;
  node_flags.binary = SelfDir() + "/magpie-node";
  int repeat = 1;
  int nodes = 1;
  int slots = 256;
  WorkloadOptions o;
  CLI::App app{"magpie-bench: the standard workloads W1-W5 and MIX (and W3P, MIXP: W3 and MIX with real processes), one JSON line each"};
  app.add_option("--workload", workloads, "comma-separated W1, W2, W3, W3P, W4, W5, MIX, MIXP")->capture_default_str();
  app.add_option("--repeat", repeat, "run the whole list this many times (W3, W3P, MIX and MIXP on a fresh cluster each time)")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--tasks", o.w1_tasks, "tasks for W1")->capture_default_str()->check(CLI::Range(1, 10000000));
  app.add_option("--w2-tasks", o.w2_tasks, "tasks for W2")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_option("--w3-tasks", o.w3_tasks, "tasks for W3")->capture_default_str()->check(CLI::Range(1, 1000000));
  app.add_flag("--w3-processes", o.w3_processes, "run W3 as W3P: real `sleep` processes instead of @sleep");
  app.add_option("--timeline", o.timeline_path,
                 "W3, W3P, MIX, MIXP: append every task's attempts to this file, one JSON line each");
  app.add_option("--mix-long", o.mix_long, "MIX: long tasks")->capture_default_str()->check(CLI::Range(0, 10000));
  app.add_option("--mix-long-s", o.mix_long_s, "MIX: seconds each long task sleeps")
      ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
  app.add_option("--mix-short", o.mix_short, "MIX: short tasks")->capture_default_str()->check(CLI::Range(0, 10000));
  app.add_option("--mix-short-s", o.mix_short_s, "MIX: seconds each short task (and each schedule run) sleeps")
      ->capture_default_str()->check(CLI::Range(0.001, 3600.0));
  app.add_option("--mix-every-s", o.mix_every_s, "MIX: the schedule's period in seconds (at least 1)")
      ->capture_default_str()->check(CLI::Range(1.0, 3600.0));
  app.add_flag("--mix-processes", o.mix_processes, "run MIX as MIXP: real `sleep` processes instead of @sleep");
  app.add_option("--node-binary", node_flags.binary, "the magpie-node to start (default: the one beside magpie-bench)")
      ->capture_default_str();
  app.add_option("--node-log-level", node_flags.log_level,
                 "--log-level of the nodes started (info or finer lets magpie-bench wait for replica groups to form)")
      ->capture_default_str();
  app.add_option("--replication", node_flags.replication,
                 "--replication of the nodes started (voters per replica group, capped by --nodes)")
      ->capture_default_str()->check(CLI::Range(1, 7));
  app.add_option("--settle-ms", node_flags.settle_ms,
                 "after a local cluster formed, wait this long before reading idle memory")
      ->capture_default_str()->check(CLI::Range(0, 60000));
  app.add_flag("--keep", node_flags.keep, "keep each local cluster's folder (data, n<i>.log) and print where");
  app.add_option("--round-trips", o.w4_round_trips, "round trips for W4")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--chain", o.w5_chain, "W5 chain length")->capture_default_str()->check(CLI::Range(2, 10000));
  app.add_option("--fan", o.w5_fan, "W5 fan width")->capture_default_str()->check(CLI::Range(1, 9998));
  app.add_option("--node", node, "HOST:PORT of a running node (default: start a local cluster)");
  app.add_option("--nodes", nodes, "nodes of the local cluster")->capture_default_str()->check(CLI::Range(1, 16));
  app.add_option("--slots", slots, "slots per local node (W3 always uses 3 x 4, MIX 3 x 2)")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_option("--batch", o.batch, "tasks per submit request")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--window", o.window, "submit requests in flight")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--max-unfinished", o.max_unfinished,
                 "W1/W2: submit in waves so that at most this many tasks are unfinished (0: all at once)")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto security = BenchSecurity(node.empty());
  if (!security.ok()) {
    std::fprintf(stderr, "magpie-bench: %s\n", security.status().ToString().c_str());
    return 2;
  }
  node_flags.security = *security;

  std::vector<std::string> list;
  std::stringstream ss(workloads);
  for (std::string w; std::getline(ss, w, ',');) {
    if (w != "W1" && w != "W2" && w != "W3" && w != "W3P" && w != "W4" && w != "W5" && w != "MIX" &&
        w != "MIXP") {
      std::fprintf(stderr, "magpie-bench: unknown workload '%s' (W1, W2, W3, W3P, W4, W5, MIX, MIXP)\n",
                   w.c_str());
      return 2;
    }
    list.push_back(w);
  }
  const bool w3_processes = o.w3_processes;
  const bool mix_processes = o.mix_processes;
  int rc = 0;
  Target main_target;
  std::vector<std::pair<int, std::string>> runs;  // (round, workload), in order
  for (int round = 1; round <= repeat; ++round) {
    for (const auto& w : list) runs.emplace_back(round, w);
  }
  for (const auto& [round, w] : runs) {
    const bool w3 = w == "W3" || w == "W3P";
    const bool mix = w == "MIX" || w == "MIXP";
    o.w3_processes = w == "W3P" || (w == "W3" && w3_processes);
    o.mix_processes = w == "MIXP" || (w == "MIX" && mix_processes);
    // W3 and MIX are defined on their own cluster shapes, 3 nodes x 4 slots and 3 nodes x
    // 2 slots, all work sent to one.
    Target own_target;
    Target* target = &main_target;
    if (!node.empty()) {
      if (main_target.address.empty()) main_target.address = node;
    } else if (w3 || mix) {
      auto t = StartLocal(node_flags, 3, w3 ? 4 : 2);
      if (!t.ok()) {
        std::fprintf(stderr, "magpie-bench: %s\n", t.status().ToString().c_str());
        return 3;
      }
      own_target = std::move(*t);
      target = &own_target;
    } else if (!main_target.cluster) {
      auto t = StartLocal(node_flags, nodes, slots);
      if (!t.ok()) {
        std::fprintf(stderr, "magpie-bench: %s\n", t.status().ToString().c_str());
        return 3;
      }
      main_target = std::move(*t);
    }
    auto client = Client::Connect(target->address, *security);
    if (!client.ok()) {
      std::fprintf(stderr, "magpie-bench: %s\n", client.status().ToString().c_str());
      return 3;
    }
    if (!target->cluster && target->slots == 0) {
      Status st = DescribeExternal(**client, target);
      if (!st.ok()) std::fprintf(stderr, "magpie-bench: members of %s: %s\n", node.c_str(), st.ToString().c_str());
    }
    // Peak memory per workload: VmHWM back to the current RSS before it.
    bool peak_reset = target->cluster != nullptr;
    if (target->cluster) {
      for (pid_t pid : target->cluster->pids()) peak_reset = ResetPeakRss(pid).ok() && peak_reset;
    }
    Result<nlohmann::json> r = Status::InvalidArgument("unreachable");
    if (w == "W1") r = RunW1(**client, o);
    if (w == "W2") r = RunW2(**client, o);
    if (w3) r = RunW3(**client, o);
    if (w == "W4") r = RunW4(**client, o);
    if (w == "W5") r = RunW5(**client, o);
    if (mix) {
      o.mix_slots = std::max(1, target->nodes * target->slots);
      r = RunMix(**client, o);
    }
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
    if (target->replication > 0) {
      j["replication"] = target->replication;
    } else {
      j["replication"] = nullptr;
    }
    if (target->cluster) {
      j["node_rss_idle_mb"] = target->rss_idle_mb;
      j["node_rss_peak_mb"] = NodesMb(*target->cluster, "VmHWM");
      j["node_rss_peak_of"] = peak_reset ? "workload" : "node lifetime";
      j["node_rss_end_mb"] = NodesMb(*target->cluster, "VmRSS");
    }
    if (repeat > 1) j["round"] = round;
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) > 0) j["loadavg_1m"] = Round2(load[0]);
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
  return rc;
}
