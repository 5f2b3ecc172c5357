// libFuzzer target: arbitrary text as a pipeline file, YAML or JSON (node/pipeline_file.h);
// the CLI reads these from files and the HTTP API from request bodies. Asserts: the parser
// never crashes or throws; an error says what is wrong; a pipeline it accepts holds only
// valid specs (ValidateSpec), at most kMaxTasksPerSubmit of them, with unique names, and
// when its strings are ASCII it survives a round trip: written back as JSON (a YAML
// subset), it parses to the same request.
#include <set>

#include <nlohmann/json.hpp>

#include "node/pipeline_file.h"
#include "tests/fuzz/fuzz_util.h"

using namespace magpie;

namespace {

// Durations as the parser reads them back exactly: whole seconds, or seconds with three
// decimals (a bare millisecond count could exceed the 12 digits a number may have).
std::string DurationText(int64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%lld.%03llds", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

bool Ascii(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

bool AllAscii(const TaskSpec& t) {
  bool ok = Ascii(t.name) && Ascii(t.cwd) && Ascii(t.idempotency_key);
  for (const auto& a : t.command) ok = ok && Ascii(a);
  for (const auto& a : t.after) ok = ok && Ascii(a);
  for (const auto& [k, v] : t.env) ok = ok && Ascii(k) && Ascii(v);
  for (const auto& [k, v] : t.labels) ok = ok && Ascii(k) && Ascii(v);
  return ok;
}

nlohmann::json ToJson(const SubmitRequest& req) {
  nlohmann::json tasks = nlohmann::json::array();
  const TaskSpec defaults;
  for (const TaskSpec& t : req.tasks) {
    nlohmann::json j;
    j["name"] = t.name;
    j["command"] = t.command;  // the list form is the argv as written
    if (!t.after.empty()) j["after"] = t.after;
    if (t.priority != defaults.priority) j["priority"] = t.priority;
    if (!t.env.empty()) j["env"] = t.env;
    if (!t.cwd.empty()) j["cwd"] = t.cwd;
    if (!t.labels.empty()) j["labels"] = t.labels;
    if (t.slots != defaults.slots) j["slots"] = t.slots;
    if (t.timeout_ms != defaults.timeout_ms) j["timeout"] = DurationText(t.timeout_ms);
    if (t.max_attempts != defaults.max_attempts) j["retries"] = t.max_attempts - 1;
    if (t.backoff_ms != defaults.backoff_ms) j["backoff"] = DurationText(t.backoff_ms);
    if (!t.idempotency_key.empty()) j["idempotency_key"] = t.idempotency_key;
    tasks.push_back(std::move(j));
  }
  return nlohmann::json{{"tasks", std::move(tasks)}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;  // the parser's cost is not what this target is about
  const std::string text(fuzz::AsView(data, size));
  PipelineContext context;
  context.source_name = "fuzz.yaml";
  context.base_dir = "/base";
  auto req = ParsePipelineYaml(text, context);
  if (!req.ok()) {
    FUZZ_CHECK(!req.status().message().empty(), "an error must say what is wrong");
    return 0;
  }
  FUZZ_CHECK(!req->tasks.empty() && req->tasks.size() <= kMaxTasksPerSubmit);
  std::set<std::string> names;
  bool ascii = true;
  for (const TaskSpec& t : req->tasks) {
    FUZZ_CHECK(ValidateSpec(t).empty(), ValidateSpec(t));
    FUZZ_CHECK(names.insert(t.name).second, "duplicate task name " + t.name);
    ascii = ascii && AllAscii(t);
  }
  if (!ascii) return 0;
  const std::string json = ToJson(*req).dump();
  auto back = ParsePipelineYaml(json, context);
  FUZZ_CHECK(back.ok(), back.status().ToString() + " for " + json);
  FUZZ_CHECK(PackBody(*back) == PackBody(*req), "round trip changed the pipeline: " + json);
  return 0;
}
