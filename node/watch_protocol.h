// The client protocol's watch request (RequestType::kWatch, docs/events.md): a long poll for
// the task events a node has applied, resumable by cursor.
//
// A node keeps the events of the committed entries it applies in a bounded ring
// (node/event_ring.h), each with a node-local cursor. A watch asks for the events after a
// cursor; the node answers at once when some exist, else holds the request until one does
// or timeout_ms passes. Cursors mean nothing on another node, and nothing after a restart.
#ifndef MAGPIE_NODE_WATCH_PROTOCOL_H_
#define MAGPIE_NODE_WATCH_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <vector>

#include <msgpack.hpp>

#include "node/task.h"

namespace magpie {

// Bounds on one watch, so a client cannot make a node hold or build too much.
inline constexpr uint32_t kMaxWatchEventsPerReply = 1000;
inline constexpr int64_t kMaxWatchTimeoutMs = 60000;

// One committed entry that named a task, as this node applied it: the task's history event
// (node/task.h) with what a consumer needs to place it.
struct WatchEvent {
  uint64_t cursor = 0;     // this node's position of the event: resume after it
  std::string group;
  std::string task_id;
  std::string task_name;
  TaskEvent event;         // index, term, at_ms, kind, attempt, node, detail, accepted, state_after
  MSGPACK_DEFINE_MAP(cursor, group, task_id, task_name, event);
};

struct WatchRequest {
  // 0: from now on (answered at once with no events and the cursor to go on from, unless
  // from_oldest). Else the next_cursor of the previous reply.
  uint64_t cursor = 0;
  bool from_oldest = false;  // with cursor 0: every event the node still holds
  std::string state;         // only events whose state_after is this ("" any)
  std::string task_id;       // only events of this task ("" any)
  uint32_t max_events = 500;
  int64_t timeout_ms = 1000;  // how long the node may hold the request (at most 60 s)
  MSGPACK_DEFINE_MAP(cursor, from_oldest, state, task_id, max_events, timeout_ms);
};

struct WatchReply {
  std::vector<WatchEvent> events;  // oldest first
  uint64_t next_cursor = 0;        // ask again from here (past events the filters skipped)
  // The cursor was not this node's (another node's, or from before a restart) or its events
  // had left the ring: events may have been missed; the reply starts at the oldest held.
  bool gap = false;
  std::string node_id;  // the answering node, to whom the cursor belongs
  MSGPACK_DEFINE_MAP(events, next_cursor, gap, node_id);
};

}  // namespace magpie

#endif  // MAGPIE_NODE_WATCH_PROTOCOL_H_
