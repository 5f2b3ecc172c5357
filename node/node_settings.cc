#include "node/node_settings.h"

#include <algorithm>
#include <array>

namespace magpie {

namespace {

SettingKey String(const char* name, std::string NodeSettings::*field, const char* help) {
  SettingKey k{name, SettingType::kString, help};
  k.string_field = field;
  return k;
}

SettingKey Int(const char* name, int64_t NodeSettings::*field, int64_t min, int64_t max,
               const char* help) {
  SettingKey k{name, SettingType::kInt, help};
  k.int_field = field;
  k.min = min;
  k.max = max;
  return k;
}

SettingKey Bool(const char* name, bool NodeSettings::*field, const char* help) {
  SettingKey k{name, SettingType::kBool, help};
  k.bool_field = field;
  return k;
}

SettingKey Strings(const char* name, std::vector<std::string> NodeSettings::*field,
                   const char* help) {
  SettingKey k{name, SettingType::kStrings, help};
  k.strings_field = field;
  return k;
}

constexpr int64_t kMaxCount = int64_t{1} << 53;  // far past any real limit; exact in a double

constexpr std::array<const char*, 7> kLogLevels = {"trace", "debug", "info", "warn",
                                                   "error", "critical", "off"};

std::string Where(const SettingKey& key, const SettingSources& sources) {
  auto it = sources.find(key.name);
  if (it == sources.end()) return std::string(key.name) + " (default)";
  if (it->second == "command line") return FlagName(key);
  return it->second + ": " + key.name;
}

}  // namespace

const std::vector<SettingKey>& AllSettings() {
  using S = NodeSettings;
  static const std::vector<SettingKey> keys = {
      String("data_dir", &S::data_dir, "where this node keeps its state"),
      String("listen", &S::listen, "HOST:PORT for clients and peers"),
      Strings("join", &S::join, "HOST:PORT of a peer to join (repeatable)"),
      Int("slots", &S::slots, 0, 100000, "task slots (0: the number of CPUs)"),
      Strings("label", &S::label, "K=V label tasks may require (repeatable)"),
      Int("replication", &S::replication, 1, 7,
          "voters per replica group: each task survives the loss of fewer than half of them "
          "(1 keeps a group on its home node alone)"),
      String("http", &S::http,
             "HOST:PORT to serve metrics (/metrics), the JSON API (/api/v1/) and the dashboard "
             "(/) on; port 0 picks a free one (empty: no HTTP)"),
      String("cluster_key", &S::cluster_key,
             "the cluster key file (empty: $MAGPIE_CLUSTER_KEY_FILE, else "
             "$MAGPIE_HOME/cluster.key, made on first start; docs/security.md)"),
      String("allow_keys", &S::allow_keys,
             "a file of client public keys (Z85, one a line) allowed besides the cluster's own; "
             "re-read when it changes"),
      Bool("insecure", &S::insecure,
           "no authentication or encryption of peers, clients and HTTP: for local play only"),
      Bool("metrics_open", &S::metrics_open, "serve /metrics without the HTTP token"),
      Int("max_queued", &S::max_queued, 0, kMaxCount,
          "refuse submits past this many unfinished tasks in the groups this node leads "
          "(0: no limit)"),
      Int("max_queued_per_submitter", &S::max_queued_per_submitter, 0, kMaxCount,
          "... and past this many of one submitter's (0: no limit)"),
      Int("min_free_disk_mb", &S::min_free_disk_mb, 0, kMaxCount,
          "turn read-only below this much free space in the data directory (0: never)"),
      Int("output_keep_bytes", &S::output_keep_bytes, 0, kMaxOutputKeepBytes,
          "bytes of each output stream of an ended attempt copied to its task group's replicas, "
          "so the output outlives this node (the last ones if it wrote more; a task's own "
          "output_keep_bytes wins; 0: no copies)"),
      String("log_level", &S::log_level, "trace, debug, info, warn, error, critical or off"),
      String("log_format", &S::log_format,
             "text, or json: one JSON object a line (time, level, logger, msg)"),
  };
  return keys;
}

const SettingKey* FindSetting(const std::string& name) {
  for (const SettingKey& k : AllSettings()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::string FlagName(const SettingKey& key) {
  std::string flag = "--" + std::string(key.name);
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

void CopySetting(const SettingKey& key, const NodeSettings& from, NodeSettings* to) {
  switch (key.type) {
    case SettingType::kString: to->*key.string_field = from.*key.string_field; break;
    case SettingType::kInt: to->*key.int_field = from.*key.int_field; break;
    case SettingType::kBool: to->*key.bool_field = from.*key.bool_field; break;
    case SettingType::kStrings: to->*key.strings_field = from.*key.strings_field; break;
  }
}

Status ValidateSettings(const NodeSettings& s, const SettingSources& sources) {
  for (const SettingKey& k : AllSettings()) {
    if (k.type != SettingType::kInt) continue;
    int64_t v = s.*k.int_field;
    if (v < k.min || v > k.max) {
      return Status::InvalidArgument(Where(k, sources) + " is " + std::to_string(v) +
                                     ", outside " + std::to_string(k.min) + ".." +
                                     std::to_string(k.max));
    }
  }
  if (std::find(kLogLevels.begin(), kLogLevels.end(), s.log_level) == kLogLevels.end()) {
    return Status::InvalidArgument(Where(*FindSetting("log_level"), sources) + " is '" +
                                   s.log_level +
                                   "', not one of trace, debug, info, warn, error, critical, off");
  }
  if (s.log_format != "text" && s.log_format != "json") {
    return Status::InvalidArgument(Where(*FindSetting("log_format"), sources) + " is '" +
                                   s.log_format + "', not text or json");
  }
  for (const std::string& l : s.label) {
    size_t eq = l.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(Where(*FindSetting("label"), sources) + " needs K=V, not '" +
                                     l + "'");
    }
  }
  if (s.insecure && (!s.cluster_key.empty() || !s.allow_keys.empty())) {
    return Status::InvalidArgument(Where(*FindSetting("insecure"), sources) +
                                   " takes no cluster_key or allow_keys");
  }
  return Status::Ok();
}

NodeConfig ToNodeConfig(const NodeSettings& s) {
  NodeConfig c;
  c.data_dir = s.data_dir;
  c.listen = s.listen;
  c.join = s.join;
  c.slots = static_cast<int32_t>(s.slots);
  for (const std::string& l : s.label) {
    size_t eq = l.find('=');
    c.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  c.replication = static_cast<int32_t>(s.replication);
  c.http = s.http;
  c.allow_keys_file = s.allow_keys;
  c.max_queued_tasks = static_cast<uint64_t>(s.max_queued);
  c.max_queued_per_submitter = static_cast<uint64_t>(s.max_queued_per_submitter);
  c.min_free_disk_mb = static_cast<uint64_t>(s.min_free_disk_mb);
  c.output_keep_bytes = static_cast<uint64_t>(s.output_keep_bytes);
  return c;
}

}  // namespace magpie
