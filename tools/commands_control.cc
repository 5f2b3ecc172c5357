// `magpie cancel` and `magpie restart`: change tasks, printing "ID STATE" for each once the
// change is committed.
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

}  // namespace

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
