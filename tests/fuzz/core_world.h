// A NodeCore over MemoryStorage, driven the way the node driver drives it, for the fuzz
// targets that feed it network input and for the corpus writer that records real traffic
// to it. Attempts it starts exit with status 0, at once unless run_for says otherwise.
#ifndef MAGPIE_TESTS_FUZZ_CORE_WORLD_H_
#define MAGPIE_TESTS_FUZZ_CORE_WORLD_H_

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "node/node_core.h"
#include "storage/memory_storage.h"

namespace magpie::fuzz {

// The cluster the seeds were recorded in (corpus_writer.cc): the fuzzed node and two peers.
inline constexpr const char* kTargetId = "00000000000000aa";
inline constexpr const char* kTargetAddress = "10.0.0.2:7400";
inline constexpr const char* kPeerAId = "00000001000000bb";
inline constexpr const char* kPeerAAddress = "10.0.0.1:7400";
inline constexpr const char* kPeerBId = "00000002000000cc";
inline constexpr const char* kPeerBAddress = "10.0.0.3:7400";
inline constexpr int64_t kStartMicros = 1'700'000'000'000'000;

inline CoreOptions NodeOptions(const std::string& id, const std::string& address, int32_t slots,
                               std::vector<std::string> join) {
  CoreOptions o;
  o.node_id = id;
  o.group_id = id.substr(0, 8);
  o.client_address = address;
  o.slots = slots;
  o.join = std::move(join);
  o.seed = std::hash<std::string>{}(id) | 1;
  o.compact_every = 64;  // snapshots and compaction within a short run
  return o;
}

inline CoreOptions TargetOptions() { return NodeOptions(kTargetId, kTargetAddress, 2, {kPeerAAddress}); }

inline std::shared_ptr<spdlog::logger> NullLogger() {
  static auto logger =
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

class CoreWorld {
 public:
  // What the core hands out, for the caller to check or deliver.
  std::function<void(const PeerMessage&)> on_message;
  std::function<void(const ClientReply&)> on_reply;
  // How long each attempt runs (simulated). Zero: it exits within the same turn.
  Duration run_for = Duration::Millis(0);

  CoreWorld(CoreOptions options, MemoryStorage* storage, Instant now)
      : options_(std::move(options)), storage_(storage), now_(now) {}

  // Recovers the core from the storage (the first start, or a restart after Crash()).
  Status Boot() {
    core_ = std::make_unique<NodeCore>(options_, NullLogger());
    pending_.clear();
    running_.clear();  // the processes died with the node
    Status s = core_->Recover(storage_, now_);
    if (s.ok()) Drain();
    return s;
  }

  // Carries out every Ready: persist first, then hand out messages and replies, and end
  // the attempts it started; then the executor's events go in.
  void Drain() {
    for (int round = 0; round < 4; ++round) {
      for (int i = 0; i < 64 && core_->HasReady(); ++i) {
        Ready rd = core_->TakeReady();
        if (!storage_->Write(rd.writes, rd.sync).ok()) __builtin_trap();
        for (const auto& m : rd.messages) {
          if (on_message) on_message(m);
        }
        for (const auto& r : rd.replies) {
          if (on_reply) on_reply(r);
        }
        for (const auto& sp : rd.starts) {
          ExecutorEvent ev{ExecutorEvent::Kind::kExited, sp.task_id, sp.attempt, 0, 0, "", "out", ""};
          if (run_for == Duration::Millis(0)) {
            pending_.push_back(std::move(ev));
          } else {
            running_.push_back({now_ + run_for, std::move(ev)});
          }
        }
        core_->Advance(now_);
      }
      if (pending_.empty()) return;
      auto events = std::move(pending_);
      pending_.clear();
      for (const auto& ev : events) core_->OnExecutorEvent(now_, ev);
    }
  }

  void AdvanceTo(Instant now) {
    if (now > now_) now_ = now;
    for (auto it = running_.begin(); it != running_.end();) {
      if (it->first > now_) {
        ++it;
        continue;
      }
      core_->OnExecutorEvent(now_, it->second);
      it = running_.erase(it);
    }
    core_->Tick(now_);
    Drain();
  }

  // When the core or a running attempt next needs the clock to move.
  Instant NextDeadline() const {
    Instant next = core_->NextDeadline();
    for (const auto& [at, ev] : running_) next = std::min(next, at);
    return next;
  }

  NodeCore& core() { return *core_; }
  Instant now() const { return now_; }
  const CoreOptions& options() const { return options_; }

 private:
  CoreOptions options_;
  MemoryStorage* storage_;
  Instant now_;
  std::unique_ptr<NodeCore> core_;
  std::vector<ExecutorEvent> pending_;
  std::vector<std::pair<Instant, ExecutorEvent>> running_;  // exits not yet due
};

// The framing of node_peer_fuzzer's records (fuzz_util.h Records): kind 0 is a client
// request frame, kTimeRecord moves the clock by the body's little-endian u16 milliseconds
// (10 ms when empty), and any other kind is a peer message of type kind & 0x7f, from peer
// A, or from peer B when the high bit is set.
inline constexpr uint8_t kClientRecord = 0;
inline constexpr uint8_t kTimeRecord = 0x7f;
inline constexpr uint8_t kFromPeerB = 0x80;

}  // namespace magpie::fuzz

#endif  // MAGPIE_TESTS_FUZZ_CORE_WORLD_H_
