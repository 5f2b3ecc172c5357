// The checkers that run once, after the faults have healed and the cluster has had a
// quiet period to converge:
//
//   liveness-after-heal   every group with an acknowledged task (that kept a majority of
//                         its voters' disks) has a serving leader, and every voter of it
//                         that is up has applied what the leader applied; in the leader's
//                         table every acknowledged task has reached an end state (with the
//                         client's idempotency key); no task is `running` there without a
//                         live simulated process of that attempt on its holder; no process
//                         outlives its attempt; every client request was answered
//   replay-consistency    a node restarted from its own storage recovers exactly the table
//                         it held (the table is a function of the durable log)
#ifndef MAGPIE_SIMULATIONS_LIVENESS_CHECKER_H_
#define MAGPIE_SIMULATIONS_LIVENESS_CHECKER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "node/task_table.h"
#include "simulations/oracle.h"
#include "simulations/sim_node.h"
#include "simulations/violation.h"

namespace magpie {

// Encoded task records by id: a table's content, comparable byte for byte.
using TableImage = std::map<std::string, std::string>;

TableImage ImageOf(const TaskTable& table);
// Human words for how two records of one task differ ("state running -> ready; ...").
std::string DescribeDifference(const std::string& before, const std::string& after);

class LivenessChecker {
 public:
  // Bound on the problems listed per check: the first ones say enough.
  static constexpr size_t kMaxReported = 10;

  LivenessChecker(const Oracle* oracle, const std::vector<std::unique_ptr<SimNode>>* nodes)
      : oracle_(oracle), nodes_(nodes) {}

  // outstanding_requests: client requests still without an answer.
  std::vector<Violation> CheckConverged(SimTime now, size_t outstanding_requests) const;
  // Whether CheckConverged would find nothing (cheap enough to probe once a second).
  bool Converged(size_t outstanding_requests) const;
  std::vector<Violation> CheckReplay(SimTime now, int node, const TableImage& before,
                                     const TableImage& after) const;

  // Acknowledged tasks of groups that lost a majority of their voters' disks (DESIGN §1.1
  // holds for a minority of failures): not checked.
  size_t ExcludedAcks() const;
  // The node serving as the group's leader (the highest term if two think so), or -1.
  int LeaderOf(const std::string& group) const;

 private:
  // t waits (maybe through pending upstreams of its own group) on a task of a lost group.
  bool WaitsOnALostGroup(const TaskTable& table, const Task& t, int depth = 0) const;

  const Oracle* oracle_;
  const std::vector<std::unique_ptr<SimNode>>* nodes_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_LIVENESS_CHECKER_H_
