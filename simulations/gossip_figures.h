// The gossip figures (docs/gossip.md), measured in magpie-sim: real NodeCores (gossip wired in
// as magpie-node runs it) on the simulator's network, with its latencies, loss and crash.
//
//   detection      a random node crashes once the cluster has converged; when does each
//                  other node mark it dead? (first, each, all: as in docs/gossip.md)
//   loss           every packet is lost with --loss percent for --duration seconds: how
//                  many live members are declared dead?
//   dissemination  a node's load changes (a long task is submitted to it): how many gossip
//                  rounds until every other node holds the new load? against log2 N
//
// Every wait is bounded (kConvergeBound, kDetectBound...), so a run ends even when gossip
// is broken; a bound that runs out is reported and fails the run. The membership checker
// runs throughout, as in every simulator run. Nodes run with work stealing off: there is no
// work, and stealing's polling is not gossip (docs/simulation.md).
#ifndef MAGPIE_SIMULATIONS_GOSSIP_FIGURES_H_
#define MAGPIE_SIMULATIONS_GOSSIP_FIGURES_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "base/time.h"
#include "simulations/sim_options.h"

namespace magpie {

struct FiguresRequest {
  std::string what = "detection";  // detection, loss, dissemination
  SimOptions world;                // seed, nodes, faults (the network's shape), duration
  int trials = 10;                 // detection and dissemination
  uint32_t loss_percent = 5;       // loss
};

// p50 / p99 / max by nearest rank, in milliseconds.
struct Percentiles {
  int64_t p50 = 0, p99 = 0, max = 0;
  size_t n = 0;
};
Percentiles PercentilesOf(std::vector<int64_t> ms);

struct DetectionFigures {
  int64_t join_ms = -1;  // boot until every node lists every node alive
  Percentiles first, each, all;
  int trials_detected = 0;  // trials in which every other node marked the victim dead
  uint64_t false_deaths = 0;  // declarations of members that were up and running
};

struct LossFigures {
  int64_t join_ms = -1;
  uint64_t probes = 0, failed_probes = 0, suspicions = 0, refuted = 0;
  uint64_t indirect_probes = 0;  // ping-reqs sent for probes whose direct ping went unanswered
  uint64_t false_deaths = 0;    // distinct (member, incarnation) of running nodes declared dead
  uint64_t false_marks = 0;     // declarations of running members, summed over declarers
  bool all_alive_after = false; // within kConvergeBound after the loss stops
  int64_t agreed_after_ms = -1; // how long after
  double msgs_per_node_s = 0;
  uint64_t sent = 0, lost = 0;
};

struct DisseminationFigures {
  int64_t join_ms = -1;
  Percentiles rounds_x10;  // gossip rounds (gossip_interval), times ten
  Percentiles ms;
  int trials_reached = 0;
};

struct FiguresResult {
  bool ok = false;           // measured, no violation, no bound ran out, targets met
  std::string table;         // markdown rows, header first
  std::vector<std::string> problems;
  uint64_t trace_hash = 0;
  double simulated_s = 0;
  DetectionFigures detection;
  LossFigures loss;
  DisseminationFigures dissemination;
};

FiguresResult RunGossipFigures(const FiguresRequest& request, spdlog::level::level_enum log_level);
// Prints the request, the table, problems, the result and the replay command.
void PrintFigures(const FiguresRequest& request, const FiguresResult& result, double wall_s,
                  std::FILE* out);
std::string FiguresCommand(const FiguresRequest& request);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_GOSSIP_FIGURES_H_
