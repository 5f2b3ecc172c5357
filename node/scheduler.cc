#include "node/scheduler.h"

namespace magpie {

bool LabelsMatch(const std::map<std::string, std::string>& node_labels,
                 const std::map<std::string, std::string>& required) {
  for (const auto& [k, v] : required) {
    auto it = node_labels.find(k);
    if (it == node_labels.end() || it->second != v) return false;
  }
  return true;
}

std::vector<Pick> PickTasks(const TaskTable& table, int64_t now_ms, int32_t free_slots,
                            const std::map<std::string, std::string>& node_labels,
                            const std::map<std::string, int32_t>& granting, size_t max_scan) {
  std::vector<Pick> picks;
  if (free_slots <= 0) return picks;
  size_t scanned = 0;
  table.ForEachReady(now_ms, [&](const Task& t) {
    if (++scanned > max_scan) return false;
    if (granting.count(t.id) != 0) return true;
    if (t.spec.slots > free_slots) return true;  // a smaller one further down may still fit
    if (!LabelsMatch(node_labels, t.spec.labels)) return true;
    uint32_t last = t.attempts.empty() ? 0 : t.attempts.back().number;
    picks.push_back(Pick{t.id, last + 1, t.spec.slots});
    free_slots -= t.spec.slots;
    return free_slots > 0;
  });
  return picks;
}

}  // namespace magpie
