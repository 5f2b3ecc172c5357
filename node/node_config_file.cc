#include "node/node_config_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace magpie {

namespace {

// A config file is a few hundred bytes; this only stops a wrong path (a disk image, a log)
// from being read whole.
constexpr std::streamoff kMaxConfigBytes = 1 << 20;

const char* TypeName(toml::node_type t) {
  switch (t) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return "a date or time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

const char* Wanted(SettingType t) {
  switch (t) {
    case SettingType::kString: return "a string";
    case SettingType::kInt: return "an integer";
    case SettingType::kBool: return "true or false";
    case SettingType::kStrings: return "an array of strings";
  }
  return "";
}

// What an unknown key probably meant.
std::string Hint(const std::string& name) {
  std::string underscored = name;
  std::replace(underscored.begin(), underscored.end(), '-', '_');
  if (underscored != name && FindSetting(underscored) != nullptr) {
    return " (keys are spelled with '_': " + underscored + ")";
  }
  std::string known;
  for (const SettingKey& k : AllSettings()) known += std::string(known.empty() ? "" : ", ") + k.name;
  return "; the keys are " + known;
}

std::string At(const std::string& path, const toml::source_region& where) {
  return path + ":" + std::to_string(where.begin.line);
}

Status SetFromNode(const SettingKey& key, const toml::node& value, const std::string& path,
                   NodeSettings* s) {
  auto wrong = [&](const toml::node& n, const std::string& what) {
    return Status::InvalidArgument(At(path, n.source()) + ": key '" + key.name + "' must be " +
                                   Wanted(key.type) + ", not " + what);
  };
  switch (key.type) {
    case SettingType::kString:
      if (!value.is_string()) return wrong(value, TypeName(value.type()));
      s->*key.string_field = value.as_string()->get();
      return Status::Ok();
    case SettingType::kInt:
      if (!value.is_integer()) return wrong(value, TypeName(value.type()));
      s->*key.int_field = value.as_integer()->get();
      return Status::Ok();
    case SettingType::kBool:
      if (!value.is_boolean()) return wrong(value, TypeName(value.type()));
      s->*key.bool_field = value.as_boolean()->get();
      return Status::Ok();
    case SettingType::kStrings: {
      if (!value.is_array()) return wrong(value, TypeName(value.type()));
      std::vector<std::string> items;
      const toml::array& array = *value.as_array();
      for (size_t i = 0; i < array.size(); ++i) {
        const toml::node& item = array[i];
        if (!item.is_string()) {
          return wrong(item, "an array whose item " + std::to_string(i + 1) + " is " +
                                 TypeName(item.type()));
        }
        items.push_back(item.as_string()->get());
      }
      s->*key.strings_field = std::move(items);
      return Status::Ok();
    }
  }
  return Status::Ok();
}

void AppendValue(std::ostringstream& out, const SettingKey& key, const NodeSettings& s) {
  switch (key.type) {
    case SettingType::kString: out << toml::value<std::string>(s.*key.string_field); break;
    case SettingType::kInt: out << s.*key.int_field; break;
    case SettingType::kBool: out << (s.*key.bool_field ? "true" : "false"); break;
    case SettingType::kStrings: {
      toml::array a;
      for (const std::string& v : s.*key.strings_field) a.push_back(v);
      out << a;
      break;
    }
  }
}

}  // namespace

Status ParseConfigText(const std::string& text, const std::string& path, NodeSettings* s,
                       SettingSources* sources) {
  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(At(path, e.source()) + ": not TOML: " +
                                   std::string(e.description()));
  }
  for (auto&& [k, value] : table) {
    const std::string name(k.str());
    const SettingKey* key = FindSetting(name);
    if (key == nullptr) {
      return Status::InvalidArgument(At(path, k.source()) + ": unknown key '" + name + "'" +
                                     Hint(name));
    }
    Status st = SetFromNode(*key, value, path, s);
    if (!st.ok()) return st;
    (*sources)[key->name] = At(path, k.source());
  }
  return Status::Ok();
}

Status ReadConfigFile(const std::string& path, NodeSettings* s, SettingSources* sources) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    return Status::InvalidArgument("config file " + path + ": " + std::strerror(errno));
  }
  f.seekg(0, std::ios::end);
  std::streamoff size = f.tellg();
  if (size < 0 || size > kMaxConfigBytes) {
    return Status::InvalidArgument("config file " + path + ": not a config file (" +
                                   std::to_string(size) + " bytes, more than 1 MiB)");
  }
  f.seekg(0);
  std::string text(static_cast<size_t>(size), '\0');
  f.read(text.data(), size);
  if (!f) return Status::InvalidArgument("config file " + path + ": read failed");
  return ParseConfigText(text, path, s, sources);
}

std::string RenderConfigFile(const NodeSettings& s, const SettingSources& sources,
                             const std::vector<std::string>& header) {
  std::ostringstream out;
  for (const std::string& line : header) out << "# " << line << "\n";
  for (const SettingKey& key : AllSettings()) {
    out << key.name << " = ";
    AppendValue(out, key, s);
    auto it = sources.find(key.name);
    out << "  # " << (it == sources.end() ? "default" : it->second) << "\n";
  }
  return out.str();
}

}  // namespace magpie
