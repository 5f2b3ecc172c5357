// The standard workloads W1-W5 and the mix (MIX) of ../shared/bench/README.md, defined for
// magpie exactly as for the peer. Each returns the JSON figures for one run. W3P and MIXP
// are W3 and MIX with real `sleep` processes instead of the @sleep built-in.
#ifndef MAGPIE_TOOLS_BENCH_WORKLOADS_H_
#define MAGPIE_TOOLS_BENCH_WORKLOADS_H_

#include <string>

#include <nlohmann/json.hpp>

#include "node/client.h"

namespace magpie {

struct WorkloadOptions {
  int w1_tasks = 20000;
  int w2_tasks = 2000;
  int w3_tasks = 600;
  double w3_sleep_s = 0.05;
  int w3_slots = 12;  // the cluster's total slots (3 nodes x 4)
  bool w3_processes = false;  // real `sleep` processes instead of @sleep (workload W3P)
  std::string timeline_path;  // W3/W3P: append each task's attempts here (JSON lines)
  // MIX (tools/bench/workload_mix.cc): long and short tasks and a schedule, all sent to one
  // node of 3 x 2 slots.
  int mix_long = 6;
  double mix_long_s = 6;
  int mix_short = 40;
  double mix_short_s = 0.2;
  double mix_every_s = 1;     // the schedule's period; each firing runs one short task
  int mix_slots = 6;          // the cluster's total slots (set from the cluster driven)
  bool mix_processes = false; // real `sleep` processes instead of @sleep (workload MIXP)
  int w4_round_trips = 200;
  int w5_chain = 1000;
  int w5_fan = 2000;
  int batch = 500;
  int window = 8;
  // At most this many tasks submitted and not yet finished (0: no bound). Tasks not ended
  // live in the nodes' memory by design; a bound makes a scale run measure what storing
  // finished ones costs rather than how long a backlog can grow.
  size_t max_unfinished = 0;
};

Result<nlohmann::json> RunW1(Client& client, const WorkloadOptions& o);
Result<nlohmann::json> RunW2(Client& client, const WorkloadOptions& o);
Result<nlohmann::json> RunW3(Client& client, const WorkloadOptions& o);
Result<nlohmann::json> RunW4(Client& client, const WorkloadOptions& o);
Result<nlohmann::json> RunW5(Client& client, const WorkloadOptions& o);
Result<nlohmann::json> RunMix(Client& client, const WorkloadOptions& o);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_BENCH_WORKLOADS_H_
