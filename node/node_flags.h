// magpie-node's command line and config file together (docs/operations.md): every setting
// has a flag, the file's values come first, flags given on the command line win.
#ifndef MAGPIE_NODE_NODE_FLAGS_H_
#define MAGPIE_NODE_NODE_FLAGS_H_

#include <string>

#include <CLI/CLI.hpp>

#include "base/status.h"
#include "node/node_settings.h"

namespace magpie {

// What the command line holds before the file is read.
struct NodeFlags {
  NodeSettings given;         // the values of flags; only those present count
  std::string config;         // --config FILE
  bool print_config = false;  // --print-config
};

// Adds --config, --print-config and a flag for every setting (AllSettings) to `app`.
// REQUIRES: `flags` outlives the parse of `app`.
void AddNodeFlags(CLI::App* app, NodeFlags* flags);

// The effective settings and where each came from.
struct EffectiveSettings {
  NodeSettings settings;
  SettingSources sources;
  std::string config_file;  // the file that was read; empty if none
};

// After `app` parsed: the defaults, then the config file, then each flag that was given.
// The file is `flags.config` if given (it must exist), else `default_config` if that
// exists (docs/operations.md: $MAGPIE_HOME/magpie.toml), else none. Errors (the file's,
// or a value out of range) are InvalidArgument naming the file, line and key or the flag.
Result<EffectiveSettings> ResolveSettings(const CLI::App& app, const NodeFlags& flags,
                                          const std::string& default_config);

}  // namespace magpie

#endif  // MAGPIE_NODE_NODE_FLAGS_H_
