// What the core asks the executor to do, and what the executor reports back. Plain data,
// so the same core runs real processes (process_executor.h) or simulated ones.
#ifndef MAGPIE_NODE_EFFECTS_H_
#define MAGPIE_NODE_EFFECTS_H_

#include <cstdint>
#include <string>

#include "base/time.h"
#include "node/task.h"

namespace magpie {

// Start attempt `attempt` of a task. The driver must report exactly one kExited for it
// (or kStartFailed), whatever happens to the process.
struct StartProcess {
  std::string task_id;
  uint32_t attempt = 0;
  TaskSpec spec;
  // Environment the task must see in addition to spec.env.
  std::map<std::string, std::string> magpie_env;  // MAGPIE_TASK_ID, MAGPIE_ATTEMPT, ...
  // The process must be dead by this instant on the node's clock, node alive or not
  // (the watchdog enforces it). Never() when no lease applies.
  Instant kill_deadline = Instant::Never();
};

// Kill the whole process group of an attempt. A kill of an attempt that already exited is
// a no-op; the executor still reports the exit it saw (once).
struct KillProcess {
  std::string task_id;
  uint32_t attempt = 0;
  Outcome why = Outcome::kCancelled;  // kTimedOut, kCancelled or kLost
};

// Moves an attempt's watchdog deadline (lease renewed).
struct ExtendDeadline {
  std::string task_id;
  uint32_t attempt = 0;
  Instant kill_deadline;
};

struct ExecutorEvent {
  // kNotStarted: the driver did not start it because its lease had run out by the time it
  // could (the node was read-only, or its write slow): the attempt is lost, not failed.
  enum class Kind : uint8_t { kExited = 0, kStartFailed = 1, kNotStarted = 2 };
  Kind kind = Kind::kExited;
  std::string task_id;
  uint32_t attempt = 0;
  int32_t exit_code = -1;  // when it exited normally
  int32_t signal = 0;      // when a signal ended it
  std::string error;       // kStartFailed, kNotStarted: why it did not start ("no such file: foo")
  std::string stdout_tail;  // last kMaxOutputTailBytes of each stream
  std::string stderr_tail;
  int64_t stdout_bytes = -1;  // each stream's size when the process ended (-1: not known)
  int64_t stderr_bytes = -1;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_EFFECTS_H_
