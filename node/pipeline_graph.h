// The `after` graph of tasks that refer to each other by name, as in a pipeline file:
// checked before anything is sent, and ordered for `submit --dry-run`.
#ifndef MAGPIE_TOOLS_PIPELINE_GRAPH_H_
#define MAGPIE_TOOLS_PIPELINE_GRAPH_H_

#include <cstddef>
#include <string>
#include <vector>

#include "base/status.h"
#include "node/task.h"

namespace magpie {

// InvalidArgument pointing at a place in a file: "<source>:<line>: msg", "line <line>: msg"
// without a source, "<source>: msg" without a line (line <= 0).
Status PipelineError(const std::string& source, int line, const std::string& msg);

// Names unique and non-empty, every `after` names a task in the list, no cycles. A cycle
// is named in the error: "cycle in 'after': a -> b -> c -> a" (each task waits on the
// next). lines[i], when given, is task i's line in `source`, for the message.
Status CheckPipelineGraph(const std::vector<TaskSpec>& tasks, const std::vector<int>& lines = {},
                          const std::string& source = "");

// Indices of tasks in an order where every task comes after the tasks it waits on, ties
// kept in list order. Names in `after` that are not in the list are ignored.
// REQUIRES: no cycles (CheckPipelineGraph(tasks).ok()).
std::vector<size_t> TopologicalOrder(const std::vector<TaskSpec>& tasks);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_PIPELINE_GRAPH_H_
