#include "node/node_flags.h"

#include <filesystem>

#include "node/node_config_file.h"

namespace magpie {

void AddNodeFlags(CLI::App* app, NodeFlags* flags) {
  app->add_option("--config", flags->config,
                  "a TOML file of settings, one key per flag below without the dashes, '-' "
                  "as '_' (default: $MAGPIE_HOME/magpie.toml if it exists; docs/operations.md)");
  app->add_flag("--print-config", flags->print_config,
                "print the effective settings (file, flags, defaults) as TOML, and exit");
  const NodeSettings defaults;
  NodeSettings& g = flags->given;
  for (const SettingKey& key : AllSettings()) {
    const std::string flag = FlagName(key);
    switch (key.type) {
      case SettingType::kString:
        app->add_option(flag, g.*key.string_field, key.help)
            ->default_str(defaults.*key.string_field);
        break;
      case SettingType::kInt:
        app->add_option(flag, g.*key.int_field, key.help)
            ->default_str(std::to_string(defaults.*key.int_field));
        break;
      case SettingType::kBool:
        // --insecure=false can undo a file's `insecure = true`.
        app->add_flag(flag, g.*key.bool_field, key.help);
        break;
      case SettingType::kStrings:
        app->add_option(flag, g.*key.strings_field, key.help);
        break;
    }
  }
}

Result<EffectiveSettings> ResolveSettings(const CLI::App& app, const NodeFlags& flags,
                                          const std::string& default_config) {
  EffectiveSettings out;
  if (!flags.config.empty()) {
    out.config_file = flags.config;
  } else if (!default_config.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(default_config, ec)) out.config_file = default_config;
  }
  if (!out.config_file.empty()) {
    Status s = ReadConfigFile(out.config_file, &out.settings, &out.sources);
    if (!s.ok()) return s;
  }
  for (const SettingKey& key : AllSettings()) {
    if (app.count(FlagName(key)) == 0) continue;
    CopySetting(key, flags.given, &out.settings);
    out.sources[key.name] = "command line";
  }
  Status s = ValidateSettings(out.settings, out.sources);
  if (!s.ok()) return s;
  return out;
}

}  // namespace magpie
