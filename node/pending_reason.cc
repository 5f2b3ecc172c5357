#include "node/pending_reason.h"

#include <algorithm>

#include "node/scheduler.h"

namespace magpie {

namespace {

// Ready tasks looked at to count those ahead: a status answer stays cheap on a long queue.
constexpr size_t kMaxReadyScanned = 100000;

std::string Seconds(int64_t ms) {
  const int64_t tenths = (ms + 50) / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " s";
}

std::string WaitingOnUpstreams(const TaskTable& table, const Task& t) {
  std::vector<std::string> open;
  for (const auto& up : t.spec.after) {
    if (std::find(t.met_upstreams.begin(), t.met_upstreams.end(), up) != t.met_upstreams.end()) continue;
    const Task* u = table.Find(up);
    if (u != nullptr && u->state == TaskState::kSucceeded) continue;
    std::string what = up;
    if (u != nullptr) {
      if (!u->spec.name.empty()) what += " (" + u->spec.name + ")";
      what += std::string(", ") + TaskStateName(u->state);
    } else if (GroupOfTaskId(up) != GroupOfTaskId(t.id)) {
      what += ", in another group";
    }
    open.push_back(what);
  }
  if (open.empty()) return "waiting on its upstreams";
  std::string out = "waiting on " + open[0];
  if (open.size() > 1) out += " and " + std::to_string(open.size() - 1) + " more upstream(s)";
  return out;
}

std::string LabelWords(const std::map<std::string, std::string>& labels) {
  std::string out;
  for (const auto& [k, v] : labels) out += (out.empty() ? "" : ", ") + k + "=" + v;
  return out;
}

std::string WhyReadyWaits(const TaskTable& table, const Task& t, const PendingContext& ctx) {
  if (t.not_before_ms > ctx.now_ms) {
    return "backing off after " + std::to_string(t.failed_attempts) + " failed attempt(s): ready again in " +
           Seconds(t.not_before_ms - ctx.now_ms);
  }
  int32_t matching_slots = 0;
  int32_t matching_free = 0;
  size_t matching_nodes = 0;
  int32_t largest = 0;
  for (const auto& m : ctx.live) {
    if (!LabelsMatch(m.load.labels, t.spec.labels)) continue;
    ++matching_nodes;
    matching_slots += m.load.slots;
    matching_free += std::max(0, m.load.slots - m.load.running);
    largest = std::max(largest, m.load.slots);
  }
  if (matching_nodes == 0) {
    return "no live node has label(s) " + LabelWords(t.spec.labels);
  }
  if (largest < t.spec.slots) {
    return "needs " + std::to_string(t.spec.slots) + " slots; the largest live node that matches has " +
           std::to_string(largest);
  }
  size_t higher = 0;
  size_t ahead = 0;
  size_t scanned = 0;
  table.ForEachReady(ctx.now_ms, [&](const Task& r) {
    if (r.id == t.id || ++scanned > kMaxReadyScanned) return false;
    if (r.spec.priority > t.spec.priority) ++higher;
    ++ahead;
    return true;
  });
  std::string slots = std::to_string(matching_slots - matching_free) + " of " + std::to_string(matching_slots) +
                      " matching slots in use";
  if (higher > 0) {
    return "behind " + std::to_string(higher) + " task(s) of higher priority (" + slots + ")";
  }
  if (ahead > 0) return "behind " + std::to_string(ahead) + " older task(s) of its priority (" + slots + ")";
  if (matching_free == 0) return "next to run: all matching slots are busy (" + slots + ")";
  return "next to run: being granted (" + slots + ")";
}

}  // namespace

std::string PendingReason(const TaskTable& table, const Task& t, const PendingContext& ctx) {
  switch (t.state) {
    case TaskState::kPending:
      return WaitingOnUpstreams(table, t);
    case TaskState::kReady:
      return WhyReadyWaits(table, t, ctx);
    case TaskState::kAssigned: {
      const Attempt* a = t.current_attempt();
      std::string who = ctx.holder_address.empty() ? (a ? a->node : "?") : ctx.holder_address;
      return "held by node " + who + ", not started yet" +
             (a && a->granted_ms > 0 ? " (granted " + Seconds(std::max<int64_t>(0, ctx.now_ms - a->granted_ms)) + " ago)" : "");
    }
    case TaskState::kWaiting:
      return "its process succeeded; waiting on " + std::to_string(t.children_open) + " child task(s)";
    default:
      return "";
  }
}

}  // namespace magpie
