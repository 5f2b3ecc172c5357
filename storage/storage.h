// The one seam through which the core's durable state passes. Production uses RocksDB
// (rocksdb_storage.h); tests and the simulator use MemoryStorage (memory_storage.h), which
// loses unsynced writes on a simulated crash. One contract test suite runs against both.
#ifndef MAGPIE_STORAGE_STORAGE_H_
#define MAGPIE_STORAGE_STORAGE_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "storage/write_batch.h"

namespace magpie {

class Storage {
 public:
  virtual ~Storage() = default;

  // Applies every operation of the batch atomically. With sync, returns only once the batch
  // survives a crash of the process or the machine; without, a crash may lose it (and every
  // later unsynced batch) but never part of a batch.
  virtual Status Write(const WriteBatch& batch, bool sync) = 0;

  // The value stored under key, or std::nullopt when there is none.
  virtual Result<std::optional<std::string>> Get(Column column, std::string_view key) const = 0;

  // Visits the keys in [begin, end) in ascending byte order; an empty end means "to the end
  // of the column". Stops early when visit returns false.
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  virtual Status Scan(Column column, std::string_view begin, std::string_view end,
                      const Visitor& visit) const = 0;

  // After Write failed (a full disk, an I/O error): makes the store take writes again if
  // the cause has gone, without losing what was synced. The failed batch is not applied;
  // the caller writes it again. Ok means the next Write may succeed.
  virtual Status Resume() { return Status::Ok(); }
};

}  // namespace magpie

#endif  // MAGPIE_STORAGE_STORAGE_H_
