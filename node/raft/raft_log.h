// One member's copy of a group's log: the entries after the last snapshot, which of them
// are handed to storage and which are durable, the commit index, and what the caller has
// applied. Pure bookkeeping with no Raft rules (raft_group.h has those); its writes go into
// a WriteBatch the group hands out in a Ready.
//
// Indexes, in order:  snapshot_index < first_index ≤ ... ≤ last_index
//   applied ≤ delivered ≤ min(committed, durable) ≤ last_index; durable ≤ written ≤ last.
//
// Keys (Column::kLog): `<group>/<big-endian index>`, so the byte order of keys is the
// order of the log and one DeleteRange drops a prefix or a suffix.
#ifndef MAGPIE_NODE_RAFT_RAFT_LOG_H_
#define MAGPIE_NODE_RAFT_RAFT_LOG_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "node/log_entry.h"
#include "storage/storage.h"

namespace magpie {

class RaftLog {
 public:
  explicit RaftLog(std::string group_id);
  RaftLog(const RaftLog&) = delete;
  RaftLog& operator=(const RaftLog&) = delete;

  // Reads the entries after snapshot_index (from the group's snapshot metadata). Everything
  // read is durable. REQUIRES: called once, on an empty log.
  Status Load(const Storage& storage, uint64_t snapshot_index, uint64_t snapshot_term);

  uint64_t snapshot_index() const { return snapshot_index_; }
  uint64_t snapshot_term() const { return snapshot_term_; }
  uint64_t first_index() const { return snapshot_index_ + 1; }
  uint64_t last_index() const { return snapshot_index_ + entries_.size(); }
  uint64_t last_term() const { return entries_.empty() ? snapshot_term_ : entries_.back().term; }
  // The term of the entry at index; nullopt below the snapshot or past the end.
  std::optional<uint64_t> Term(uint64_t index) const;
  bool MatchTerm(uint64_t index, uint64_t term) const;
  // §3.6.1: a log ending at (index, term) is at least as up to date as this one.
  bool IsUpToDate(uint64_t index, uint64_t term) const;
  // REQUIRES: first_index() ≤ index ≤ last_index().
  const Entry& At(uint64_t index) const;

  // Leader: adds e at last_index() + 1 (e.index is set) and returns the index.
  uint64_t Append(Entry e);
  // Follower: entries follow a matching prefix. Returns the index of the first entry that
  // is new or differs from what the log holds (0: the log already has them all).
  uint64_t FindConflict(const std::vector<Entry>& entries) const;
  // Replaces the log from entries[0].index on. REQUIRES: entries[0].index > committed() and
  // ≤ last_index() + 1 (a committed entry is never overwritten: that would break safety).
  void TruncateAndAppend(std::vector<Entry> entries);
  // The largest index ≤ index whose term is ≤ term (the snapshot index if none is visible):
  // where a probe at (index, term) could first succeed. Terms never fall along a log.
  uint64_t FindConflictByTerm(uint64_t index, uint64_t term) const;
  // Entries [lo, hi], cut at max_entries or max_bytes but never empty when lo ≤ hi.
  // REQUIRES: first_index() ≤ lo.
  std::vector<Entry> Slice(uint64_t lo, uint64_t hi, size_t max_entries, size_t max_bytes) const;

  // --- Durability ---
  // Something not yet handed to storage: entries, a truncation, a compaction or a restore.
  bool HasUnwritten() const;
  // Writes all of it into batch (deletes before puts). Returns the last entry written
  // (index, term) so StableTo can confirm it, or nullopt when no entry was written.
  struct EntryId {
    uint64_t index = 0;
    uint64_t term = 0;
  };
  std::optional<EntryId> WriteTo(WriteBatch* batch);
  // A batch holding the entry (index, term) is durable. Ignored when the log no longer has
  // that entry (it was overwritten after the batch was made).
  void StableTo(EntryId id);
  uint64_t durable_index() const { return durable_; }

  // --- Commit and apply ---
  uint64_t committed() const { return committed_; }
  void CommitTo(uint64_t index);  // REQUIRES: index ≤ last_index(); never lowers commit
  // Committed and durable entries not yet handed out, at most max; marks them handed out.
  std::vector<Entry> TakeCommitted(size_t max);
  bool HasCommittedToHand() const;
  uint64_t delivered() const { return delivered_; }
  uint64_t applied() const { return applied_; }
  void AppliedTo(uint64_t index);  // REQUIRES: index ≤ delivered()
  // At load: the caller's durable state already reflects index, so nothing up to it is
  // handed out again. REQUIRES: snapshot_index() ≤ index ≤ committed().
  void ResetApplied(uint64_t index);

  // --- Snapshots ---
  // Drops entries up to index from memory and (at the next WriteTo) from storage.
  // REQUIRES: snapshot_index() < index ≤ applied().
  void CompactTo(uint64_t index);
  // Replaces the whole log by a snapshot ending at (index, term): the caller installs the
  // state; commit, delivered and applied jump to index. REQUIRES: index > committed().
  void Restore(uint64_t index, uint64_t term);

  // Applied entries the caller has not compacted away yet.
  size_t EntriesInMemory() const { return entries_.size(); }
  size_t BytesInMemory() const { return bytes_; }

  std::string LogKey(uint64_t index) const;
  std::string LogBegin() const { return group_id_ + "/"; }
  std::string LogEnd() const { return group_id_ + "0"; }  // '0' follows '/' in ASCII

  static size_t EntryBytes(const Entry& e) { return e.payload.size() + 32; }

 private:
  void DropFront(uint64_t through);

  std::string group_id_;
  uint64_t snapshot_index_ = 0;
  uint64_t snapshot_term_ = 0;
  std::deque<Entry> entries_;  // entries_[i] has index snapshot_index_ + 1 + i
  size_t bytes_ = 0;

  uint64_t written_ = 0;  // last index put in a batch
  uint64_t durable_ = 0;  // last index known synced
  uint64_t truncate_from_ = 0;  // next batch deletes stored keys from here on (0: none)
  bool delete_all_ = false;     // next batch deletes every stored key (a restore)
  uint64_t compact_to_ = 0;     // next batch deletes stored keys up to here (0: none)

  uint64_t committed_ = 0;
  uint64_t delivered_ = 0;
  uint64_t applied_ = 0;
};

// Big-endian so that byte order is index order in the store.
std::string EncodeRaftIndex(uint64_t index);

}  // namespace magpie

#endif  // MAGPIE_NODE_RAFT_RAFT_LOG_H_
