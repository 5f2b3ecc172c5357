// An in-memory Storage for tests and the simulator. It models the page cache and fsync the
// way FoundationDB's AsyncFileNonDurable does: an unsynced write is visible to reads at once
// but is lost by Crash(); a synced write makes itself and every earlier write durable.
//
// Deterministic: ordered maps only, no clock, no threads. Not thread-safe (the simulator
// runs on one thread).
#ifndef MAGPIE_STORAGE_MEMORY_STORAGE_H_
#define MAGPIE_STORAGE_MEMORY_STORAGE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "storage/storage.h"
#include "storage/write_batch.h"

namespace magpie {

class MemoryStorage : public Storage {
 public:
  MemoryStorage() = default;
  MemoryStorage(const MemoryStorage&) = delete;
  MemoryStorage& operator=(const MemoryStorage&) = delete;
  ~MemoryStorage() override = default;

  // REQUIRES: no Scan of this storage is in progress (a visitor must not write).
  Status Write(const WriteBatch& batch, bool sync) override;
  Result<std::optional<std::string>> Get(Column column, std::string_view key) const override;
  Status Scan(Column column, std::string_view begin, std::string_view end,
              const Visitor& visit) const override;

  // The process (or machine) dies: every write since the last synced one is lost, and reads
  // see the durable state only. The store stays usable, as after a restart.
  // REQUIRES: no Scan of this storage is in progress.
  void Crash();

  // The disk is lost: everything, durable or not, is gone.
  // REQUIRES: no Scan of this storage is in progress.
  void Wipe();

  // Successful Write calls, by their sync flag.
  uint64_t synced_writes() const { return synced_writes_; }
  uint64_t unsynced_writes() const { return unsynced_writes_; }

 private:
  // std::less<> lets lookups take a string_view without a copy. std::string compares as
  // unsigned bytes, the same order as RocksDB's default comparator.
  using Table = std::map<std::string, std::string, std::less<>>;
  using Tables = std::array<Table, kColumnCount>;

  static void Apply(const WriteBatch& batch, Tables& tables);

  Tables live_;     // what reads see: durable state plus every unsynced write
  Tables durable_;  // what survives Crash()
  // Batches written without sync since the last synced write, oldest first. Like a page
  // cache it is bounded only by the driver syncing; the node core syncs every loop turn.
  std::vector<WriteBatch> unsynced_;
  uint64_t synced_writes_ = 0;
  uint64_t unsynced_writes_ = 0;
  // Scans in progress; a write during one would invalidate its iterator, so it is a bug.
  mutable int scans_in_progress_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_STORAGE_MEMORY_STORAGE_H_
