// One committed log entry in words, for trace-level logs: "#12 grant 1a2b3c4d-7 attempt 2
// to 1a2b3c4d5e6f7a8b". Replaying a seed with --log-level trace and grepping a task id
// gives that task's whole committed history.
#ifndef MAGPIE_SIMULATIONS_ENTRY_WORDS_H_
#define MAGPIE_SIMULATIONS_ENTRY_WORDS_H_

#include <string>

#include "node/log_entry.h"

namespace magpie {

std::string DescribeEntry(const Entry& e);

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_ENTRY_WORDS_H_
