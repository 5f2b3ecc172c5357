// The node's HTTP server (cpp-httplib): /metrics, /api/v1/... and the dashboard at /.
// Unless the node is --insecure, /api/v1/ and /metrics need `Authorization: Bearer TOKEN`,
// the token derived from the cluster key (`magpie token` prints it).
// It runs on its own threads and never touches the core: every route is answered by
// HttpApi (node/http_api.h), which talks to the node as a client does or reads the
// snapshot the driver publishes.
#ifndef MAGPIE_NODE_HTTP_SERVER_H_
#define MAGPIE_NODE_HTTP_SERVER_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <spdlog/logger.h>

#include "base/status.h"
#include "node/http_api.h"
#include "node/http_events.h"
#include "node/http_logs.h"
#include "node/http_snapshot.h"

namespace httplib {
class Server;
}

namespace magpie {

struct HttpServerOptions {
  std::string listen;        // HOST:PORT to serve on; port 0 picks a free one
  std::string node_address;  // the node's client address (--listen)
  int threads = 4;           // requests served at once
  // The bearer token /api/v1/ and /metrics require (docs/security.md); empty: no check
  // (--insecure). The dashboard's static files need none: they hold no data.
  std::string token;
  bool metrics_open = false;  // --metrics-open: /metrics without the token
  // How the API's clients reach the node (its member keys, unless --insecure).
  ClientSecurity node_security;
};

// The answer to a request for `path` with the Authorization header `authorization`
// ("" when absent): nullopt when it may go on, else the 401 to send.
std::optional<HttpResponse> CheckAuthorization(const HttpServerOptions& options,
                                               const std::string& path,
                                               const std::string& authorization);

class HttpServer {
 public:
  // Binds (so a taken port is an error here, not later) and starts serving on a thread.
  // REQUIRES: the node's signals are blocked (NodeDriver::BlockStopSignals), so the server's
  // threads leave SIGTERM to the driver.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   std::shared_ptr<SnapshotBox> snapshots,
                                                   std::shared_ptr<spdlog::logger> logger);
  // Stops serving and joins the threads; requests in flight finish first.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "HOST:PORT" actually bound (the real port when 0 was asked for).
  const std::string& address() const { return address_; }
  void Stop();

 private:
  HttpServer(HttpServerOptions options, std::shared_ptr<SnapshotBox> snapshots,
             std::shared_ptr<spdlog::logger> logger);
  void Route();

  HttpServerOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  HttpApi api_;
  HttpEvents events_;  // GET /api/v1/events (server-sent events)
  HttpLogs logs_;      // GET /api/v1/tasks/{id}/logs
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

// Splits "HOST:PORT" ("[::1]:8080" for IPv6) into a host without brackets and a port.
Status ParseHttpListen(const std::string& host_port, std::string* host, int* port);

}  // namespace magpie

#endif  // MAGPIE_NODE_HTTP_SERVER_H_
