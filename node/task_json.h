// The `--json` shapes of the CLI: tasks, attempts and members as JSON objects.
//
// Rules, so scripts can rely on them: every field is always present; times are ISO-8601
// UTC strings with milliseconds ("2024-05-01T12:00:03.120Z"); a time, exit code, signal or
// reference that does not apply (yet) is null rather than 0 or "". Field names follow
// node/task.h, with "_ms" times renamed "_at" because they are strings here.
#ifndef MAGPIE_TOOLS_TASK_JSON_H_
#define MAGPIE_TOOLS_TASK_JSON_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "node/client_protocol.h"
#include "node/task.h"

namespace magpie {

// Fields keep the order they are set in, so `id`, `name` and `state` lead, as a person
// reading the output expects.
using Json = nlohmann::ordered_json;

// "2024-05-01T12:00:03.120Z" for Unix milliseconds; "" for 0 or less (never happened).
std::string FormatIsoUtc(int64_t unix_ms);

// The ISO string, or null for 0.
// A task's audit trail (`magpie history --json`): one object per committed entry.
Json HistoryToJson(const Task& task);
Json TimeToJson(int64_t unix_ms);

Json AttemptToJson(const Attempt& attempt);
Json TaskToJson(const Task& task);
Json TasksToJson(const std::vector<Task>& tasks);
Json MemberToJson(const MemberInfo& member);
Json MembersToJson(const std::vector<MemberInfo>& members);

// Pretty-printed, with invalid UTF-8 (task output is arbitrary bytes) replaced by U+FFFD
// instead of throwing.
std::string DumpJson(const Json& value);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_TASK_JSON_H_
