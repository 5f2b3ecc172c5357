// The work-stealing figure (docs/DESIGN.md, "Work stealing"), measured in magpie-sim: real
// NodeCores (stealing, gossip and replica groups as magpie-node runs them) on the simulator's network and disk,
// without faults. N nodes join and gossip converges; every node has K slots; then one
// client submits N·K·M tasks of `@sleep D ms`, all to node 0, and the figure is
//
//   makespan / ideal,  makespan = last finish − first submit,  ideal = tasks · D / (N · K)
//
// as magpie-bench's W3 measures it on real processes (600 = 3 nodes · 4 slots · 50), only
// on a simulated cluster of any size up to 1,000 nodes.
//
// The submission path: the client's SubmitRequests go straight into node 0's inbox (no
// network hop, less than a millisecond here) in batches of kSubmitBatch tasks, at most
// kSubmitWindow unanswered at a time, like magpie-bench's pipelined submit (batch 500,
// window 8). A batch counts as answered when node 0 has applied its tasks: node 0 leads the
// group and answers in the Ready that applies them.
//
// Every wait is bounded; a bound that runs out, a violation of a checker, or a task that
// did not succeed exactly once is a problem and fails the run.
#ifndef MAGPIE_SIMULATIONS_STEAL_FIGURES_H_
#define MAGPIE_SIMULATIONS_STEAL_FIGURES_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "simulations/sim_options.h"

namespace magpie {

struct StealFiguresRequest {
  SimOptions world;           // seed, nodes, replication; faults are always none
  int slots = 4;              // --slots K, on every node
  int tasks_per_slot = 50;    // --tasks-per-slot M: N·K·M tasks in all
  int64_t task_ms = 50;       // --task-ms D: each task is `@sleep D/1000`
  // --fsync-ms F: every fsync takes F to F·1.1 ms (0: the drawn disk, 0.05 to 5.5 ms). A
  // slow disk makes a commit outlast the thief's wait for an answer, so it asks again.
  int64_t fsync_ms = 0;
};

struct StealFigures {
  bool ok = false;  // measured, every task succeeded exactly once, no violation, no bound hit
  std::vector<std::string> problems;
  uint64_t tasks = 0;
  int64_t join_ms = -1;       // boot until every node lists every node alive
  int64_t submitted_ms = -1;  // first submit until node 0 applied the last batch
  int64_t makespan_ms = -1;   // first submit until the last task's end (its record's finished_ms)
  int64_t all_done_ms = -1;   // first submit until node 0 applied the last Finish
  double ideal_s = 0;
  double ratio = 0;           // makespan / ideal
  int tasks_min = 0, tasks_median = 0, tasks_max = 0;  // tasks run per node, every node
  int nodes_used = 0;         // nodes that ran at least one task
  uint64_t stolen = 0;        // tasks whose attempt was stolen (Attempt::stolen_from)
  uint64_t extra_attempts = 0;  // attempts beyond one per task (lost, failed)
  uint64_t succeeded = 0;
  // When each thief began: ms from the first submit to its first task's start (median and
  // the latest), over nodes that ran any task but node 0.
  int64_t first_steal_ms_median = -1, first_steal_ms_max = -1;
  // When each other node's gossip first showed node 0 with ready work (median, latest), ms
  // after the first submit: until then a thief can only ask members at random.
  int64_t learned_ms_median = -1, learned_ms_max = -1;
  // Where the slots' time went, in units of the ideal (they add up to ratio − 1; slot-time
  // of every node from the first submit to the last finish, less the tasks' own D ms):
  //   ramp     before a node's first grant (all of a node that ran nothing)
  //   grant    within attempts, beyond D: from the leader proposing the Grant to the end
  //            reported by the holder (the commit, the answer, the start, the exit's report)
  //   between  from a slot's task ending to the leader proposing the next Grant for it
  //            (a thief's ask, the leader's queue and fsync before it proposes)
  //   tail     after a node's last finish
  double over_ramp = 0, over_grant = 0, over_between = 0, over_tail = 0;
  // Per attempt on thieves, in ms: Grant proposed to end, less D (p50 / p90); and per steal
  // round, a thief's previous finish to its next Grant (p50 / p90).
  int64_t grant_extra_ms_p50 = -1, grant_extra_ms_p90 = -1;
  int64_t between_ms_p50 = -1, between_ms_p90 = -1;
  uint64_t trace_hash = 0;
  double simulated_s = 0;
};

StealFigures RunStealFigures(const StealFiguresRequest& request, spdlog::level::level_enum log_level);
// One JSON line with the figures (wall_s as measured by the caller).
std::string StealFiguresJson(const StealFiguresRequest& request, const StealFigures& figures, double wall_s);
// Prints the command, the JSON line, problems, the result and the trace hash.
void PrintStealFigures(const StealFiguresRequest& request, const StealFigures& figures, double wall_s,
                       std::FILE* out);
std::string StealFiguresCommand(const StealFiguresRequest& request);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_STEAL_FIGURES_H_
