#include "node/process_executor.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>

extern char** environ;

namespace magpie {

namespace {

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SYS_close_range
#define SYS_close_range 436  // the same number on every Linux architecture
#endif

// Where the child was when it failed, for the message.
enum class ChildStage : int { kSetup = 1, kChdir = 2, kExec = 3 };

// Everything the child needs, built before the clone: between clone and exec the child
// shares the node's memory while other node threads (RocksDB) run, so it may only make
// async-signal-safe calls — no malloc, no locks.
struct SpawnArgs {
  char* const* argv;
  char* const* envp;
  const char* const* candidates;  // paths to try, in order, as execvp would
  size_t candidate_count;
  const char* cwd;                     // null: stay in the node's
  const struct rlimit* nofile;         // the descriptor limit to give back to the task, or null
  int stdin_fd, stdout_fd, stderr_fd;  // all >= 3, so the dup2s below cannot collide
  pid_t parent_pid;
  // Written by the child, read by the parent once clone returns (CLONE_VFORK holds the
  // parent until the child execs or exits, so this is the "exec failed" channel: a
  // CLOEXEC pipe without the pipe).
  int error;
  ChildStage stage;
};

[[noreturn]] void ChildFail(SpawnArgs* a, ChildStage stage) {
  a->error = errno;
  a->stage = stage;
  _exit(127);
}

int ChildMain(void* arg) {
  auto* a = static_cast<SpawnArgs*>(arg);
  // The node's handlers must never run here (this child shares the node's memory), and a
  // task must start with default dispositions: an ignored SIGPIPE would survive exec and
  // change how the task's pipelines end. All signals stay blocked until just before exec.
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &sa, nullptr);

  if (setpgid(0, 0) != 0) ChildFail(a, ChildStage::kSetup);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) ChildFail(a, ChildStage::kSetup);
  // The node may have died before the line above took effect: then nobody would kill us.
  if (getppid() != a->parent_pid) _exit(127);

  if (dup2(a->stdin_fd, 0) < 0 || dup2(a->stdout_fd, 1) < 0 || dup2(a->stderr_fd, 2) < 0) {
    ChildFail(a, ChildStage::kSetup);
  }
  if (a->cwd != nullptr && chdir(a->cwd) != 0) ChildFail(a, ChildStage::kChdir);
  // The node raised its own soft limit for pidfds; tasks get the limit the node was given.
  if (a->nofile != nullptr) setrlimit(RLIMIT_NOFILE, a->nofile);
  // Leak none of the node's descriptors (sockets, RocksDB files, the watchdog socket —
  // which must close when the node dies) even if one lacks O_CLOEXEC. Kernels before 5.9
  // lack close_range; O_CLOEXEC covers them.
  syscall(SYS_close_range, 3u, ~0u, 0u);

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  // execvp's search rules: skip candidates that do not exist, remember EACCES, stop at
  // any other error.
  bool saw_eacces = false;
  int err = ENOENT;
  for (size_t i = 0; i < a->candidate_count; ++i) {
    execve(a->candidates[i], a->argv, a->envp);
    err = errno;
    if (err == EACCES) {
      saw_eacces = true;
      continue;
    }
    if (err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV || err == ETIMEDOUT)
      continue;
    break;
  }
  errno = (saw_eacces && (err == ENOENT || err == ENOTDIR)) ? EACCES : err;
  ChildFail(a, ChildStage::kExec);
}

// Output and /dev/null descriptors sit at 3 or above so the child's dup2 onto 0..2 never
// overwrites one it still needs (a daemonized node may have closed its own 0..2).
int AboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

bool MakeDirs(const std::string& path) {
  if (path.empty()) return false;
  if (mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return true;
  if (errno != ENOENT) return false;
  size_t slash = path.find_last_of('/', path.size() - 1);
  if (slash == std::string::npos || slash == 0) return false;
  if (!MakeDirs(path.substr(0, slash))) return false;
  return mkdir(path.c_str(), 0755) == 0 || errno == EEXIST;
}

// The last `max_bytes` of a file (`path` relative to `dir_fd`): what a user reads first
// when a task fails. *size: the file's size (-1 when it cannot be read).
std::string ReadTail(int dir_fd, const std::string& path, size_t max_bytes, int64_t* size_out) {
  *size_out = -1;
  int fd = openat(dir_fd, path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string tail;
  struct stat st;
  if (fstat(fd, &st) == 0) *size_out = st.st_size;
  if (*size_out > 0) {
    size_t size = static_cast<size_t>(st.st_size);
    size_t want = std::min(size, max_bytes);
    tail.resize(want);
    ssize_t n = pread(fd, tail.data(), want, static_cast<off_t>(size - want));
    tail.resize(n > 0 ? static_cast<size_t>(n) : 0);
  }
  close(fd);
  return tail;
}

int OpenOutputDir(const std::string& path) {
  return AboveStdio(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

bool ValidTaskIdForPath(const std::string& id) {
  return !id.empty() && id != "." && id != ".." && id.find('/') == std::string::npos &&
         id.find('\0') == std::string::npos;
}

// The task's environment: the node's, then the spec's, then magpie's own variables, later
// ones winning. The node's entries are not copied: envp points into environ, which nothing
// changes while the node runs, and only the overriding entries are built (in *owned, in
// name order, after the node's). Sets *path to the PATH it holds, if any.
std::vector<char*> TaskEnvironment(const StartProcess& start, const std::string& node_address,
                                   std::vector<std::string>* owned,
                                   std::optional<std::string_view>* path) {
  std::map<std::string_view, std::string_view> overrides;
  for (const auto& [k, v] : start.spec.env) overrides[k] = v;
  if (!node_address.empty()) overrides["MAGPIE_NODE"] = node_address;
  for (const auto& [k, v] : start.magpie_env) overrides[k] = v;
  std::vector<char*> envp;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = entry.substr(0, eq);
    if (overrides.count(name) != 0) continue;
    if (name == "PATH") *path = entry.substr(eq + 1);
    envp.push_back(*e);
  }
  owned->reserve(overrides.size());
  for (const auto& [k, v] : overrides) {
    std::string& entry = owned->emplace_back();
    entry.reserve(k.size() + 1 + v.size());
    entry.append(k).append(1, '=').append(v);
    if (k == "PATH") *path = v;
  }
  for (auto& entry : *owned) envp.push_back(entry.data());
  envp.push_back(nullptr);
  return envp;
}

// Paths execvp would try for `program`, searching the task's own PATH.
std::vector<std::string> ExecCandidates(const std::string& program,
                                        const std::optional<std::string_view>& path_var) {
  if (program.find('/') != std::string::npos) return {program};
  // glibc's default when PATH is unset.
  std::string_view path = path_var.value_or("/bin:/usr/bin");
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= path.size() && out.size() < 1024; ++i) {
    if (i < path.size() && path[i] != ':') continue;
    std::string_view dir = path.substr(start, i - start);
    std::string& candidate = out.emplace_back(dir.empty() ? std::string_view(".") : dir);
    candidate.append(1, '/').append(program);
    start = i + 1;
  }
  return out;
}

}  // namespace

ProcessExecutor::ProcessExecutor(ProcessExecutorOptions options,
                                 std::shared_ptr<spdlog::logger> logger, const RealClock* clock)
    : options_(std::move(options)),
      logger_(std::move(logger)),
      clock_(clock),
      use_pidfd_(options_.use_pidfd),
      child_stack_(64 * 1024) {
  MAGPIE_CHECK(options_.watchdog == nullptr || clock_ != nullptr,
               "a ProcessExecutor with a watchdog needs a clock to convert deadlines");
  MAGPIE_CHECK(!options_.output_dir.empty(), "a ProcessExecutor needs an output directory");
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  devnull_fd_ = AboveStdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
  MAGPIE_CHECK(epoll_fd_ >= 0 && event_fd_ >= 0 && devnull_fd_ >= 0,
               std::string("cannot set up the process executor: ") + strerror(errno));
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // no child has pid 0
  MAGPIE_CHECK(epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, event_fd_, &ev) == 0, strerror(errno));
  if (!MakeDirs(options_.output_dir)) {
    logger_->error("cannot create output directory {}: {}", options_.output_dir, strerror(errno));
  } else {
    output_dir_fd_ = OpenOutputDir(options_.output_dir);
  }
  // A pidfd per running process counts against the descriptor limit, and the soft limit is
  // often a historical 1024: take what the hard limit allows.
  struct rlimit rl;
  if (use_pidfd_ && getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    original_nofile_ = rl;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) raised_nofile_ = true;
  }
}

ProcessExecutor::~ProcessExecutor() {
  KillAll();
  // SIGKILLed processes die at once unless stuck in the kernel; do not wait for those.
  for (int i = 0; i < 500 && !children_.empty(); ++i) {
    std::vector<pid_t> pids;
    for (const auto& [pid, key] : by_pid_) pids.push_back(pid);
    for (pid_t pid : pids) TryReap(pid);
    if (!children_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!children_.empty()) {
    logger_->warn("{} killed task processes had not exited when the executor shut down",
                  children_.size());
  }
  for (auto& [key, child] : children_) {
    if (child.pidfd >= 0) close(child.pidfd);
  }
  if (output_dir_fd_ >= 0) close(output_dir_fd_);
  close(devnull_fd_);
  close(event_fd_);
  close(epoll_fd_);
}

void ProcessExecutor::Start(const StartProcess& start, Instant now) {
  AttemptKey key{start.task_id, start.attempt};
  if (children_.count(key) != 0 || builtins_.count(key) != 0) {
    logger_->error("task {} attempt {} is already running; ignoring a second start", start.task_id,
                   start.attempt);
    return;
  }
  const auto& command = start.spec.command;
  if (command.empty() || command[0].empty()) {
    FailStart(start, "command is empty: nothing to run");
  } else if (command[0][0] == '@') {
    StartBuiltin(start, now);
  } else {
    StartChild(start);
  }
}

void ProcessExecutor::StartBuiltin(const StartProcess& start, Instant now) {
  const auto& command = start.spec.command;
  const std::string& kind = command[0];
  if ((kind == "@noop" || kind == "@fail") && command.size() == 1) {
    ExecutorEvent event;
    event.task_id = start.task_id;
    event.attempt = start.attempt;
    event.exit_code = kind == "@noop" ? 0 : 1;
    Report(std::move(event));
    return;
  }
  if (kind == "@sleep" && command.size() == 2) {
    char* end = nullptr;
    double seconds = std::strtod(command[1].c_str(), &end);
    if (end != command[1].c_str() && *end == '\0' && seconds >= 0 && seconds <= 86400.0 * 365) {
      Instant due = now + Duration::Micros(std::llround(seconds * 1e6));
      AttemptKey key{start.task_id, start.attempt};
      builtins_[key] = Builtin{0, due};
      sleeping_.insert({due, key});
      return;
    }
    FailStart(start,
              "@sleep needs a number of seconds between 0 and a year, not '" + command[1] + "'");
    return;
  }
  if (kind == "@noop" || kind == "@fail") {
    FailStart(start, kind + " takes no arguments");
  } else if (kind == "@sleep") {
    FailStart(start, "@sleep takes one argument: seconds, e.g. @sleep 0.5");
  } else {
    FailStart(start, "unknown built-in task kind '" + kind +
                         "' (built-ins are @noop, @sleep SECONDS, @fail)");
  }
}

void ProcessExecutor::StartChild(const StartProcess& start) {
  const TaskSpec& spec = start.spec;
  const std::string& program = spec.command[0];
  if (!ValidTaskIdForPath(start.task_id)) {
    FailStart(start, "task id '" + start.task_id + "' cannot name an output directory");
    return;
  }
  // Paths below output_dir_fd_: the kernel walks two components per file, not the whole
  // data-dir path.
  if (!MakeTaskDir(start.task_id)) {
    FailStart(start, "cannot create output directory " + options_.output_dir + "/" +
                         start.task_id + ": " + strerror(errno));
    return;
  }
  std::string attempt_path = start.task_id + "/" + std::to_string(start.attempt);
  std::string out_path = attempt_path + ".out";
  std::string err_path = attempt_path + ".err";
  int out_fd = AboveStdio(
      openat(output_dir_fd_, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (out_fd < 0) {
    FailStart(start, "cannot create output file " + options_.output_dir + "/" + out_path + ": " +
                         strerror(errno));
    return;
  }
  int err_fd = AboveStdio(
      openat(output_dir_fd_, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (err_fd < 0) {
    FailStart(start, "cannot create output file " + options_.output_dir + "/" + err_path + ": " +
                         strerror(errno));
    close(out_fd);
    return;
  }

  std::optional<std::string_view> path_var;
  std::vector<std::string> owned_env;
  std::vector<char*> envp = TaskEnvironment(start, options_.node_address, &owned_env, &path_var);
  std::vector<char*> argv;
  argv.reserve(spec.command.size() + 1);
  for (const auto& a : spec.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> candidates = ExecCandidates(program, path_var);
  std::vector<const char*> candidate_ptrs;
  for (const auto& c : candidates) candidate_ptrs.push_back(c.c_str());

  SpawnArgs args = {.argv = argv.data(),
                    .envp = envp.data(),
                    .candidates = candidate_ptrs.data(),
                    .candidate_count = candidate_ptrs.size(),
                    .cwd = spec.cwd.empty() ? nullptr : spec.cwd.c_str(),
                    .nofile = raised_nofile_ ? &original_nofile_ : nullptr,
                    .stdin_fd = devnull_fd_,
                    .stdout_fd = out_fd,
                    .stderr_fd = err_fd,
                    .parent_pid = getpid(),
                    .error = 0,
                    .stage = ChildStage::kSetup};

  // clone(CLONE_VM | CLONE_VFORK), as posix_spawn does: no page tables to copy however big
  // the node is, which is what makes thousands of spawns a second affordable. Signals are
  // blocked around it so no handler of the node's runs in the child on the shared memory.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  char* stack_top = child_stack_.data() + child_stack_.size();
  stack_top = reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(stack_top) & ~uintptr_t{15});
  int pidfd = -1;
  int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
  pid_t pid = clone(ChildMain, stack_top, flags | (use_pidfd_ ? CLONE_PIDFD : 0), &args, &pidfd,
                    nullptr, nullptr);
  if (pid < 0 && use_pidfd_ && errno == EINVAL) {
    // A kernel before 5.2: fall back to scanning for exits.
    logger_->warn("this kernel has no pidfds (CLONE_PIDFD); checking for task exits every {} ms",
                  kScanInterval.millis());
    use_pidfd_ = false;
    pidfd = -1;
    pid = clone(ChildMain, stack_top, flags, &args, nullptr, nullptr, nullptr);
  }
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(out_fd);
  close(err_fd);

  if (pid < 0) {
    FailStart(start, "cannot start '" + program + "': " + strerror(clone_errno));
    return;
  }
  if (args.error != 0) {
    // The child has exited (that is what let clone return); reap it now.
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (pidfd >= 0) close(pidfd);
    std::string why = strerror(args.error);
    switch (args.stage) {
      case ChildStage::kChdir:
        FailStart(start,
                  "cannot run '" + program + "': working directory '" + spec.cwd + "': " + why);
        break;
      case ChildStage::kExec:
        if (args.error == ENOEXEC) why += " (a script needs a #! line)";
        FailStart(start, "cannot run '" + program + "': " + why);
        break;
      case ChildStage::kSetup:
        FailStart(start, "cannot set up a process for '" + program + "': " + why);
        break;
    }
    return;
  }

  AttemptKey key{start.task_id, start.attempt};
  Child& child = children_[key];
  child.pid = pid;
  child.pidfd = pidfd;
  child.out_path = std::move(out_path);
  child.err_path = std::move(err_path);
  by_pid_[pid] = key;
  if (pidfd >= 0) {
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<uint64_t>(pid);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, pidfd, &ev) != 0) {
      logger_->warn("cannot watch pidfd of pid {}: {}; scanning for its exit", pid,
                    strerror(errno));
      close(pidfd);
      child.pidfd = -1;
    }
  }
  if (child.pidfd < 0) ++children_without_pidfd_;
  if (options_.watchdog != nullptr) options_.watchdog->Watch(pid, ToSteady(start.kill_deadline));
  logger_->debug("started task {} attempt {}: pid {} ({})", start.task_id, start.attempt, pid,
                 program);
}

bool ProcessExecutor::MakeTaskDir(const std::string& task_id) {
  if (output_dir_fd_ >= 0) {
    if (mkdirat(output_dir_fd_, task_id.c_str(), 0755) == 0 || errno == EEXIST) return true;
    if (errno != ENOENT) return false;
  }
  // The output directory was never made, or was removed under the node: make it again.
  if (!MakeDirs(options_.output_dir)) return false;
  int fd = OpenOutputDir(options_.output_dir);
  if (fd < 0) return false;
  if (output_dir_fd_ >= 0) close(output_dir_fd_);
  output_dir_fd_ = fd;
  return mkdirat(output_dir_fd_, task_id.c_str(), 0755) == 0 || errno == EEXIST;
}

void ProcessExecutor::FailStart(const StartProcess& start, std::string error) {
  logger_->warn("task {} attempt {} could not start: {}", start.task_id, start.attempt, error);
  ExecutorEvent event;
  event.kind = ExecutorEvent::Kind::kStartFailed;
  event.task_id = start.task_id;
  event.attempt = start.attempt;
  event.error = std::move(error);
  Report(std::move(event));
}

void ProcessExecutor::Report(ExecutorEvent event) {
  ready_.push_back(std::move(event));
  if (!event_signalled_) {
    uint64_t one = 1;
    if (write(event_fd_, &one, sizeof(one)) == sizeof(one)) event_signalled_ = true;
  }
}

void ProcessExecutor::Kill(const KillProcess& kill) {
  AttemptKey key{kill.task_id, kill.attempt};
  if (auto it = children_.find(key); it != children_.end()) {
    Child& child = it->second;
    if (!child.killed) {
      logger_->info("killing task {} attempt {} (pid {}): {}", kill.task_id, kill.attempt,
                    child.pid, OutcomeName(kill.why));
    }
    // The leader is not reaped until Poll, so the group id cannot have been reused.
    if (::kill(-child.pid, SIGKILL) != 0 && errno == ESRCH) ::kill(child.pid, SIGKILL);
    child.killed = true;
    return;
  }
  if (auto it = builtins_.find(key); it != builtins_.end()) {
    sleeping_.erase({it->second.due, key});
    builtins_.erase(it);
    ExecutorEvent event;
    event.task_id = kill.task_id;
    event.attempt = kill.attempt;
    event.exit_code = -1;
    event.signal = SIGKILL;
    Report(std::move(event));
    return;
  }
  logger_->debug("kill of task {} attempt {}: not running (already exited)", kill.task_id,
                 kill.attempt);
}

void ProcessExecutor::Extend(const ExtendDeadline& extend) {
  auto it = children_.find({extend.task_id, extend.attempt});
  if (it == children_.end() || options_.watchdog == nullptr) return;
  options_.watchdog->Extend(it->second.pid, ToSteady(extend.kill_deadline));
}

void ProcessExecutor::KillAll() {
  for (auto& [key, child] : children_) {
    if (::kill(-child.pid, SIGKILL) != 0 && errno == ESRCH) ::kill(child.pid, SIGKILL);
    child.killed = true;
  }
  std::vector<AttemptKey> builtins;
  for (const auto& [key, b] : builtins_) builtins.push_back(key);
  for (const auto& key : builtins) Kill(KillProcess{key.first, key.second, Outcome::kLost});
}

std::vector<ExecutorEvent> ProcessExecutor::Poll(Instant now) {
  last_poll_ = now;
  if (options_.watchdog != nullptr) options_.watchdog->Flush();
  if (event_signalled_) {
    uint64_t count;
    while (read(event_fd_, &count, sizeof(count)) < 0 && errno == EINTR) {
    }
    event_signalled_ = false;
  }

  struct epoll_event events[64];
  size_t max_rounds = children_.size() / 64 + 2;
  for (size_t round = 0; round < max_rounds; ++round) {
    int n = epoll_wait(epoll_fd_, events, 64, 0);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 != 0) TryReap(static_cast<pid_t>(events[i].data.u64));
    }
    if (n < 64) break;
  }
  if (children_without_pidfd_ > 0) {
    std::vector<pid_t> scan;
    for (const auto& [key, child] : children_) {
      if (child.pidfd < 0) scan.push_back(child.pid);
    }
    for (pid_t pid : scan) TryReap(pid);
  }

  while (!sleeping_.empty() && sleeping_.begin()->first <= now) {
    AttemptKey key = sleeping_.begin()->second;
    sleeping_.erase(sleeping_.begin());
    ExecutorEvent event;
    event.task_id = key.first;
    event.attempt = key.second;
    event.exit_code = builtins_[key].exit_code;
    builtins_.erase(key);
    ready_.push_back(std::move(event));
  }

  std::vector<ExecutorEvent> out;
  out.swap(ready_);
  return out;
}

bool ProcessExecutor::TryReap(pid_t pid) {
  auto by_pid = by_pid_.find(pid);
  if (by_pid == by_pid_.end()) return true;
  AttemptKey key = by_pid->second;
  Child& child = children_.at(key);

  // Look without reaping: while the leader is a zombie its pid, and so its group id, cannot
  // be reused, which makes this the moment to clear out the rest of the group.
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  ExecutorEvent event;
  event.task_id = key.first;
  event.attempt = key.second;
  if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    if (errno == EINTR) return false;
    // ECHILD: someone else reaped our child (a waitpid(-1) elsewhere in the process). The
    // exit status is lost, but the attempt must still end exactly once: call it killed.
    logger_->error("task {} attempt {} (pid {}) was reaped by someone else: {}", key.first,
                   key.second, pid, strerror(errno));
    event.signal = SIGKILL;
  } else {
    if (info.si_pid == 0) return false;  // still running
    ::kill(-pid, SIGKILL);               // anything the task left running in its group dies with it
    if (options_.watchdog != nullptr) options_.watchdog->Forget(pid);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (info.si_code == CLD_EXITED) {
      event.exit_code = info.si_status;
    } else {
      event.signal = info.si_status;  // CLD_KILLED or CLD_DUMPED
    }
  }
  event.stdout_tail = ReadTail(output_dir_fd_, child.out_path, kMaxOutputTailBytes, &event.stdout_bytes);
  event.stderr_tail = ReadTail(output_dir_fd_, child.err_path, kMaxOutputTailBytes, &event.stderr_bytes);
  logger_->debug("task {} attempt {} (pid {}) ended: exit {} signal {}", key.first, key.second, pid,
                 event.exit_code, event.signal);
  if (child.pidfd >= 0) {
    close(child.pidfd);  // also leaves the epoll set
  } else {
    --children_without_pidfd_;
  }
  by_pid_.erase(by_pid);
  children_.erase(key);
  ready_.push_back(std::move(event));
  return true;
}

Instant ProcessExecutor::NextDeadline() const {
  Instant next = sleeping_.empty() ? Instant::Never() : sleeping_.begin()->first;
  if (children_without_pidfd_ > 0) next = std::min(next, last_poll_ + kScanInterval);
  return next;
}

std::chrono::steady_clock::time_point ProcessExecutor::ToSteady(Instant deadline) const {
  if (deadline >= Instant::Never()) return std::chrono::steady_clock::time_point::max();
  return clock_->ToSteady(deadline);
}

}  // namespace magpie
