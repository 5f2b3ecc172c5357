// What an operator sets on a magpie-node, from the command line or a TOML file, and where
// each value came from (docs/operations.md). One table lists every setting once: the flags,
// the file's keys and --print-config all come from it, so none can be missed by one of them.
#ifndef MAGPIE_NODE_NODE_SETTINGS_H_
#define MAGPIE_NODE_NODE_SETTINGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "node/node_driver.h"

namespace magpie {

// The settings as given, before they are checked and turned into a NodeConfig. Defaults
// are the node's own (NodeConfig's), so an empty file changes nothing.
struct NodeSettings {
  std::string data_dir = NodeConfig().data_dir;
  std::string listen = NodeConfig().listen;
  std::vector<std::string> join;
  int64_t slots = 0;  // 0: the number of CPUs
  std::vector<std::string> label;  // K=V
  int64_t replication = NodeConfig().replication;
  std::string http;
  std::string cluster_key;  // a path: the key itself is never a setting
  std::string allow_keys;
  bool insecure = false;
  bool metrics_open = false;
  int64_t max_queued = static_cast<int64_t>(NodeConfig().max_queued_tasks);
  int64_t max_queued_per_submitter = static_cast<int64_t>(NodeConfig().max_queued_per_submitter);
  int64_t min_free_disk_mb = static_cast<int64_t>(NodeConfig().min_free_disk_mb);
  int64_t output_keep_bytes = static_cast<int64_t>(NodeConfig().output_keep_bytes);
  std::string log_level = "info";
  std::string log_format = "text";
};

enum class SettingType { kString, kInt, kBool, kStrings };

// One setting. Its TOML key is `name`; its flag is "--" + name with '_' as '-'.
struct SettingKey {
  const char* name;
  SettingType type;
  const char* help;
  // The field it sets: the one member pointer of `type`'s kind.
  std::string NodeSettings::*string_field = nullptr;
  int64_t NodeSettings::*int_field = nullptr;
  bool NodeSettings::*bool_field = nullptr;
  std::vector<std::string> NodeSettings::*strings_field = nullptr;
  // For kInt: the accepted range, inclusive.
  int64_t min = 0;
  int64_t max = 0;
};

// Every setting, in the order --help and --print-config show them.
const std::vector<SettingKey>& AllSettings();
// The setting with this TOML key, or nullptr.
const SettingKey* FindSetting(const std::string& name);
// "--data-dir" for "data_dir".
std::string FlagName(const SettingKey& key);

// Where each setting's value came from, by key: "FILE:LINE" or "command line"; a key that
// is absent kept its default.
using SettingSources = std::map<std::string, std::string>;

// Copies one setting's value from `from` to `to`.
void CopySetting(const SettingKey& key, const NodeSettings& from, NodeSettings* to);

// Checks every value (ranges, levels, formats, K=V labels, --insecure without keys). An
// error names the setting and, from `sources`, where its value came from.
Status ValidateSettings(const NodeSettings& s, const SettingSources& sources);

// The NodeConfig these settings describe (keys not loaded: that needs the key file).
// REQUIRES: ValidateSettings(s) is ok.
NodeConfig ToNodeConfig(const NodeSettings& s);

}  // namespace magpie

#endif  // MAGPIE_NODE_NODE_SETTINGS_H_
