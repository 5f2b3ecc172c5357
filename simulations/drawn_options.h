// Every parameter of a world that is not a flag, drawn from the seed before the run starts
// and printed first (after TigerBeetle's VOPR), so a reader of a failing run sees the
// exact world it ran in: client count and rates, each node's slots, labels, fsync latency,
// clock skew and drift, the network's latencies and fault rates, the fault timing.
#ifndef MAGPIE_SIMULATIONS_DRAWN_OPTIONS_H_
#define MAGPIE_SIMULATIONS_DRAWN_OPTIONS_H_

#include <string>
#include <vector>

#include "base/prng.h"
#include "simulations/fault_injector.h"
#include "simulations/sim_client.h"
#include "simulations/sim_network.h"
#include "simulations/sim_node.h"
#include "simulations/sim_options.h"

namespace magpie {

struct DrawnNode {
  SimNodeOptions node;
  int64_t clock_offset_us = 0;
  int32_t clock_drift_ppm = 0;
};

struct DrawnOptions {
  std::vector<DrawnNode> nodes;
  NetworkOptions network;
  FaultPlan faults;
  std::vector<ClientOptions> clients;
};

// Draws in a fixed order from prng (the world's one PRNG).
DrawnOptions DrawOptions(const SimOptions& options, Prng& prng);
// One "key: value" line per option.
std::string DescribeDrawn(const DrawnOptions& drawn);
// "10.0.0.3:7400" for node 2.
std::string NodeAddress(int node);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_DRAWN_OPTIONS_H_
