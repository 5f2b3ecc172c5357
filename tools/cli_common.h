// What every `magpie` subcommand shares: the global options, the exit codes of DESIGN §7,
// and how errors are reported.
#ifndef MAGPIE_TOOLS_CLI_COMMON_H_
#define MAGPIE_TOOLS_CLI_COMMON_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "node/client.h"

namespace magpie {

// The exit status of `magpie` (DESIGN §7). Scripts depend on these; never renumber.
enum ExitCode : int {
  kExitOk = 0,
  kExitTaskFailed = 1,   // `wait`: a task ended failed, cancelled or blocked
  kExitUsage = 2,        // bad flags or arguments, or the node refused the request
  kExitUnreachable = 3,  // no node answered, or it could not serve the request now
};

inline constexpr const char* kDefaultNode = "127.0.0.1:7400";

struct GlobalOptions {
  std::string node = kDefaultNode;  // --node, else $MAGPIE_NODE, else the default
  std::string timeout_text = "5s";  // --timeout before the subcommand, or --call-timeout
  // Filled in from timeout_text once the command line is parsed.
  std::chrono::milliseconds call_timeout = Client::kDefaultTimeout;
  // For `submit`: the words after "--", which the CLI parser never sees, so that the
  // command's own flags cannot be mistaken for ours.
  std::vector<std::string> command_after_separator;
  bool had_separator = false;
  // Security (docs/security.md): --cluster-key FILE (else $MAGPIE_CLUSTER_KEY_FILE, else
  // the default key file); --insecure for a node started with --insecure.
  std::string cluster_key;
  bool insecure = false;
};

// A parsed subcommand, ready to run; returns the exit status.
using CommandRunner = std::function<int()>;

// Unavailable, Busy and IOError mean the cluster could not serve the request (3); every
// other error means the request itself was refused (2).
int ExitCodeFor(const Status& status);

// Prints "magpie: <message>" as one line on stderr and returns ExitCodeFor(status).
int ReportError(const Status& status);
// The same for a usage error: prints the message, returns kExitUsage.
int ReportUsage(const std::string& message);

// A client for the node the global options name, with the cluster's keys unless --insecure.
// No key file is an error (exit 2) saying where we looked and how to get one.
Result<std::unique_ptr<Client>> ConnectToNode(const GlobalOptions& global);
// The credentials ConnectToNode uses.
Result<ClientSecurity> ClientSecurityOf(const GlobalOptions& global);

// Wall-clock Unix milliseconds, for ages and `--since`.
int64_t NowUnixMs();

}  // namespace magpie

#endif  // MAGPIE_TOOLS_CLI_COMMON_H_
