// GET /api/v1/events: the cluster's task events as server-sent events (docs/events.md,
// docs/api.md), merged from every member by node/event_stream.h as `magpie watch` does.
//
// Each open stream holds one HTTP thread (the server has kMaxEventStreams threads more than
// it serves other requests with) and a watch at every member. Streams end within about a
// second of StopAll, so a stopping node is not held up by its subscribers.
#ifndef MAGPIE_NODE_HTTP_EVENTS_H_
#define MAGPIE_NODE_HTTP_EVENTS_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <spdlog/logger.h>

#include "base/status.h"
#include "node/client.h"

namespace httplib {
class Server;
}

namespace magpie {

class EventStream;

// Streams open at once per node; more are refused with 503.
inline constexpr int kMaxEventStreams = 4;

// An SSE id: each member's cursor, "NODE=CURSOR,NODE=CURSOR" (node ids are hex).
std::string FormatEventId(const std::map<std::string, uint64_t>& cursors);
// The cursors of an id sent back as Last-Event-ID; InvalidArgument if it is not one of ours.
Result<std::map<std::string, uint64_t>> ParseEventId(const std::string& id);

class HttpEvents {
 public:
  // node_address: the node's client address, reached with `security`.
  HttpEvents(std::string node_address, ClientSecurity security, std::shared_ptr<spdlog::logger> logger);
  HttpEvents(const HttpEvents&) = delete;
  HttpEvents& operator=(const HttpEvents&) = delete;

  // Adds GET /api/v1/events to the server. REQUIRES: this outlives the server's threads.
  void Route(httplib::Server& server);
  // Ends every open stream and refuses new ones.
  void StopAll();

 private:
  void Forget(const std::shared_ptr<EventStream>& stream);

  const std::string node_address_;
  const ClientSecurity security_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::set<std::shared_ptr<EventStream>> open_;
  size_t starting_ = 0;  // streams between the limit's check and open_
};

}  // namespace magpie

#endif  // MAGPIE_NODE_HTTP_EVENTS_H_
