// The driver loop that magpie-node, magpie-sim and the core tests share: what it does with a
// disk that refuses writes, a watchdog that dies and a graceful stop.
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>

#include "node/driver_loop.h"
#include "node/node_core.h"
#include "storage/memory_storage.h"

namespace magpie {
namespace {

class TestIo : public DriverIo {
 public:
  Instant Now() override { return clock; }
  Status Write(const WriteBatch& batch, bool sync, bool* pending) override {
    *pending = false;
    if (disk_full) return Status::IOError("No space left on device");
    return storage.Write(batch, sync);
  }
  Status ResumeDisk() override { return disk_full ? Status::IOError("still full") : Status::Ok(); }
  void Send(PeerMessage) override {}
  void Reply(const ReplyTo& to, const ReplyFrame& frame) override { replies.push_back(frame); }
  void Start(Instant, const StartProcess& sp) override { starts.push_back(sp); }
  void Kill(const KillProcess& k) override {
    events.push_back(ExecutorEvent{ExecutorEvent::Kind::kExited, k.task_id, k.attempt, -1, 9, "", "", ""});
  }
  void Extend(const ExtendDeadline&) override {}
  std::vector<ExecutorEvent> TakeExecutorEvents(Instant) override { return std::exchange(events, {}); }
  bool WatchdogAlive() override { return watchdog_alive; }

  Instant clock;  // what Now() reads: tests move it as a stall would
  MemoryStorage storage;
  bool disk_full = false;
  bool watchdog_alive = true;
  std::vector<ReplyFrame> replies;
  std::vector<StartProcess> starts;
  std::vector<ExecutorEvent> events;
};

class DriverLoopTest : public ::testing::Test {
 protected:
  DriverLoopTest() {
    CoreOptions o;
    o.node_id = "00000000000000aa";
    o.group_id = "g1";
    o.client_address = "127.0.0.1:7400";
    o.slots = 2;
    auto log = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    core_ = std::make_unique<NodeCore>(o, log);
    EXPECT_TRUE(core_->Recover(&io_.storage, now_).ok());
    DriverLoopOptions lo;
    lo.address = o.client_address;
    loop_ = std::make_unique<DriverLoop>(core_.get(), &io_, log, lo);
    Settle();
  }
  void Settle() {
    for (int i = 0; i < 20; ++i) {
      loop_->Turn(now_);
      now_ = now_ + Duration::Millis(10);
    }
  }
  void Submit(const std::string& command) {
    TaskSpec s;
    s.command = {command, "1"};
    core_->Request(now_, ReplyTo{"c", ++request_},
                   RequestFrame{RequestType::kSubmit, request_, PackBody(SubmitRequest{{s}, false})});
  }

  TestIo io_;
  Instant now_ = Instant::FromMicros(1'700'000'000'000'000);
  uint64_t request_ = 0;
  std::unique_ptr<NodeCore> core_;
  std::unique_ptr<DriverLoop> loop_;
};

TEST_F(DriverLoopTest, ARefusedWriteStallsTheNodeUntilARetrySucceedsAndAcknowledgesNothing) {
  io_.disk_full = true;
  Submit("sleep");
  loop_->Turn(now_);
  EXPECT_TRUE(loop_->stalled());
  EXPECT_TRUE(io_.replies.empty()) << "acknowledged a submit the disk refused";
  EXPECT_TRUE(io_.starts.empty());
  EXPECT_EQ(loop_->ReadOnlyError().code(), Status::Code::kUnavailable);
  EXPECT_NE(loop_->ReadOnlyError().message().find("No space left"), std::string::npos);
  io_.disk_full = false;
  loop_->Turn(now_ + Duration::Millis(500));  // retries wait a second
  EXPECT_TRUE(loop_->stalled());
  loop_->Turn(now_ + Duration::Seconds(1));
  EXPECT_FALSE(loop_->stalled());
  ASSERT_EQ(io_.replies.size(), 1u);
  EXPECT_TRUE(io_.replies[0].status.ok()) << io_.replies[0].status.ToString();
}

TEST_F(DriverLoopTest, AStopWhileReadOnlyEndsAtOnce) {
  io_.disk_full = true;
  Submit("sleep");
  loop_->Turn(now_);
  ASSERT_TRUE(loop_->stalled());
  loop_->Stop(now_, "SIGTERM");
  EXPECT_TRUE(loop_->Done(now_));
  EXPECT_TRUE(io_.replies.empty());
}

// Without its watchdog nothing outside the node kills its processes at their leases' end
// if the node freezes: it stops, ending its attempts as lost, and says why.
TEST_F(DriverLoopTest, ANodeWhoseWatchdogDiedStopsAndKillsItsAttempts) {
  Submit("sleep");
  Settle();
  ASSERT_EQ(io_.starts.size(), 1u);
  io_.watchdog_alive = false;
  loop_->Turn(now_);
  EXPECT_FALSE(loop_->failure().ok());
  EXPECT_NE(loop_->failure().message().find("watchdog"), std::string::npos);
  EXPECT_TRUE(core_->stopping());
  Settle();
  Submit("sleep");
  Settle();
  EXPECT_EQ(io_.starts.size(), 1u) << "a node without its watchdog started another attempt";
  Instant end = now_ + Duration::Seconds(6);
  while (!loop_->Done(now_) && now_ < end) {
    loop_->Turn(now_);
    now_ = now_ + Duration::Millis(50);
  }
  EXPECT_TRUE(loop_->Done(now_));
}

// A turn reads the clock once; the node may be stopped (SIGSTOP) before it reaps a process
// that ended meanwhile. The end is stamped with the clock read when it is handed over,
// never with the turn's older reading.
TEST_F(DriverLoopTest, AnEndIsNeverStampedBeforeItHappened) {
  Submit("sleep");
  Settle();
  ASSERT_EQ(io_.starts.size(), 1u);
  const std::string id = io_.starts[0].task_id;
  const Instant turn_began = now_;
  io_.clock = now_ + Duration::Seconds(5);  // stopped for 5 s after the turn read the clock
  io_.events.push_back(ExecutorEvent{ExecutorEvent::Kind::kExited, id, 1, 0, 0, "", "", ""});
  loop_->Turn(turn_began);
  now_ = io_.clock;
  for (int i = 0; i < 10; ++i) Settle();
  const Task* t = core_->LookupTask(id);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->attempts.size(), 1u);
  EXPECT_GE(t->attempts[0].ended_ms, (turn_began + Duration::Seconds(5)).unix_millis());
}

TEST_F(DriverLoopTest, AGracefulStopIsDoneOnceTheCoreHasStopped) {
  loop_->Stop(now_, "SIGTERM");
  EXPECT_TRUE(loop_->failure().ok());
  Instant end = now_ + Duration::Seconds(6);
  while (!loop_->Done(now_) && now_ < end) {
    loop_->Turn(now_);
    now_ = now_ + Duration::Millis(50);
  }
  EXPECT_TRUE(loop_->Done(now_));
  EXPECT_TRUE(core_->stopped());
}

}  // namespace
}  // namespace magpie
