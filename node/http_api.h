// The JSON API of a node (/api/v1/..., docs/api.md), independent of the HTTP library.
//
// Requests about tasks and members go to the node the way the CLI's do: through the client
// library (node/client.h) to the node's own client address, so the answers, routing to
// group leaders and errors are the CLI's. Groups and metrics come from the snapshot the
// driver publishes (node/http_snapshot.h). Safe to call from many threads at once.
#ifndef MAGPIE_NODE_HTTP_API_H_
#define MAGPIE_NODE_HTTP_API_H_

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "base/status.h"
#include "node/client.h"
#include "node/http_snapshot.h"

namespace magpie {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// The HTTP status for an error Status: 400 bad input, 404 unknown, 409 a state that forbids
// it, 503 the cluster cannot serve it now, 500 anything else.
int HttpStatusFor(const Status& status);
// {"error": "..."} with the status HttpStatusFor gives (or `http_status` when non-zero).
HttpResponse ErrorResponse(const Status& status, int http_status = 0);

// Turns a POST body into a submit request: a JSON object with "tasks" (a list, or a map of
// names to tasks: the pipeline file's shape, docs/pipelines.md), a list of tasks, or one
// task. Fields and checks are those of pipeline files; a task may omit its name unless
// another task names it in `after`.
Result<SubmitRequest> ParseSubmitBody(const std::string& body);

class HttpApi {
 public:
  using Query = std::multimap<std::string, std::string>;

  // node_address: the node's client address (its --listen); a wildcard host is reached at
  // loopback. security: how to reach it (the cluster's member keys, unless the node is
  // --insecure). snapshots: published by the driver.
  HttpApi(const std::string& node_address, ClientSecurity security,
          std::shared_ptr<SnapshotBox> snapshots, std::shared_ptr<spdlog::logger> logger);

  HttpResponse ListTasks(const Query& query);
  HttpResponse GetTask(const std::string& id);
  HttpResponse TaskHistory(const std::string& id);
  HttpResponse Members();
  HttpResponse Groups();
  HttpResponse SubmitTasks(const std::string& body);
  HttpResponse Metrics();

  const std::string& node_address() const { return node_address_; }

 private:
  // A client from the pool (or a new one); give it back with Release.
  Result<std::unique_ptr<Client>> Acquire();
  void Release(std::unique_ptr<Client> client);

  std::string node_address_;
  ClientSecurity security_;  // the node's member keys, unless --insecure
  std::shared_ptr<SnapshotBox> snapshots_;
  std::shared_ptr<spdlog::logger> log_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Client>> idle_;  // bounded by kMaxIdleClients
};

// "0.0.0.0:7400" -> "127.0.0.1:7400", "[::]:7400" -> "[::1]:7400"; others unchanged.
std::string LoopbackForWildcard(const std::string& host_port);

}  // namespace magpie

#endif  // MAGPIE_NODE_HTTP_API_H_
