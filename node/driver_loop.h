// The driver loop: the one piece of code that carries out what NodeCore asks for, in the
// order node_core.h's Ready demands (persist, then send, reply, kill, extend, start, then
// Advance), and that owns what a driver decides beyond the core: a disk that refuses a
// write stalls the node read-only; a graceful stop runs until the core has stopped; a
// node whose watchdog died stops.
//
// magpie-node (node_driver.cc), magpie-sim (simulations/sim_node.cc) and the core tests
// run this same class, each over its own DriverIo: RocksDB, ZeroMQ and processes for the
// real node; MemoryStorage, the simulated network and simulated processes for the others.
// Like the core it never reads a clock, sleeps or blocks: time comes in as `now`.
#ifndef MAGPIE_NODE_DRIVER_LOOP_H_
#define MAGPIE_NODE_DRIVER_LOOP_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "node/node_core.h"

namespace magpie {

// What the loop needs of the world. Every call is made on the loop's thread.
class DriverIo {
 public:
  virtual ~DriverIo() = default;

  // The clock, read afresh. The loop is handed `now` once per turn; it reads the clock
  // again before it hands the core the ends of processes, so that an end is never stamped
  // before it happened (the node may have been stopped, SIGSTOP, since the turn began).
  virtual Instant Now() = 0;

  // The disk. Stores `batch`, durably if `sync`. Returns Ok once stored; an error if the
  // disk refused it (the loop stalls); or Ok with *pending set when the write completes
  // later (a simulated fsync): the loop then waits for DriverLoop::WriteDone.
  virtual Status Write(const WriteBatch& batch, bool sync, bool* pending) = 0;
  // After a refused write: whatever makes the disk take writes again (RocksDB's Resume).
  virtual Status ResumeDisk() = 0;

  virtual void Send(PeerMessage message) = 0;
  virtual void Reply(const ReplyTo& to, const ReplyFrame& frame) = 0;
  virtual void Start(Instant now, const StartProcess& start) = 0;
  virtual void Kill(const KillProcess& kill) = 0;
  virtual void Extend(const ExtendDeadline& extend) = 0;
  // Ends of processes (and starts that failed) to hand to the core now, oldest first.
  virtual std::vector<ExecutorEvent> TakeExecutorEvents(Instant now) = 0;
  // Whether the watchdog still guards this node's processes (node/watchdog.h).
  virtual bool WatchdogAlive() = 0;

  // Observers. A Ready was taken from the core (its entries are applied); nothing of it
  // has been carried out yet.
  virtual void OnReadyTaken(Instant now, const Ready& rd) {}
};

struct DriverLoopOptions {
  // Ready batches carried out per Flush: a flood of work cannot starve the inputs.
  int max_ready_per_turn = 64;
  // A graceful stop waits this long at most for the core to report stopped().
  Duration stop_grace = Duration::Seconds(5);
  // While read-only, the refused write is tried again this often.
  Duration disk_retry = Duration::Seconds(1);
  // How often a read-only node says it still is.
  Duration stall_log_every = Duration::Seconds(30);
  std::string address;  // the node's listen address, for error messages
};

class DriverLoop {
 public:
  // `core` and `io` must outlive the loop.
  DriverLoop(NodeCore* core, DriverIo* io, std::shared_ptr<spdlog::logger> log,
             DriverLoopOptions options);
  DriverLoop(const DriverLoop&) = delete;
  DriverLoop& operator=(const DriverLoop&) = delete;

  // One turn, after the driver fed its inputs (requests and peer messages) to the core:
  // the executor's events, then Tick, then the Ready batches. While read-only, the turn
  // only retries the refused write; while a write is pending, it does nothing.
  void Turn(Instant now);
  // Carries out Ready batches until the core has none, the per-turn bound is reached, a
  // write is pending or the disk refused one.
  void Flush(Instant now);
  // The pending write completed (durably, if it was a synced one): carry the batch out
  // and go on.
  void WriteDone(Instant now);

  // Begins a graceful stop (SIGTERM): the core ends its attempts and hands over what it
  // leads; Done() turns true once it has, or after options.stop_grace.
  void Stop(Instant now, const std::string& why);
  // The driver may exit: a stop is over (or the node was read-only when asked to stop:
  // the refused write is dropped; nothing it held was acknowledged).
  bool Done(Instant now) const;
  // Set when the loop stopped the node itself (the watchdog died): the driver should exit
  // with this error once Done.
  const Status& failure() const { return failure_; }

  bool stalled() const { return stalled_.has_value(); }
  bool writing() const { return writing_.has_value(); }
  // What a read-only node answers every client (Unavailable, with the disk's reason).
  Status ReadOnlyError() const;
  // When the loop next needs a Turn: the core's deadline, the next disk retry while
  // read-only, or the end of a stop's grace.
  Instant NextDeadline() const;

 private:
  // After a Ready's write: messages, replies, kills, extends, starts, Advance, then the
  // executor's events (built-ins end at once and batch with the rest).
  void Deliver(Instant now, Ready& rd);
  // Whether `sp`'s lease (as `rd` leaves it) ran out by `clock`: it must not start.
  static bool LeaseRanOut(const Ready& rd, const StartProcess& sp, Instant clock);
  void RetryStalledWrite(Instant now);
  void Stall(Instant now, Ready rd, const Status& why);
  void FeedExecutorEvents(Instant now);
  void CheckWatchdog(Instant now);

  NodeCore* core_;
  DriverIo* io_;
  std::shared_ptr<spdlog::logger> log_;
  DriverLoopOptions options_;

  std::optional<Ready> writing_;  // written, waiting for WriteDone
  // Disk trouble (docs/security.md): the Ready whose write the disk refused, with all it
  // would have sent, waits here; meanwhile the node is read-only: it steps no core, so it
  // grants and acknowledges nothing.
  std::optional<Ready> stalled_;
  Status stall_reason_;
  Instant stalled_since_;
  Instant next_disk_retry_;
  Instant next_stall_log_;

  bool stop_requested_ = false;
  bool stopped_while_stalled_ = false;
  Instant stop_deadline_ = Instant::Never();
  Status failure_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_DRIVER_LOOP_H_
