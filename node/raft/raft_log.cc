#include "node/raft/raft_log.h"

#include <algorithm>

#include "node/raft/raft_messages.h"

namespace magpie {

std::string EncodeRaftIndex(uint64_t index) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(index & 0xff);
    index >>= 8;
  }
  return s;
}

RaftLog::RaftLog(std::string group_id) : group_id_(std::move(group_id)) {}

std::string RaftLog::LogKey(uint64_t index) const {
  return group_id_ + "/" + EncodeRaftIndex(index);
}

Status RaftLog::Load(const Storage& storage, uint64_t snapshot_index, uint64_t snapshot_term) {
  MAGPIE_CHECK(entries_.empty() && snapshot_index_ == 0, "RaftLog::Load on a used log");
  snapshot_index_ = snapshot_index;
  snapshot_term_ = snapshot_term;
  Status decode_error;
  uint64_t expect = snapshot_index + 1;
  Status s = storage.Scan(Column::kLog, LogKey(expect), LogEnd(),
                          [&](std::string_view key, std::string_view value) {
    auto e = DecodeRaftEntry(value);
    if (!e.ok()) {
      decode_error = Status::Corruption("log of group " + group_id_ + ": " + e.status().message());
      return false;
    }
    if (e->index != expect || key != LogKey(expect)) {
      decode_error = Status::Corruption("log of group " + group_id_ + " has a gap: expected " +
                                        std::to_string(expect) + ", found " +
                                        std::to_string(e->index));
      return false;
    }
    if (e->term < last_term()) {
      decode_error = Status::Corruption("log of group " + group_id_ + ": term falls at index " +
                                        std::to_string(e->index));
      return false;
    }
    bytes_ += EntryBytes(*e);
    entries_.push_back(std::move(*e));
    ++expect;
    return true;
  });
  if (!s.ok()) return s;
  if (!decode_error.ok()) return decode_error;
  written_ = durable_ = last_index();
  committed_ = delivered_ = applied_ = snapshot_index;
  return Status::Ok();
}

std::optional<uint64_t> RaftLog::Term(uint64_t index) const {
  if (index == snapshot_index_) return snapshot_term_;
  if (index < snapshot_index_ || index > last_index()) return std::nullopt;
  return entries_[index - first_index()].term;
}

bool RaftLog::MatchTerm(uint64_t index, uint64_t term) const {
  auto t = Term(index);
  return t.has_value() && *t == term;
}

bool RaftLog::IsUpToDate(uint64_t index, uint64_t term) const {
  return term > last_term() || (term == last_term() && index >= last_index());
}

const Entry& RaftLog::At(uint64_t index) const {
  MAGPIE_CHECK(index >= first_index() && index <= last_index(),
               "log index " + std::to_string(index) + " outside [" +
                   std::to_string(first_index()) + ", " + std::to_string(last_index()) + "]");
  return entries_[index - first_index()];
}

uint64_t RaftLog::Append(Entry e) {
  MAGPIE_CHECK(e.term >= last_term(), "appending an entry of an older term");
  e.index = last_index() + 1;
  bytes_ += EntryBytes(e);
  entries_.push_back(std::move(e));
  return last_index();
}

uint64_t RaftLog::FindConflict(const std::vector<Entry>& entries) const {
  for (const auto& e : entries) {
    // Entries at or below the snapshot are committed and so equal to the leader's.
    if (e.index <= snapshot_index_) continue;
    if (!MatchTerm(e.index, e.term)) return e.index;
  }
  return 0;
}

void RaftLog::TruncateAndAppend(std::vector<Entry> entries) {
  if (entries.empty()) return;
  uint64_t from = entries.front().index;
  MAGPIE_CHECK(from > committed_, "overwriting committed entry " + std::to_string(from) +
                                      " (commit " + std::to_string(committed_) + ")");
  MAGPIE_CHECK(from <= last_index() + 1, "append leaves a gap in the log");
  if (from <= last_index()) {
    while (last_index() >= from) {
      bytes_ -= EntryBytes(entries_.back());
      entries_.pop_back();
    }
    truncate_from_ = truncate_from_ == 0 ? from : std::min(truncate_from_, from);
    written_ = std::min(written_, from - 1);
    durable_ = std::min(durable_, from - 1);
  }
  for (auto& e : entries) {
    MAGPIE_CHECK(e.index == last_index() + 1 && e.term >= last_term(), "appended entries out of order");
    bytes_ += EntryBytes(e);
    entries_.push_back(std::move(e));
  }
}

uint64_t RaftLog::FindConflictByTerm(uint64_t index, uint64_t term) const {
  index = std::min(index, last_index());
  if (index <= snapshot_index_) return index;
  // Terms never fall along the log, so the answer is found by bisection in [first, index].
  uint64_t lo = first_index(), hi = index;
  if (entries_[lo - first_index()].term > term) return snapshot_index_;
  while (lo < hi) {  // invariant: Term(lo) <= term
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (entries_[mid - first_index()].term <= term) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

std::vector<Entry> RaftLog::Slice(uint64_t lo, uint64_t hi, size_t max_entries,
                                  size_t max_bytes) const {
  MAGPIE_CHECK(lo >= first_index(), "slice below the snapshot");
  std::vector<Entry> out;
  hi = std::min(hi, last_index());
  size_t bytes = 0;
  for (uint64_t i = lo; i <= hi; ++i) {
    const Entry& e = entries_[i - first_index()];
    if (!out.empty() && (out.size() >= max_entries || bytes + EntryBytes(e) > max_bytes)) break;
    bytes += EntryBytes(e);
    out.push_back(e);
  }
  return out;
}

bool RaftLog::HasUnwritten() const {
  return written_ < last_index() || truncate_from_ != 0 || delete_all_ || compact_to_ != 0;
}

std::optional<RaftLog::EntryId> RaftLog::WriteTo(WriteBatch* batch) {
  if (delete_all_) {
    batch->DeleteRange(Column::kLog, LogBegin(), LogEnd());
  } else {
    if (compact_to_ != 0) batch->DeleteRange(Column::kLog, LogBegin(), LogKey(compact_to_ + 1));
    if (truncate_from_ != 0) batch->DeleteRange(Column::kLog, LogKey(truncate_from_), LogEnd());
  }
  delete_all_ = false;
  compact_to_ = 0;
  truncate_from_ = 0;
  if (written_ >= last_index()) return std::nullopt;
  for (uint64_t i = std::max(written_ + 1, first_index()); i <= last_index(); ++i) {
    batch->Put(Column::kLog, LogKey(i), EncodeRaftEntry(entries_[i - first_index()]));
  }
  written_ = last_index();
  return EntryId{last_index(), last_term()};
}

void RaftLog::StableTo(EntryId id) {
  if (id.index <= durable_ || !MatchTerm(id.index, id.term)) return;
  durable_ = std::min(id.index, written_);
}

void RaftLog::CommitTo(uint64_t index) {
  if (index <= committed_) return;
  MAGPIE_CHECK(index <= last_index(), "commit " + std::to_string(index) + " past the last index " +
                                          std::to_string(last_index()));
  committed_ = index;
}

bool RaftLog::HasCommittedToHand() const {
  return delivered_ < std::min(committed_, durable_);
}

std::vector<Entry> RaftLog::TakeCommitted(size_t max) {
  std::vector<Entry> out;
  // Only durable entries are handed out: the caller's applied state, persisted later, must
  // never get ahead of what this member's own log can replay after a crash.
  uint64_t to = std::min(committed_, durable_);
  while (delivered_ < to && out.size() < max) {
    ++delivered_;
    out.push_back(entries_[delivered_ - first_index()]);
  }
  return out;
}

void RaftLog::AppliedTo(uint64_t index) {
  MAGPIE_CHECK(index <= delivered_, "applied past what was handed out");
  applied_ = std::max(applied_, index);
}

void RaftLog::ResetApplied(uint64_t index) {
  MAGPIE_CHECK(index >= snapshot_index_ && index <= committed_, "applied index outside the log");
  applied_ = delivered_ = index;
}

void RaftLog::CompactTo(uint64_t index) {
  MAGPIE_CHECK(index > snapshot_index_ && index <= applied_,
               "compaction to " + std::to_string(index) + " outside (" +
                   std::to_string(snapshot_index_) + ", " + std::to_string(applied_) + "]");
  snapshot_term_ = entries_[index - first_index()].term;
  DropFront(index);
  compact_to_ = std::max(compact_to_, index);
}

void RaftLog::Restore(uint64_t index, uint64_t term) {
  MAGPIE_CHECK(index > committed_, "restoring a snapshot at or below the commit index");
  entries_.clear();
  bytes_ = 0;
  snapshot_index_ = index;
  snapshot_term_ = term;
  delete_all_ = true;
  compact_to_ = 0;
  truncate_from_ = 0;
  written_ = durable_ = index;
  committed_ = delivered_ = index;
  // applied_ follows at Advance, once the caller has installed the snapshot.
}

void RaftLog::DropFront(uint64_t through) {
  while (!entries_.empty() && snapshot_index_ < through) {
    bytes_ -= EntryBytes(entries_.front());
    entries_.pop_front();
    ++snapshot_index_;
  }
}

}  // namespace magpie
