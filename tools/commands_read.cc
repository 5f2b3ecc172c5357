// The read commands: `status`, `history`, `list`, `logs`, `members`. Each has --json.
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>
#include <string>

#include "node/duration.h"
#include "node/logs_reader.h"
#include "node/task_json.h"
#include "tools/commands.h"
#include "tools/task_text.h"

namespace magpie {

namespace {

// One page per List call; the node caps it too. Bounds the memory of one reply.
constexpr uint32_t kListPageSize = 1000;
// A node that keeps saying "truncated" without advancing must not loop us forever.
constexpr int kMaxListPages = 100000;

struct StatusFlags {
  std::string id;
  bool json = false;
};

int RunStatus(const StatusFlags& f, const GlobalOptions& global) {
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  auto reply = (*client)->GetStatus(f.id, global.call_timeout);
  if (!reply.ok()) return ReportError(reply.status());
  if (f.json) {
    Json j = TaskToJson(reply->task);
    j["pending_reason"] = reply->pending_reason.empty() ? Json(nullptr) : Json(reply->pending_reason);
    std::cout << DumpJson(j) << std::endl;
  } else {
    std::cout << RenderTaskDetails(reply->task, NowUnixMs(), reply->pending_reason) << std::flush;
  }
  return kExitOk;
}

// `magpie history ID`: every committed entry that named the task, oldest first.
int RunHistory(const StatusFlags& f, const GlobalOptions& global) {
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  auto reply = (*client)->GetStatus(f.id, global.call_timeout);
  if (!reply.ok()) return ReportError(reply.status());
  const Task& t = reply->task;
  if (f.json) {
    std::cout << DumpJson(HistoryToJson(t)) << std::endl;
    return kExitOk;
  }
  std::cout << t.id << (t.spec.name.empty() ? "" : " (" + t.spec.name + ")") << ": " << TaskStateName(t.state)
            << "\n";
  for (const TaskEvent& e : t.history) {
    std::string line = FormatIsoUtc(e.at_ms) + "  #" + std::to_string(e.index) + " term " + std::to_string(e.term) +
                       "  " + e.kind;
    if (e.attempt != 0) line += " attempt " + std::to_string(e.attempt);
    if (!e.node.empty()) line += " on " + e.node;
    if (!e.detail.empty()) line += ": " + e.detail;
    line += std::string(" -> ") + TaskStateName(e.state_after);
    std::cout << line << "\n";
  }
  if (t.history.size() >= kMaxTaskEvents) {
    std::cout << "(older events than the latest " << kMaxTaskEvents - 1 << " are not kept)\n";
  }
  std::cout << std::flush;
  return kExitOk;
}

struct ListFlags {
  std::string state;
  std::string since;
  uint32_t limit = 0;
  bool json = false;
};

int RunList(const ListFlags& f, const GlobalOptions& global) {
  ListRequest req;
  if (!f.state.empty()) {
    if (!ParseTaskState(f.state)) {
      return ReportUsage("--state '" + f.state +
                         "' is not a state; use pending, ready, running, succeeded, failed, "
                         "cancelled or blocked");
    }
    req.state = f.state;
  }
  const int64_t now_ms = NowUnixMs();
  if (!f.since.empty()) {
    auto since = ParseSinceMs(f.since, now_ms);
    if (!since.ok()) return ReportError(since.status());
    req.since_ms = *since;
  }
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());

  std::vector<Task> tasks;
  std::set<std::string> left_out;
  for (int page = 0; page < kMaxListPages; ++page) {
    req.limit = kListPageSize;
    if (f.limit > 0) req.limit = std::min<uint32_t>(kListPageSize, f.limit - tasks.size());
    auto reply = (*client)->List(req, global.call_timeout);
    if (!reply.ok()) return ReportError(reply.status());
    for (Task& t : reply->tasks) tasks.push_back(std::move(t));
    left_out.insert(reply->groups_left_out.begin(), reply->groups_left_out.end());
    bool full = f.limit > 0 && tasks.size() >= f.limit;
    if (!reply->truncated || reply->tasks.empty() || full) break;
    req.after_id = tasks.back().id;
  }
  if (f.json) {
    std::cout << DumpJson(TasksToJson(tasks)) << std::endl;
  } else {
    std::cout << RenderTaskTable(tasks, now_ms) << std::flush;
  }
  if (!left_out.empty()) {
    std::string groups;
    for (const auto& g : left_out) groups += (groups.empty() ? "" : ", ") + g;
    std::cerr << "note: the tasks of group" << (left_out.size() > 1 ? "s " : " ") << groups
              << " are left out: this node has not heard from " << (left_out.size() > 1 ? "their" : "its")
              << " leader lately (it is cut off, or no longer a member), so its copy may be "
                 "behind; list on another node to see them"
              << std::endl;
  }
  return kExitOk;
}

struct LogsFlags {
  std::string id;
  bool stderr_stream = false;
  uint32_t attempt = 0;
  bool follow = false;
  bool retries = false;
  bool json = false;
};

// The whole output, from whichever node holds it, written as it comes so that a large one
// streams through a pipe; never a part passed off as the whole (DESIGN promise 6).
int RunLogs(const LogsFlags& f, const GlobalOptions& global) {
  if (f.retries && !f.follow) return ReportUsage("--retries follows an attempt to the next: give --follow too");
  if (f.retries && f.attempt != 0) return ReportUsage("--retries follows the latest attempt: give no --attempt");
  if (f.follow && f.json) return ReportUsage("--json prints the output once it is whole: give no --follow");
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  LogsReadOptions o;
  o.id = f.id;
  o.stderr_stream = f.stderr_stream;
  o.attempt = f.attempt;
  o.follow = f.follow;
  o.all_attempts = f.retries;
  o.call_timeout = global.call_timeout;
  LogsReader reader(client->get(), o);
  std::string text;  // --json: the whole output, printed at the end
  while (!reader.done()) {
    auto piece = reader.Next();
    for (const std::string& note : reader.TakeNotes()) std::cerr << "magpie: " << note << std::endl;
    if (!piece.ok()) return ReportError(piece.status());
    if (f.json) {
      text += *piece;
    } else if (!piece->empty()) {
      // The output exactly as the task wrote it, so it can be piped on.
      std::cout.write(piece->data(), static_cast<std::streamsize>(piece->size()));
      if (f.follow) std::cout.flush();
    }
  }
  std::cout.flush();
  const LogsReply& last = reader.last();
  if (f.json) {
    Json j = {{"id", f.id},
              {"stream", f.stderr_stream ? "stderr" : "stdout"},
              {"attempt", last.attempt == 0 ? Json(nullptr) : Json(last.attempt)},
              {"text", text},
              {"complete", reader.status().ok() && last.ended},
              {"ended", last.ended},
              {"size", last.size},
              {"kept_from", last.kept_from},
              {"node", last.node},
              {"node_address", last.node_address}};
    std::cout << DumpJson(j) << std::endl;
  }
  if (!reader.status().ok()) return ReportError(reader.status());
  return kExitOk;
}

struct MembersFlags {
  bool json = false;
};

int RunMembers(const MembersFlags& f, const GlobalOptions& global) {
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  auto reply = (*client)->Members(global.call_timeout);
  if (!reply.ok()) return ReportError(reply.status());
  if (f.json) {
    std::cout << DumpJson(MembersToJson(reply->members)) << std::endl;
  } else {
    std::cout << RenderMemberTable(reply->members) << std::flush;
  }
  return kExitOk;
}

}  // namespace

CommandRunner AddStatusCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<StatusFlags>();
  CLI::App* sub =
      app->add_subcommand("status", "Show one task: its state, attempts and output tails");
  sub->fallthrough();
  sub->add_option("id", f->id, "Task id, or name (the most recent task of that name)")->required();
  sub->add_flag("--json", f->json, "Print the task as a JSON object");
  return [f, global] { return RunStatus(*f, *global); };
}

CommandRunner AddHistoryCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<StatusFlags>();
  CLI::App* sub = app->add_subcommand(
      "history", "Show a task's audit trail: every committed entry that named it (node, term, attempt, why)");
  sub->fallthrough();
  sub->add_option("id", f->id, "Task id, or name (the most recent task of that name)")->required();
  sub->add_flag("--json", f->json, "Print the events as a JSON array");
  return [f, global] { return RunHistory(*f, *global); };
}

CommandRunner AddListCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<ListFlags>();
  CLI::App* sub = app->add_subcommand("list", "List tasks, oldest first");
  sub->fallthrough();
  sub->add_option("--state", f->state, "Only tasks in this state (pending, ready, running, ...)");
  sub->add_option("--since", f->since,
                  "Only tasks submitted since: a duration ago (10m, 2h), Unix seconds, or "
                  "ISO-8601 UTC");
  sub->add_option("--limit", f->limit, "At most this many tasks (default: all)");
  sub->add_flag("--json", f->json, "Print a JSON array of tasks");
  return [f, global] { return RunList(*f, *global); };
}

CommandRunner AddLogsCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<LogsFlags>();
  CLI::App* sub = app->add_subcommand(
      "logs", "Print a task's whole output (stdout unless --stderr), from whichever node holds it");
  sub->fallthrough();
  sub->add_option("id", f->id, "Task id or name")->required();
  sub->add_flag("--stderr", f->stderr_stream, "Print stderr instead of stdout");
  sub->add_option("--attempt", f->attempt, "Attempt number (default: the latest)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("-f,--follow", f->follow, "Print output as it comes until the attempt ends");
  sub->add_flag("--retries", f->retries, "With --follow: go on to each retry until the task ends");
  sub->add_flag("--json", f->json,
                "Print {id, stream, attempt, text, complete, ended, size, kept_from, node, "
                "node_address} as JSON");
  return [f, global] { return RunLogs(*f, *global); };
}

CommandRunner AddMembersCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<MembersFlags>();
  CLI::App* sub = app->add_subcommand("members", "List the cluster's nodes as this node sees them");
  sub->fallthrough();
  sub->add_flag("--json", f->json, "Print a JSON array of members");
  return [f, global] { return RunMembers(*f, *global); };
}

}  // namespace magpie
