// What a leader knows about one follower's log and how it sends to it, after etcd-io/raft's
// tracker.Progress: three states and a bounded window of AppendEntries in flight.
//
//   probe      next is a guess; one append at a time, each answered before the next
//              (a heartbeat answer also lets the next one go, in case one was lost).
//   replicate  the follower is known to match up to `match`: appends are pipelined, next
//              moves optimistically past everything sent, at most max_inflight at once.
//   snapshot   the follower is behind the compacted log: a snapshot goes out in chunks,
//              one at a time; appends wait until it is installed.
#ifndef MAGPIE_NODE_RAFT_RAFT_PROGRESS_H_
#define MAGPIE_NODE_RAFT_RAFT_PROGRESS_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "base/time.h"

namespace magpie {

enum class ProgressState : uint8_t { kProbe = 0, kReplicate = 1, kSnapshot = 2 };
const char* ProgressStateName(ProgressState s);

// The last index of each append in flight, oldest first; bounded.
class Inflights {
 public:
  explicit Inflights(size_t capacity) : capacity_(capacity) {}
  bool Full() const { return window_.size() >= capacity_; }
  size_t size() const { return window_.size(); }
  void Add(uint64_t last_index);  // REQUIRES: !Full()
  void FreeUpTo(uint64_t index);  // the follower acknowledged through index
  void FreeFirst();               // forget the oldest (it was probably lost)
  void Reset() { window_.clear(); }

 private:
  size_t capacity_;
  std::deque<uint64_t> window_;
};

struct Progress {
  explicit Progress(size_t max_inflight) : inflight(max_inflight) {}

  uint64_t match = 0;  // highest index known to be on the follower's disk
  uint64_t next = 1;   // next index to send
  ProgressState state = ProgressState::kProbe;
  bool probe_sent = false;  // probe: an append is out and unanswered
  Inflights inflight;
  uint64_t sent_commit = 0;  // the commit index last sent in an append

  // Snapshot state: the snapshot being sent and the next byte of it.
  uint64_t snapshot_index = 0;
  uint64_t snapshot_offset = 0;
  Instant snapshot_sent_at;

  // Lease reasoning (§6.4), on the leader's clock. acked_send_at: when the leader sent the
  // latest request this follower has answered in this term (the follower echoes the send
  // time), so "a majority acknowledged something sent at or after t" is exact. last_ack_at:
  // when that answer arrived.
  Instant acked_send_at;
  Instant last_ack_at;
  // A heartbeat was answered while the follower is behind: send one append even if the
  // window is full or there is nothing new (it repairs a lost append).
  bool nudge = false;

  bool IsPaused() const;
  // The follower acknowledged through n. Returns whether match moved.
  bool MaybeUpdate(uint64_t n);
  // The follower rejected an append whose previous index was `rejected`; hint is the index
  // it suggests probing from. Returns false when the rejection is stale (ignore it).
  bool MaybeDecrTo(uint64_t rejected, uint64_t hint);
  // An append with entries up to last (none when count is 0) went out.
  void SentEntries(uint64_t last, size_t count);
  void BecomeProbe();
  void BecomeReplicate();
  void BecomeSnapshot(uint64_t index);
  void RecordAck(Instant now, Instant sent_at);
};

// The value a quorum has reached: the quorum-th largest of values (one per voter).
// REQUIRES: 1 ≤ quorum ≤ values.size().
uint64_t QuorumValue(std::vector<uint64_t> values, size_t quorum);
Instant QuorumInstant(std::vector<Instant> values, size_t quorum);

}  // namespace magpie

#endif  // MAGPIE_NODE_RAFT_RAFT_PROGRESS_H_
