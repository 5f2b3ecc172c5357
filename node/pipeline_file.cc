#include "node/pipeline_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "node/byte_size.h"
#include "node/duration.h"
#include "node/pipeline_graph.h"

namespace magpie {

namespace {

constexpr const char* kTaskFields =
    "name, command, after, priority, env, cwd, labels, slots, timeout, retries, backoff, "
    "idempotency_key, output_keep";
// A pipeline file is read whole; this is far above any honest one.
constexpr std::uintmax_t kMaxFileBytes = 64 * 1024 * 1024;

// Builds error messages that point at a line of the file.
class Errors {
 public:
  explicit Errors(const std::string& source) : source_(source) {}

  // line is 1-based; 0 when unknown.
  Status At(int line, const std::string& msg) const { return PipelineError(source_, line, msg); }
  Status At(const YAML::Node& node, const std::string& msg) const { return At(LineOf(node), msg); }

  static int LineOf(const YAML::Node& node) {
    if (!node.IsDefined()) return 0;
    int line = node.Mark().line;
    return line < 0 ? 0 : line + 1;
  }

 private:
  std::string source_;
};

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// Reads one task's fields. `what` names the task in errors: "task 'build'" or "task 3".
class TaskReader {
 public:
  TaskReader(const Errors& errors, const std::string& what) : errors_(errors), what_(what) {}

  Result<std::string> Str(const YAML::Node& n, const std::string& field) const {
    if (!n.IsScalar()) return Err(n, field + " must be a string");
    return n.Scalar();
  }

  // Integers only: "5" yes; "5.0", "high", "1e3" no.
  Result<int64_t> Int(const YAML::Node& n, const std::string& field, int64_t lo, int64_t hi) const {
    const std::string range = " between " + std::to_string(lo) + " and " + std::to_string(hi);
    if (!n.IsScalar()) return Err(n, field + " must be an integer" + range);
    const std::string& s = n.Scalar();
    size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    bool ok = i < s.size() && s.size() - i <= 12;
    for (size_t k = i; ok && k < s.size(); ++k) ok = s[k] >= '0' && s[k] <= '9';
    if (!ok) return Err(n, field + " must be an integer" + range + ", not " + Quote(s));
    int64_t v = std::stoll(s);
    if (v < lo || v > hi) return Err(n, field + " must be" + range + ", not " + s);
    return v;
  }

  Result<int64_t> DurationMs(const YAML::Node& n, const std::string& field) const {
    if (!n.IsScalar()) return Err(n, field + " must be a duration like 30s, 5m or 1h");
    auto ms = ParseDurationMs(n.Scalar());
    if (!ms.ok()) return Err(n, field + ": " + ms.status().message());
    return ms;
  }

  Result<int64_t> Bytes(const YAML::Node& n, const std::string& field) const {
    if (!n.IsScalar()) return Err(n, field + " must be a size like 8MiB or 1048576");
    auto bytes = ParseByteSize(n.Scalar());
    if (!bytes.ok()) return Err(n, field + ": " + bytes.status().message());
    return bytes;
  }

  Result<std::vector<std::string>> StringList(const YAML::Node& n, const std::string& field) const {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(n.Scalar());
      return out;
    }
    if (!n.IsSequence()) return Err(n, field + " must be a list of strings");
    for (const auto& item : n) {
      if (!item.IsScalar()) return Err(item, field + " must be a list of strings");
      out.push_back(item.Scalar());
    }
    return out;
  }

  Result<std::map<std::string, std::string>> StringMap(const YAML::Node& n,
                                                       const std::string& field) const {
    std::map<std::string, std::string> out;
    if (!n.IsMap()) return Err(n, field + " must be a map of names to values");
    for (const auto& kv : n) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
        return Err(kv.first, field + " must map names to plain values");
      }
      if (!out.emplace(kv.first.Scalar(), kv.second.Scalar()).second) {
        return Err(kv.first, field + " sets " + Quote(kv.first.Scalar()) + " twice");
      }
    }
    return out;
  }

  // A list is the argv as written. A string is a shell command line (sh -c), except that a
  // string naming a built-in ("@sleep 2") is split into words, since the node runs
  // built-ins itself and no shell knows them.
  Result<std::vector<std::string>> Command(const YAML::Node& n) const {
    if (n.IsScalar()) {
      const std::string& line = n.Scalar();
      if (line.find_first_not_of(" \t\n") == std::string::npos) {
        return Err(n, "command is empty");
      }
      size_t first = line.find_first_not_of(" \t\n");
      if (line[first] == '@') {
        std::vector<std::string> words;
        std::istringstream in(line);
        for (std::string w; in >> w;) words.push_back(w);
        return words;
      }
      return std::vector<std::string>{"sh", "-c", line};
    }
    if (!n.IsSequence()) return Err(n, "command must be a list of arguments or a string");
    auto argv = StringList(n, "command");
    if (!argv.ok()) return argv;
    if (argv->empty()) return Err(n, "command is an empty list");
    return argv;
  }

  Status Err(const YAML::Node& n, const std::string& msg) const {
    return errors_.At(n, what_ + ": " + msg);
  }

 private:
  const Errors& errors_;
  const std::string what_;
};

#define MAGPIE_ASSIGN_OR_RETURN(lhs, expr) \
  do {                                     \
    auto _r = (expr);                      \
    if (!_r.ok()) return _r.status();      \
    lhs = std::move(*_r);                  \
  } while (0)

struct ParsedTask {
  TaskSpec spec;
  int line = 0;
};

// `name_from_key` is set for the map form (`tasks: {build: {...}}`).
Result<ParsedTask> ReadTask(const YAML::Node& node, const std::string& name_from_key, size_t index,
                            const Errors& errors, const PipelineContext& context) {
  ParsedTask out;
  out.line = Errors::LineOf(node);
  TaskSpec& spec = out.spec;
  std::string what =
      name_from_key.empty() ? "task " + std::to_string(index + 1) : "task " + Quote(name_from_key);
  if (!node.IsMap())
    return errors.At(node, what + ": must be a map of fields (" + kTaskFields + ")");

  spec.name = name_from_key;
  // The name first, so the remaining errors can say which task they are about.
  if (const YAML::Node n = node["name"]; n.IsDefined() && !n.IsNull()) {
    if (!n.IsScalar()) return errors.At(n, what + ": name must be a string");
    if (!name_from_key.empty() && n.Scalar() != name_from_key) {
      return errors.At(n, what + ": name " + Quote(n.Scalar()) + " differs from its key");
    }
    spec.name = n.Scalar();
    what = "task " + Quote(spec.name);
  }
  if (spec.name.empty()) {
    return errors.At(node, what + ": has no name (other tasks refer to it by name)");
  }
  TaskReader r(errors, what);

  bool has_command = false;
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return errors.At(kv.first, what + ": field names must be strings");
    const std::string field = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (!seen.insert(field).second)
      return r.Err(kv.first, "field " + Quote(field) + " is set twice");
    if (field == "name") continue;
    // `field:` with nothing after it means "not set", as it would for a person reading it.
    if (v.IsNull() && field != "command") continue;
    if (field == "command") {
      if (v.IsNull()) return r.Err(kv.first, "command is empty");
      MAGPIE_ASSIGN_OR_RETURN(spec.command, r.Command(v));
      has_command = true;
    } else if (field == "after") {
      MAGPIE_ASSIGN_OR_RETURN(spec.after, r.StringList(v, "after"));
    } else if (field == "priority") {
      MAGPIE_ASSIGN_OR_RETURN(spec.priority, r.Int(v, "priority", 0, 100));
    } else if (field == "env") {
      MAGPIE_ASSIGN_OR_RETURN(spec.env, r.StringMap(v, "env"));
    } else if (field == "cwd") {
      MAGPIE_ASSIGN_OR_RETURN(spec.cwd, r.Str(v, "cwd"));
      if (spec.cwd.empty()) return r.Err(v, "cwd is empty");
    } else if (field == "labels") {
      MAGPIE_ASSIGN_OR_RETURN(spec.labels, r.StringMap(v, "labels"));
    } else if (field == "slots") {
      MAGPIE_ASSIGN_OR_RETURN(spec.slots, r.Int(v, "slots", 1, 1024));
    } else if (field == "timeout") {
      MAGPIE_ASSIGN_OR_RETURN(spec.timeout_ms, r.DurationMs(v, "timeout"));
    } else if (field == "retries") {
      int64_t retries = 0;
      MAGPIE_ASSIGN_OR_RETURN(retries, r.Int(v, "retries", 0, 99));
      spec.max_attempts = static_cast<int32_t>(retries + 1);
    } else if (field == "backoff") {
      MAGPIE_ASSIGN_OR_RETURN(spec.backoff_ms, r.DurationMs(v, "backoff"));
    } else if (field == "idempotency_key") {
      MAGPIE_ASSIGN_OR_RETURN(spec.idempotency_key, r.Str(v, "idempotency_key"));
    } else if (field == "output_keep") {
      MAGPIE_ASSIGN_OR_RETURN(spec.output_keep_bytes, r.Bytes(v, "output_keep"));
    } else {
      return r.Err(kv.first, "unknown field " + Quote(field) + " (known: " + kTaskFields + ")");
    }
  }
  if (!has_command) return errors.At(node, what + ": has no command");

  if (spec.cwd.empty()) {
    spec.cwd = context.default_cwd;
  } else if (!context.base_dir.empty() && std::filesystem::path(spec.cwd).is_relative()) {
    spec.cwd = (std::filesystem::path(context.base_dir) / spec.cwd).lexically_normal().string();
  }
  std::string invalid = ValidateSpec(spec);
  if (!invalid.empty()) return errors.At(node, what + ": " + invalid);
  return out;
}

}  // namespace

Result<SubmitRequest> ParsePipelineYaml(const std::string& text, const PipelineContext& context) {
  Errors errors(context.source_name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return errors.At(e.mark.line + 1, "not valid YAML: " + e.msg);
  }
  try {
    if (!root.IsMap()) {
      return errors.At(root,
                       "a pipeline file is a map with a 'tasks' list (see docs/pipelines.md)");
    }
    for (const auto& kv : root) {
      if (!kv.first.IsScalar() || kv.first.Scalar() != "tasks") {
        std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
        return errors.At(kv.first, "unknown top-level field " + Quote(key) + " (only 'tasks')");
      }
    }
    const YAML::Node tasks = root["tasks"];
    if (!tasks.IsDefined() || tasks.IsNull()) return errors.At(root, "no 'tasks' in the pipeline");
    if (!tasks.IsSequence() && !tasks.IsMap()) {
      return errors.At(tasks, "'tasks' must be a list of tasks or a map of names to tasks");
    }
    if (tasks.size() == 0) return errors.At(tasks, "'tasks' is empty");
    if (tasks.size() > kMaxTasksPerSubmit) {
      return errors.At(tasks, "the pipeline has " + std::to_string(tasks.size()) +
                                  " tasks; one submit takes at most " +
                                  std::to_string(kMaxTasksPerSubmit));
    }

    SubmitRequest req;
    std::vector<int> lines;
    size_t index = 0;
    for (auto it = tasks.begin(); it != tasks.end(); ++it, ++index) {
      Result<ParsedTask> task = Status::InvalidArgument("unset");
      if (tasks.IsMap()) {
        if (!it->first.IsScalar() || it->first.Scalar().empty()) {
          return errors.At(it->first, "task names must be non-empty strings");
        }
        task = ReadTask(it->second, it->first.Scalar(), index, errors, context);
        // Keys name tasks, so point errors about the task at its key.
        if (task.ok()) task->line = Errors::LineOf(it->first);
      } else {
        task = ReadTask(*it, "", index, errors, context);
      }
      if (!task.ok()) return task.status();
      req.tasks.push_back(std::move(task->spec));
      lines.push_back(task->line);
    }
    Status graph = CheckPipelineGraph(req.tasks, lines, context.source_name);
    if (!graph.ok()) return graph;
    return req;
  } catch (const YAML::Exception& e) {
    // Lookups on a malformed document can still throw; report, never crash.
    return errors.At(e.mark.line + 1, e.msg);
  }
}

Result<SubmitRequest> ParsePipelineFile(const std::string& path, PipelineContext context) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return Status::InvalidArgument("cannot read pipeline file " + path + ": " + ec.message());
  if (size > kMaxFileBytes) {
    return Status::InvalidArgument("pipeline file " + path + " is " + std::to_string(size) +
                                   " bytes; the limit is " + std::to_string(kMaxFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot open pipeline file " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument("cannot read pipeline file " + path);
  if (context.source_name.empty()) context.source_name = path;
  if (context.base_dir.empty()) {
    fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
    if (!ec) context.base_dir = dir.string();
  }
  return ParsePipelineYaml(buf.str(), context);
}

}  // namespace magpie
