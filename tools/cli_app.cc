#include "tools/cli_app.h"

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "node/duration.h"
#include "tools/commands.h"

namespace magpie {

namespace {

constexpr const char* kFooter =
    "Exit status: 0 ok; 1 a task failed (wait); 2 usage or request error; 3 node unreachable.\n"
    "The node is --node, else $MAGPIE_NODE, else 127.0.0.1:7400. Durations: 500ms, 5s, 2m, 1h,\n"
    "1h30m, or plain seconds. The cluster key is --cluster-key, else $MAGPIE_CLUSTER_KEY_FILE,\n"
    "else $MAGPIE_HOME/cluster.key (docs/security.md). Run 'magpie COMMAND --help' for a\n"
    "command's options.";

// Splits off the command of `submit ... -- CMD ARGS`, so the parser never sees the words
// after "--" (a task's own "--help" or "--node" must reach the task, not us). Only for
// submit: no other command takes a trailing command.
void SplitSubmitCommand(std::vector<const char*>* args, GlobalOptions* global) {
  bool seen_submit = false;
  for (size_t i = 1; i < args->size(); ++i) {
    std::string arg = (*args)[i];
    if (arg == "submit") seen_submit = true;
    if (arg == "--" && seen_submit) {
      for (size_t k = i + 1; k < args->size(); ++k) {
        global->command_after_separator.push_back((*args)[k]);
      }
      global->had_separator = true;
      args->resize(i);
      return;
    }
  }
}

int Run(int argc, const char* const* argv) {
  GlobalOptions global;
  std::vector<const char*> args(argv, argv + argc);
  SplitSubmitCommand(&args, &global);

  CLI::App app{"magpie: submit tasks to a magpie cluster and follow them", "magpie"};
  app.footer(kFooter);
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("magpie (client protocol ") +
                                        std::to_string(kClientProtocolVersion) + ")");
  app.add_option("--node", global.node, "Node to talk to, HOST:PORT (default 127.0.0.1:7400)")
      ->envname("MAGPIE_NODE");
  app.add_option("--cluster-key", global.cluster_key,
                 "The cluster key file (default: $MAGPIE_CLUSTER_KEY_FILE, else "
                 "$MAGPIE_HOME/cluster.key, MAGPIE_HOME being ~/.config/magpie unless set)");
  app.add_flag("--insecure", global.insecure,
               "Talk to a node started with --insecure: no key, no encryption");
  app.add_option("--timeout,--call-timeout", global.timeout_text,
                 "How long to wait for each answer from the node (default 5s). After submit "
                 "or wait, spell it --call-timeout: their --timeout means something else");

  // By subcommand name; each Add* registers the subcommand of that name.
  std::map<std::string, CommandRunner> runners = {
      {"submit", AddSubmitCommand(&app, &global)},   {"status", AddStatusCommand(&app, &global)},
      {"history", AddHistoryCommand(&app, &global)},
      {"list", AddListCommand(&app, &global)},       {"wait", AddWaitCommand(&app, &global)},
      {"logs", AddLogsCommand(&app, &global)},       {"cancel", AddCancelCommand(&app, &global)},
      {"restart", AddRestartCommand(&app, &global)}, {"members", AddMembersCommand(&app, &global)},
      {"keygen", AddKeygenCommand(&app, &global)},   {"token", AddTokenCommand(&app, &global)},
      {"watch", AddWatchCommand(&app, &global)},
      {"progress", AddProgressCommand(&app, &global)},
      {"schedule", AddScheduleCommand(&app, &global)},
  };

  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version: print, exit 0
    std::string where = "magpie";
    for (CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name();
    return ReportUsage(std::string(e.what()) + " (see '" + where + " --help')");
  }

  Status address = Client::ValidateAddress(global.node);
  if (!address.ok()) return ReportError(address);
  auto timeout_ms = ParseDurationMs(global.timeout_text);
  if (!timeout_ms.ok()) return ReportUsage("--call-timeout: " + timeout_ms.status().message());
  if (*timeout_ms == 0) return ReportUsage("--call-timeout must be more than 0");
  global.call_timeout = std::chrono::milliseconds(*timeout_ms);

  CLI::App* chosen = app.get_subcommands().front();
  if (global.had_separator && chosen->get_name() != "submit") {
    return ReportUsage("'--' is only for submit");
  }
  return runners.at(chosen->get_name())();
}

}  // namespace

int RunCli(int argc, const char* const* argv) {
  // No exception may end the program with a stack trace instead of a message and status.
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    return ReportUsage(std::string("internal error: ") + e.what());
  }
}

}  // namespace magpie
