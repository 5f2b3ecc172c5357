// One simulated machine: a NodeCore (the same class magpie-node runs), its MemoryStorage,
// its clock, its simulated processes, and the driver loop magpie-node runs
// (node/driver_loop.h) over them: feed queued inputs, then the loop's Turn (executor
// events, Tick, Ready batches carried out as node/node_core.h says). A write goes to the
// page cache at once; a synced one keeps the loop waiting while simulated time passes (a
// crash in between loses the batch or, torn, keeps it). A disk that refuses writes stalls
// the node read-only, as on a real one.
//
// While an fsync is in flight, or while paused, inputs wait in the inbox. A crash loses the
// core, the inbox and every unsynced write; the watchdog kills the life's processes. A
// graceful stop (SIGTERM) runs the loop until the core has stopped, then the node exits:
// nothing written is lost.
#ifndef MAGPIE_SIMULATIONS_SIM_NODE_H_
#define MAGPIE_SIMULATIONS_SIM_NODE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "node/driver_loop.h"
#include "node/log_entry.h"
#include "node/node_core.h"
#include "simulations/sim_clock.h"
#include "simulations/sim_executor.h"
#include "simulations/sim_network.h"
#include "storage/memory_storage.h"

namespace magpie {

// What a node tells the world about itself; the oracle and the checkers listen.
class NodeHooks {
 public:
  virtual ~NodeHooks() = default;
  // The core applied these committed entries of `group`, in log order, while taking a
  // Ready (its replica's table already shows them); before anything of that Ready is done.
  virtual void OnCommitted(SimTime now, int node, const std::string& group,
                           const std::vector<Entry>& entries) = 0;
  // Entries that reached the disk but were never applied before a crash: recovery will.
  virtual void OnDurableUnapplied(SimTime now, int node, const std::vector<Entry>& entries) = 0;
  // The core recovered from storage (after Recover, before its first Ready).
  virtual void OnRecovered(SimTime now, int node) = 0;
  // A contract broke in a way no promise names (storage refused a batch, recovery failed).
  virtual void OnNodeError(SimTime now, int node, const std::string& what) = 0;
  // An fsync started; the fault injector may crash the node before it ends.
  virtual void OnSyncStarted(SimTime now, int node, SimTime done_at) = 0;
  // A graceful stop is over: the node's process exits (nothing written is lost).
  virtual void OnNodeStopped(SimTime now, int node) {}
  // A turn (inputs fed, Tick, Ready batches) is over; the node may be down after it. The
  // membership checker reads the gossip state here: only a Tick declares a member dead.
  virtual void OnTurnEnd(SimTime now, int node) = 0;
};

struct SimNodeOptions {
  int index = 0;
  std::string address;  // HOST:PORT: peers and clients know it by this
  int32_t slots = 4;
  std::map<std::string, std::string> labels;
  uint64_t compact_every = 10000;
  int64_t fsync_min_us = 100;
  int64_t fsync_max_us = 2000;
  ExecutorOptions executor;
  // Work stealing asks gossip for every member's load on each tick; the gossip figures,
  // which run no work, switch it off so an idle 1,000-node world stays cheap.
  bool stealing = true;
  // CoreOptions::replication: voters per replica group (--replication; the swarm draws 1
  // or 3 per seed).
  int replication = 3;
};

// Where a node joins through (CoreOptions::join): every other node in a small cluster, as
// an operator would list them; in a large one the first three nodes, since a join asks
// each address for the full state (1,000 nodes each asking 999 peers would be a storm no
// real cluster sees).
std::vector<std::string> JoinAddresses(int index, int nodes);

struct NodeStats {
  uint64_t readies = 0;
  uint64_t syncs = 0;
  uint64_t inbox_overflowed = 0;     // inputs dropped because the inbox was full
  uint64_t unknown_destinations = 0; // peer messages to an address nobody has
  uint64_t bad_frames = 0;
  uint64_t boots = 0;
  uint64_t past_deadlines = 0;  // NextDeadline at or before now right after a turn
};

class SimNode {
 public:
  static constexpr size_t kMaxInbox = 1 << 16;      // like a socket's high-water mark
  static constexpr size_t kMaxInputsPerTurn = 4096; // like node_driver's kMaxFramesPerTurn
  static constexpr int kMaxReadyPerTurn = 64;
  // Turns in a row after which a NextDeadline that is never after now is reported.
  static constexpr int kMaxSpinTurns = 10000;

  // Everything passed in must outlive the node. `addresses` maps HOST:PORT and client
  // names to network endpoints.
  SimNode(SimNodeOptions options, SimClock clock, Prng* prng, EventQueue* events,
          SimNetwork* network, TraceHash* trace, NodeHooks* hooks, ProcessObserver* observer,
          const std::map<std::string, int>* addresses, uint64_t* next_process_id,
          std::shared_ptr<spdlog::sinks::sink> log_sink, spdlog::level::level_enum log_level);
  ~SimNode();
  SimNode(const SimNode&) = delete;
  SimNode& operator=(const SimNode&) = delete;

  // Starts a new life: wipes the disk first if asked, loads or makes the node identity,
  // recovers the core. REQUIRES: !up() and now >= executor().sweep_done_at().
  void Boot(SimTime now, bool wipe);
  // The machine loses power: unsynced writes and everything volatile are gone.
  void Crash(SimTime now);
  void Pause(SimTime now);
  void Resume(SimTime now);
  // SIGTERM: a graceful stop; the node goes down by itself once the loop is Done.
  void Stop(SimTime now);
  // The disk refuses every write (full) until set back; a node that meets it stalls.
  void SetDiskFull(bool full) { disk_full_ = full; }

  // Inputs from the world.
  void DeliverRequest(SimTime now, int client, const std::string& client_route, std::string bytes);
  void DeliverPeer(SimTime now, PeerMessage message);
  void OnProcessEnd(SimTime now, uint64_t process_id, bool killed);
  // Events addressed to this node.
  void Turn(SimTime now);
  void TickDue(SimTime now, uint64_t generation);
  void SyncDone(SimTime now, uint64_t incarnation);

  bool up() const { return core_ != nullptr; }
  // Booted and its core has replayed the log it recovered (the oracle was told).
  bool recovered() const { return up() && recovery_reported_; }
  bool paused() const { return paused_; }
  // An fsync is in flight, or the node is read-only: inputs wait.
  bool busy() const { return loop_ != nullptr && (loop_->writing() || loop_->stalled()); }
  bool stalled() const { return loop_ != nullptr && loop_->stalled(); }
  bool stopping() const { return up() && core_->stopping(); }
  uint64_t incarnation() const { return incarnation_; }
  const std::string& node_id() const { return node_id_; }
  const std::string& group_id() const { return group_id_; }
  const SimNodeOptions& options() const { return options_; }
  const SimClock& clock() const { return clock_; }
  // REQUIRES: up().
  const NodeCore& core() const { return *core_; }
  MemoryStorage& storage() { return storage_; }
  SimExecutor& executor() { return executor_; }
  const SimExecutor& executor() const { return executor_; }
  const NodeStats& stats() const { return stats_; }
  size_t inbox_size() const { return inbox_.size() + exits_.size(); }

 private:
  struct Input {
    enum class Kind : uint8_t { kRequest, kPeer } kind = Kind::kRequest;
    std::string route;  // kRequest: the client's name, for the reply
    std::string bytes;
    PeerMessage peer;
  };

  class Io;

  void LoadIdentity(SimTime now);
  void Feed(SimTime now, Input& in);
  void HandleFrame(SimTime now, const std::string& route, const std::string& bytes);
  void AnswerLogs(SimTime now, const ReplyTo& to, const std::string& body);
  void SendReply(SimTime now, const ReplyTo& to, const ReplyFrame& frame);
  void OnReadyTaken(const Ready& rd);
  void FinishSync(SimTime now);
  // The loop is Done (a graceful stop is over): the process exits.
  void Exit(SimTime now);
  // The core's view of now on this machine's clock.
  Instant Local(SimTime now) const { return clock_.LocalAt(now); }
  // Reschedules the tick and, if inputs wait, another turn.
  void AfterTurn(SimTime now);
  void ScheduleTurn(SimTime now);

  SimNodeOptions options_;
  SimClock clock_;
  Prng* prng_;
  EventQueue* events_;
  SimNetwork* network_;
  TraceHash* trace_;
  NodeHooks* hooks_;
  bool recovery_reported_ = false;
  void MaybeReportRecovered(SimTime now);
  const std::map<std::string, int>* addresses_;
  std::shared_ptr<spdlog::sinks::sink> log_sink_;
  spdlog::level::level_enum log_level_;
  std::shared_ptr<spdlog::logger> log_;

  MemoryStorage storage_;  // the disk: outlives every life of the node
  bool disk_full_ = false;
  SimExecutor executor_;   // the machine's process table and watchdog
  std::unique_ptr<NodeCore> core_;
  std::unique_ptr<Io> io_;
  std::unique_ptr<DriverLoop> loop_;
  SimTime now_;  // of the event being handled: the Io's calls carry no time of their own
  std::string node_id_;
  std::string group_id_;
  uint64_t incarnation_ = 0;
  bool paused_ = false;

  std::deque<Input> inbox_;
  std::deque<ExecutorEvent> exits_;  // never dropped: the core needs exactly one per attempt
  bool turn_scheduled_ = false;
  uint64_t tick_generation_ = 0;
  int spinning_turns_ = 0;
  SimTime tick_at_ = SimTime::Never();

  // The fsync in flight (the loop holds its Ready).
  bool sync_finished_ = false;  // the fsync ended while the node was paused
  std::vector<Entry> in_flight_entries_;
  NodeStats stats_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SIM_NODE_H_
