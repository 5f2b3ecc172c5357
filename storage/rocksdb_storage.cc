#include "storage/rocksdb_storage.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include "base/check.h"

namespace magpie {

namespace {

// Memory budget. An idle node should stay under ~30 MB RSS, so the caches are small; the
// working set that matters (recent log entries, live tasks) is mostly in the memtables.
constexpr size_t kBlockCacheBytes = 4 << 20;
constexpr size_t kWriteBufferBytes = 8 << 20;    // per column family memtable
constexpr size_t kAllWriteBuffersBytes = 24 << 20;  // cap over all memtables together
// The meta column changes rarely, so its memtable could pin old WAL files for ever; past
// this size RocksDB flushes the column families that hold the oldest WAL back.
constexpr uint64_t kMaxTotalWalBytes = 64 << 20;
constexpr int kMaxOpenFiles = 256;  // well under the usual 1024 fd limit, sockets need some
constexpr int kMaxBackgroundJobs = 2;  // flush + compaction, on a machine shared with tasks
constexpr size_t kInfoLogFileBytes = 4 << 20;
constexpr size_t kInfoLogFilesKept = 3;

bool IsValidColumn(Column column) { return static_cast<int>(column) < kColumnCount; }

// The same check MemoryStorage makes, so both stores reject the same batches before
// applying any of them.
Status CheckBatch(const WriteBatch& batch) {
  for (const WriteBatch::Op& op : batch.ops()) {
    if (!IsValidColumn(op.column)) {
      return Status::InvalidArgument("write batch names unknown column " +
                                     std::to_string(static_cast<int>(op.column)));
    }
    if (op.type == WriteBatch::OpType::kDeleteRange && op.value < op.key) {
      return Status::InvalidArgument(std::string("write batch deletes a range in column ") +
                                     ColumnName(op.column) + " whose end is before its begin");
    }
  }
  return Status::Ok();
}

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// "<context>: <rocksdb's words>[ (<what to do>)]". context names the directory, since a
// user with several nodes on one machine needs to know which one is in trouble.
Status FromRocks(const rocksdb::Status& s, const std::string& context) {
  MAGPIE_CHECK(!s.ok(), "FromRocks called with an ok status");
  std::string msg = context + ": " + s.ToString();
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return Status::NotFound(std::move(msg));
    case rocksdb::Status::kCorruption:
      return Status::Corruption(msg + " (the data directory is damaged)");
    case rocksdb::Status::kNotSupported:
      return Status::FailedPrecondition(std::move(msg));
    case rocksdb::Status::kInvalidArgument:
      return Status::InvalidArgument(std::move(msg));
    case rocksdb::Status::kIOError:
      if (s.IsNoSpace()) return Status::IOError(msg + " (the disk is full)");
      // RocksDB says "While lock file: DIR/LOCK" when another process holds the directory
      // and "lock hold by current process" when this process already opened it.
      if (Contains(msg, "/LOCK")) {
        return Status::IOError(msg + " (is another magpie-node using it?)");
      }
      return Status::IOError(std::move(msg));
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kTimedOut:
      return Status::Busy(std::move(msg));
    case rocksdb::Status::kIncomplete:
    case rocksdb::Status::kShutdownInProgress:
    case rocksdb::Status::kAborted:
    case rocksdb::Status::kColumnFamilyDropped:
      return Status::Unavailable(std::move(msg));
    default:
      return Status::IOError(std::move(msg));
  }
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

rocksdb::CompressionType PickCompression() {
  // LZ4 is cheap enough for a write-heavy log and shrinks msgpack entries well; the
  // distribution's build may lack it, and a missing codec would fail Open.
  std::vector<rocksdb::CompressionType> supported = rocksdb::GetSupportedCompressions();
  for (rocksdb::CompressionType c : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), c) != supported.end()) return c;
  }
  return rocksdb::kNoCompression;
}

rocksdb::DBOptions MakeDbOptions() {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = kMaxBackgroundJobs;
  options.max_open_files = kMaxOpenFiles;
  options.db_write_buffer_size = kAllWriteBuffersBytes;
  options.max_total_wal_size = kMaxTotalWalBytes;
  // Flush memtables on a clean close so the next start replays little WAL.
  options.avoid_flush_during_shutdown = false;
  // RocksDB's own LOG files in the data directory: useful, but bounded.
  options.max_log_file_size = kInfoLogFileBytes;
  options.keep_log_file_num = kInfoLogFilesKept;
  return options;
}

rocksdb::ColumnFamilyOptions MakeColumnOptions(const std::shared_ptr<rocksdb::Cache>& cache,
                                               rocksdb::CompressionType compression) {
  rocksdb::ColumnFamilyOptions options;
  options.write_buffer_size = kWriteBufferBytes;
  options.compaction_style = rocksdb::kCompactionStyleLevel;
  // Sizes levels from the bottom up, which keeps space amplification near 1.1 whatever the
  // data size (RocksDB's recommended setting for level compaction).
  options.level_compaction_dynamic_level_bytes = true;
  options.target_file_size_base = kWriteBufferBytes;
  options.compression = compression;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  // Index and filter blocks live in the (bounded) cache instead of growing with the data.
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  // Point lookups (tasks, meta) mostly hit; a bloom filter makes misses cheap.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return options;
}

// A directory written by a newer magpie may hold columns this one does not know. RocksDB
// would refuse to open it with a terse message; say what it means instead.
Status CheckKnownColumns(const std::string& dir, const rocksdb::DBOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec)) {
    return Status::Ok();  // a new database
  }
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, dir, &names);
  if (!s.ok()) return FromRocks(s, "cannot open data directory " + dir);
  for (const std::string& name : names) {
    bool known = name == rocksdb::kDefaultColumnFamilyName;
    for (int i = 0; i < kColumnCount; ++i) {
      if (name == ColumnName(static_cast<Column>(i))) known = true;
    }
    if (!known) {
      return Status::FailedPrecondition("cannot open data directory " + dir +
                                        ": it holds column family '" + name +
                                        "' that this magpie does not know (written by a "
                                        "newer version?)");
    }
  }
  return Status::Ok();
}

}  // namespace

RocksDbStorage::RocksDbStorage(std::string dir, rocksdb::DB* db,
                               rocksdb::ColumnFamilyHandle* default_handle,
                               const std::array<rocksdb::ColumnFamilyHandle*, kColumnCount>& handles)
    : dir_(std::move(dir)), db_(db), default_handle_(default_handle), handles_(handles) {}

RocksDbStorage::~RocksDbStorage() { Close(); }

void RocksDbStorage::Close() {
  if (db_ == nullptr) return;
  // Handles before the database, as RocksDB requires. Errors here have no one to go to:
  // synced data is already safe in the WAL, and the next Open recovers the rest.
  for (rocksdb::ColumnFamilyHandle* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  db_->DestroyColumnFamilyHandle(default_handle_);
  db_->Close().PermitUncheckedError();
  delete db_;
  db_ = nullptr;
}

Status RocksDbStorage::Resume() {
  if (db_ != nullptr) {
    rocksdb::Status s = db_->Resume();
    if (s.ok()) return Status::Ok();
    Close();
  }
  auto fresh = Open(dir_);
  if (!fresh.ok()) return fresh.status();
  // Take over the new instance's database and handles; it then owns nothing.
  RocksDbStorage& other = **fresh;
  db_ = other.db_;
  default_handle_ = other.default_handle_;
  handles_ = other.handles_;
  other.db_ = nullptr;
  return Status::Ok();
}

Result<std::unique_ptr<RocksDbStorage>> RocksDbStorage::Open(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("the data directory path is empty");
  const std::string context = "cannot open data directory " + dir;

  // The filesystem calls below report through error_code; only allocation can throw, and
  // nothing escapes an adapter.
  try {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    std::error_code ignored;
    if (!std::filesystem::is_directory(dir, ignored)) {
      if (std::filesystem::exists(dir, ignored)) {
        return Status::FailedPrecondition(context + ": it exists and is not a directory");
      }
      return Status::IOError("cannot create data directory " + dir + ": " +
                             (ec ? ec.message() : std::string("unknown error")));
    }

    rocksdb::DBOptions db_options = MakeDbOptions();
    Status known = CheckKnownColumns(dir, db_options);
    if (!known.ok()) return known;

    std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(kBlockCacheBytes);
    rocksdb::ColumnFamilyOptions cf_options = MakeColumnOptions(cache, PickCompression());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, cf_options);
    for (int i = 0; i < kColumnCount; ++i) {
      descriptors.emplace_back(ColumnName(static_cast<Column>(i)), cf_options);
    }

    std::vector<rocksdb::ColumnFamilyHandle*> opened;
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(db_options, dir, descriptors, &opened, &db);
    if (!s.ok()) return FromRocks(s, context);
    MAGPIE_CHECK(opened.size() == descriptors.size(), "RocksDB opened a different set of column families");

    // RocksDB returns the handles in descriptor order: default first, then by Column.
    std::array<rocksdb::ColumnFamilyHandle*, kColumnCount> handles;
    for (int i = 0; i < kColumnCount; ++i) handles[i] = opened[i + 1];
    return std::unique_ptr<RocksDbStorage>(new RocksDbStorage(dir, db, opened[0], handles));
  } catch (const std::exception& e) {
    return Status::IOError(context + ": " + e.what());
  }
}

Status RocksDbStorage::Write(const WriteBatch& batch, bool sync) {
  Status checked = CheckBatch(batch);
  if (!checked.ok()) return checked;

  rocksdb::WriteBatch rocks_batch;
  for (const WriteBatch::Op& op : batch.ops()) {
    rocksdb::ColumnFamilyHandle* cf = Handle(op.column);
    rocksdb::Status s;
    switch (op.type) {
      case WriteBatch::OpType::kPut:
        s = rocks_batch.Put(cf, op.key, op.value);
        break;
      case WriteBatch::OpType::kDelete:
        s = rocks_batch.Delete(cf, op.key);
        break;
      case WriteBatch::OpType::kDeleteRange:
        // An empty range would still leave a tombstone behind to compact away.
        if (op.key == op.value) continue;
        s = rocks_batch.DeleteRange(cf, op.key, op.value);
        break;
    }
    if (!s.ok()) return FromRocks(s, "cannot build a write to data directory " + dir_);
  }

  if (db_ == nullptr) return Status::IOError("data directory " + dir_ + " is closed after a write error; not reopened yet");
  rocksdb::WriteOptions options;
  options.sync = sync;
  rocksdb::Status s = db_->Write(options, &rocks_batch);
  if (!s.ok()) return FromRocks(s, "cannot write to data directory " + dir_);
  return Status::Ok();
}

Result<std::optional<std::string>> RocksDbStorage::Get(Column column, std::string_view key) const {
  if (!IsValidColumn(column)) {
    return Status::InvalidArgument("get from unknown column " +
                                   std::to_string(static_cast<int>(column)));
  }
  if (db_ == nullptr) return Status::IOError("data directory " + dir_ + " is closed after a write error; not reopened yet");
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Handle(column), ToSlice(key), &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "cannot read from data directory " + dir_);
  return std::optional<std::string>(value.ToString());
}

Status RocksDbStorage::Scan(Column column, std::string_view begin, std::string_view end,
                            const Visitor& visit) const {
  if (!IsValidColumn(column)) {
    return Status::InvalidArgument("scan of unknown column " +
                                   std::to_string(static_cast<int>(column)));
  }
  if (!end.empty() && end <= begin) return Status::Ok();
  if (db_ == nullptr) return Status::IOError("data directory " + dir_ + " is closed after a write error; not reopened yet");

  rocksdb::ReadOptions options;
  // The bound lets RocksDB stop at end itself and skip files past it. It must outlive the
  // iterator, which it does: both die at the end of this function.
  rocksdb::Slice upper = ToSlice(end);
  if (!end.empty()) options.iterate_upper_bound = &upper;

  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, Handle(column)));
  for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
    if (!visit(ToView(it->key()), ToView(it->value()))) break;
  }
  // Valid() is false both at the end and on an error; only status() tells them apart.
  if (!it->status().ok()) return FromRocks(it->status(), "cannot scan data directory " + dir_);
  return Status::Ok();
}

Status RocksDbStorage::Flush() {
  if (db_ == nullptr) return Status::IOError("data directory " + dir_ + " is closed after a write error; not reopened yet");
  std::vector<rocksdb::ColumnFamilyHandle*> all(handles_.begin(), handles_.end());
  rocksdb::FlushOptions options;
  options.wait = true;
  rocksdb::Status s = db_->Flush(options, all);
  if (!s.ok()) return FromRocks(s, "cannot flush data directory " + dir_);
  return Status::Ok();
}

Result<uint64_t> RocksDbStorage::ApproximateSizeBytes() const {
  if (db_ == nullptr) return Status::IOError("data directory " + dir_ + " is closed after a write error; not reopened yet");
  uint64_t total = 0;
  for (rocksdb::ColumnFamilyHandle* cf : handles_) {
    for (const std::string& property :
         {rocksdb::DB::Properties::kLiveSstFilesSize, rocksdb::DB::Properties::kSizeAllMemTables}) {
      uint64_t value = 0;
      if (!db_->GetIntProperty(cf, property, &value)) {
        return Status::Unavailable("cannot measure data directory " + dir_ + ": RocksDB has no " +
                                   property + " for column " + cf->GetName());
      }
      total += value;
    }
  }
  return total;
}

}  // namespace magpie
