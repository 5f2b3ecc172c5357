#include "node/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <thread>

namespace magpie {

namespace {

constexpr uint32_t kOpWatch = 1;
constexpr uint32_t kOpExtend = 2;
constexpr uint32_t kOpForget = 3;
constexpr int64_t kNeverNs = std::numeric_limits<int64_t>::max();
// Records per datagram: a whole loop turn of a busy node usually fits in one.
constexpr size_t kRecordsPerDatagram = 256;
// After the node is gone: how long the watchdog re-checks that the groups it killed have
// vanished before it lets go of the lock. A group whose members are zombies nobody reaps
// still answers kill(-pgid, 0); this bound keeps such a group from holding the lock forever.
constexpr int64_t kConfirmDeadNs = 200'000'000;

// How long Spawn waits for the watchdog to say it is set up (it takes microseconds).
constexpr std::chrono::milliseconds kReadyTimeout(5000);
// After reading a batch, the watchdog sleeps this long (never past its next deadline)
// before it reads again, instead of waiting in ppoll for the next message. A busy node
// sends a Watch per process started and a Forget per process reaped; each send that finds
// the watchdog waiting in ppoll wakes it, and on a 2-core machine that wakeup preempted the
// node for every task (about a tenth of the node's CPU in W2, docs/BENCHMARKS.md "W2
// profile"). A send that finds nobody waiting just queues in the socket, which the kernel
// holds even if the node then freezes or dies, so this delays reading by at most the window
// and loses nothing. Deadlines are still met on time: the sleep ends at the next one.
constexpr int64_t kBatchWindowNs = 2'000'000;

#ifndef SYS_close_range
#define SYS_close_range 436  // the same number on every Linux architecture
#endif

int64_t ToNs(std::chrono::steady_clock::time_point t) {
  if (t == std::chrono::steady_clock::time_point::max()) return kNeverNs;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// ---------------------------------------------------------------------------------------
// The watchdog process. Everything below runs in the forked child, which never execs, so it
// uses raw system calls only: no malloc, no locks, no C++ library state (DESIGN §4). Memory
// for its tables is mapped by the parent before fork.

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepNs(int64_t ns) {
  struct timespec ts = {static_cast<time_t>(ns / 1'000'000'000),
                        static_cast<long>(ns % 1'000'000'000)};
  nanosleep(&ts, nullptr);
}

// The groups the watchdog guards: a min-heap by deadline (the next kill is at the top) and
// an open-addressing hash from pgid to heap position, both of fixed size.
struct WatchTable {
  static constexpr int kHashSize = 2 * Watchdog::kMaxGroups;  // a power of two, half full at most

  struct Entry {
    int64_t deadline_ns;
    int32_t pgid;
  };

  int32_t keys[kHashSize];       // pgid, 0 = empty
  int32_t positions[kHashSize];  // heap index of keys[i]
  Entry heap[Watchdog::kMaxGroups];
  int32_t size;

  static int Home(int32_t pgid) {
    return static_cast<int>((static_cast<uint32_t>(pgid) * 2654435761u) & (kHashSize - 1));
  }

  int FindSlot(int32_t pgid) const {
    for (int i = Home(pgid), probes = 0; probes < kHashSize;
         i = (i + 1) & (kHashSize - 1), ++probes) {
      if (keys[i] == pgid) return i;
      if (keys[i] == 0) return -1;
    }
    return -1;
  }

  void SetPosition(int32_t pgid, int32_t position) {
    int i = Home(pgid);
    while (keys[i] != 0 && keys[i] != pgid) i = (i + 1) & (kHashSize - 1);
    keys[i] = pgid;
    positions[i] = position;
  }

  // Linear probing with backward-shift deletion: no tombstones to pile up over the
  // watchdog's lifetime.
  void EraseSlot(int i) {
    keys[i] = 0;
    for (int j = (i + 1) & (kHashSize - 1); keys[j] != 0; j = (j + 1) & (kHashSize - 1)) {
      int home = Home(keys[j]);
      // keys[j] may move into the hole at i when i lies cyclically in [home, j).
      bool movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        keys[i] = keys[j];
        positions[i] = positions[j];
        keys[j] = 0;
        i = j;
      }
    }
  }

  void Place(int32_t index, Entry e) {
    heap[index] = e;
    SetPosition(e.pgid, index);
  }

  void SiftUp(int32_t index) {
    Entry e = heap[index];
    while (index > 0) {
      int32_t parent = (index - 1) / 2;
      if (heap[parent].deadline_ns <= e.deadline_ns) break;
      Place(index, heap[parent]);
      index = parent;
    }
    Place(index, e);
  }

  void SiftDown(int32_t index) {
    Entry e = heap[index];
    for (;;) {
      int32_t child = 2 * index + 1;
      if (child >= size) break;
      if (child + 1 < size && heap[child + 1].deadline_ns < heap[child].deadline_ns) ++child;
      if (heap[child].deadline_ns >= e.deadline_ns) break;
      Place(index, heap[child]);
      index = child;
    }
    Place(index, e);
  }

  void RemoveAt(int32_t index) {
    EraseSlot(FindSlot(heap[index].pgid));
    --size;
    if (index == size) return;
    Place(index, heap[size]);
    SiftUp(index);
    SiftDown(index);
  }

  void Watch(int32_t pgid, int64_t deadline_ns) {
    int slot = FindSlot(pgid);
    if (slot >= 0) {
      Extend(pgid, deadline_ns);
      return;
    }
    if (size == Watchdog::kMaxGroups) {
      kill(-pgid, SIGKILL);
      return;
    }
    heap[size] = {deadline_ns, pgid};
    SetPosition(pgid, size);
    ++size;
    SiftUp(size - 1);
  }

  void Extend(int32_t pgid, int64_t deadline_ns) {
    int slot = FindSlot(pgid);
    if (slot < 0) return;
    int32_t index = positions[slot];
    heap[index].deadline_ns = deadline_ns;
    SiftUp(index);
    SiftDown(positions[FindSlot(pgid)]);
  }

  void Forget(int32_t pgid) {
    int slot = FindSlot(pgid);
    if (slot >= 0) RemoveAt(positions[slot]);
  }

  void KillDue(int64_t now_ns) {
    while (size > 0 && heap[0].deadline_ns <= now_ns) {
      kill(-heap[0].pgid, SIGKILL);
      RemoveAt(0);
    }
  }
};

void CloseAllExcept(int keep_a, int keep_b, long max_fd) {
  int lo = keep_a < keep_b ? keep_a : keep_b;
  int hi = keep_a < keep_b ? keep_b : keep_a;
  int ranges[3][2] = {{3, lo - 1}, {lo + 1, hi - 1}, {hi + 1, -1}};
  for (auto& r : ranges) {
    unsigned first = static_cast<unsigned>(r[0]);
    unsigned last = r[1] < 0 ? ~0u : static_cast<unsigned>(r[1]);
    if (r[1] >= 0 && r[1] < r[0]) continue;
    if (syscall(SYS_close_range, first, last, 0) == 0) continue;
    // Kernels before 5.9: close one by one up to the fd limit read before fork.
    unsigned end = last < static_cast<unsigned>(max_fd) ? last : static_cast<unsigned>(max_fd);
    for (unsigned fd = first; fd <= end && fd < static_cast<unsigned>(max_fd); ++fd)
      close(static_cast<int>(fd));
  }
}

[[noreturn]] void WatchdogMain(int sock, int lock_fd, int devnull, long max_fd, WatchTable* table) {
  // Outlive the node: a session of its own, so terminal signals aimed at the node's group
  // never arrive, and no parent-death signal.
  setsid();
  prctl(PR_SET_PDEATHSIG, 0);
  prctl(PR_SET_NAME, "magpie-watchdog", 0, 0, 0);

  // Handlers inherited from the node would run node code here: reset them all. The
  // watchdog ends when the socket reads EOF, not on a polite signal.
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &sa, nullptr);
  sa.sa_handler = SIG_IGN;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) sigaction(sig, &sa, nullptr);

  // Hold no terminal or pipe of the node's: a test harness waiting for EOF on the node's
  // stdout must not wait for the watchdog too.
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  CloseAllExcept(sock, lock_fd, max_fd);

  // Tell Spawn we are set up (and so immune to the signals above). Signals stayed blocked
  // since before the fork, so none could end us while we got here.
  char ready = 'r';
  send(sock, &ready, 1, MSG_NOSIGNAL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  alignas(8) char buf[kRecordsPerDatagram * 16];
  for (;;) {
    // Read what is queued before checking deadlines, so an Extend sent before a deadline
    // is honoured even if the watchdog was asleep when it arrived.
    bool eof = false;
    bool got = false;
    for (int batch = 0; batch < 64; ++batch) {
      ssize_t n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);
      if (n == 0) {
        eof = true;
        break;
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) eof = true;  // the node's end is broken
        break;
      }
      got = true;
      for (ssize_t off = 0; off + 16 <= n; off += 16) {
        uint32_t op;
        int32_t pgid;
        int64_t deadline_ns;
        memcpy(&op, buf + off, 4);
        memcpy(&pgid, buf + off + 4, 4);
        memcpy(&deadline_ns, buf + off + 8, 8);
        if (pgid <= 1) continue;  // kill(-1) would signal every process we may signal
        if (op == kOpWatch) table->Watch(pgid, deadline_ns);
        if (op == kOpExtend) table->Extend(pgid, deadline_ns);
        if (op == kOpForget) table->Forget(pgid);
      }
    }
    if (eof) break;

    int64_t now = MonotonicNs();
    table->KillDue(now);
    int64_t until_deadline = -1;  // -1: no deadline
    if (table->size > 0 && table->heap[0].deadline_ns != kNeverNs) {
      until_deadline = table->heap[0].deadline_ns - now;
    }

    if (got) {
      // Busy: let messages pile up in the socket for a moment, unwoken (kBatchWindowNs).
      int64_t nap = kBatchWindowNs;
      if (until_deadline >= 0 && until_deadline < nap) nap = until_deadline;
      if (nap > 0) SleepNs(nap);
      continue;
    }

    struct timespec wait;
    struct timespec* timeout = nullptr;
    if (until_deadline >= 0) {
      wait.tv_sec = static_cast<time_t>(until_deadline / 1'000'000'000);
      wait.tv_nsec = static_cast<long>(until_deadline % 1'000'000'000);
      timeout = &wait;
    }
    struct pollfd pfd = {sock, POLLIN, 0};
    int polled = ppoll(&pfd, 1, timeout, nullptr);
    if (polled < 0 && errno != EINTR) SleepNs(1'000'000);  // ENOMEM and the like: try again shortly
  }

  // The node is gone. Kill everything it ran, then make sure (within a bound) it is dead
  // before letting go of the lock that a restarting node waits on.
  for (int32_t i = 0; i < table->size; ++i) kill(-table->heap[i].pgid, SIGKILL);
  int64_t give_up = MonotonicNs() + kConfirmDeadNs;
  while (table->size > 0 && MonotonicNs() < give_up) {
    for (int32_t i = table->size - 1; i >= 0; --i) {
      int32_t pgid = table->heap[i].pgid;
      if (kill(-pgid, 0) < 0 && errno == ESRCH) {
        table->heap[i] = table->heap[--table->size];  // order no longer matters
      } else {
        kill(-pgid, SIGKILL);
      }
    }
    if (table->size > 0) SleepNs(2'000'000);
  }
  flock(lock_fd, LOCK_UN);
  _exit(0);
}

std::string ReadHolderPid(int fd) {
  char buf[32] = {};
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "unknown";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s.empty() ? "unknown" : s;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The node's side.

Result<std::unique_ptr<Watchdog>> Watchdog::Spawn(const std::string& lock_path,
                                                  std::shared_ptr<spdlog::logger> logger) {
  if (!logger) logger = spdlog::default_logger();
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return Status::IOError("cannot open watchdog lock file " + lock_path + ": " + strerror(errno));
  }
  // Taken here and inherited by the child, so a held lock is reported to the caller rather
  // than discovered by a process that cannot speak.
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder = ReadHolderPid(lock_fd);
    close(lock_fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy(
          "watchdog lock " + lock_path + " is held by pid " + holder +
          " (the watchdog of an earlier run, or another node on the same data dir); "
          "wait for it with Watchdog::WaitForPrevious");
    }
    return Status::IOError("cannot lock " + lock_path + ": " + strerror(err));
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    int err = errno;
    close(lock_fd);
    return Status::IOError(std::string("cannot create the watchdog socket: ") + strerror(err));
  }
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  void* table =
      mmap(nullptr, sizeof(WatchTable), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd <= 0 || max_fd > (1 << 20)) max_fd = 1 << 20;
  // Blocked across the fork so that a SIGTERM or Ctrl-C arriving now cannot end the child
  // before it has set itself to ignore them.
  sigset_t all, old_mask;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &old_mask);
  pid_t pid = (devnull >= 0 && table != MAP_FAILED) ? fork() : -1;
  if (pid == 0) WatchdogMain(sv[1], lock_fd, devnull, max_fd, static_cast<WatchTable*>(table));
  int err = errno;
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  close(sv[1]);
  if (devnull >= 0) close(devnull);
  if (table != MAP_FAILED) munmap(table, sizeof(WatchTable));
  if (pid < 0) {
    close(sv[0]);
    close(lock_fd);
    return Status::IOError(std::string("cannot start the watchdog process: ") + strerror(err));
  }
  // Return only once the watchdog is ready: alive, detached and deaf to polite signals.
  struct pollfd pfd = {sv[0], POLLIN, 0};
  char ready = 0;
  if (poll(&pfd, 1, static_cast<int>(kReadyTimeout.count())) != 1 ||
      recv(sv[0], &ready, 1, 0) != 1) {
    int status;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(sv[0]);
    close(lock_fd);
    return Status::IOError("the watchdog process (pid " + std::to_string(pid) +
                           ") did not start within " + std::to_string(kReadyTimeout.count()) +
                           " ms");
  }
  // The child holds the lock now; the pid in the file is for the humans reading errors.
  std::string text = std::to_string(pid) + "\n";
  if (ftruncate(lock_fd, 0) != 0 || pwrite(lock_fd, text.data(), text.size(), 0) < 0) {
    logger->warn("could not write the watchdog pid into {}: {}", lock_path, strerror(errno));
  }
  close(lock_fd);
  // Room for bursts of messages: sends never block, and what does not fit waits in queued_.
  int sndbuf = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  logger->info("watchdog started (pid {}, lock {})", pid, lock_path);
  return std::unique_ptr<Watchdog>(new Watchdog(pid, sv[0], std::move(logger)));
}

Status Watchdog::WaitForPrevious(const std::string& lock_path, std::chrono::milliseconds max_wait) {
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::IOError("cannot open watchdog lock file " + lock_path + ": " + strerror(errno));
  }
  auto give_up = std::chrono::steady_clock::now() + max_wait;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      flock(fd, LOCK_UN);
      close(fd);
      return Status::Ok();
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK) {
      close(fd);
      return Status::IOError("cannot lock " + lock_path + ": " + strerror(err));
    }
    if (std::chrono::steady_clock::now() >= give_up) {
      std::string holder = ReadHolderPid(fd);
      close(fd);
      return Status::Busy("after " + std::to_string(max_wait.count()) + " ms the watchdog (pid " +
                          holder + ") of an earlier run still holds " + lock_path +
                          ": processes of that run may still be alive");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Watchdog::Watchdog(pid_t pid, int socket_fd, std::shared_ptr<spdlog::logger> logger)
    : pid_(pid), socket_fd_(socket_fd), logger_(std::move(logger)) {}

Watchdog::~Watchdog() {
  Flush();
  close(socket_fd_);
  // The watchdog kills what it still knows and exits; it may spend up to kConfirmDeadNs
  // confirming the kills, so allow a little more than that.
  for (int i = 0; i < 400; ++i) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  logger_->warn("watchdog (pid {}) did not exit within 2 s of the node closing its socket", pid_);
}

void Watchdog::Watch(int pgid, std::chrono::steady_clock::time_point deadline) {
  Send(kOpWatch, pgid, deadline);
}

void Watchdog::Extend(int pgid, std::chrono::steady_clock::time_point deadline) {
  Send(kOpExtend, pgid, deadline);
}

void Watchdog::Forget(int pgid) {
  Send(kOpForget, pgid, std::chrono::steady_clock::time_point::max());
}

void Watchdog::Send(uint32_t op, int pgid, std::chrono::steady_clock::time_point deadline) {
  if (!alive_) return;
  if (queued_.size() >= kMaxQueued) {
    if (dropped_++ == 0) {
      logger_->error("watchdog (pid {}) is not reading its socket; dropping messages", pid_);
    }
    return;
  }
  queued_.push_back(Message{op, pgid, ToNs(deadline)});
  Flush();
}

bool Watchdog::Flush() {
  size_t sent = 0;
  while (alive_ && sent < queued_.size()) {
    size_t count = std::min(kRecordsPerDatagram, queued_.size() - sent);
    ssize_t n = send(socket_fd_, queued_.data() + sent, count * sizeof(Message),
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      sent += count;  // a datagram goes whole or not at all
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
    MarkGone(strerror(errno));
    return true;
  }
  queued_.erase(queued_.begin(), queued_.begin() + static_cast<ptrdiff_t>(sent));
  return queued_.empty();
}

bool Watchdog::CheckAlive() {
  if (!alive_) return false;
  char byte;
  ssize_t n = recv(socket_fd_, &byte, 1, MSG_DONTWAIT);
  if (n == 0) {
    MarkGone("its socket closed");
  } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    MarkGone(strerror(errno));
  }
  return alive_;
}

void Watchdog::MarkGone(const char* why) {
  alive_ = false;
  queued_.clear();
  logger_->critical("watchdog (pid {}) is gone ({}): nothing outside the node guards its task "
                    "processes any more",
                    pid_, why);
  int status;
  waitpid(pid_, &status, WNOHANG);
}

}  // namespace magpie
