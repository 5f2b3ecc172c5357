// GET /api/v1/tasks/{id}/logs (docs/api.md): a task's whole output as text/plain, read
// through the node's client API as `magpie logs` reads it (node/logs_reader.h), so it comes
// from whichever node holds it. With follow=1 the body is a chunked stream that lasts until
// the attempt ends (and, with retries=1, until the task does).
//
// Each open read holds one HTTP thread: the server has kMaxLogStreams threads for them
// beyond those of other requests, and refuses more with 503.
#ifndef MAGPIE_NODE_HTTP_LOGS_H_
#define MAGPIE_NODE_HTTP_LOGS_H_

#include <atomic>
#include <memory>
#include <string>

#include <spdlog/logger.h>

#include "base/status.h"
#include "node/client.h"
#include "node/logs_reader.h"

namespace httplib {
class Server;
}

namespace magpie {

inline constexpr int kMaxLogStreams = 4;

// The options of a read from the query's parameters: attempt, stream (stdout, stderr),
// follow and retries (1/true). InvalidArgument names a bad one.
Result<LogsReadOptions> ParseLogsQuery(const std::string& id, const std::string& attempt,
                                       const std::string& stream, const std::string& follow,
                                       const std::string& retries);

class HttpLogs {
 public:
  HttpLogs(std::string node_address, ClientSecurity security, std::shared_ptr<spdlog::logger> logger);
  HttpLogs(const HttpLogs&) = delete;
  HttpLogs& operator=(const HttpLogs&) = delete;

  // REQUIRES: this outlives the server's threads.
  void Route(httplib::Server& server);
  // Ends open reads (their bodies are cut short) and refuses new ones.
  void StopAll() { stopping_ = true; }

 private:
  const std::string node_address_;
  const ClientSecurity security_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> open_{0};
};

}  // namespace magpie

#endif  // MAGPIE_NODE_HTTP_LOGS_H_
