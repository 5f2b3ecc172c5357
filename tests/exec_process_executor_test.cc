// ProcessExecutor against real processes: exit codes, output files and tails, environment,
// cwd, start failures, whole-group kills, built-ins, and exactly one event per attempt.
// Waits are bounded polls on wake_fd, the way the node's driver uses it.
#include "node/process_executor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace magpie {
namespace {

using Kind = ExecutorEvent::Kind;
using std::chrono::milliseconds;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True once `pid` no longer runs. The test process is a child subreaper (see SetUp), so an
// orphaned grandchild is reparented to it and reaped here rather than left a zombie.
bool WaitGone(pid_t pid, milliseconds max_wait) {
  auto give_up = std::chrono::steady_clock::now() + max_wait;
  for (int i = 0; i < 100000 && std::chrono::steady_clock::now() < give_up; ++i) {
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return false;
}

class ProcessExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char tmpl[] = "/tmp/magpie-exec-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    logger_ = std::make_shared<spdlog::logger>("exec-test", sink);
    logger_->set_level(spdlog::level::warn);
    MakeExecutor(true);
  }

  void TearDown() override {
    executor_.reset();
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }

  void MakeExecutor(bool use_pidfd) {
    executor_.reset();
    ProcessExecutorOptions options;
    options.output_dir = dir_ + "/out";
    options.node_address = "127.0.0.1:7400";
    options.use_pidfd = use_pidfd;
    executor_ = std::make_unique<ProcessExecutor>(options, logger_, &clock_);
  }

  StartProcess Command(std::string task_id, std::vector<std::string> command,
                       uint32_t attempt = 1) {
    StartProcess start;
    start.task_id = std::move(task_id);
    start.attempt = attempt;
    start.spec.command = std::move(command);
    start.magpie_env["MAGPIE_TASK_ID"] = start.task_id;
    start.magpie_env["MAGPIE_ATTEMPT"] = std::to_string(attempt);
    start.magpie_env["MAGPIE_NODE_ID"] = "node-a";
    return start;
  }

  // Drives the executor like the node's loop: wait on wake_fd until NextDeadline, then Poll,
  // until `count` events arrived or `max_wait` passed.
  std::vector<ExecutorEvent> WaitForEvents(size_t count,
                                           milliseconds max_wait = milliseconds(10000)) {
    std::vector<ExecutorEvent> events;
    auto give_up = std::chrono::steady_clock::now() + max_wait;
    for (int i = 0; i < 100000 && events.size() < count; ++i) {
      auto now = std::chrono::steady_clock::now();
      if (now >= give_up) break;
      int64_t timeout_ms = std::chrono::duration_cast<milliseconds>(give_up - now).count() + 1;
      Instant next = executor_->NextDeadline();
      if (next != Instant::Never()) {
        timeout_ms =
            std::min<int64_t>(timeout_ms, std::max<int64_t>(0, (next - clock_.Now()).millis() + 1));
      }
      struct pollfd pfd = {executor_->wake_fd(), POLLIN, 0};
      poll(&pfd, 1, static_cast<int>(timeout_ms));
      for (auto& e : executor_->Poll(clock_.Now())) events.push_back(std::move(e));
    }
    return events;
  }

  ExecutorEvent RunOne(const StartProcess& start) {
    executor_->Start(start, clock_.Now());
    auto events = WaitForEvents(1);
    EXPECT_EQ(events.size(), 1u);
    return events.empty() ? ExecutorEvent{} : events[0];
  }

  std::string dir_;
  std::shared_ptr<spdlog::logger> logger_;
  RealClock clock_;
  std::unique_ptr<ProcessExecutor> executor_;
};

TEST_F(ProcessExecutorTest, ExitCodesAndOutputTailsAreReported) {
  struct Case {
    std::string script;
    int exit_code;
  };
  for (const Case& c :
       {Case{"echo out; echo err >&2; exit 0", 0}, Case{"echo out; echo err >&2; exit 3", 3}}) {
    SCOPED_TRACE(c.script);
    ExecutorEvent e = RunOne(Command("g1-" + std::to_string(c.exit_code), {"sh", "-c", c.script}));
    EXPECT_EQ(e.kind, Kind::kExited);
    EXPECT_EQ(e.exit_code, c.exit_code);
    EXPECT_EQ(e.signal, 0);
    EXPECT_EQ(e.stdout_tail, "out\n");
    EXPECT_EQ(e.stderr_tail, "err\n");
  }
  EXPECT_EQ(executor_->running(), 0u);
}

TEST_F(ProcessExecutorTest, OutputFilesHoldFullOutputAndTailsHoldTheEnd) {
  ExecutorEvent e = RunOne(Command("g1-7", {"sh", "-c", "seq 1 20000; seq 5 30000 >&2"}, 2));
  ASSERT_EQ(e.kind, Kind::kExited);
  EXPECT_EQ(e.exit_code, 0);
  std::string out = ReadFile(dir_ + "/out/g1-7/2.out");
  std::string err = ReadFile(dir_ + "/out/g1-7/2.err");
  std::string expected_out;
  for (int i = 1; i <= 20000; ++i) expected_out += std::to_string(i) + "\n";
  std::string expected_err;
  for (int i = 5; i <= 30000; ++i) expected_err += std::to_string(i) + "\n";
  EXPECT_EQ(out, expected_out);
  EXPECT_EQ(err, expected_err);
  EXPECT_EQ(e.stdout_tail, expected_out.substr(expected_out.size() - kMaxOutputTailBytes));
  EXPECT_EQ(e.stderr_tail, expected_err.substr(expected_err.size() - kMaxOutputTailBytes));
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/out/g1-7").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST_F(ProcessExecutorTest, EnvironmentHasNodeSpecAndMagpieVariables) {
  setenv("MAGPIE_TEST_INHERITED", "from-node", 1);
  StartProcess start =
      Command("g2-1",
              {"sh", "-c",
               "echo \"$MAGPIE_TASK_ID|$MAGPIE_ATTEMPT|$MAGPIE_NODE_ID|$MAGPIE_NODE|"
               "$FOO|$MAGPIE_TEST_INHERITED\""},
              4);
  start.spec.env["FOO"] = "bar baz";
  start.spec.env["MAGPIE_TASK_ID"] = "spoofed";  // magpie's own variables win
  ExecutorEvent e = RunOne(start);
  unsetenv("MAGPIE_TEST_INHERITED");
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.stdout_tail, "g2-1|4|node-a|127.0.0.1:7400|bar baz|from-node\n");
}

TEST_F(ProcessExecutorTest, SpecPathIsUsedToFindTheProgram) {
  std::string bin = dir_ + "/bin";
  ASSERT_EQ(mkdir(bin.c_str(), 0755), 0);
  std::ofstream(bin + "/magpie-hello") << "#!/bin/sh\necho hello from path\n";
  ASSERT_EQ(chmod((bin + "/magpie-hello").c_str(), 0755), 0);
  StartProcess start = Command("g2-2", {"magpie-hello"});
  start.spec.env["PATH"] = bin + ":/usr/bin:/bin";
  ExecutorEvent e = RunOne(start);
  EXPECT_EQ(e.kind, Kind::kExited);
  EXPECT_EQ(e.stdout_tail, "hello from path\n");
}

TEST_F(ProcessExecutorTest, TasksInheritNoSignalStateDescriptorsOrRaisedLimits) {
  // What a node typically does to itself, none of which a task should see.
  signal(SIGPIPE, SIG_IGN);
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, nullptr);
  int leaked = open("/dev/null", O_RDONLY);  // no O_CLOEXEC
  ASSERT_GE(leaked, 3);
  struct rlimit original;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  struct rlimit lowered = original;
  lowered.rlim_cur = std::min<rlim_t>(original.rlim_max, 512);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &lowered), 0);
  MakeExecutor(true);  // raises the soft limit for its pidfds

  // The task process itself reads its status (through a shell, the numbers would be the
  // shell's, which blocks signals while it spawns the reader).
  ExecutorEvent signals =
      RunOne(Command("g3-2", {"grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"}));
  ExecutorEvent rest =
      RunOne(Command("g3-3", {"sh", "-c",
                              "ulimit -n; test -e /proc/$$/fd/" + std::to_string(leaked) +
                                  " && echo leaked || echo no-leak"}));
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_UNBLOCK, &usr1, nullptr);
  close(leaked);
  EXPECT_EQ(signals.stdout_tail, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  EXPECT_EQ(rest.stdout_tail, std::to_string(lowered.rlim_cur) + "\nno-leak\n");
  setrlimit(RLIMIT_NOFILE, &original);
}

TEST_F(ProcessExecutorTest, CwdIsHonored) {
  std::string work = dir_ + "/work";
  ASSERT_EQ(mkdir(work.c_str(), 0755), 0);
  StartProcess start = Command("g3-1", {"pwd", "-P"});
  start.spec.cwd = work;
  ExecutorEvent e = RunOne(start);
  char real[4096];
  ASSERT_NE(realpath(work.c_str(), real), nullptr);
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_EQ(e.stdout_tail, std::string(real) + "\n");
}

TEST_F(ProcessExecutorTest, StartFailuresAreEventsWithClearMessages) {
  std::string plain = dir_ + "/not-executable";
  std::ofstream(plain) << "echo hi\n";
  struct Case {
    std::vector<std::string> command;
    std::string cwd;
    std::string error;
  };
  const Case cases[] = {
      {{"magpie-no-such-program"},
       "",
       "cannot run 'magpie-no-such-program': No such file or directory"},
      {{"/nonexistent/prog", "x"}, "", "cannot run '/nonexistent/prog': No such file or directory"},
      {{plain}, "", "cannot run '" + plain + "': Permission denied"},
      {{"true"},
       "/nonexistent-dir",
       "cannot run 'true': working directory '/nonexistent-dir': No such file or directory"},
      {{"@bogus"},
       "",
       "unknown built-in task kind '@bogus' (built-ins are @noop, @sleep SECONDS, @fail)"},
      {{"@sleep", "soon"}, "", "@sleep needs a number of seconds between 0 and a year, not 'soon'"},
      {{"@noop", "x"}, "", "@noop takes no arguments"},
      {{}, "", "command is empty: nothing to run"},
  };
  uint32_t attempt = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    StartProcess start = Command("g4-1", c.command, ++attempt);
    start.spec.cwd = c.cwd;
    ExecutorEvent e = RunOne(start);
    EXPECT_EQ(e.kind, Kind::kStartFailed);
    EXPECT_EQ(e.task_id, "g4-1");
    EXPECT_EQ(e.attempt, attempt);
    EXPECT_EQ(e.error, c.error);
  }
  EXPECT_EQ(executor_->running(), 0u);
}

TEST_F(ProcessExecutorTest, KillEndsTheWholeProcessGroup) {
  std::string pidfile = dir_ + "/grandchild.pid";
  executor_->Start(
      Command("g5-1", {"sh", "-c", "sleep 100 & echo $! > " + pidfile + "; sleep 100"}),
      clock_.Now());
  pid_t grandchild = 0;
  for (int i = 0; i < 2500 && grandchild == 0; ++i) {
    std::string text = ReadFile(pidfile);
    if (!text.empty() && text.back() == '\n') grandchild = std::stoi(text);
    if (grandchild == 0) std::this_thread::sleep_for(milliseconds(2));
  }
  ASSERT_GT(grandchild, 0) << "the script never wrote its background pid";
  ASSERT_EQ(kill(grandchild, 0), 0);
  EXPECT_TRUE(WaitForEvents(1, milliseconds(100)).empty()) << "nothing has exited yet";

  executor_->Kill(KillProcess{"g5-1", 1, Outcome::kCancelled});
  auto events = WaitForEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kExited);
  EXPECT_EQ(events[0].signal, SIGKILL);
  EXPECT_EQ(events[0].exit_code, -1);
  EXPECT_TRUE(WaitGone(grandchild, milliseconds(5000))) << "the background sleep survived the kill";
}

TEST_F(ProcessExecutorTest, LeftoversInTheGroupDieWhenTheTaskExits) {
  std::string pidfile = dir_ + "/leftover.pid";
  ExecutorEvent e =
      RunOne(Command("g5-2", {"sh", "-c", "sleep 100 & echo $! > " + pidfile + "; exit 0"}));
  EXPECT_EQ(e.exit_code, 0);
  pid_t leftover = std::stoi(ReadFile(pidfile));
  EXPECT_TRUE(WaitGone(leftover, milliseconds(5000)))
      << "a background process outlived its attempt";
}

TEST_F(ProcessExecutorTest, ExactlyOneEventPerAttemptEvenWhenKilledTwice) {
  executor_->Start(Command("g6-1", {"sleep", "100"}), clock_.Now());
  EXPECT_EQ(executor_->running(), 1u);
  executor_->Kill(KillProcess{"g6-1", 1, Outcome::kCancelled});
  executor_->Kill(KillProcess{"g6-1", 1, Outcome::kLost});
  auto events = WaitForEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].signal, SIGKILL);
  executor_->Kill(KillProcess{"g6-1", 1, Outcome::kCancelled});  // after the exit: a no-op
  EXPECT_TRUE(WaitForEvents(1, milliseconds(150)).empty());
  EXPECT_EQ(executor_->running(), 0u);
}

TEST_F(ProcessExecutorTest, SecondStartOfARunningAttemptIsIgnored) {
  executor_->Start(Command("g6-2", {"sleep", "100"}), clock_.Now());
  executor_->Start(Command("g6-2", {"sleep", "100"}), clock_.Now());
  EXPECT_EQ(executor_->running(), 1u);
  executor_->Kill(KillProcess{"g6-2", 1, Outcome::kCancelled});
  EXPECT_EQ(WaitForEvents(2, milliseconds(500)).size(), 1u);
}

TEST_F(ProcessExecutorTest, BuiltinsNeedNoProcessAndFollowTheGivenTime) {
  Instant t0 = Instant::FromMicros(1'000'000'000);
  executor_->Start(Command("g7-1", {"@noop"}), t0);
  executor_->Start(Command("g7-2", {"@fail"}), t0);
  executor_->Start(Command("g7-3", {"@sleep", "0.05"}), t0);
  EXPECT_EQ(executor_->NextDeadline(), t0 + Duration::Millis(50));
  struct pollfd pfd = {executor_->wake_fd(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 1) << "queued events make wake_fd readable";

  auto events = executor_->Poll(t0);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].task_id, "g7-1");
  EXPECT_EQ(events[0].exit_code, 0);
  EXPECT_EQ(events[1].task_id, "g7-2");
  EXPECT_EQ(events[1].exit_code, 1);
  EXPECT_EQ(poll(&pfd, 1, 0), 0) << "Poll consumed what made wake_fd readable";
  EXPECT_EQ(executor_->running(), 1u);

  EXPECT_TRUE(executor_->Poll(t0 + Duration::Millis(49)).empty());
  events = executor_->Poll(t0 + Duration::Millis(50));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].task_id, "g7-3");
  EXPECT_EQ(events[0].kind, Kind::kExited);
  EXPECT_EQ(events[0].exit_code, 0);
  EXPECT_EQ(executor_->NextDeadline(), Instant::Never());
  EXPECT_EQ(executor_->running(), 0u);
}

TEST_F(ProcessExecutorTest, KilledSleepBuiltinEndsAtOnceWithSignal9) {
  Instant t0 = Instant::FromMicros(1'000'000'000);
  executor_->Start(Command("g7-4", {"@sleep", "30"}), t0);
  executor_->Kill(KillProcess{"g7-4", 1, Outcome::kTimedOut});
  executor_->Kill(KillProcess{"g7-4", 1, Outcome::kTimedOut});
  EXPECT_EQ(executor_->NextDeadline(), Instant::Never());
  auto events = executor_->Poll(t0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].signal, 9);
  EXPECT_EQ(events[0].exit_code, -1);
  EXPECT_TRUE(executor_->Poll(t0 + Duration::Seconds(60)).empty());
}

TEST_F(ProcessExecutorTest, KillAllEndsProcessesAndBuiltins) {
  executor_->Start(Command("g8-1", {"sleep", "100"}), clock_.Now());
  executor_->Start(Command("g8-2", {"@sleep", "100"}), clock_.Now());
  executor_->KillAll();
  auto events = WaitForEvents(2);
  ASSERT_EQ(events.size(), 2u);
  for (const auto& e : events) EXPECT_EQ(e.signal, 9) << e.task_id;
}

TEST_F(ProcessExecutorTest, ExitsAreFoundByScanningWithoutPidfds) {
  MakeExecutor(false);
  Instant before = clock_.Now();
  executor_->Start(Command("g9-1", {"sh", "-c", "echo scanned; exit 7"}), before);
  EXPECT_NE(executor_->NextDeadline(), Instant::Never()) << "a scan is due while a process runs";
  auto events = WaitForEvents(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].exit_code, 7);
  EXPECT_EQ(events[0].stdout_tail, "scanned\n");
  EXPECT_EQ(executor_->NextDeadline(), Instant::Never());
}

TEST_F(ProcessExecutorTest, ManyShortProcessesEachReportOnce) {
  constexpr int kCount = 400;
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i)
    executor_->Start(Command("g10-" + std::to_string(i), {"true"}), clock_.Now());
  auto events = WaitForEvents(kCount, milliseconds(30000));
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  RecordProperty("spawns_per_second", std::to_string(static_cast<int>(kCount / seconds)));
  ASSERT_EQ(events.size(), static_cast<size_t>(kCount));
  std::set<std::string> ids;
  for (const auto& e : events) {
    EXPECT_EQ(e.exit_code, 0) << e.task_id << " " << e.error;
    ids.insert(e.task_id);
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCount));
}

}  // namespace
}  // namespace magpie
