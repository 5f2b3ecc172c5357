// The production executor: one real subprocess per task attempt (DESIGN §3), plus the
// built-in kinds (@noop, @fail, @sleep S) that fork nothing. It runs on the node's event-loop
// thread and never blocks: Start spawns and returns, exits are collected by Poll when
// wake_fd() turns readable.
//
// Each process runs in its own process group, with SIGKILL as its parent-death signal,
// stdin from /dev/null and stdout/stderr in <output_dir>/<task_id>/<attempt>.out/.err.
// Kill, and the watchdog, end the whole group. When a task's main process exits, whatever
// it left running in its group is killed too, so nothing outlives the attempt.
#ifndef MAGPIE_NODE_PROCESS_EXECUTOR_H_
#define MAGPIE_NODE_PROCESS_EXECUTOR_H_

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/time.h"
#include "node/effects.h"
#include "node/real_clock.h"
#include "node/watchdog.h"

namespace magpie {

struct ProcessExecutorOptions {
  // <output_dir>/<task_id>/<attempt>.out and .err hold each attempt's full output.
  std::string output_dir;
  // The node's client address, given to tasks as MAGPIE_NODE unless the StartProcess's
  // magpie_env already says it.
  std::string node_address;
  // Told every group's kill deadline; may be null (tests).
  Watchdog* watchdog = nullptr;
  // Learn of exits through a pidfd per process (Linux >= 5.3). False, or a kernel without
  // pidfds: check every running process each kScanInterval instead.
  bool use_pidfd = true;
};

class ProcessExecutor {
 public:
  // How often exits are looked for when pidfds are not available.
  static constexpr Duration kScanInterval = Duration::Millis(10);

  // `clock` converts kill deadlines for the watchdog; it and options.watchdog must outlive
  // this executor. The thread that calls Start must live as long as the processes it
  // starts should: PR_SET_PDEATHSIG fires when the *thread* that forked a child exits.
  // Raises the process's soft RLIMIT_NOFILE to its hard limit (a pidfd per running task);
  // tasks still start with the limit the node was given.
  ProcessExecutor(ProcessExecutorOptions options, std::shared_ptr<spdlog::logger> logger,
                  const RealClock* clock);
  // Kills every process still running and reaps what it can within about a second.
  ~ProcessExecutor();

  ProcessExecutor(const ProcessExecutor&) = delete;
  ProcessExecutor& operator=(const ProcessExecutor&) = delete;

  // Starts an attempt. Never throws and never reports directly: a failure to start (no
  // such program, bad cwd, fork failure) is a kStartFailed event from the next Poll, with
  // a message a user can act on. A second Start of an attempt still running is ignored.
  void Start(const StartProcess& start, Instant now);
  // SIGKILLs the attempt's whole process group. Idempotent; a no-op once its exit was seen.
  void Kill(const KillProcess& kill);
  // Forwards the attempt's new kill deadline to the watchdog.
  void Extend(const ExtendDeadline& extend);

  // Readable (POLLIN) when Poll has something to report: a child exited, or an event was
  // queued by Start, Kill or KillAll (a start failure, @noop, @fail, a killed built-in).
  // Level-triggered: it stays readable until Poll consumes what made it so. An epoll fd.
  int wake_fd() const { return epoll_fd_; }
  // Exits and start failures since the last call, and built-ins due by `now`. Exactly one
  // event per started attempt, ever.
  std::vector<ExecutorEvent> Poll(Instant now);
  // When Poll next has something that wake_fd does not announce: the earliest @sleep end,
  // or the next exit scan when pidfds are unavailable. Instant::Never() if nothing.
  Instant NextDeadline() const;
  // Processes and built-ins running (started, exit not yet seen).
  size_t running() const { return children_.size() + builtins_.size(); }
  // SIGKILLs every group and ends every built-in (on shutdown). Exits follow from Poll.
  void KillAll();

 private:
  using AttemptKey = std::pair<std::string, uint32_t>;

  struct Child {
    pid_t pid = -1;  // also the process group id
    int pidfd = -1;
    std::string out_path;  // relative to output_dir_fd_
    std::string err_path;
    bool killed = false;
  };
  struct Builtin {
    int32_t exit_code = 0;
    Instant due;
  };

  void StartBuiltin(const StartProcess& start, Instant now);
  void StartChild(const StartProcess& start);
  // Makes <output_dir>/<task_id>, and the output directory again if it was removed.
  bool MakeTaskDir(const std::string& task_id);
  void FailStart(const StartProcess& start, std::string error);
  void Report(ExecutorEvent event);
  // Reaps `pid` if it exited, turning it into an event. Returns false if it still runs.
  bool TryReap(pid_t pid);
  std::chrono::steady_clock::time_point ToSteady(Instant deadline) const;

  const ProcessExecutorOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  const RealClock* const clock_;
  int epoll_fd_ = -1;
  int event_fd_ = -1;  // in epoll_fd_: signalled while ready_ is not empty
  bool event_signalled_ = false;
  int devnull_fd_ = -1;
  int output_dir_fd_ = -1;  // options_.output_dir (O_PATH); output files are opened below it
  bool use_pidfd_;
  bool raised_nofile_ = false;
  struct rlimit original_nofile_ = {};  // RLIMIT_NOFILE as the node was started
  size_t children_without_pidfd_ = 0;
  Instant last_poll_;
  std::vector<char> child_stack_;  // the vfork-style child runs on this until it execs

  std::map<AttemptKey, Child> children_;
  std::map<pid_t, AttemptKey> by_pid_;
  std::map<AttemptKey, Builtin> builtins_;
  std::set<std::pair<Instant, AttemptKey>> sleeping_;  // builtins by due time
  std::vector<ExecutorEvent> ready_;                   // reported by the next Poll
};

}  // namespace magpie

#endif  // MAGPIE_NODE_PROCESS_EXECUTOR_H_
