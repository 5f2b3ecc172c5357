// One replica group's log as this node holds it: entries not yet durable, entries durable
// but not yet applied, and the indexes that say which is which. With one member (the
// foundation), an entry is committed as soon as it is durable; the Raft issue widens
// "committed" to "durable on a quorum" without changing how the rest of the core uses it.
#ifndef MAGPIE_NODE_GROUP_LOG_H_
#define MAGPIE_NODE_GROUP_LOG_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "base/status.h"
#include "node/log_entry.h"
#include "storage/storage.h"

namespace magpie {

class GroupLog {
 public:
  explicit GroupLog(std::string group_id);
  GroupLog(const GroupLog&) = delete;
  GroupLog& operator=(const GroupLog&) = delete;

  // Reads the hard state and every stored entry after applied_index.
  // REQUIRES: called once, before Append.
  Status Load(const Storage& storage, uint64_t applied_index);

  // Adds an entry at the end of the log; returns its index. It is not durable until a
  // batch from TakeUnstable has been written with sync and MarkDurable called.
  uint64_t Append(EntryType type, std::string payload);

  bool HasUnstable() const { return unstable_from_ <= last_index(); }
  // Writes every not-yet-written entry into batch; returns the last index written (0: none).
  uint64_t TakeUnstable(WriteBatch* batch);
  // The entries up to index are on disk (synced). With one member they are committed.
  void MarkDurable(uint64_t index);

  // Entries committed but not yet applied, in order; the caller applies them all.
  std::vector<Entry> TakeCommitted();

  // Removes entries up to index from disk (they are reflected in the applied task table).
  void Compact(uint64_t index, WriteBatch* batch);

  const std::string& group_id() const { return group_id_; }
  uint64_t last_index() const { return first_index_ + entries_.size() - 1; }
  uint64_t commit_index() const { return commit_index_; }
  uint64_t applied_index() const { return applied_index_; }
  uint64_t term() const { return term_; }
  uint64_t compacted_to() const { return compacted_to_; }

  std::string LogKey(uint64_t index) const;
  std::string HardStateKey() const { return "hardstate/" + group_id_; }
  std::string AppliedKey() const { return "applied/" + group_id_; }

 private:
  std::string group_id_;
  uint64_t term_ = 1;
  // entries_[i] has index first_index_ + i; it holds everything after applied_index_.
  std::deque<Entry> entries_;
  uint64_t first_index_ = 1;
  uint64_t unstable_from_ = 1;  // first index not yet handed to storage
  uint64_t commit_index_ = 0;
  uint64_t applied_index_ = 0;
  uint64_t compacted_to_ = 0;
};

// Big-endian so that byte order is index order in the store.
std::string EncodeIndex(uint64_t index);
uint64_t DecodeIndex(std::string_view bytes);

}  // namespace magpie

#endif  // MAGPIE_NODE_GROUP_LOG_H_
