#include "node/raft/raft_progress.h"

#include <algorithm>
#include <functional>

#include "base/check.h"

namespace magpie {

const char* ProgressStateName(ProgressState s) {
  switch (s) {
    case ProgressState::kProbe: return "probe";
    case ProgressState::kReplicate: return "replicate";
    case ProgressState::kSnapshot: return "snapshot";
  }
  return "unknown";
}

void Inflights::Add(uint64_t last_index) {
  MAGPIE_CHECK(!Full(), "inflight window overflow");
  window_.push_back(last_index);
}

void Inflights::FreeUpTo(uint64_t index) {
  while (!window_.empty() && window_.front() <= index) window_.pop_front();
}

void Inflights::FreeFirst() {
  if (!window_.empty()) window_.pop_front();
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe: return probe_sent;
    case ProgressState::kReplicate: return inflight.Full();
    case ProgressState::kSnapshot: return true;
  }
  return true;
}

bool Progress::MaybeUpdate(uint64_t n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::MaybeDecrTo(uint64_t rejected, uint64_t hint) {
  if (state == ProgressState::kReplicate) {
    // In replicate everything up to match is known; a rejection at or below it is old.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // In probe only the answer to the append just sent counts.
  if (next == 0 || next - 1 != rejected) return false;
  // A hint below match: the follower no longer holds what it acknowledged (a replica
  // dropped and made anew under the same id). Believe it, or every probe would be sent
  // from match + 1 again and refused again, forever.
  if (hint < match) match = hint;
  next = std::max(std::min(rejected, hint + 1), match + 1);
  probe_sent = false;
  return true;
}

void Progress::SentEntries(uint64_t last, size_t count) {
  switch (state) {
    case ProgressState::kReplicate:
      if (count > 0) {
        next = last + 1;
        inflight.Add(last);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      break;
    case ProgressState::kSnapshot:
      MAGPIE_CHECK(false, "append sent to a follower receiving a snapshot");
  }
}

void Progress::BecomeProbe() {
  // After a snapshot the follower holds at least the snapshot: probe from just past it.
  if (state == ProgressState::kSnapshot) {
    next = std::max(match + 1, snapshot_index + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::kProbe;
  probe_sent = false;
  inflight.Reset();
  snapshot_index = 0;
  snapshot_offset = 0;
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  inflight.Reset();
}

void Progress::BecomeSnapshot(uint64_t index) {
  state = ProgressState::kSnapshot;
  snapshot_index = index;
  snapshot_offset = 0;
  snapshot_sent_at = Instant();
  probe_sent = false;
  inflight.Reset();
}

void Progress::RecordAck(Instant now, Instant sent_at) {
  last_ack_at = std::max(last_ack_at, now);
  acked_send_at = std::max(acked_send_at, sent_at);
}

uint64_t QuorumValue(std::vector<uint64_t> values, size_t quorum) {
  MAGPIE_CHECK(quorum >= 1 && quorum <= values.size(), "quorum outside the voters");
  std::sort(values.begin(), values.end(), std::greater<uint64_t>());
  return values[quorum - 1];
}

Instant QuorumInstant(std::vector<Instant> values, size_t quorum) {
  MAGPIE_CHECK(quorum >= 1 && quorum <= values.size(), "quorum outside the voters");
  std::sort(values.begin(), values.end(), std::greater<Instant>());
  return values[quorum - 1];
}

}  // namespace magpie
