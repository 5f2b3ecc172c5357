#include "node/task_json.h"

#include <cstdio>
#include <ctime>

namespace magpie {

namespace {

using json = Json;

json StringOrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

json StringMap(const std::map<std::string, std::string>& m) {
  json out = json::object();
  for (const auto& [k, v] : m) out[k] = v;
  return out;
}

}  // namespace

std::string FormatIsoUtc(int64_t unix_ms) {
  if (unix_ms <= 0) return "";
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

json TimeToJson(int64_t unix_ms) {
  return unix_ms <= 0 ? json(nullptr) : json(FormatIsoUtc(unix_ms));
}

json AttemptToJson(const Attempt& a) {
  json j = json::object();
  j["number"] = a.number;
  j["node"] = a.node;
  j["granted_at"] = TimeToJson(a.granted_ms);
  j["started_at"] = TimeToJson(a.started_ms);  // when its process started; null: not (yet)
  j["ended_at"] = TimeToJson(a.ended_ms);
  // -1 is the record's "no exit code": still running, killed by a signal, never started.
  j["exit_code"] = a.exit_code < 0 ? json(nullptr) : json(a.exit_code);
  j["signal"] = a.signal == 0 ? json(nullptr) : json(a.signal);
  j["outcome"] = OutcomeName(a.outcome);
  j["reason"] = StringOrNull(a.reason);
  j["stolen_from"] = StringOrNull(a.stolen_from);
  j["restarted_from"] = a.restarted_from == 0 ? json(nullptr) : json(a.restarted_from);
  j["stdout_bytes"] = a.stdout_bytes < 0 ? json(nullptr) : json(a.stdout_bytes);
  j["stderr_bytes"] = a.stderr_bytes < 0 ? json(nullptr) : json(a.stderr_bytes);
  return j;
}

json TaskToJson(const Task& t) {
  const TaskSpec& s = t.spec;
  json j = json::object();
  j["id"] = t.id;
  j["name"] = s.name;
  j["state"] = TaskStateName(t.state);
  j["command"] = s.command;
  j["env"] = StringMap(s.env);
  j["cwd"] = s.cwd;
  j["priority"] = s.priority;
  j["after"] = s.after;
  j["labels"] = StringMap(s.labels);
  j["slots"] = s.slots;
  j["timeout_ms"] = s.timeout_ms == 0 ? json(nullptr) : json(s.timeout_ms);
  j["max_attempts"] = s.max_attempts;
  j["backoff_ms"] = s.backoff_ms;
  j["idempotency_key"] = StringOrNull(s.idempotency_key);
  j["cache_key"] = StringOrNull(s.cache_key);
  j["submitted_by"] = StringOrNull(s.submitted_by);
  j["output_keep_bytes"] = s.output_keep_bytes == 0 ? json(nullptr) : json(s.output_keep_bytes);
  json attempts = json::array();
  for (const Attempt& a : t.attempts) attempts.push_back(AttemptToJson(a));
  j["attempts"] = std::move(attempts);
  j["failed_attempts"] = t.failed_attempts;
  j["lost_attempts"] = t.lost_attempts;
  j["submitted_at"] = TimeToJson(t.submitted_ms);
  j["started_at"] = TimeToJson(t.started_ms);
  j["finished_at"] = TimeToJson(t.finished_ms);
  j["not_before"] = TimeToJson(t.not_before_ms);
  j["stdout_tail"] = t.stdout_tail;
  j["stderr_tail"] = t.stderr_tail;
  j["blocked_by"] = StringOrNull(t.blocked_by);
  j["end_reason"] = StringOrNull(t.end_reason);
  j["cached_from"] = StringOrNull(t.cached_from);
  j["cache_hit"] = !t.cached_from.empty();
  if (s.is_schedule()) {
    j["schedule"] = {{"cron", StringOrNull(s.schedule.cron)},
                     {"every_ms", s.schedule.every_ms == 0 ? json(nullptr) : json(s.schedule.every_ms)},
                     {"catch_up", s.schedule.catch_up},
                     {"no_overlap", s.schedule.no_overlap},
                     {"paused", t.paused},
                     {"last_slot", TimeToJson(t.last_slot_ms)},
                     {"fired", t.fired},
                     {"skipped", t.skipped},
                     {"last_run", StringOrNull(t.last_fired)}};
  } else {
    j["schedule"] = nullptr;
  }
  j["fired_by"] = StringOrNull(t.fired_by);
  j["slot"] = t.fired_by.empty() ? json(nullptr) : TimeToJson(t.slot_ms);
  j["parent"] = StringOrNull(s.parent);
  j["on_children"] = s.on_children.empty() ? json(nullptr) : json(s.on_children);
  j["children"] = t.children;
  j["children_open"] = t.children_open;
  j["merging"] = t.merging;
  if (t.progress_percent >= 0) {
    j["progress"] = {{"percent", t.progress_percent},
                     {"message", t.progress_message},
                     {"attempt", t.progress_attempt},
                     {"at", TimeToJson(t.progress_ms)}};
  } else {
    j["progress"] = nullptr;
  }
  return j;
}

json TasksToJson(const std::vector<Task>& tasks) {
  json out = json::array();
  for (const Task& t : tasks) out.push_back(TaskToJson(t));
  return out;
}

json MemberToJson(const MemberInfo& m) {
  json j = json::object();
  j["id"] = m.id;
  j["address"] = m.address;
  j["state"] = m.state;
  j["incarnation"] = m.incarnation;
  j["slots"] = m.slots;
  j["running"] = m.running;
  j["ready"] = m.ready;
  j["labels"] = StringMap(m.labels);
  j["age_ms"] = m.age_ms;
  j["stolen"] = m.stolen;
  j["given"] = m.given;
  return j;
}

json MembersToJson(const std::vector<MemberInfo>& members) {
  json out = json::array();
  for (const MemberInfo& m : members) out.push_back(MemberToJson(m));
  return out;
}

std::string DumpJson(const json& value) {
  return value.dump(2, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace);
}

Json HistoryToJson(const Task& task) {
  Json out = Json::array();
  for (const TaskEvent& e : task.history) {
    Json j;
    j["index"] = e.index;
    j["term"] = e.term;
    j["at"] = TimeToJson(e.at_ms);
    j["kind"] = e.kind;
    j["attempt"] = e.attempt == 0 ? Json(nullptr) : Json(e.attempt);
    j["node"] = StringOrNull(e.node);
    j["detail"] = StringOrNull(e.detail);
    j["accepted"] = e.accepted;
    j["state_after"] = TaskStateName(e.state_after);
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace magpie
