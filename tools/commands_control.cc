// `magpie cancel` and `magpie restart`: change tasks, printing "ID STATE" for each once the
// change is committed. `magpie progress`: a running task's word on how far it has got.
#include <cstdlib>
#include <iostream>
#include <memory>

#include "node/task_json.h"
#include "tools/commands.h"

namespace magpie {

namespace {

struct ControlFlags {
  std::vector<std::string> ids;
  bool json = false;
};

using ControlCall = Result<StatusReply> (Client::*)(const std::string&, std::chrono::milliseconds);

// Tries every id even when one fails, so one typo does not leave the rest untouched; the
// exit status is the worst of the errors (3 over 2).
int RunControl(const ControlFlags& f, const GlobalOptions& global, ControlCall call) {
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  int exit_code = kExitOk;
  Json done = Json::array();
  for (const std::string& id : f.ids) {
    auto reply = ((**client).*call)(id, global.call_timeout);
    if (!reply.ok()) {
      exit_code = std::max(exit_code, ReportError(reply.status()));
      // Unreachable for one id is unreachable for all.
      if (exit_code == kExitUnreachable) break;
      continue;
    }
    if (f.json) {
      done.push_back(TaskToJson(reply->task));
    } else {
      std::cout << reply->task.id << " " << TaskStateName(reply->task.state) << std::endl;
    }
  }
  if (f.json) std::cout << DumpJson(done) << std::endl;
  return exit_code;
}

CommandRunner AddControl(CLI::App* app, const GlobalOptions* global, const std::string& name,
                         const std::string& help, ControlCall call) {
  auto f = std::make_shared<ControlFlags>();
  CLI::App* sub = app->add_subcommand(name, help);
  sub->fallthrough();
  sub->add_option("ids", f->ids, "Task ids")->required();
  sub->add_flag("--json", f->json, "Print a JSON array of the tasks after the change");
  return [f, global, call] { return RunControl(*f, *global, call); };
}

struct ProgressFlags {
  int percent = 0;
  std::vector<std::string> words;
};

// Inside a task: MAGPIE_TASK_ID and MAGPIE_ATTEMPT name the attempt, and MAGPIE_NODE (the
// global --node's default) its node, which routes the report to the task's group.
int RunProgress(const ProgressFlags& f, const GlobalOptions& global) {
  const char* id = std::getenv("MAGPIE_TASK_ID");
  const char* attempt = std::getenv("MAGPIE_ATTEMPT");
  if (id == nullptr || *id == '\0' || attempt == nullptr) {
    return ReportUsage("magpie progress runs inside a task: MAGPIE_TASK_ID and MAGPIE_ATTEMPT "
                       "are not set");
  }
  ProgressRequest req;
  req.id = id;
  req.attempt = static_cast<uint32_t>(std::strtoul(attempt, nullptr, 10));
  req.percent = f.percent;
  for (const auto& w : f.words) req.message += (req.message.empty() ? "" : " ") + w;
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  auto reply = (*client)->Progress(req, global.call_timeout);
  if (!reply.ok()) return ReportError(reply.status());
  return kExitOk;
}

}  // namespace

CommandRunner AddProgressCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<ProgressFlags>();
  CLI::App* sub = app->add_subcommand(
      "progress", "From inside a task: record how far it has got (shown by status, wait, the dashboard)");
  sub->add_option("percent", f->percent, "0 to 100")->required()->check(CLI::Range(0, 100));
  sub->add_option("message", f->words, "What it is doing, e.g. \"parsing\"");
  return [f, global] { return RunProgress(*f, *global); };
}

CommandRunner AddCancelCommand(CLI::App* app, const GlobalOptions* global) {
  return AddControl(app, global, "cancel",
                    "Cancel tasks: kill running attempts; tasks waiting on them become blocked",
                    &Client::Cancel);
}

CommandRunner AddRestartCommand(CLI::App* app, const GlobalOptions* global) {
  return AddControl(app, global, "restart",
                    "Start a new attempt chain for ended tasks (recording what it restarts)",
                    &Client::Restart);
}

}  // namespace magpie
