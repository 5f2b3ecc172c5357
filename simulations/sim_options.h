// The flags of one run: everything needed to replay it exactly. Every other parameter of
// the world (latencies, clocks, client rates, fault timing...) is drawn from the seed, so
// these flags and the binary determine the run.
#ifndef MAGPIE_SIMULATIONS_SIM_OPTIONS_H_
#define MAGPIE_SIMULATIONS_SIM_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace magpie {

// Fault kinds, as --faults names them.
enum FaultBit : uint32_t {
  kFaultPartition = 1u << 0,   // splits, one-way cuts, bridges, isolation, flapping
  kFaultDrop = 1u << 1,        // packet loss
  kFaultDup = 1u << 2,         // packet duplication
  kFaultReorder = 1u << 3,     // packets overtake each other on a link
  kFaultDelay = 1u << 4,       // long latencies and tails
  kFaultCrash = 1u << 5,       // power loss (also in the middle of an fsync), restart
  kFaultWipe = 1u << 6,        // some restarts come back with an empty disk
  kFaultPause = 1u << 7,       // the node stops (SIGSTOP) while the world goes on
  kFaultSkew = 1u << 8,        // clock offsets between nodes
  kFaultDrift = 1u << 9,       // clock rates within max_drift (5 %)
  kFaultDriftBeyond = 1u << 10,// clock rates beyond max_drift: only fencing must hold
  kFaultStop = 1u << 11,       // graceful restarts (SIGTERM): leaders hand over first
  kFaultWatchdog = 1u << 12,   // a node's watchdog dies, and the node may then be paused
  kFaultDisk = 1u << 13,       // a node's disk refuses writes (full) for a while
};
// `all`: every fault except drift-beyond, which is a separate mode.
inline constexpr uint32_t kAllFaults = ((1u << 14) - 1) & ~kFaultDriftBeyond;

Result<uint32_t> ParseFaults(const std::string& list);
// "none", or the comma list in a fixed order.
std::string FaultsName(uint32_t faults);

// --buggify takes a core switch (kBuggifySwitchNames in base/buggify.h) or the simulator's
// own hidden_partition, which cuts node 0 off from t=100 s to t=130 s without telling the
// fault record, so that gossip declares a node dead that the record says is healthy (the
// no-false-death checker fires).
inline constexpr const char* kSimBuggify = "hidden_partition";

struct SimOptions {
  uint64_t seed = 1;
  int nodes = 5;
  int64_t duration_s = 60;  // the safety phase; the liveness phase follows
  uint32_t faults = kAllFaults;
  std::string workload = "mixed";
  std::string buggify;  // empty: none
  // Voters per replica group (CoreOptions::replication, the core's default 3); the swarm
  // draws 1 or 3 per seed. Always in the replay command.
  int replication = 3;
  // Schedules the clients add (--schedules N, docs/schedules.md): 0 leaves every run as it
  // was before schedules existed, so the regression seeds replay unchanged.
  int schedules = 0;
};

Status ValidateOptions(const SimOptions& options);
// The exact command line that replays a run.
std::string ReplayCommand(const SimOptions& options);
// The options the swarm uses for a seed: nodes, duration, faults and workload drawn from
// it (a PRNG of its own, so a swarm seed and a plain --seed run differ).
SimOptions DrawSwarmOptions(uint64_t seed, const std::string& buggify);

// Up to 1,000 nodes (the gossip figures); more than 32 join through three seeds (sim_node.h).
inline constexpr int kMaxSimNodes = 1000;
// --steal-figures: at most this many tasks in one run (N·K·M).
inline constexpr uint64_t kMaxStealFiguresTasks = 1'000'000;

// The whole command line of magpie-sim.
struct CommandLine {
  SimOptions run;
  bool help = false;
  uint64_t swarm = 0;         // --swarm K: K seeds from --seed on, options drawn per seed
  std::string seeds_file;     // --seeds-file FILE
  std::string known_bugs_file;  // --known-bugs FILE (known_bugs.h)
  std::string log_level;      // empty: warn for one run, off in a swarm
  bool explicit_options = false;  // --nodes etc. given (a seed-file line, a replay)
  int swarm_replication = 0;  // --swarm-replication R: pin R in the swarm's draws (0: drawn)
  int shard = 0;              // --shard I/N: run only every N-th run, starting at the I-th
  int shards = 1;
  bool faults_given = false;  // --faults was on the command line
  // --gossip-figures WHAT (gossip_figures.h): detection, loss or dissemination.
  std::string gossip_figures;
  int trials = 10;            // --trials K
  uint32_t loss_percent = 5;  // --loss P
  // --steal-figures (steal_figures.h): makespan of N·K·M sleeps all submitted to node 0.
  bool steal_figures = false;
  int slots = 4;              // --slots K, every node
  int tasks_per_slot = 50;    // --tasks-per-slot M
  int64_t task_ms = 50;       // --task-ms D
  int64_t fsync_ms = 0;       // --fsync-ms F (0: the drawn disk)
};
Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args);
std::string Usage();

// A run from a seeds file, with what it is expected to do.
struct PlannedRun {
  SimOptions options;
  // Empty: must pass. Otherwise the promise a known, open bug breaks in this run: the run
  // must fail with exactly that promise (and passing is reported, so the mark goes when
  // the bug is fixed).
  std::string expect;
};

// Runs described by a seeds file: one per line, either a bare seed (options drawn as the
// swarm would) or the flags of a replay command, optionally followed by expect=PROMISE.
// '#' starts a comment.
Result<std::vector<PlannedRun>> ParseSeedsFile(const std::string& text, const std::string& buggify);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SIM_OPTIONS_H_
