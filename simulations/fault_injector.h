// Faults as data: during the safety phase the injector draws, one at a time and at random
// gaps, which enabled fault to start next, where, and for how long; each fault ends by an
// event of its own. At the end of the phase everything heals (Stop). Every draw comes
// from the world's PRNG in event order, so faults repeat with the seed.
//
// Node faults (crash, pause) respect a budget: at most max_faulty nodes are down or paused
// at once — a minority, since DESIGN §1 promises survival of minority failures — and at
// least one even in a cluster of one or two. One partition shape holds at a time.
#ifndef MAGPIE_SIMULATIONS_FAULT_INJECTOR_H_
#define MAGPIE_SIMULATIONS_FAULT_INJECTOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "base/prng.h"
#include "simulations/event_queue.h"
#include "simulations/sim_network.h"
#include "simulations/trace_hash.h"

namespace magpie {

// A node serving as a group's leader, and the other voters of that group.
struct GroupLead {
  int leader = -1;
  std::vector<int> followers;
};

// What the injector can do to the world (the world implements it).
class FaultTarget {
 public:
  virtual ~FaultTarget() = default;
  virtual bool NodeUp(int node) const = 0;
  virtual bool NodePaused(int node) const = 0;
  // Its watchdog is alive. A node whose watchdog just died is not paused by another fault
  // until it has had its turn to notice: no node can guard against both at one instant.
  virtual bool NodeGuarded(int node) const = 0;
  virtual void CrashNode(SimTime now, int node) = 0;
  // Restarts the node as soon as its watchdog has swept the last life.
  virtual void RestartNode(SimTime now, int node, bool wipe) = 0;
  virtual void PauseNode(SimTime now, int node) = 0;
  virtual void ResumeNode(SimTime now, int node) = 0;
  // SIGTERM: the node stops gracefully and goes down by itself.
  virtual void StopNode(SimTime now, int node) = 0;
  // The node's watchdog process dies.
  virtual void LoseWatchdog(SimTime now, int node) = 0;
  // The node's disk refuses writes (full) until set back.
  virtual void SetDiskFull(SimTime now, int node, bool full) = 0;
  virtual SimNetwork& network() = 0;
  // Every group's serving leader among the up nodes, in node then group order.
  virtual std::vector<GroupLead> Leaders() const = 0;
};

struct FaultPlan {
  uint32_t faults = 0;        // FaultBit set (sim_options.h)
  int nodes = 1;
  int max_faulty = 1;         // node faults at once
  int64_t gap_mean_us = 3'000'000;  // between fault starts (uniform 0 .. 2x)
  int64_t down_min_us = 10'000, down_max_us = 10'000'000;
  int64_t pause_min_us = 10'000, pause_max_us = 15'000'000;
  int64_t cut_min_us = 100'000, cut_max_us = 20'000'000;
  int64_t flap_min_us = 20'000, flap_max_us = 1'000'000;
  uint32_t wipe_per_100 = 20;         // of restarts, with the wipe fault
  uint32_t crash_in_sync_per_10k = 0; // of fsyncs, with the crash fault
};

struct FaultStats {
  uint64_t crashes = 0;
  uint64_t crashes_in_sync = 0;
  uint64_t wipes = 0;
  uint64_t pauses = 0;
  uint64_t partitions = 0;
  uint64_t flaps = 0;
  uint64_t leader_cuts = 0;  // partitions that put a group's leader in a minority
  uint64_t stops = 0;        // graceful restarts
  uint64_t watchdogs_lost = 0;
  uint64_t disks_full = 0;
};

class FaultInjector {
 public:
  FaultInjector(FaultPlan plan, Prng* prng, EventQueue* events, TraceHash* trace,
                FaultTarget* target, std::shared_ptr<spdlog::logger> log);
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  void Start(SimTime now);
  void OnTick(SimTime now);                      // kFaultTick: maybe start a fault
  void OnEnd(SimTime now, uint64_t record_id);   // kFaultEnd: a fault ends (or flaps)
  void OnSyncStarted(SimTime now, int node, SimTime done_at);
  // The safety phase is over: heal partitions, resume and restart every node.
  void Stop(SimTime now);

  const FaultStats& stats() const { return stats_; }
  const FaultPlan& plan() const { return plan_; }

 private:
  enum class Kind : uint8_t { kCrash, kCrashInSync, kPause, kPartition, kFlap, kStop, kWatchdog, kDisk,
                            kPauseBegins };  // kPauseBegins: a pause drawn earlier starts
  struct Active {
    Kind kind;
    int node = -1;
    SimTime until;       // kFlap: when the flapping stops
    bool cut = false;    // kFlap: whether the shape is applied now
    std::string shape;   // kFlap: which shape to apply
    std::vector<int> side;
  };

  bool On(uint32_t bit) const { return (plan_.faults & bit) != 0; }
  int NodeFaults() const;
  // Nodes under a fault the target does not show as down or paused (a full disk).
  int disk_faults_ = 0;
  int PickNode(bool up_and_running);
  std::vector<int> PickSide(int min, int max);
  void Schedule(SimTime at, Active a);
  void StartCrash(SimTime now, int node, bool in_sync);
  void StartPause(SimTime now);
  // A graceful restart; a watchdog that dies (and, half the time, a pause of its node
  // longer than any lease a moment later: the case the watchdog is for); a full disk.
  void StartStop(SimTime now, int node);
  void StartWatchdogLoss(SimTime now, int node);
  void StartDiskFull(SimTime now, int node);
  void StartPartition(SimTime now);
  // False when no group has a serving leader (or fewer than 3 nodes): nothing drawn.
  bool StartLeaderMinority(SimTime now);
  void ApplyShape(const std::string& shape, const std::vector<int>& side, int node);
  void Note(SimTime now, int node, const std::string& what);

  FaultPlan plan_;
  Prng* prng_;
  EventQueue* events_;
  TraceHash* trace_;
  FaultTarget* target_;
  std::shared_ptr<spdlog::logger> log_;
  std::map<uint64_t, Active> active_;
  uint64_t next_record_ = 1;
  bool partitioned_ = false;
  bool stopped_ = false;
  FaultStats stats_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_FAULT_INJECTOR_H_
