#include "node/http_api.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <string>
#include <utility>

#include "node/http_metrics.h"
#include "node/pipeline_file.h"
#include "node/task_json.h"

namespace magpie {

namespace {

constexpr size_t kMaxIdleClients = 8;
constexpr uint32_t kDefaultListLimit = 100;
constexpr uint32_t kMaxListLimit = 1000;
// With a name filter the node is read page by page; this bounds one HTTP request's scan.
constexpr uint32_t kScanPageSize = 1000;
constexpr int kMaxScanPages = 100;

HttpResponse JsonResponse(int status, const Json& body) {
  return HttpResponse{status, "application/json", DumpJson(body) + "\n"};
}

// The one value of a query parameter, or "" when absent.
std::string Param(const HttpApi::Query& q, const std::string& key) {
  auto it = q.find(key);
  return it == q.end() ? std::string() : it->second;
}

Result<uint32_t> ParseLimit(const std::string& text) {
  if (text.empty()) return kDefaultListLimit;
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 1 || v > kMaxListLimit) {
    return Status::InvalidArgument("limit must be an integer from 1 to " +
                                   std::to_string(kMaxListLimit) + ", not '" + text + "'");
  }
  return v;
}

// Pipeline errors name a line of the document; a JSON body was re-serialized, so its lines
// mean nothing to the sender. The task is named in the rest of the message.
Status WithoutLine(const Status& s) {
  const std::string& m = s.message();
  if (m.rfind("line ", 0) == 0) {
    size_t colon = m.find(": ");
    if (colon != std::string::npos) return Status::FromCode(s.code(), m.substr(colon + 2));
  }
  return s;
}

}  // namespace

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk: return 200;
    case Status::Code::kInvalidArgument: return 400;
    case Status::Code::kNotFound: return 404;
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition: return 409;
    case Status::Code::kUnavailable:
    case Status::Code::kBusy:
    case Status::Code::kIOError: return 503;
    default: return 500;
  }
}

HttpResponse ErrorResponse(const Status& status, int http_status) {
  Json body = Json::object();
  body["error"] = status.message().empty() ? status.ToString() : status.message();
  return JsonResponse(http_status != 0 ? http_status : HttpStatusFor(status), body);
}

std::string LoopbackForWildcard(const std::string& host_port) {
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return host_port;
  std::string host = host_port.substr(0, colon);
  std::string port = host_port.substr(colon);
  if (host == "0.0.0.0" || host == "*" || host.empty()) return "127.0.0.1" + port;
  if (host == "[::]" || host == "::") return "[::1]" + port;
  return host_port;
}

Result<SubmitRequest> ParseSubmitBody(const std::string& body) {
  Json doc;
  try {
    doc = Json::parse(body);
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("the body is not valid JSON: ") + e.what());
  }
  Json tasks;
  if (doc.is_object() && doc.contains("tasks")) {
    tasks = doc["tasks"];
  } else if (doc.is_array()) {
    tasks = doc;
  } else if (doc.is_object()) {
    tasks = Json::array({doc});
  } else {
    return Status::InvalidArgument(
        "the body must be a task object, a list of tasks, or {\"tasks\": [...]}");
  }
  // Pipeline files name every task; here a task nobody refers to may go unnamed. It gets a
  // placeholder, "#<position>", while it is checked (errors then say "task '#2': ..."),
  // and no name once checked.
  std::vector<bool> placeholder;
  if (tasks.is_array()) {
    for (size_t i = 0; i < tasks.size(); ++i) {
      Json& t = tasks[i];
      bool unnamed = t.is_object() && !t.contains("name");
      if (unnamed) t["name"] = "#" + std::to_string(i + 1);
      placeholder.push_back(unnamed);
    }
  }
  Json wrapped = Json::object();
  if (doc.is_object() && doc.contains("tasks")) wrapped = doc;
  wrapped["tasks"] = std::move(tasks);
  // JSON is YAML; nlohmann writes only escapes the YAML parser knows.
  std::string text = wrapped.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::strict);
  auto req = ParsePipelineYaml(text, PipelineContext{});
  if (!req.ok()) return WithoutLine(req.status());
  for (size_t i = 0; i < placeholder.size() && i < req->tasks.size(); ++i) {
    if (placeholder[i]) req->tasks[i].name.clear();
  }
  return req;
}

HttpApi::HttpApi(const std::string& node_address, ClientSecurity security,
                 std::shared_ptr<SnapshotBox> snapshots, std::shared_ptr<spdlog::logger> logger)
    : node_address_(LoopbackForWildcard(node_address)),
      security_(std::move(security)),
      snapshots_(std::move(snapshots)),
      log_(std::move(logger)) {}

Result<std::unique_ptr<Client>> HttpApi::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return Client::Connect(node_address_, security_);
}

void HttpApi::Release(std::unique_ptr<Client> client) {
  std::lock_guard<std::mutex> lock(mu_);
  if (idle_.size() < kMaxIdleClients) idle_.push_back(std::move(client));
}

HttpResponse HttpApi::ListTasks(const Query& query) {
  auto limit = ParseLimit(Param(query, "limit"));
  if (!limit.ok()) return ErrorResponse(limit.status());
  const std::string name = Param(query, "name");
  ListRequest req;
  req.state = Param(query, "state");
  req.after_id = Param(query, "cursor");
  req.limit = name.empty() ? *limit : kScanPageSize;

  auto client = Acquire();
  if (!client.ok()) return ErrorResponse(client.status());
  Json tasks = Json::array();
  std::string next_cursor;  // empty: nothing after these
  size_t count = 0;
  std::set<std::string> left_out;
  for (int page = 0; page < kMaxScanPages; ++page) {
    auto reply = (*client)->List(req);
    if (!reply.ok()) {
      Status s = reply.status();
      // An unknown cursor is the caller's mistake, not a missing resource.
      return ErrorResponse(s, s.code() == Status::Code::kNotFound ? 400 : 0);
    }
    left_out.insert(reply->groups_left_out.begin(), reply->groups_left_out.end());
    std::string last_seen;
    bool full = false;
    for (const Task& t : reply->tasks) {
      last_seen = t.id;
      if (!name.empty() && t.spec.name != name) continue;
      tasks.push_back(TaskToJson(t));
      if (++count == *limit) {
        full = true;
        break;
      }
    }
    if (full) {
      // More may follow the last task given, whether in this page or the next.
      bool rest_of_page = !reply->tasks.empty() && last_seen != reply->tasks.back().id;
      if (rest_of_page || reply->truncated) next_cursor = last_seen;
      break;
    }
    if (!reply->truncated || reply->tasks.empty()) break;
    req.after_id = last_seen;
    next_cursor = last_seen;  // if the scan bound ends the loop, the caller goes on here
  }
  Release(std::move(*client));
  Json out = Json::object();
  out["tasks"] = std::move(tasks);
  out["next_cursor"] = next_cursor.empty() ? Json(nullptr) : Json(next_cursor);
  // Groups whose tasks this node left out: its replica has not heard from their leader
  // lately and may be behind (another node lists them).
  out["groups_left_out"] = Json(std::vector<std::string>(left_out.begin(), left_out.end()));
  return JsonResponse(200, out);
}

HttpResponse HttpApi::GetTask(const std::string& id) {
  auto client = Acquire();
  if (!client.ok()) return ErrorResponse(client.status());
  auto reply = (*client)->GetStatus(id);
  Release(std::move(*client));
  if (!reply.ok()) return ErrorResponse(reply.status());
  Json j = TaskToJson(reply->task);
  j["pending_reason"] = reply->pending_reason.empty() ? Json(nullptr) : Json(reply->pending_reason);
  return JsonResponse(200, j);
}

HttpResponse HttpApi::TaskHistory(const std::string& id) {
  auto client = Acquire();
  if (!client.ok()) return ErrorResponse(client.status());
  auto reply = (*client)->GetStatus(id);
  Release(std::move(*client));
  if (!reply.ok()) return ErrorResponse(reply.status());
  const Task& t = reply->task;
  Json out = Json::object();
  out["id"] = t.id;
  out["name"] = t.spec.name;
  out["state"] = TaskStateName(t.state);
  out["pending_reason"] = reply->pending_reason.empty() ? Json(nullptr) : Json(reply->pending_reason);
  out["submitted_at"] = TimeToJson(t.submitted_ms);
  out["finished_at"] = TimeToJson(t.finished_ms);
  Json attempts = Json::array();
  for (const Attempt& a : t.attempts) attempts.push_back(AttemptToJson(a));
  out["attempts"] = std::move(attempts);
  out["events"] = HistoryToJson(t);  // the audit trail, as `magpie history --json`
  return JsonResponse(200, out);
}

HttpResponse HttpApi::Members() {
  auto client = Acquire();
  if (!client.ok()) return ErrorResponse(client.status());
  auto reply = (*client)->Members();
  Release(std::move(*client));
  if (!reply.ok()) return ErrorResponse(reply.status());
  Json out = Json::object();
  out["members"] = MembersToJson(reply->members);
  return JsonResponse(200, out);
}

HttpResponse HttpApi::Groups() {
  auto snap = snapshots_->Latest();
  if (!snap) return ErrorResponse(Status::Unavailable("the node has not published its state yet"));
  Json groups = Json::array();
  for (const GroupInfo& g : snap->groups) {
    Json j = Json::object();
    j["id"] = g.id;
    j["home"] = g.home;
    j["role"] = g.role;
    j["serving"] = g.serving;
    j["leader"] = g.leader_id.empty() ? Json(nullptr) : Json(g.leader_id);
    j["leader_address"] = g.leader_address.empty() ? Json(nullptr) : Json(g.leader_address);
    j["term"] = g.term;
    j["commit_index"] = g.commit_index;
    j["applied_index"] = g.applied_index;
    j["last_index"] = g.last_index;
    j["snapshot_index"] = g.snapshot_index;
    Json members = Json::array();
    for (const GroupMemberInfo& m : g.members) {
      members.push_back({{"id", m.id},
                         {"address", m.address},
                         {"voter", m.voter},
                         {"catching_up", m.catching_up}});
    }
    j["members"] = std::move(members);
    Json by_state = Json::object();
    for (const auto& [state, n] : g.tasks_by_state) by_state[state] = n;
    j["tasks"] = std::move(by_state);
    groups.push_back(std::move(j));
  }
  Json out = Json::object();
  out["node"] = snap->node_id;
  out["as_of"] = TimeToJson(snap->taken_unix_ms);
  out["groups"] = std::move(groups);
  return JsonResponse(200, out);
}

HttpResponse HttpApi::SubmitTasks(const std::string& body) {
  auto req = ParseSubmitBody(body);
  if (!req.ok()) return ErrorResponse(req.status(), 400);
  auto client = Acquire();
  if (!client.ok()) return ErrorResponse(client.status());
  auto reply = (*client)->Submit(*req);
  Release(std::move(*client));
  if (!reply.ok()) return ErrorResponse(reply.status());
  if (reply->ids.size() != req->tasks.size()) {
    return ErrorResponse(Status::Unavailable("node answered with " + std::to_string(reply->ids.size()) +
                                             " ids for " + std::to_string(req->tasks.size()) + " tasks"),
                         502);
  }
  Json ids = Json::array();
  Json tasks = Json::array();
  for (size_t i = 0; i < reply->ids.size(); ++i) {
    ids.push_back(reply->ids[i]);
    const std::string& name = req->tasks[i].name;
    tasks.push_back({{"name", name.empty() ? Json(nullptr) : Json(name)},
                     {"id", reply->ids[i]},
                     {"existing", i < reply->existing.size() && reply->existing[i]}});
  }
  Json out = Json::object();
  out["ids"] = std::move(ids);
  out["tasks"] = std::move(tasks);
  return JsonResponse(201, out);
}

HttpResponse HttpApi::Metrics() {
  auto snap = snapshots_->Latest();
  if (!snap) {
    return HttpResponse{503, "text/plain; charset=utf-8", "the node has not published its state yet\n"};
  }
  return HttpResponse{200, kPrometheusContentType, RenderPrometheus(*snap)};
}

}  // namespace magpie
