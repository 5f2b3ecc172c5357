// The safety checkers, run on every step of the run (after each fact the world reports),
// against the oracle's true view and the nodes' tables:
//
//   no-acknowledged-task-lost  every id a client was given exists in its group's table,
//                              when the ack arrives and after every recovery (except a
//                              group that lost every replica's disk: Oracle::GroupSurvives)
//   one-attempt-at-a-time      no two simulated processes of one task alive at one instant
//                              (across nodes this rests on the drift bound: not checked in
//                              drift-beyond mode); and in the committed log, no Grant while
//                              the task's previous attempt is still open
//   fencing-numbers-increase   a task's processes start with ever larger attempt numbers
//   one-outcome                an end state, once applied, changes only through a Restart
//                              of the task or of the upstream that blocked it
//   after-is-honoured          a task is granted only when every task in its `after` has
//                              succeeded since the task was submitted or restarted, or had
//                              succeeded by then (DESIGN §3; a restart of an upstream does
//                              not hold back a downstream that was already released)
//
// The one-outcome check looks at the tasks named by each committed batch and everything
// downstream of them (the only tasks an entry can change), and at every task after a
// recovery.
#ifndef MAGPIE_SIMULATIONS_SAFETY_CHECKER_H_
#define MAGPIE_SIMULATIONS_SAFETY_CHECKER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "node/log_entry.h"
#include "simulations/oracle.h"
#include "simulations/sim_node.h"
#include "simulations/violation.h"

namespace magpie {

class SafetyChecker {
 public:
  // Bound on the downstream walk from one batch (pipelines are far smaller).
  static constexpr size_t kMaxClosure = 1 << 16;

  // oracle and nodes must outlive the checker.
  SafetyChecker(const Oracle* oracle, const std::vector<std::unique_ptr<SimNode>>* nodes,
                bool drift_bounded);

  // Called before the oracle records the start.
  void OnProcessStart(SimTime now, const SimProcess& p);
  void OnAck(SimTime now, const AckRecord& ack);
  void OnCommitted(SimTime now, int node, const std::vector<Entry>& entries);
  void OnDurableUnapplied(SimTime now, int node, const std::vector<Entry>& entries);
  void OnRecovered(SimTime now, int node);
  void Report(SimTime now, const char* promise, std::string detail);

  const std::vector<Violation>& violations() const { return violations_; }
  uint64_t checks() const { return checks_; }

 private:
  struct Ended {
    TaskState state;
    SimTime at;
  };

  // Records edges from Submit entries; returns the task an entry names ("" for Noop).
  std::string Note(const Entry& e, std::set<std::string>* restarts);
  std::set<std::string> Closure(const std::set<std::string>& roots) const;
  void CheckOutcome(SimTime now, int node, const Task* t, const std::string& id, bool restarted);
  void CheckOneOpenAttempt(SimTime now, int node, const Task* t);
  void CheckAfter(SimTime now, int node, const TaskTable& table, const Task* t);
  void CheckAckedPresent(SimTime now, int node, const std::string& why);

  const Oracle* oracle_;
  const std::vector<std::unique_ptr<SimNode>>* nodes_;
  bool drift_bounded_;
  std::map<std::string, Ended> ended_;                            // by task id
  std::map<std::string, std::vector<std::string>> downstream_;    // upstream -> its dependents
  std::map<int, std::set<std::string>> unapplied_restarts_;       // by node, until it recovers
  std::set<std::string> restarted_;  // tasks restarted since their last Grant
  // after-is-honoured: when each task's current chain (submit or restart) began, which of
  // its upstreams had succeeded by then, and when each task last became succeeded.
  std::map<std::string, SimTime> chain_start_;
  std::map<std::string, std::set<std::string>> met_at_start_;
  std::map<std::string, SimTime> last_success_;
  std::vector<Violation> violations_;
  uint64_t checks_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SAFETY_CHECKER_H_
