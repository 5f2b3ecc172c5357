// Copies of an ended attempt's output on the members of its task's group, so that
// `magpie logs` still has it when the node that ran it is gone.
//
// Runner side: an attempt whose process wrote something is not reported to the core as
// ended until a majority of the group's voters hold a copy (this node's own file counts when
// it is a voter), or copy_wait has passed. So, within that bound, "the task has ended"
// implies "its output is on its group's replicas". Attempts that wrote nothing cost nothing:
// no message, no file, no wait.
//
// Member side: an offer starts a copy, read from the runner in chunks; each stream keeps
// its last keep_bytes. A leader passes on an offer marked relay, from a runner that holds
// no replica of the group and so knows only the leader. Work is bounded: a few copies at
// once, a bounded queue behind them, and what overflows is refused back to the runner.
#ifndef MAGPIE_NODE_OUTPUT_COPIES_H_
#define MAGPIE_NODE_OUTPUT_COPIES_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/logger.h>

#include "base/time.h"
#include "node/effects.h"
#include "node/node_core.h"
#include "node/output_messages.h"
#include "node/output_reader.h"
#include "node/output_store.h"

namespace magpie {

struct OutputCopyOptions {
  uint64_t keep_bytes = 1024 * 1024;  // of each stream, unless the task's spec says otherwise
  Duration copy_wait = Duration::Seconds(2);
};

// The first byte of a stream of `size` bytes that a copy keeping `keep` bytes holds.
uint64_t KeepFrom(uint64_t size, uint64_t keep);

class OutputCopies {
 public:
  using SendFn = std::function<void(PeerMessage)>;

  static constexpr size_t kMaxActiveCopies = 4;
  static constexpr size_t kMaxQueuedCopies = 256;

  // core, store and reader must outlive this.
  OutputCopies(OutputCopyOptions options, const NodeCore* core, OutputStore* store,
               OutputReader* reader, SendFn send, std::shared_ptr<spdlog::logger> logger);
  OutputCopies(const OutputCopies&) = delete;
  OutputCopies& operator=(const OutputCopies&) = delete;

  // Runner side. Notes what each process attempt should keep (built-ins write nothing).
  void OnStart(const StartProcess& start);
  // True when the exit is held back until its output's copies are acknowledged; it comes
  // back from TakeReleased.
  bool Hold(Instant now, const ExecutorEvent& event);
  std::vector<ExecutorEvent> TakeReleased();
  // Gives back every held exit at once (the node is stopping).
  void ReleaseAll();
  void OnKept(Instant now, const OutputKept& kept);

  // Member side.
  void OnOffer(Instant now, const OutputOffer& offer);

  void Tick(Instant now);
  Instant NextDeadline() const;
  size_t held() const { return held_.size(); }

 private:
  using Key = std::pair<std::string, uint32_t>;  // task id, attempt

  struct Held {
    ExecutorEvent event;
    Instant deadline;
    std::set<std::string> acked;  // members that hold a copy
    size_t voters = 0;            // of the group (0: not known yet)
    bool self_voter = false;
    size_t asked = 0;
  };
  struct Copy {
    OutputOffer offer;
    std::unique_ptr<OutputCopyWriter> writer;
    bool on_stderr = false;
    uint64_t pos = 0;
    uint64_t end = 0;
    int retries = 0;
  };

  void Release(const Key& key, const char* why);
  bool Quorate(const Held& h) const;
  void Kept(const OutputOffer& offer, bool ok, const std::string& error);
  void StartCopies(Instant now);
  void ReadNext(Instant now, const Key& key);
  void OnData(Instant now, const Key& key, Result<OutputData> answer);
  void FailCopy(Instant now, const Key& key, const std::string& why);

  const OutputCopyOptions options_;
  const NodeCore* core_;
  OutputStore* store_;
  OutputReader* reader_;
  SendFn send_;
  std::shared_ptr<spdlog::logger> log_;

  std::map<Key, uint64_t> keep_;  // process attempts running here: bytes of each stream to keep
  std::map<Key, Held> held_;
  std::vector<ExecutorEvent> released_;
  std::deque<OutputOffer> queued_;
  std::map<Key, Copy> copying_;
  uint64_t refused_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_OUTPUT_COPIES_H_
