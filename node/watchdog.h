// The watchdog: a small process outside the node that kills task process groups when the
// node cannot (DESIGN §4, "Leases and fencing"). The node hands it each attempt's kill
// deadline; it kills the group (SIGKILL to -pgid) at the last deadline it heard of, and
// kills every group it knows at once when the node's end of the socket closes — which is
// how it learns that the node died, even by SIGKILL. A SIGSTOPped node cannot stop it.
//
// While alive the watchdog holds an exclusive flock on a file in the node's data dir and
// lets go only after it has killed everything, so a restarting node calls
// WaitForPrevious() to be sure no attempt of its previous life still runs.
#ifndef MAGPIE_NODE_WATCHDOG_H_
#define MAGPIE_NODE_WATCHDOG_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "base/status.h"

namespace magpie {

class Watchdog {
 public:
  // How many groups the watchdog process tracks at once. A node runs at most its slot count
  // of real processes, far below this. The process has no way to grow or to complain, so
  // a Watch beyond it kills that group at once: failing safe beats leaving it unguarded.
  static constexpr int kMaxGroups = 1 << 16;

  // Forks the watchdog process and takes the flock on `lock_path` for it (the file is
  // created if missing, and holds the watchdog's pid as text for diagnostics).
  // Busy when another watchdog still holds the lock: call WaitForPrevious first.
  //
  // REQUIRES: the calling process is single-threaded (call it first thing in main, before
  // RocksDB, ZeroMQ or any thread exists): the child runs on without exec.
  // `logger` (default: spdlog's default logger) reports a watchdog that went away.
  static Result<std::unique_ptr<Watchdog>> Spawn(const std::string& lock_path,
                                                 std::shared_ptr<spdlog::logger> logger = nullptr);

  // Takes and releases the flock on `lock_path`, polling for up to `max_wait`: Ok means no
  // watchdog of an earlier node life holds it, so every attempt of that life is dead.
  // Blocks the caller (it is for start-up).
  static Status WaitForPrevious(const std::string& lock_path, std::chrono::milliseconds max_wait);

  // Closes the socket, which makes the watchdog kill every group it still knows and exit,
  // and reaps it (waiting at most about a second).
  ~Watchdog();

  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Starts guarding process group `pgid`: it is killed at `deadline` (CLOCK_MONOTONIC, which
  // is steady_clock on Linux); time_point::max() means only when the node dies.
  void Watch(int pgid, std::chrono::steady_clock::time_point deadline);
  // Moves the deadline of a group being watched; a no-op for a group it does not know.
  void Extend(int pgid, std::chrono::steady_clock::time_point deadline);
  // Stops guarding `pgid` (its leader was reaped). Send it before the pid can be reused.
  void Forget(int pgid);

  // Sends what could not be sent yet because the socket was full. Watch/Extend/Forget call
  // it too; the executor calls it on every Poll. Returns true when nothing is left queued.
  bool Flush();

  pid_t pid() const { return pid_; }
  // False once the watchdog process is known to be gone: a send failed, or CheckAlive saw
  // its end of the socket close.
  bool alive() const { return alive_; }
  // Looks at the socket without blocking: the watchdog never writes after its start, so
  // anything readable is its end closing (it died). Call it when the socket polls
  // readable (socket_fd()); returns alive().
  bool CheckAlive();
  // For the driver's poll: readable (end of file) when the watchdog dies.
  int socket_fd() const { return socket_fd_; }

 private:
  // One fixed-size record on the wire; several ride in one SOCK_SEQPACKET datagram.
  struct Message {
    uint32_t op;
    int32_t pgid;
    int64_t deadline_ns;  // CLOCK_MONOTONIC; INT64_MAX: no deadline
  };
  static_assert(sizeof(Message) == 16);

  // Bound on messages queued while the socket is full; beyond it they are dropped and
  // counted (the watchdog would have to be stuck for that to happen).
  static constexpr size_t kMaxQueued = 1 << 20;

  Watchdog(pid_t pid, int socket_fd, std::shared_ptr<spdlog::logger> logger);

  void Send(uint32_t op, int pgid, std::chrono::steady_clock::time_point deadline);
  void MarkGone(const char* why);

  pid_t pid_;
  int socket_fd_;
  std::shared_ptr<spdlog::logger> logger_;
  bool alive_ = true;
  std::vector<Message> queued_;  // not yet sent, oldest first
  size_t dropped_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_WATCHDOG_H_
