// The subcommands of `magpie`. Each Add*Command registers its flags on `app` and returns
// the function that runs it once the command line is parsed. `global` is filled in by
// the time a runner runs and must outlive it.
#ifndef MAGPIE_TOOLS_COMMANDS_H_
#define MAGPIE_TOOLS_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "tools/cli_common.h"

namespace magpie {

CommandRunner AddSubmitCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddStatusCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddHistoryCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddListCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddWaitCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddLogsCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddCancelCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddRestartCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddProgressCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddScheduleCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddMembersCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddWatchCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddKeygenCommand(CLI::App* app, const GlobalOptions* global);
CommandRunner AddTokenCommand(CLI::App* app, const GlobalOptions* global);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_COMMANDS_H_
