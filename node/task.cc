#include "node/task.h"

namespace magpie {

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kPending: return "pending";
    case TaskState::kReady: return "ready";
    case TaskState::kRunning: return "running";
    case TaskState::kSucceeded: return "succeeded";
    case TaskState::kFailed: return "failed";
    case TaskState::kCancelled: return "cancelled";
    case TaskState::kBlocked: return "blocked";
    case TaskState::kWaiting: return "waiting";
    case TaskState::kScheduled: return "scheduled";
    case TaskState::kAssigned: return "assigned";
  }
  return "unknown";
}

std::optional<TaskState> ParseTaskState(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(TaskState::kAssigned); ++i) {
    auto s = static_cast<TaskState>(i);
    if (name == TaskStateName(s)) return s;
  }
  return std::nullopt;
}

std::string TaskStateNames() {
  return "pending, ready, assigned, running, waiting, succeeded, failed, cancelled, blocked, scheduled";
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kNone: return "running";
    case Outcome::kSucceeded: return "succeeded";
    case Outcome::kFailed: return "failed";
    case Outcome::kTimedOut: return "timed_out";
    case Outcome::kCancelled: return "cancelled";
    case Outcome::kLost: return "lost";
  }
  return "unknown";
}

namespace {

bool IsBuiltin(const std::string& arg0) { return !arg0.empty() && arg0[0] == '@'; }

std::string ValidateBuiltin(const std::vector<std::string>& cmd) {
  const std::string& k = cmd[0];
  if (k == "@noop" || k == "@fail") {
    if (cmd.size() != 1) return k + " takes no arguments";
    return "";
  }
  if (k == "@sleep") {
    if (cmd.size() != 2) return "@sleep takes one argument: seconds, e.g. @sleep 0.5";
    char* end = nullptr;
    double s = std::strtod(cmd[1].c_str(), &end);
    if (end == cmd[1].c_str() || *end != '\0' || !(s >= 0) || s > 86400 * 365) {
      return "@sleep needs a number of seconds between 0 and a year, not '" + cmd[1] + "'";
    }
    return "";
  }
  return "unknown built-in task kind '" + k + "' (built-ins are @noop, @sleep SECONDS, @fail)";
}

}  // namespace

std::string ValidateSpec(const TaskSpec& spec) {
  if (spec.command.empty()) return "command is empty: give the program to run after --";
  if (spec.command.size() > kMaxCommandArgs) {
    return "command has " + std::to_string(spec.command.size()) + " arguments; the limit is " +
           std::to_string(kMaxCommandArgs);
  }
  if (spec.command[0].empty()) return "command's program name is empty";
  if (IsBuiltin(spec.command[0])) {
    std::string err = ValidateBuiltin(spec.command);
    if (!err.empty()) return err;
  }
  for (const auto& a : spec.command) {
    if (a.find('\0') != std::string::npos) return "command arguments may not contain NUL bytes";
  }
  for (const auto& [k, v] : spec.env) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
        v.find('\0') != std::string::npos) {
      return "env name '" + k + "' is not valid (no '=', no NUL, not empty)";
    }
  }
  if (spec.priority < 0 || spec.priority > 100) {
    return "priority must be between 0 and 100, not " + std::to_string(spec.priority);
  }
  if (spec.slots < 1 || spec.slots > 1024) {
    return "slots must be between 1 and 1024, not " + std::to_string(spec.slots);
  }
  if (spec.timeout_ms < 0) return "timeout must not be negative";
  if (spec.output_keep_bytes < 0 || spec.output_keep_bytes > kMaxOutputKeepBytes) {
    return "output_keep_bytes must be between 0 (the node's default) and 1 GiB";
  }
  if (spec.max_attempts < 1 || spec.max_attempts > 100) {
    return "max_attempts (retries + 1) must be between 1 and 100, not " +
           std::to_string(spec.max_attempts);
  }
  if (spec.backoff_ms < 0 || spec.backoff_ms > 86400000) {
    return "backoff must be between 0 and 24 h";
  }
  if (spec.name.size() > 256) return "name is longer than 256 bytes";
  if (HasTaskIdForm(spec.name)) {
    return "name '" + spec.name + "' has the form of a task id (8 hex digits, '-', a number); "
           "pick a name no id can take";
  }
  if (spec.idempotency_key.size() > 256) return "idempotency key is longer than 256 bytes";
  if (spec.submitted_by.size() > 256) return "submitted_by is longer than 256 bytes";
  if (spec.cache_key.size() > 256) return "cache key is longer than 256 bytes";
  if (spec.after.size() > 10000) return "a task may wait on at most 10000 others";
  if (!spec.parent.empty() && GroupOfTaskId(spec.parent).empty()) {
    return "parent must be a task id (<group>-<seq>, as $MAGPIE_TASK_ID holds), not '" +
           spec.parent + "'";
  }
  if (!spec.on_children.empty()) {
    if (spec.on_children[0].empty()) return "the merge step's program name is empty";
    if (spec.on_children.size() > kMaxCommandArgs) return "the merge step has too many arguments";
    for (const auto& a : spec.on_children) {
      if (a.find('\0') != std::string::npos) return "merge step arguments may not contain NUL bytes";
    }
    if (IsBuiltin(spec.on_children[0])) {
      std::string err = ValidateBuiltin(spec.on_children);
      if (!err.empty()) return "merge step: " + err;
    }
  }
  if (spec.is_schedule()) {
    const ScheduleSpec& sc = spec.schedule;
    if (!sc.cron.empty() && sc.every_ms > 0) return "a schedule has --cron or --every, not both";
    if (sc.every_ms != 0 && sc.every_ms < 1000) return "--every must be at least 1s";
    if (sc.cron.size() > 256) return "cron expression is longer than 256 bytes";
    if (sc.catch_up < 0 || sc.catch_up > 1000) return "catch-up must be between 0 and 1000";
    if (!spec.after.empty()) return "a schedule's tasks cannot wait on others (--after)";
    if (!spec.parent.empty()) return "a schedule cannot be a child task";
  } else if (spec.schedule.catch_up != 0 || spec.schedule.no_overlap || spec.schedule.every_ms < 0) {
    return "catch-up and no-overlap belong to a schedule (--cron or --every)";
  }
  size_t bytes = spec.name.size() + spec.cwd.size() + spec.idempotency_key.size() + spec.parent.size() +
                 spec.schedule.cron.size();
  for (const auto& a : spec.command) bytes += a.size();
  for (const auto& a : spec.on_children) bytes += a.size();
  for (const auto& [k, v] : spec.env) bytes += k.size() + v.size();
  for (const auto& [k, v] : spec.labels) bytes += k.size() + v.size();
  for (const auto& a : spec.after) bytes += a.size();
  if (bytes > kMaxSpecBytes) {
    return "task spec is " + std::to_string(bytes) + " bytes; the limit is " +
           std::to_string(kMaxSpecBytes);
  }
  return "";
}

bool HasTaskIdForm(std::string_view s) {
  auto dash = s.find('-');
  if (dash != 8 || s.size() < 10) return false;
  for (size_t i = 0; i < 8; ++i) {
    const char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  for (size_t i = 9; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

std::string GroupOfTaskId(const std::string& id) {
  auto dash = id.rfind('-');
  if (dash == std::string::npos || dash == 0 || dash + 1 == id.size()) return "";
  for (size_t i = dash + 1; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return "";
  }
  return id.substr(0, dash);
}


}  // namespace magpie
