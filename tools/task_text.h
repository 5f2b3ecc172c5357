// Human output of the CLI: aligned tables for `list` and `members`, "key: value" lines for
// `status`. Everything takes `now_ms` so ages print the same in tests every time.
#ifndef MAGPIE_TOOLS_TASK_TEXT_H_
#define MAGPIE_TOOLS_TASK_TEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "node/client_protocol.h"
#include "node/task.h"

namespace magpie {

// Rows of cells as columns separated by two spaces; the last column is not padded. The
// first row is usually the header.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows);

// An argv as a person would type it: words with spaces or quotes are single-quoted.
std::string FormatCommand(const std::vector<std::string>& argv);

// One line per attempt: "#2  node n1  started ...  ended ...  failed  exit 1".
std::string FormatAttempt(const Attempt& attempt);

// "40% parsing" (prefixed with the id if asked), or "" when the task has said nothing.
std::string ProgressText(const Task& t, bool with_id);

// `magpie status`: every field, one "key: value" line each, then the output tails.
// pending_reason: why the task does not run (the node's word), shown when not empty.
std::string RenderTaskDetails(const Task& task, int64_t now_ms, const std::string& pending_reason = "");

// `magpie list`: ID NAME STATE PRI ATTEMPTS AGE COMMAND.
std::string RenderTaskTable(const std::vector<Task>& tasks, int64_t now_ms);

// `magpie members`: ID ADDRESS STATE INC SLOTS RUNNING READY STOLEN GIVEN HEARD LABELS.
std::string RenderMemberTable(const std::vector<MemberInfo>& members);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_TASK_TEXT_H_
