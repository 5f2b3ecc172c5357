// Memory of a process the benchmark started, from /proc/<pid>/status (Linux): its resident
// set now (VmRSS) and its peak since start or since the last ResetPeakRss (VmHWM).
#ifndef MAGPIE_TOOLS_BENCH_NODE_MEMORY_H_
#define MAGPIE_TOOLS_BENCH_NODE_MEMORY_H_

#include <sys/types.h>

#include "base/status.h"

namespace magpie {

// A field of /proc/<pid>/status in kB, e.g. "VmRSS" or "VmHWM".
Result<long> ProcStatusKb(pid_t pid, const char* field);

// Sets VmHWM back to the current VmRSS (writes 5 to /proc/<pid>/clear_refs; Linux >= 4.0,
// needs the right to write there: the process's owner or root).
Status ResetPeakRss(pid_t pid);

}  // namespace magpie

#endif  // MAGPIE_TOOLS_BENCH_NODE_MEMORY_H_
