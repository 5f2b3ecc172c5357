// The events a node has applied, for watchers (docs/events.md): a bounded ring of
// WatchEvents, each with a cursor that orders it on this node.
//
// A cursor is (life << 40) | n, n counting events from 1 in this life of the node, so a
// cursor handed out before a restart is told apart from one of now (its events are gone with
// the old ring) and reported as a gap rather than taken for a position it never named.
// Pure data: the core owns one and feeds it; no clock, no I/O.
#ifndef MAGPIE_NODE_EVENT_RING_H_
#define MAGPIE_NODE_EVENT_RING_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "node/task.h"
#include "node/watch_protocol.h"

namespace magpie {

struct WatchFilter {
  std::optional<TaskState> state;  // the state after the event
  std::string task_id;             // "" any
  bool Matches(const WatchEvent& e) const;
};

class EventRing {
 public:
  // capacity: the most events kept; older ones are dropped (a watcher behind them gets a gap).
  explicit EventRing(size_t capacity);
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // Starts keeping events, with cursors of this life of the node (life >= 1). A node that is
  // never watched keeps none: its first watch calls this. Later calls change nothing.
  void Activate(uint64_t life);
  bool active() const { return base_ != 0; }

  // Gives the event the next cursor and keeps it, dropping the oldest past the capacity.
  // REQUIRES: active().
  void Append(WatchEvent event);

  // The cursor of the newest event (the base of this life when there is none yet).
  uint64_t head() const { return base_ + appended_; }
  // The cursor the oldest event held has, or head() + 1 when none is held.
  uint64_t oldest() const { return head() + 1 - events_.size(); }
  size_t size() const { return events_.size(); }

  // Where a watch that sent `cursor` starts: after `after`. gap: the cursor was not one of
  // this ring's, or its events were dropped; it then starts at the oldest event held (at
  // the head for a cursor past it).
  struct Position {
    uint64_t after = 0;
    bool gap = false;
  };
  Position Resolve(uint64_t cursor, bool from_oldest) const;

  // The events after `after` that match the filter, at most `max`, oldest first.
  // next_cursor is past every event looked at, matched or not, so the filter's skips are
  // not read again. gap: `after` was dropped meanwhile; reading began at the oldest.
  struct Batch {
    std::vector<WatchEvent> events;
    uint64_t next_cursor = 0;
    bool gap = false;
  };
  Batch Read(uint64_t after, const WatchFilter& filter, size_t max) const;

 private:
  const size_t capacity_;
  uint64_t base_ = 0;      // life << 40; 0 until Activate
  uint64_t appended_ = 0;  // events appended in this life
  std::deque<WatchEvent> events_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_EVENT_RING_H_
