// Runs one NodeCore against MemoryStorage with a scripted executor, the way a driver would
// (persist, then act, then Advance), so unit tests can drive whole scenarios without I/O.
#ifndef MAGPIE_TESTS_CORE_HARNESS_H_
#define MAGPIE_TESTS_CORE_HARNESS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "node/driver_loop.h"
#include "node/node_core.h"
#include "storage/memory_storage.h"

namespace magpie {

class CoreHarness {
 public:
  explicit CoreHarness(int32_t slots = 4, std::map<std::string, std::string> labels = {},
                       uint64_t compact_every = 20000) {
    options_.compact_every = compact_every;
    options_.node_id = "00000000000000aa";
    options_.group_id = "g1";
    options_.client_address = "127.0.0.1:7400";
    options_.slots = slots;
    options_.labels = std::move(labels);
    now_ = Instant::FromMicros(1'700'000'000'000'000);
    Boot();
  }

  // A fresh core over the same storage, as after a process restart.
  void Boot() {
    auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    loop_.reset();
    core_ = std::make_unique<NodeCore>(options_, logger);
    running_.clear();
    Status s = core_->Recover(&storage_, now_);
    EXPECT_TRUE(s.ok()) << s.ToString();
    loop_ = std::make_unique<DriverLoop>(core_.get(), &io_, logger, DriverLoopOptions{});
    Drain();
  }
  // Admission limits (0: off); takes effect on the next Boot.
  void SetLimits(uint64_t max_queued, uint64_t max_per_submitter) {
    options_.max_queued_tasks = max_queued;
    options_.max_queued_per_submitter = max_per_submitter;
  }
  // The process dies: unsynced writes are lost; the processes it ran are gone too.
  void CrashAndRestart() {
    storage_.Crash();
    Boot();
  }

  // Carries out every Ready through the driver loop magpie-node and magpie-sim run
  // (node/driver_loop.h), checking the persist-before-act rule on the way.
  void Drain() {
    for (int i = 0; i < 1000 && core_->HasReady(); ++i) loop_->Flush(now_);
    ASSERT_FALSE(core_->HasReady()) << "core did not settle";
    ASSERT_FALSE(loop_->stalled()) << "the disk refused a write";
  }

  // Executor events queued by hand (Exit does its own) go in with the next turn.
  void FeedEvents() { Drain(); }

  // Ends every running attempt whose command is "true" (exit 0) or "false" (exit 1);
  // others ("sleep") keep running until Exit or a kill.
  void RunQuickProcesses() {
    for (int round = 0; round < 100; ++round) {
      std::vector<std::string> done;
      for (const auto& [id, sp] : running_) {
        if (sp.spec.command[0] == "true" || sp.spec.command[0] == "false") done.push_back(id);
      }
      if (done.empty()) return;
      for (const auto& id : done) Exit(id, running_[id].spec.command[0] == "true" ? 0 : 1);
    }
  }

  void Exit(const std::string& id, int code) {
    auto it = running_.find(id);
    ASSERT_NE(it, running_.end()) << id << " is not running";
    ExecutorEvent ev{ExecutorEvent::Kind::kExited, id, it->second.attempt, code, 0, "", "out", ""};
    running_.erase(it);
    core_->OnExecutorEvent(now_, ev);
    Drain();
  }

  void Advance(Duration d) {
    now_ = now_ + d;
    core_->Tick(now_);
    Drain();
  }

  // Sends a request; returns its reply (there must be exactly one by the time all settles).
  ReplyFrame Call(RequestType type, const std::string& body) {
    uint64_t id = ++next_request_;
    core_->Request(now_, ReplyTo{"client", id}, RequestFrame{type, id, body});
    Drain();
    for (auto it = replies_.begin(); it != replies_.end(); ++it) {
      if (it->to.request_id == id) {
        ReplyFrame f = it->frame;
        replies_.erase(it);
        return f;
      }
    }
    ADD_FAILURE() << "no reply to request " << id;
    return ReplyFrame{id, Status::Unavailable("no reply"), {}};
  }

  std::vector<std::string> Submit(std::vector<TaskSpec> specs) {
    ReplyFrame f = Call(RequestType::kSubmit, PackBody(SubmitRequest{std::move(specs), false}));
    EXPECT_TRUE(f.status.ok()) << f.status.ToString();
    if (!f.status.ok()) return {};
    return UnpackBody<SubmitReply>(f.body)->ids;
  }
  std::string Submit(TaskSpec spec) {
    auto ids = Submit(std::vector<TaskSpec>{std::move(spec)});
    return ids.empty() ? "" : ids[0];
  }

  const Task& Get(const std::string& id) {
    const Task* t = core_->tasks().Lookup(id);
    MAGPIE_CHECK(t != nullptr, "no task " + id);
    return *t;
  }
  TaskState StateOf(const std::string& id) { return Get(id).state; }

  NodeCore& core() { return *core_; }
  MemoryStorage& storage() { return storage_; }
  Instant now() const { return now_; }
  std::map<std::string, StartProcess>& running() { return running_; }
  std::vector<StartProcess>& starts() { return starts_; }
  std::vector<KillProcess>& kills() { return kills_; }
  std::vector<ClientReply>& replies() { return replies_; }
  // Which Ready (counted from 1) carried the reply to request N, the start of a task.
  size_t ReadyOfReply(uint64_t request_id) const { return reply_ready_.at(request_id); }
  size_t ReadyOfStart(const std::string& task_id) const { return start_ready_.at(task_id); }
  uint64_t last_request_id() const { return next_request_; }

 private:
  // The harness's world, as the driver loop sees it: MemoryStorage and a scripted executor.
  class Io : public DriverIo {
   public:
    explicit Io(CoreHarness* h) : h_(h) {}
    Instant Now() override { return h_->now_; }
    Status Write(const WriteBatch& batch, bool sync, bool* pending) override {
      *pending = false;
      const size_t synced_before = h_->storage_.synced_writes();
      Status s = h_->storage_.Write(batch, sync);
      if (s.ok() && sync && h_->storage_.synced_writes() <= synced_before) {
        ADD_FAILURE() << "a synced batch did not reach the disk before the loop went on";
      }
      return s;
    }
    Status ResumeDisk() override { return Status::Ok(); }
    void Send(PeerMessage) override {}
    void Reply(const ReplyTo& to, const ReplyFrame& frame) override {
      h_->reply_ready_[to.request_id] = h_->readies_;
      h_->replies_.push_back(ClientReply{to, RequestType::kStatus, frame});
    }
    void Start(Instant, const StartProcess& sp) override {
      h_->start_ready_[sp.task_id] = h_->readies_;
      h_->starts_.push_back(sp);
      h_->running_[sp.task_id] = sp;
    }
    void Kill(const KillProcess& k) override {
      h_->kills_.push_back(k);
      auto it = h_->running_.find(k.task_id);
      if (it != h_->running_.end() && it->second.attempt == k.attempt) {
        h_->running_.erase(it);
        h_->events_.push_back(
            ExecutorEvent{ExecutorEvent::Kind::kExited, k.task_id, k.attempt, -1, 9, "", "", ""});
      }
    }
    void Extend(const ExtendDeadline&) override {}
    std::vector<ExecutorEvent> TakeExecutorEvents(Instant) override { return std::exchange(h_->events_, {}); }
    bool WatchdogAlive() override { return true; }
    void OnReadyTaken(Instant, const Ready&) override { ++h_->readies_; }

   private:
    CoreHarness* h_;
  };

  CoreOptions options_;
  MemoryStorage storage_;
  Io io_{this};
  std::unique_ptr<NodeCore> core_;
  std::unique_ptr<DriverLoop> loop_;
  Instant now_;
  uint64_t next_request_ = 0;
  std::map<std::string, StartProcess> running_;
  std::vector<ExecutorEvent> events_;
  std::vector<StartProcess> starts_;
  std::vector<KillProcess> kills_;
  std::vector<ClientReply> replies_;
  size_t readies_ = 0;
  std::map<uint64_t, size_t> reply_ready_;
  std::map<std::string, size_t> start_ready_;
};

inline TaskSpec Spec(std::vector<std::string> cmd, std::string name = "",
                     std::vector<std::string> after = {}) {
  TaskSpec s;
  s.command = std::move(cmd);
  s.name = std::move(name);
  s.after = std::move(after);
  return s;
}

}  // namespace magpie

#endif  // MAGPIE_TESTS_CORE_HARNESS_H_
