// Chooses which ready tasks this node takes next: the most urgent first (priority, then
// age), only what fits the free slots, only where the node has the labels a task requires.
#ifndef MAGPIE_NODE_SCHEDULER_H_
#define MAGPIE_NODE_SCHEDULER_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "node/task_table.h"

namespace magpie {

// True when the node's labels include every label the task requires, with the same value.
bool LabelsMatch(const std::map<std::string, std::string>& node_labels,
                 const std::map<std::string, std::string>& required);

struct Pick {
  std::string task_id;
  uint32_t attempt = 0;  // the fencing token the Grant will carry
  int32_t slots = 0;
};

// Visits at most max_scan ready tasks, so one turn of the loop stays bounded however long
// the queue. Tasks in `granting` already have a Grant on the way and are skipped.
std::vector<Pick> PickTasks(const TaskTable& table, int64_t now_ms, int32_t free_slots,
                            const std::map<std::string, std::string>& node_labels,
                            const std::map<std::string, int32_t>& granting, size_t max_scan);

}  // namespace magpie

#endif  // MAGPIE_NODE_SCHEDULER_H_
