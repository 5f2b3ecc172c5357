#include "simulations/event_queue.h"

#include <algorithm>

#include "base/check.h"

namespace magpie {

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kDeliver: return "deliver";
    case EventKind::kNodeTurn: return "node-turn";
    case EventKind::kNodeTick: return "node-tick";
    case EventKind::kSyncDone: return "sync-done";
    case EventKind::kProcessExit: return "process-exit";
    case EventKind::kProcessKilled: return "process-killed";
    case EventKind::kWatchdogSweep: return "watchdog-sweep";
    case EventKind::kWatchdogDeadline: return "watchdog-deadline";
    case EventKind::kFaultTick: return "fault-tick";
    case EventKind::kFaultEnd: return "fault-end";
    case EventKind::kClientAct: return "client-act";
    case EventKind::kClientRetry: return "client-retry";
    case EventKind::kPhaseEnd: return "phase-end";
    case EventKind::kLivenessProbe: return "liveness-probe";
    case EventKind::kRestartNode: return "restart-node";
  }
  return "?";
}

bool EventQueue::Push(SimTime at, EventKind kind, int32_t target, uint64_t arg) {
  if (heap_.size() >= kMaxEvents) {
    ++overflowed_;
    return false;
  }
  heap_.push_back(Event{at, next_seq_++, kind, target, arg});
  std::push_heap(heap_.begin(), heap_.end(), Later);
  return true;
}

Event EventQueue::Pop() {
  MAGPIE_CHECK(!heap_.empty(), "Pop from an empty event queue");
  std::pop_heap(heap_.begin(), heap_.end(), Later);
  Event e = heap_.back();
  heap_.pop_back();
  return e;
}

}  // namespace magpie
