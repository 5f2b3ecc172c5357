#include "node/http_server.h"

#include <httplib.h>

#include <charconv>
#include <exception>

#include "node/cluster_key.h"
#include "node/http_dashboard.h"

namespace magpie {

namespace {

// Far above any honest request: a pipeline of kMaxTasksPerSubmit tasks fits.
constexpr size_t kMaxBodyBytes = 16 * 1024 * 1024;

void Send(httplib::Response& res, const HttpResponse& r) {
  res.status = r.status;
  res.set_content(r.body, r.content_type.c_str());
}

}  // namespace

std::optional<HttpResponse> CheckAuthorization(const HttpServerOptions& options,
                                               const std::string& path,
                                               const std::string& authorization) {
  if (options.token.empty()) return std::nullopt;
  const bool api = path.rfind("/api/", 0) == 0;
  const bool metrics = path == "/metrics";
  if (!api && !(metrics && !options.metrics_open)) return std::nullopt;
  const std::string scheme = "Bearer ";
  if (authorization.empty()) {
    return ErrorResponse(
        Status::FailedPrecondition(
            "missing Authorization: Bearer TOKEN header; 'magpie token' prints this cluster's "
            "token (the dashboard takes it from the link the node logs: /#token=...)"),
        401);
  }
  if (authorization.compare(0, scheme.size(), scheme) != 0) {
    return ErrorResponse(Status::FailedPrecondition(
                             "the Authorization header must be 'Bearer TOKEN'; 'magpie token' "
                             "prints this cluster's token"),
                         401);
  }
  if (!ConstantTimeEquals(authorization.substr(scheme.size()), options.token)) {
    return ErrorResponse(Status::FailedPrecondition(
                             "wrong token: it is not this cluster's ('magpie token' with the "
                             "node's cluster key prints the right one)"),
                         401);
  }
  return std::nullopt;
}

Status ParseHttpListen(const std::string& host_port, std::string* host, int* port) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) {
    return Status::InvalidArgument("--http needs HOST:PORT, not '" + host_port + "'");
  }
  std::string h = host_port.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = host_port.substr(colon + 1);
  int v = -1;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || end != p.data() + p.size() || v < 0 || v > 65535) {
    return Status::InvalidArgument("--http port must be 0-65535, not '" + p + "'");
  }
  *host = h;
  *port = v;
  return Status::Ok();
}

HttpServer::HttpServer(HttpServerOptions options, std::shared_ptr<SnapshotBox> snapshots,
                       std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)),
      log_(std::move(logger)),
      api_(options_.node_address, options_.node_security, std::move(snapshots), log_),
      events_(options_.node_address, options_.node_security, log_),
      logs_(options_.node_address, options_.node_security, log_),
      server_(std::make_unique<httplib::Server>()) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  events_.StopAll();  // open event streams end within a second, not when their clients go
  logs_.StopAll();
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      std::shared_ptr<SnapshotBox> snapshots,
                                                      std::shared_ptr<spdlog::logger> logger) {
  std::string host;
  int port = 0;
  Status s = ParseHttpListen(options.listen, &host, &port);
  if (!s.ok()) return s;
  std::unique_ptr<HttpServer> h(new HttpServer(options, std::move(snapshots), std::move(logger)));
  // Each open event stream or output read holds a thread: they get threads of their own.
  const int threads = std::max(1, options.threads) + kMaxEventStreams + kMaxLogStreams;
  h->server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  h->server_->set_payload_max_length(kMaxBodyBytes);
  h->server_->set_read_timeout(std::chrono::seconds(10));
  h->server_->set_write_timeout(std::chrono::seconds(10));
  h->Route();
  if (port == 0) {
    port = h->server_->bind_to_any_port(host);
    if (port < 0) return Status::Unavailable("cannot serve HTTP on " + options.listen);
  } else if (!h->server_->bind_to_port(host, port)) {
    return Status::Unavailable("cannot serve HTTP on " + options.listen +
                               " (is something else using that port?)");
  }
  h->address_ = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                std::to_string(port);
  HttpServer* raw = h.get();
  h->thread_ = std::thread([raw] {
    if (!raw->server_->listen_after_bind()) raw->log_->error("HTTP server on {} stopped", raw->address_);
  });
  h->log_->info("HTTP on http://{}/ (metrics at /metrics, JSON at /api/v1/)", h->address_);
  if (!options.token.empty()) {
    // A link a user can click: the dashboard keeps the token from the fragment, which a
    // browser never sends to the server.
    h->log_->info("dashboard: http://{}/#token={}", h->address_, options.token);
  }
  return h;
}

void HttpServer::Route() {
  httplib::Server& srv = *server_;
  srv.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    auto refused = CheckAuthorization(options_, req.path, req.get_header_value("Authorization"));
    if (!refused) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer realm=\"magpie\"");
    Send(res, *refused);
    return httplib::Server::HandlerResponse::Handled;
  });
  srv.Get("/api/v1/tasks", [this](const httplib::Request& req, httplib::Response& res) {
    Send(res, api_.ListTasks(req.params));
  });
  srv.Post("/api/v1/tasks", [this](const httplib::Request& req, httplib::Response& res) {
    Send(res, api_.SubmitTasks(req.body));
  });
  srv.Get(R"(/api/v1/tasks/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    Send(res, api_.GetTask(req.matches[1]));
  });
  srv.Get(R"(/api/v1/tasks/([^/]+)/history)",
          [this](const httplib::Request& req, httplib::Response& res) {
            Send(res, api_.TaskHistory(req.matches[1]));
          });
  srv.Get("/api/v1/members", [this](const httplib::Request&, httplib::Response& res) {
    Send(res, api_.Members());
  });
  srv.Get("/api/v1/groups", [this](const httplib::Request&, httplib::Response& res) {
    Send(res, api_.Groups());
  });
  events_.Route(srv);
  logs_.Route(srv);
  srv.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    Send(res, api_.Metrics());
  });
  for (const DashboardFile& f : DashboardFiles()) {
    srv.Get(f.path, [&f](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_content(f.content, f.content_type);
    });
  }
  // Whatever no route answered (unknown path, wrong method, unreadable request): a JSON
  // error, never a crash.
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string what = res.status == 404 ? "no such endpoint: " + req.method + " " + req.path
                                         : "request refused (HTTP " + std::to_string(res.status) + ")";
    HttpResponse r = ErrorResponse(Status::NotFound(what), res.status);
    res.set_content(r.body, r.content_type.c_str());
  });
  srv.set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                   std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what += std::string(": ") + e.what();
    } catch (...) {
    }
    log_->error("HTTP {} {}: {}", req.method, req.path, what);
    Send(res, ErrorResponse(Status::IOError(what), 500));
  });
}

}  // namespace magpie
