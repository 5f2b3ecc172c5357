// The safety checkers, run on every step of the run (after each fact the world reports),
// against the oracle's true view and the nodes' tables:
//
//   no-acknowledged-task-lost  every id a client was given was committed by its group (some
//                              replica applied its Submit, with the client's idempotency
//                              key) before the ack arrived; and a replica that recovers
//                              holds every acknowledged task its applied index covers
//                              (except a group that lost a majority of its voters' disks:
//                              Oracle::GroupSurvives)
//   log-matching               (DESIGN §4) entries applied at one index of one group are
//                              identical on every node (term, type, payload)
//   one-attempt-at-a-time      no two simulated processes of one task alive at one instant
//                              (across nodes this rests on the drift bound: not checked in
//                              drift-beyond mode); and in the committed log, no Grant while
//                              the task's previous attempt is still open
//   fencing-numbers-increase   a task's processes start with ever larger attempt numbers
//   one-outcome                an end state, once applied, changes only through a Restart
//                              of the task or of the upstream that blocked it
//   start-after-grant          a process starts only for an attempt a committed Grant gave
//                              its node (an assigned attempt; the task is running after)
//   slots-bound                a node never runs more processes of its life than it has slots
//   after-is-honoured          a task is granted only when every task in its `after` has
//                              succeeded since the task was submitted or restarted, or had
//                              succeeded by then (DESIGN §3; a restart of an upstream does
//                              not hold back a downstream that was already released). An
//                              upstream in another group is judged by that group's log as
//                              first applied anywhere (the groups' true order)
//
// The one-outcome check looks at the tasks named by each committed batch and everything
// downstream of them (the only tasks an entry can change), and at every task after a
// recovery. With replica groups every replica applies the same log at its own pace, so the
// per-task history (outcomes, chain starts, successes) is kept per node: each node's
// tables must tell a consistent story, and log-matching makes the stories one. A replica
// that jumps ahead (a snapshot installed, or re-added to a group after removal) starts its
// story of that group afresh; a wiped node (a new identity) starts afresh altogether.
#ifndef MAGPIE_SIMULATIONS_SAFETY_CHECKER_H_
#define MAGPIE_SIMULATIONS_SAFETY_CHECKER_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
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
  void OnCommitted(SimTime now, int node, const std::string& group,
                   const std::vector<Entry>& entries);
  void OnDurableUnapplied(SimTime now, int node, const std::vector<Entry>& entries);
  // Entries a node applied (also in a replay, checked or not): the Grants among them.
  void NoteGrants(const std::vector<Entry>& entries);
  // Entries a node applied, in a replay too: log-matching, and the groups' history as first
  // applied anywhere (after-is-honoured across groups).
  void NoteApplied(SimTime now, int node, const std::string& group, const std::vector<Entry>& entries);
  void OnRecovered(SimTime now, int node);
  void Report(SimTime now, const char* promise, std::string detail);

  const std::vector<Violation>& violations() const { return violations_; }
  uint64_t checks() const { return checks_; }

 private:
  struct Ended {
    TaskState state;
    SimTime at;
  };
  struct LogRecord {
    uint64_t term = 0;
    uint64_t hash = 0;
    int node = -1;
    SimTime at;
  };
  // What one node's tables have shown, by task id (ids name their group).
  struct View {
    std::string node_id;
    std::map<std::string, uint64_t> last_index;  // by group: the last index applied here
    std::map<std::string, Ended> ended;
    // after-is-honoured: when each task's current chain (submit or restart) began, which of
    // its upstreams had succeeded by then, and when each task last became succeeded.
    std::map<std::string, SimTime> chain_start;
    std::map<std::string, std::set<std::string>> met_at_start;
    std::map<std::string, SimTime> last_success;
    // Attempts whose own Finish this node has applied, by task: an attempt with the same
    // end as a stale Finish of an earlier one (two thieves handing back alike, at the same
    // millisecond on their own clocks) closed itself.
    std::map<std::string, std::set<uint32_t>> own_finish;
    // Tasks some batch touched since their group's story began on this node: of any other,
    // what it was before a batch is unknown (its group's history was dropped at a gap).
    std::set<std::string> seen;
  };
  View& ViewOf(int node);
  static void ForgetGroup(View& v, const std::string& group);
  // Returns whether this is the first apply of (group, index) anywhere.
  bool CheckLogMatching(SimTime now, int node, const std::string& group, const Entry& e);
  // after-is-honoured across groups, on the entries of a batch first applied anywhere.
  void CheckForeignAfter(SimTime now, int node, const TaskTable& table, const std::vector<const Entry*>& fresh);

  // Records edges from Submit entries; returns the task an entry names ("" for Noop).
  std::string Note(const Entry& e, std::set<std::string>* restarts);
  std::set<std::string> Closure(const std::set<std::string>& roots) const;
  void CheckOutcome(SimTime now, int node, View& v, const Task* t, const std::string& id,
                    bool restarted);
  void CheckOneOpenAttempt(SimTime now, int node, const Task* t);
  // batch_met: upstreams whose last Finish or Restart in this batch, before the grant,
  // left them succeeded (the table shows only the batch's end).
  void CheckAfter(SimTime now, int node, View& v, const TaskTable& table, const Task* t,
                  const std::set<std::string>& batch_met = {});
  void CheckAckedPresent(SimTime now, int node, const std::string& group, const Replica& r,
                         const std::string& why);

  const Oracle* oracle_;
  const std::vector<std::unique_ptr<SimNode>>* nodes_;
  bool drift_bounded_;
  std::map<int, View> views_;                                     // by node
  // Every (task, attempt, holder) some replica applied a Grant of: a process may start only
  // for one of them (and only after: the holder starts it on the Grant's apply or answer).
  std::set<std::tuple<std::string, uint32_t, std::string>> granted_;
  bool GrantInSomeTable(const SimProcess& p, const std::string& holder) const;
  // start-after-grant and slots-bound; then fencing and one-attempt-at-a-time.
  void CheckStartOnNode(SimTime now, const SimProcess& p);
  void CheckAttemptsOfTask(SimTime now, const SimProcess& p);
  std::map<std::string, std::map<uint64_t, LogRecord>> log_;      // group -> index -> entry
  std::map<std::string, std::set<std::string>> downstream_;       // upstream -> its dependents
  std::map<int, std::set<std::string>> unapplied_restarts_;       // by node, until it recovers
  std::set<std::string> restarted_;  // tasks restarted since their last Grant
  // Across groups, in true time: whether each task stands succeeded in its group's log as
  // first applied anywhere, and when it last became so; and, for tasks with an upstream
  // in another group, when their chain began and which of those upstreams stood succeeded.
  struct Chain {
    SimTime start;
    std::set<std::string> met;
  };
  std::map<std::string, bool> succeeded_;
  std::map<std::string, SimTime> succeeded_at_;
  std::map<std::string, Chain> foreign_chains_;
  std::vector<Violation> violations_;
  uint64_t checks_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SAFETY_CHECKER_H_
