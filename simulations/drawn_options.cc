#include "simulations/drawn_options.h"

#include <algorithm>

#include "simulations/sim_clock.h"

namespace magpie {

namespace {

std::string Us(int64_t us) {
  if (us % 1000000 == 0) return std::to_string(us / 1000000) + "s";
  if (us % 1000 == 0) return std::to_string(us / 1000) + "ms";
  return std::to_string(us) + "us";
}

}  // namespace

std::string NodeAddress(int node) { return "10.0.0." + std::to_string(node + 1) + ":7400"; }

DrawnOptions DrawOptions(const SimOptions& o, Prng& prng) {
  DrawnOptions d;
  const bool on_delay = o.faults & kFaultDelay;
  const int clients = static_cast<int>(prng.Between(1, 4));

  static constexpr uint64_t kCompactEvery[] = {16, 128, 1000, 10000};
  for (int i = 0; i < o.nodes; ++i) {
    DrawnNode n;
    n.node.index = i;
    n.node.address = NodeAddress(i);
    n.node.slots = static_cast<int32_t>(prng.Between(1, 8));
    if (prng.Chance(1, 3)) n.node.labels["gpu"] = "1";
    if (prng.Chance(1, 4)) n.node.labels["zone"] = prng.Chance(1, 2) ? "a" : "b";
    n.node.compact_every = kCompactEvery[prng.Below(4)];
    n.node.fsync_min_us = prng.Between(50, 500);
    n.node.fsync_max_us = n.node.fsync_min_us + prng.Between(0, 5000);
    n.node.executor.kill_latency_max_us = prng.Between(10, 5000);
    n.node.executor.watchdog_latency_max_us = prng.Between(1000, 200'000);
    if (o.faults & kFaultSkew) n.clock_offset_us = prng.Between(-30'000'000, 30'000'000);
    if (o.faults & kFaultDrift) {
      n.clock_drift_ppm = static_cast<int32_t>(prng.Between(-SimClock::kMaxDriftPpm, SimClock::kMaxDriftPpm));
    } else if (o.faults & kFaultDriftBeyond) {
      const int32_t beyond = static_cast<int32_t>(prng.Between(SimClock::kMaxDriftPpm + 1, 300'000));
      n.clock_drift_ppm = prng.Chance(1, 2) ? beyond : -beyond;
    }
    d.nodes.push_back(std::move(n));
  }

  NetworkOptions& net = d.network;
  net.nodes = o.nodes;
  net.clients = clients;
  if (on_delay) {
    net.latency_min_us = prng.Between(100, 2000);
    net.latency_max_us = net.latency_min_us + prng.Between(0, 20'000);
    net.tail_per_10k = static_cast<uint32_t>(prng.Between(1, 300));
    net.tail_max_us = prng.Between(100'000, 3'000'000);
  } else {
    net.latency_min_us = 50;
    net.latency_max_us = 500;
  }
  if (o.faults & kFaultDrop) net.drop_per_10k = static_cast<uint32_t>(prng.Between(10, 1500));
  if (o.faults & kFaultDup) net.dup_per_10k = static_cast<uint32_t>(prng.Between(10, 1000));
  if (o.faults & kFaultReorder) {
    net.reorder = true;
    net.jitter_max_us = prng.Between(1000, 20'000);
  }

  FaultPlan& f = d.faults;
  f.faults = o.faults;
  f.nodes = o.nodes;
  f.max_faulty = std::max(1, (o.nodes - 1) / 2);
  f.gap_mean_us = prng.Between(500'000, 10'000'000);
  f.crash_in_sync_per_10k = static_cast<uint32_t>(prng.Between(10, 500));

  const int64_t act_min_us = prng.Between(1000, 50'000);
  const int64_t act_max_us = act_min_us + prng.Between(10'000, 1'000'000);
  const uint64_t max_tasks = static_cast<uint64_t>(prng.Between(200, 3000));
  for (int c = 0; c < clients; ++c) {
    ClientOptions co;
    co.index = c;
    co.endpoint = o.nodes + c;
    co.name = "client-" + std::to_string(c);
    co.act_min_us = act_min_us;
    co.act_max_us = act_max_us;
    co.retry_us = prng.Between(200'000, 2'000'000);
    co.max_tasks = max_tasks / static_cast<uint64_t>(clients);
    d.clients.push_back(co);
  }
  // Drawn last so that adding it kept every earlier draw (and so every seed's world). Low
  // on purpose: a wiped group's acknowledged tasks drop out of promise 1 until replica
  // groups exist, so frequent wipes would hollow the check out.
  f.wipe_per_100 = static_cast<uint32_t>(prng.Between(2, 20));
  return d;
}

std::string DescribeDrawn(const DrawnOptions& d) {
  std::string out;
  for (const auto& n : d.nodes) {
    std::string labels;
    for (const auto& [k, v] : n.node.labels) labels += (labels.empty() ? "" : ",") + k + "=" + v;
    out += "  node " + std::to_string(n.node.index) + ": " + n.node.address + " slots=" +
           std::to_string(n.node.slots) + " labels={" + labels + "} compact_every=" +
           std::to_string(n.node.compact_every) + " fsync=" + Us(n.node.fsync_min_us) + ".." +
           Us(n.node.fsync_max_us) + " clock_offset=" + Us(n.clock_offset_us) +
           " drift=" + std::to_string(n.clock_drift_ppm) + "ppm kill_latency<=" +
           Us(n.node.executor.kill_latency_max_us) + " watchdog_latency<=" +
           Us(n.node.executor.watchdog_latency_max_us) + "\n";
  }
  const NetworkOptions& net = d.network;
  out += "  network: latency=" + Us(net.latency_min_us) + ".." + Us(net.latency_max_us) +
         " tail=" + std::to_string(net.tail_per_10k) + "/10000 up to " + Us(net.tail_max_us) +
         " drop=" + std::to_string(net.drop_per_10k) + "/10000 dup=" +
         std::to_string(net.dup_per_10k) + "/10000 reorder=" + (net.reorder ? "yes" : "no") +
         " jitter<=" + Us(net.jitter_max_us) + "\n";
  const FaultPlan& f = d.faults;
  out += "  faults: " + FaultsName(f.faults) + " gap_mean=" + Us(f.gap_mean_us) +
         " max_faulty_nodes=" + std::to_string(f.max_faulty) + " crash_in_fsync=" +
         std::to_string(f.crash_in_sync_per_10k) + "/10000 wipe_on_restart=" +
         std::to_string(f.wipe_per_100) + "/100\n";
  if (!d.clients.empty()) {
    const ClientOptions& c = d.clients[0];
    out += "  clients: " + std::to_string(d.clients.size()) + " acting every " +
           Us(c.act_min_us) + ".." + Us(c.act_max_us) + ", at most " +
           std::to_string(c.max_tasks) + " tasks each; first retry after";
    for (const auto& cc : d.clients) out += " " + Us(cc.retry_us);
    out += "\n";
  }
  return out;
}

}  // namespace magpie
