// One machine's simulated processes and its watchdog. It takes the core's StartProcess,
// KillProcess and ExtendDeadline effects and reports exactly one ExecutorEvent per started
// attempt, like node/process_executor.h, but forks nothing: each process is a plan
// (command_model.h) and a pair of events on the world's queue.
//
// The watchdog is modelled as it is built (node/watchdog.h): it kills a process at its kill
// deadline on the node's clock even while the node is paused, and when the node process
// dies it kills every process of that life after a short delay. A restarted node must not
// recover before that sweep is done (the real node waits on the watchdog's flock), which
// the world enforces with sweep_done_at().
#ifndef MAGPIE_SIMULATIONS_SIM_EXECUTOR_H_
#define MAGPIE_SIMULATIONS_SIM_EXECUTOR_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "base/prng.h"
#include "node/effects.h"
#include "simulations/event_queue.h"
#include "simulations/sim_clock.h"
#include "simulations/sim_time.h"
#include "simulations/trace_hash.h"

namespace magpie {

struct SimProcess {
  uint64_t id = 0;  // unique in the world
  int node = -1;
  uint64_t incarnation = 0;  // the node life that started it
  std::string task_id;
  uint32_t attempt = 0;
  SimTime started;
  int32_t exit_code = 0;
  int32_t signal = 0;
  bool killing = false;  // a SIGKILL is on its way
  Instant kill_deadline = Instant::Never();
  std::string ended_by;  // "exit", "kill", "watchdog-deadline", "watchdog-node-died"
};

// Told of every process start and end: the oracle's view of what really runs.
class ProcessObserver {
 public:
  virtual ~ProcessObserver() = default;
  virtual void OnProcessStart(SimTime now, const SimProcess& p) = 0;
  virtual void OnProcessStop(SimTime now, const SimProcess& p) = 0;
};

struct ExecutorOptions {
  int64_t kill_latency_max_us = 2000;       // SIGKILL to death
  int64_t watchdog_latency_max_us = 100000; // node death to the watchdog's sweep
};

class SimExecutor {
 public:
  // All pointers must outlive the executor. Process ids come from *next_process_id, shared
  // by every machine so that ids are unique in the world.
  SimExecutor(int node, ExecutorOptions options, const SimClock* clock, Prng* prng,
              EventQueue* events, TraceHash* trace, ProcessObserver* observer,
              uint64_t* next_process_id);
  SimExecutor(const SimExecutor&) = delete;
  SimExecutor& operator=(const SimExecutor&) = delete;

  // Starts an attempt for node life `incarnation`. A start that fails is reported at once
  // (the returned event); a second start of an attempt still running is ignored.
  std::optional<ExecutorEvent> Start(SimTime now, uint64_t incarnation, const StartProcess& sp);
  void Kill(SimTime now, const KillProcess& kill);
  void Extend(SimTime now, const ExtendDeadline& extend);

  // kProcessExit / kProcessKilled: the process ends. Returns the event for its node and the
  // node life it belongs to, or nothing if it had already ended.
  std::optional<std::pair<uint64_t, ExecutorEvent>> End(SimTime now, uint64_t process_id,
                                                        bool killed);
  // kWatchdogDeadline: kills the process if its deadline has passed on the node's clock.
  void CheckDeadline(SimTime now, uint64_t process_id);
  // The node life `incarnation` died: schedules the watchdog's sweep of its processes.
  void NodeDied(SimTime now, uint64_t incarnation);
  // kWatchdogSweep: every process of that life dies now.
  void Sweep(SimTime now, uint64_t incarnation);

  SimTime sweep_done_at() const { return sweep_done_at_; }
  // The watchdog process dies (killed by hand, out of memory): deadlines are no longer
  // enforced from outside the node. A node's death still ends its processes (they carry
  // PDEATHSIG). Each new life of the node starts a new watchdog (NewLife).
  void LoseWatchdog() { watchdog_alive_ = false; }
  void NewLife() { watchdog_alive_ = true; }
  bool watchdog_alive() const { return watchdog_alive_; }
  size_t live() const { return live_.size(); }
  const std::map<uint64_t, SimProcess>& processes() const { return live_; }
  // The live process of this attempt, if any.
  const SimProcess* Find(const std::string& task_id, uint32_t attempt) const;

 private:
  void Stop(SimTime now, std::map<uint64_t, SimProcess>::iterator it, const char* why);

  int node_;
  ExecutorOptions options_;
  const SimClock* clock_;
  Prng* prng_;
  EventQueue* events_;
  TraceHash* trace_;
  ProcessObserver* observer_;
  uint64_t* next_process_id_;
  std::map<uint64_t, SimProcess> live_;                             // by process id
  std::map<std::pair<std::string, uint32_t>, uint64_t> by_attempt_;  // live ones
  SimTime sweep_done_at_ = SimTime::Zero();
  bool watchdog_alive_ = true;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SIM_EXECUTOR_H_
