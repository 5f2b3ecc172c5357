// The production Storage: one RocksDB database per data directory, one column family per
// Column. Synced writes are fsynced through the WAL before Write returns.
//
// Thread-safe, as RocksDB is; the node driver still calls it from one thread.
#ifndef MAGPIE_STORAGE_ROCKSDB_STORAGE_H_
#define MAGPIE_STORAGE_ROCKSDB_STORAGE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "storage/storage.h"
#include "storage/write_batch.h"

// Forward declarations keep <rocksdb/*.h> out of every file that includes this one.
namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace magpie {

class RocksDbStorage : public Storage {
 public:
  // Opens the store in dir, creating the directory, the database and any missing column
  // family. Fails, with a message that names dir, when dir cannot be created or is not a
  // directory, when another process (or another RocksDbStorage) holds it, or when it holds
  // data this version cannot read.
  static Result<std::unique_ptr<RocksDbStorage>> Open(const std::string& dir);

  RocksDbStorage(const RocksDbStorage&) = delete;
  RocksDbStorage& operator=(const RocksDbStorage&) = delete;
  // Closes the database and releases the directory lock.
  ~RocksDbStorage() override;

  Status Write(const WriteBatch& batch, bool sync) override;
  Result<std::optional<std::string>> Get(Column column, std::string_view key) const override;
  Status Scan(Column column, std::string_view begin, std::string_view end,
              const Visitor& visit) const override;

  // Writes every memtable to SST files and waits for it. Not needed for durability (synced
  // writes are in the WAL); for tests, and before measuring on-disk size.
  Status Flush();

  // RocksDB's own recovery from a background error (DB::Resume); where it refuses (some
  // WAL write errors), closes the database and opens it again from what is on disk. While
  // that reopening fails, every call answers an I/O error.
  Status Resume() override;

  // Live SST files plus memtables, over all columns: the store's footprint, for metrics.
  Result<uint64_t> ApproximateSizeBytes() const;

  const std::string& dir() const { return dir_; }

 private:
  // Takes ownership of db and of every handle.
  RocksDbStorage(std::string dir, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* default_handle,
                 const std::array<rocksdb::ColumnFamilyHandle*, kColumnCount>& handles);

  void Close();
  rocksdb::ColumnFamilyHandle* Handle(Column column) const {
    return handles_[static_cast<int>(column)];
  }

  const std::string dir_;
  rocksdb::DB* db_;
  // RocksDB insists on opening "default"; magpie writes nothing to it.
  rocksdb::ColumnFamilyHandle* default_handle_;
  std::array<rocksdb::ColumnFamilyHandle*, kColumnCount> handles_;  // indexed by Column
};

}  // namespace magpie

#endif  // MAGPIE_STORAGE_ROCKSDB_STORAGE_H_
