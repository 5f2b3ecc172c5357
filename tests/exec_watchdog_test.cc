// The watchdog process against real process groups: it kills at deadlines, honours Extend
// and Forget, shrugs off polite signals, and kills everything when the node dies — even by
// SIGKILL — before releasing the lock a restarting node waits on. Also the executor handing
// it deadlines.
#include "node/watchdog.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "node/process_executor.h"

namespace magpie {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A `sleep 100` in its own process group, without a parent-death signal: only the watchdog
// (or the test) can end it.
pid_t SpawnSleepGroup() {
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execlp("sleep", "sleep", "100", static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid > 0) setpgid(pid, pid);  // also here, so the group exists before Watch arrives
  return pid;
}

// Waits (bounded) for our child `pid` to end; returns its wait status, -1 if it still runs,
// -2 if it is not (or no longer) ours to reap.
int WaitExit(pid_t pid, milliseconds max_wait) {
  auto give_up = steady_clock::now() + max_wait;
  for (int i = 0; i < 100000 && steady_clock::now() < give_up; ++i) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno == ECHILD) return -2;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return -1;
}

bool KilledBySigkill(int status) {
  return status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

class WatchdogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/magpie-watchdog-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    lock_path_ = dir_ + "/watchdog.lock";
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    logger_ = std::make_shared<spdlog::logger>("watchdog-test", sink);
    logger_->set_level(spdlog::level::warn);
  }

  void TearDown() override {
    for (pid_t pid : to_reap_) {
      kill(-pid, SIGKILL);
      WaitExit(pid, milliseconds(2000));
    }
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  std::unique_ptr<Watchdog> SpawnWatchdog() {
    auto result = Watchdog::Spawn(lock_path_, logger_);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    return result.ok() ? std::move(result).value() : nullptr;
  }

  pid_t Group() {
    pid_t pid = SpawnSleepGroup();
    to_reap_.push_back(pid);
    return pid;
  }

  std::string dir_;
  std::string lock_path_;
  std::shared_ptr<spdlog::logger> logger_;
  std::vector<pid_t> to_reap_;
};

TEST_F(WatchdogTest, KillsAGroupWhenItsDeadlinePasses) {
  auto watchdog = SpawnWatchdog();
  ASSERT_NE(watchdog, nullptr);
  // Polite signals do not end it: it exits only when the node's socket closes.
  kill(watchdog->pid(), SIGTERM);
  kill(watchdog->pid(), SIGINT);
  kill(watchdog->pid(), SIGHUP);

  pid_t pid = Group();
  auto start = steady_clock::now();
  watchdog->Watch(pid, start + milliseconds(100));
  int status = WaitExit(pid, milliseconds(5000));
  auto elapsed = steady_clock::now() - start;
  EXPECT_TRUE(KilledBySigkill(status)) << "status " << status;
  EXPECT_GE(elapsed, milliseconds(100)) << "killed before its deadline";
  EXPECT_EQ(kill(watchdog->pid(), 0), 0) << "the watchdog died of a polite signal";
}

TEST_F(WatchdogTest, NamesItselfAndHoldsTheLock) {
  auto watchdog = SpawnWatchdog();
  ASSERT_NE(watchdog, nullptr);
  std::ifstream comm("/proc/" + std::to_string(watchdog->pid()) + "/comm");
  std::string name;
  std::getline(comm, name);
  EXPECT_EQ(name, "magpie-watchdog");
  EXPECT_EQ(getsid(watchdog->pid()), watchdog->pid()) << "it has a session of its own";

  Status busy = Watchdog::WaitForPrevious(lock_path_, milliseconds(30));
  EXPECT_EQ(busy.code(), Status::Code::kBusy) << busy.ToString();
  EXPECT_NE(busy.message().find(std::to_string(watchdog->pid())), std::string::npos)
      << busy.message();
  auto second = Watchdog::Spawn(lock_path_, logger_);
  EXPECT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kBusy);

  watchdog.reset();
  EXPECT_TRUE(Watchdog::WaitForPrevious(lock_path_, milliseconds(2000)).ok());
}

TEST_F(WatchdogTest, ForgetPreventsTheKill) {
  auto watchdog = SpawnWatchdog();
  ASSERT_NE(watchdog, nullptr);
  pid_t forgotten = Group();
  pid_t other = Group();
  watchdog->Watch(forgotten, steady_clock::now() + milliseconds(50));
  watchdog->Watch(other, steady_clock::now() + milliseconds(60));
  watchdog->Forget(forgotten);
  EXPECT_TRUE(KilledBySigkill(WaitExit(other, milliseconds(5000))));
  EXPECT_EQ(WaitExit(forgotten, milliseconds(150)), -1) << "a forgotten group was killed";
}

TEST_F(WatchdogTest, ExtendMovesTheDeadline) {
  auto watchdog = SpawnWatchdog();
  ASSERT_NE(watchdog, nullptr);
  pid_t pid = Group();
  watchdog->Watch(pid, steady_clock::now() + milliseconds(50));
  watchdog->Extend(pid, steady_clock::now() + std::chrono::seconds(60));
  EXPECT_EQ(WaitExit(pid, milliseconds(200)), -1) << "killed at the deadline it replaced";
  watchdog->Extend(pid, steady_clock::now());
  EXPECT_TRUE(KilledBySigkill(WaitExit(pid, milliseconds(5000))));
}

TEST_F(WatchdogTest, ClosingTheSocketKillsEveryGroupItKnows) {
  auto watchdog = SpawnWatchdog();
  ASSERT_NE(watchdog, nullptr);
  pid_t a = Group();
  pid_t b = Group();
  watchdog->Watch(a, steady_clock::time_point::max());
  watchdog->Watch(b, steady_clock::now() + std::chrono::hours(1));
  watchdog.reset();
  EXPECT_TRUE(KilledBySigkill(WaitExit(a, milliseconds(5000))));
  EXPECT_TRUE(KilledBySigkill(WaitExit(b, milliseconds(5000))));
}

TEST_F(WatchdogTest, NodeKilledWithSigkillTakesItsGroupsDownAndFreesTheLock) {
  // Orphans (the sleep and the watchdog) are reparented to this process, which reaps them
  // and so learns exactly how they ended.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t node = fork();
  ASSERT_GE(node, 0);
  if (node == 0) {
    // The "node": a watchdog, one task group, then wait to be killed.
    close(fds[0]);
    auto spawned = Watchdog::Spawn(lock_path_, logger_);
    if (!spawned.ok()) _exit(1);
    pid_t task = SpawnSleepGroup();
    spawned.value()->Watch(task, steady_clock::time_point::max());
    pid_t pids[2] = {task, spawned.value()->pid()};
    if (write(fds[1], pids, sizeof(pids)) != sizeof(pids)) _exit(1);
    for (int i = 0; i < 600; ++i) sleep(1);
    _exit(0);
  }
  close(fds[1]);
  pid_t pids[2] = {0, 0};
  struct pollfd pfd = {fds[0], POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1);
  ASSERT_EQ(read(fds[0], pids, sizeof(pids)), static_cast<ssize_t>(sizeof(pids)));
  close(fds[0]);
  pid_t task = pids[0];
  pid_t watchdog = pids[1];
  EXPECT_EQ(Watchdog::WaitForPrevious(lock_path_, milliseconds(30)).code(), Status::Code::kBusy);
  ASSERT_EQ(kill(task, 0), 0) << "the task should run while its node lives";

  ASSERT_EQ(kill(node, SIGKILL), 0);
  EXPECT_GE(WaitExit(node, milliseconds(5000)), 0);
  EXPECT_TRUE(KilledBySigkill(WaitExit(task, milliseconds(5000)))) << "the task outlived its node";
  int watchdog_status = WaitExit(watchdog, milliseconds(5000));
  EXPECT_TRUE(watchdog_status >= 0 && WIFEXITED(watchdog_status) &&
              WEXITSTATUS(watchdog_status) == 0);
  EXPECT_TRUE(Watchdog::WaitForPrevious(lock_path_, milliseconds(5000)).ok());
}

TEST_F(WatchdogTest, SendingToADeadWatchdogDoesNotCrash) {
  auto watchdog = SpawnWatchdog();
  ASSERT_NE(watchdog, nullptr);
  ASSERT_EQ(kill(watchdog->pid(), SIGKILL), 0);
  for (int i = 0; i < 1000 && watchdog->alive(); ++i) {
    watchdog->Forget(12345);
    if (watchdog->alive()) std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_FALSE(watchdog->alive());
  watchdog->Watch(12345, steady_clock::now());
  EXPECT_TRUE(watchdog->Flush());
}

TEST_F(WatchdogTest, ExecutorHandsKillDeadlinesToTheWatchdog) {
  auto watchdog = SpawnWatchdog();
  ASSERT_NE(watchdog, nullptr);
  RealClock clock;
  ProcessExecutorOptions options;
  options.output_dir = dir_ + "/out";
  options.watchdog = watchdog.get();
  ProcessExecutor executor(options, logger_, &clock);

  auto start = [&](const std::string& id, Instant deadline) {
    StartProcess s;
    s.task_id = id;
    s.attempt = 1;
    s.spec.command = {"sleep", "100"};
    s.kill_deadline = deadline;
    executor.Start(s, clock.Now());
  };
  start("w1-1", clock.Now() + Duration::Millis(100));  // the node "freezes": the watchdog acts
  start("w1-2", clock.Now() + Duration::Millis(100));
  executor.Extend(ExtendDeadline{"w1-2", 1, clock.Now() + Duration::Seconds(60)});

  std::vector<ExecutorEvent> events;
  auto give_up = steady_clock::now() + milliseconds(5000);
  for (int i = 0; i < 10000 && events.empty() && steady_clock::now() < give_up; ++i) {
    struct pollfd pfd = {executor.wake_fd(), POLLIN, 0};
    poll(&pfd, 1, 50);
    events = executor.Poll(clock.Now());
  }
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].task_id, "w1-1");
  EXPECT_EQ(events[0].signal, SIGKILL);
  EXPECT_EQ(executor.running(), 1u) << "the extended attempt still runs";
  executor.Kill(KillProcess{"w1-2", 1, Outcome::kCancelled});
}

}  // namespace
}  // namespace magpie
