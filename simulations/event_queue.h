// The world's one queue of future events, after FoundationDB's sim2: nothing runs
// concurrently; the world pops the earliest event, sets true time to it and dispatches
// it, so when nothing is runnable time jumps straight to the next timer.
//
// Events with the same time leave in the order they were pushed (a sequence number breaks
// ties), so the order never depends on the heap's layout.
#ifndef MAGPIE_SIMULATIONS_EVENT_QUEUE_H_
#define MAGPIE_SIMULATIONS_EVENT_QUEUE_H_

#include <cstdint>
#include <vector>

#include "simulations/sim_time.h"

namespace magpie {

// The numbers reach the trace hash: append, never renumber.
enum class EventKind : uint8_t {
  kDeliver = 1,          // arg: packet id
  kNodeTurn = 2,         // target: node; the node takes its queued inputs
  kNodeTick = 3,         // target: node, arg: timer generation (stale ones are ignored)
  kSyncDone = 4,         // target: node, arg: incarnation whose fsync finished
  kProcessExit = 5,      // target: node, arg: process id; it ends by itself
  kProcessKilled = 6,    // target: node, arg: process id; a SIGKILL took effect
  kWatchdogSweep = 7,    // target: node, arg: incarnation whose processes the watchdog kills
  kWatchdogDeadline = 8, // target: node, arg: process id; its kill deadline may have passed
  kFaultTick = 9,        // the fault injector may start a fault
  kFaultEnd = 10,        // target: node or -1, arg: fault record id
  kClientAct = 11,       // target: client; it sends its next request
  kClientRetry = 12,     // target: client, arg: request id
  kPhaseEnd = 13,        // the safety phase is over: heal everything
  kLivenessProbe = 14,   // has the healed cluster converged yet?
  kRestartNode = 15,     // target: node, arg: 1 to wipe its disk first
};
const char* EventKindName(EventKind kind);

struct Event {
  SimTime at;
  uint64_t seq = 0;
  EventKind kind = EventKind::kNodeTurn;
  int32_t target = -1;
  uint64_t arg = 0;
};

class EventQueue {
 public:
  // A bound far above any honest run: an event storm is a bug to report, not to survive.
  static constexpr size_t kMaxEvents = 1 << 22;

  EventQueue() = default;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // False (and counted) when the queue is full; the world treats that as a failed run.
  bool Push(SimTime at, EventKind kind, int32_t target, uint64_t arg);
  // The earliest event. REQUIRES: !empty().
  Event Pop();

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  SimTime next_time() const { return heap_.empty() ? SimTime::Never() : heap_.front().at; }
  uint64_t overflowed() const { return overflowed_; }
  uint64_t pushed() const { return next_seq_; }

 private:
  static bool Later(const Event& a, const Event& b) {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }

  std::vector<Event> heap_;
  uint64_t next_seq_ = 0;
  uint64_t overflowed_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_EVENT_QUEUE_H_
