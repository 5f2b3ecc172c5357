// The task events of a whole cluster, from any node (docs/events.md): what `magpie watch`
// prints and GET /api/v1/events streams.
//
// A node reports only the groups it holds a replica of, and every replica of a group
// reports the same committed entries. So the stream asks its node for the members, keeps a
// watch (node/watch_protocol.h) in flight at every live member, one thread each, and
// merges their answers: an event of a task is passed on only if its entry index is past the
// last one passed on for that task, which drops the copies other replicas send and keeps
// each task's events in log order. Members that join later are picked up (the member list is
// read again every few seconds); a member that is down is retried, and said so once.
// Addresses are the members' own (their --listen, as gossip spreads it).
//
// Blocking, on threads of its own; not for the core. Stop (or the destructor) ends the
// threads within one poll (EventStreamOptions::poll).
#ifndef MAGPIE_NODE_EVENT_STREAM_H_
#define MAGPIE_NODE_EVENT_STREAM_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "node/client.h"
#include "node/watch_protocol.h"

namespace magpie {

struct EventStreamOptions {
  std::string node;  // HOST:PORT of the node that names the members
  ClientSecurity security;
  std::string state;    // only events after which the task is in this state ("" any)
  std::string task_id;  // only this task's events ("" any)
  // Start with every event the members still hold rather than from now on.
  bool from_oldest = false;
  // Cursors to go on from, by node id (a resumed stream: the cursors it had reached).
  std::map<std::string, uint64_t> resume;
  std::chrono::milliseconds poll{1000};           // how long a member holds each watch
  std::chrono::milliseconds members_every{3000};  // how often the member list is read again
  size_t max_members = 128;                       // members watched at once (a thread each)
};

class EventStream {
 public:
  struct Item {
    enum class Kind { kEvent, kGap, kNote };
    Kind kind = Kind::kEvent;
    WatchEvent event;     // kEvent
    std::string node_id;  // the member that reported it
    std::string text;     // kGap, kNote: what happened, in words
  };

  // Reads the member list from options.node; Unavailable if it does not answer,
  // InvalidArgument for a bad filter.
  static Result<std::unique_ptr<EventStream>> Start(EventStreamOptions options);
  ~EventStream();
  EventStream(const EventStream&) = delete;
  EventStream& operator=(const EventStream&) = delete;

  // What has arrived, oldest first, waiting up to `wait` for something (less if Stop).
  std::vector<Item> Next(std::chrono::milliseconds wait);
  // Every member known has answered its first watch: events from now on will be seen.
  bool Established() const;
  size_t members() const;
  // Per member, the cursor the items returned by Next so far reach: a resume point.
  std::map<std::string, uint64_t> Cursors() const;
  void Stop();

 private:
  struct Member {
    std::string id;
    std::string address;
    bool late = false;  // joined after the start: watched from then on, not from its oldest
    std::atomic<bool> answered{false};
    std::thread thread;
  };
  // What a member's thread hands the reader: items, then the cursor they reach.
  struct Queued {
    Item item;
    bool cursor_only = false;
    uint64_t cursor = 0;
  };

  explicit EventStream(EventStreamOptions options);
  void AddMembers(const MembersReply& reply, bool late);
  void Poll(Member* m);
  void RefreshMembers();
  // True the first time (task, index) is past what was passed on for the task.
  bool Fresh(const WatchEvent& e);
  void Push(Queued q);
  // Waits up to d unless stopping; false when stopping.
  bool Pause(std::chrono::milliseconds d);

  const EventStreamOptions options_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  std::map<std::string, std::unique_ptr<Member>> members_;  // by node id
  std::map<std::string, uint64_t> cursors_;                  // delivered, by node id
  std::map<std::string, uint64_t> last_index_;               // task id -> entry index passed on
  std::deque<std::string> tracked_;                          // last_index_'s keys, oldest first
  std::thread refresher_;
};

// One event as JSON on one line: task, name, group, index, term, at, kind, attempt, node,
// detail, accepted, state (after the event), reported_by.
std::string WatchEventJson(const WatchEvent& e, const std::string& reported_by);

}  // namespace magpie

#endif  // MAGPIE_NODE_EVENT_STREAM_H_
