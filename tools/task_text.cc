#include "tools/task_text.h"

#include <algorithm>

#include "node/duration.h"
#include "node/task_json.h"

namespace magpie {

namespace {

// Long commands would push every other column off the screen.
constexpr size_t kMaxCommandColumn = 60;

std::string JoinMap(const std::map<std::string, std::string>& m) {
  if (m.empty()) return "-";
  std::string out;
  for (const auto& [k, v] : m) {
    if (!out.empty()) out += ",";
    out += k + "=" + v;
  }
  return out;
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

// "2024-05-01T12:00:03.120Z (12s ago)", or "-".
std::string TimeWithAge(int64_t ms, int64_t now_ms) {
  if (ms <= 0) return "-";
  std::string out = FormatIsoUtc(ms);
  std::string age = FormatAge(ms, now_ms);
  if (age != "-") out += " (" + age + " ago)";
  return out;
}

std::string Truncate(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  return s.substr(0, max - 3) + "...";
}

// Output tails, indented so they cannot be mistaken for fields.
std::string Indented(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += "  " + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

std::string RenderTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (row.size() > widths.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string FormatCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !arg.empty() && arg.find_first_not_of(
                                     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789@%+=:,./_-") == std::string::npos;
    if (plain) {
      out += arg;
    } else {
      out += '\'';
      for (char c : arg) {
        if (c == '\'') {
          out += "'\\''";
        } else if (c == '\n') {
          out += "\\n";  // keep one task on one line
        } else {
          out += c;
        }
      }
      out += '\'';
    }
  }
  return out;
}

std::string FormatAttempt(const Attempt& a) {
  std::string out = "#" + std::to_string(a.number) + "  node " + OrDash(a.node);
  out += std::string("  ") + OutcomeName(a.outcome);
  if (a.started_ms > 0) out += "  started " + FormatIsoUtc(a.started_ms);
  if (a.ended_ms > 0) {
    out += "  ended " + FormatIsoUtc(a.ended_ms);
    if (a.started_ms > 0) out += " (" + FormatDurationMs(a.ended_ms - a.started_ms) + ")";
  }
  if (a.exit_code >= 0 && a.outcome != Outcome::kNone)
    out += "  exit " + std::to_string(a.exit_code);
  if (a.signal != 0) out += "  signal " + std::to_string(a.signal);
  if (!a.reason.empty()) out += "  (" + a.reason + ")";
  if (!a.stolen_from.empty()) out += "  stolen from " + a.stolen_from;
  if (a.restarted_from != 0) out += "  restarts #" + std::to_string(a.restarted_from);
  return out;
}

std::string ProgressText(const Task& t, bool with_id) {
  if (t.progress_percent < 0) return "";
  std::string out = with_id ? t.id + " " : "";
  out += std::to_string(t.progress_percent) + "%";
  if (!t.progress_message.empty()) out += " " + t.progress_message;
  return out;
}

std::string RenderTaskDetails(const Task& t, int64_t now_ms, const std::string& pending_reason) {
  const TaskSpec& s = t.spec;
  std::vector<std::vector<std::string>> rows = {
      {"id:", t.id},
      {"name:", OrDash(s.name)},
      {"state:", std::string(TaskStateName(t.state)) + (pending_reason.empty() ? "" : ": " + pending_reason)},
      {"command:", FormatCommand(s.command)},
      {"cwd:", OrDash(s.cwd)},
      {"priority:", std::to_string(s.priority)},
      {"after:", s.after.empty() ? "-" : Join(s.after, ", ")},
      {"labels:", JoinMap(s.labels)},
      {"env:", JoinMap(s.env)},
      {"slots:", std::to_string(s.slots)},
      {"timeout:", s.timeout_ms == 0 ? "none" : FormatDurationMs(s.timeout_ms)},
      {"max attempts:", std::to_string(s.max_attempts)},
      {"backoff:", FormatDurationMs(s.backoff_ms)},
      {"submitted:", TimeWithAge(t.submitted_ms, now_ms)},
      {"started:", TimeWithAge(t.started_ms, now_ms)},
      {"finished:", TimeWithAge(t.finished_ms, now_ms)},
  };
  if (!s.idempotency_key.empty()) rows.push_back({"idempotency key:", s.idempotency_key});
  if (!s.cache_key.empty()) rows.push_back({"cache key:", s.cache_key});
  if (!t.cached_from.empty()) rows.push_back({"cache hit:", "the outcome of " + t.cached_from + " (nothing ran)"});
  if (t.not_before_ms > now_ms && !IsEnded(t.state)) {
    rows.push_back({"next attempt:", TimeWithAge(t.not_before_ms, now_ms)});
  }
  if (!t.blocked_by.empty()) rows.push_back({"blocked by:", t.blocked_by});
  if (t.progress_percent >= 0) {
    rows.push_back({"progress:", ProgressText(t, false) + " (attempt " +
                                     std::to_string(t.progress_attempt) + ", " +
                                     FormatAge(t.progress_ms, now_ms) + " ago)"});
  }
  if (!s.parent.empty()) rows.push_back({"parent:", s.parent});
  if (s.is_schedule()) {
    rows.push_back({"schedule:", (s.schedule.cron.empty() ? "every " + FormatDurationMs(s.schedule.every_ms)
                                                          : "cron " + s.schedule.cron + " (UTC)") +
                                     (s.schedule.catch_up > 0 ? ", catch-up " + std::to_string(s.schedule.catch_up) : "") +
                                     (s.schedule.no_overlap ? ", no-overlap" : "") + (t.paused ? ", paused" : "")});
    rows.push_back({"fired:", std::to_string(t.fired) + " (skipped " + std::to_string(t.skipped) +
                                  "), last run " + (t.last_fired.empty() ? "-" : t.last_fired)});
  }
  if (!t.fired_by.empty()) rows.push_back({"fired by:", t.fired_by + " for " + TimeWithAge(t.slot_ms, now_ms)});
  if (!s.on_children.empty()) rows.push_back({"merge step:", FormatCommand(s.on_children)});
  if (!t.children.empty()) {
    std::string c = std::to_string(t.children.size()) + " (" + std::to_string(t.children_open) +
                    " not ended)";
    if (t.merging) c += ", merging";
    rows.push_back({"children:", c});
  }
  if (!t.end_reason.empty()) rows.push_back({"end reason:", t.end_reason});
  std::string out = RenderTable(rows);
  out += "attempts:";
  if (t.attempts.empty()) out += " none yet";
  out += "\n";
  for (const Attempt& a : t.attempts) out += "  " + FormatAttempt(a) + "\n";
  if (!t.stdout_tail.empty()) out += "stdout (tail):\n" + Indented(t.stdout_tail);
  if (!t.stderr_tail.empty()) out += "stderr (tail):\n" + Indented(t.stderr_tail);
  return out;
}

std::string RenderTaskTable(const std::vector<Task>& tasks, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "STATE", "PRI", "ATTEMPTS", "AGE", "COMMAND"}};
  for (const Task& t : tasks) {
    rows.push_back({t.id, OrDash(t.spec.name), TaskStateName(t.state),
                    std::to_string(t.spec.priority), std::to_string(t.attempts.size()),
                    FormatAge(t.submitted_ms, now_ms),
                    Truncate(FormatCommand(t.spec.command), kMaxCommandColumn)});
  }
  return RenderTable(rows);
}

std::string RenderMemberTable(const std::vector<MemberInfo>& members) {
  std::vector<std::vector<std::string>> rows = {{"ID", "ADDRESS", "STATE", "INC", "SLOTS",
                                                 "RUNNING", "READY", "STOLEN", "GIVEN", "HEARD",
                                                 "LABELS"}};
  for (const MemberInfo& m : members) {
    rows.push_back({m.id, m.address, m.state, std::to_string(m.incarnation),
                    std::to_string(m.slots), std::to_string(m.running), std::to_string(m.ready),
                    std::to_string(m.stolen), std::to_string(m.given),
                    FormatDurationMs(m.age_ms) + " ago", JoinMap(m.labels)});
  }
  return RenderTable(rows);
}

}  // namespace magpie
