// The `magpie` command line as a function, so tests can run it without a process.
#ifndef MAGPIE_TOOLS_CLI_APP_H_
#define MAGPIE_TOOLS_CLI_APP_H_

namespace magpie {

// Parses argv, runs the subcommand, and returns the exit status (see ExitCode). Prints
// results to stdout and errors to stderr; never throws.
int RunCli(int argc, const char* const* argv);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_CLI_APP_H_
