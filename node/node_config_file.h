// The node's TOML config file (docs/operations.md): read onto NodeSettings, and written back
// by --print-config. toml++ (Debian's libtomlplusplus) parses; its exceptions stop here.
#ifndef MAGPIE_NODE_NODE_CONFIG_FILE_H_
#define MAGPIE_NODE_NODE_CONFIG_FILE_H_

#include <string>
#include <vector>

#include "base/status.h"
#include "node/node_settings.h"

namespace magpie {

// The file's keys override what *s holds; each key read is recorded in *sources as
// "PATH:LINE". Any problem is InvalidArgument naming the file, the line and the key: a
// missing or unreadable file, text that is not TOML, a key that is not a setting (tables
// included: the file is flat), a value of the wrong type. On error *s may be half set.
Status ReadConfigFile(const std::string& path, NodeSettings* s, SettingSources* sources);

// As ReadConfigFile, for text already read; `path` is only for messages and sources.
Status ParseConfigText(const std::string& text, const std::string& path, NodeSettings* s,
                       SettingSources* sources);

// Every setting as a TOML file that ReadConfigFile reads back to the same settings, one key
// a line, each followed by a comment saying where its value came from. `header` lines (no
// '#' needed) open the file. Only paths are written: the cluster key itself is never a
// setting, so it cannot be printed.
std::string RenderConfigFile(const NodeSettings& s, const SettingSources& sources,
                             const std::vector<std::string>& header);

}  // namespace magpie

#endif  // MAGPIE_NODE_NODE_CONFIG_FILE_H_
