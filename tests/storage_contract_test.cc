// The Storage contract (storage/storage.h), proven against both implementations: the
// in-memory store the simulator runs on and the RocksDB store the product runs on. If the
// two ever disagree, a simulation stops telling the truth about the product.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "base/status.h"
#include "storage/memory_storage.h"
#include "storage/rocksdb_storage.h"
#include "storage/storage.h"
#include "storage/write_batch.h"

namespace magpie {
namespace {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// A fresh directory under /tmp, removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/magpie-storage-test-XXXXXX";
    char* made = mkdtemp(pattern.data());
    if (made == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Each harness owns one store and knows how to "restart" it: the state a node finds after
// its process ends and starts again.
class MemoryHarness {
 public:
  static constexpr const char* kName = "Memory";
  Storage& storage() { return storage_; }
  // A crash is the harshest restart: only durable state is left.
  void Restart() { storage_.Crash(); }

 private:
  MemoryStorage storage_;
};

class RocksDbHarness {
 public:
  static constexpr const char* kName = "RocksDb";
  RocksDbHarness() { Open(); }
  Storage& storage() { return *storage_; }
  // Closes the database and opens the same directory again.
  void Restart() {
    storage_.reset();
    Open();
  }

 private:
  void Open() {
    Result<std::unique_ptr<RocksDbStorage>> opened = RocksDbStorage::Open(dir_.path());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    storage_ = std::move(opened).value();
  }

  TempDir dir_;  // declared first: outlives the store, which must close before removal
  std::unique_ptr<RocksDbStorage> storage_;
};

// ---- helpers shared by all suites ----

void Put(Storage& storage, Column column, std::string_view key, std::string_view value,
         bool sync = true) {
  WriteBatch batch;
  batch.Put(column, key, value);
  Status s = storage.Write(batch, sync);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

void WriteOk(Storage& storage, const WriteBatch& batch, bool sync = true) {
  Status s = storage.Write(batch, sync);
  ASSERT_TRUE(s.ok()) << s.ToString();
}

std::optional<std::string> Get(const Storage& storage, Column column, std::string_view key) {
  Result<std::optional<std::string>> got = storage.Get(column, key);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  if (!got.ok()) return std::nullopt;
  return *got;
}

KeyValues Scan(const Storage& storage, Column column, std::string_view begin = "",
               std::string_view end = "", size_t limit = std::numeric_limits<size_t>::max()) {
  KeyValues seen;
  Status s = storage.Scan(column, begin, end, [&](std::string_view k, std::string_view v) {
    seen.emplace_back(std::string(k), std::string(v));
    return seen.size() < limit;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return seen;
}

std::vector<std::string> Keys(const KeyValues& kvs) {
  std::vector<std::string> keys;
  for (const auto& kv : kvs) keys.push_back(kv.first);
  return keys;
}

// ---- the contract, against both implementations ----

template <typename Harness>
class StorageContractTest : public ::testing::Test {
 protected:
  Storage& storage() { return harness_.storage(); }
  void Restart() { harness_.Restart(); }

  // Puts key=value for each key into column, synced, in one batch.
  void PutAll(Column column, const std::vector<std::string>& keys) {
    WriteBatch batch;
    for (const std::string& key : keys) batch.Put(column, key, "v:" + key);
    WriteOk(storage(), batch);
  }

  Harness harness_;
};

struct HarnessNames {
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};

using Implementations = ::testing::Types<MemoryHarness, RocksDbHarness>;
TYPED_TEST_SUITE(StorageContractTest, Implementations, HarnessNames);

TYPED_TEST(StorageContractTest, GetReturnsWhatPutStored) {
  Put(this->storage(), Column::kTasks, "t-1", "spec one");
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "t-1"), "spec one");
}

TYPED_TEST(StorageContractTest, GetOfMissingKeyIsNullopt) {
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "nothing-here"), std::nullopt);
  Put(this->storage(), Column::kTasks, "b", "1");
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "a"), std::nullopt);
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "bb"), std::nullopt);
}

TYPED_TEST(StorageContractTest, EmptyValueIsStoredAndDistinctFromMissing) {
  Put(this->storage(), Column::kMeta, "flag", "");
  EXPECT_EQ(Get(this->storage(), Column::kMeta, "flag"), std::string());
  EXPECT_EQ(Get(this->storage(), Column::kMeta, "other"), std::nullopt);
}

TYPED_TEST(StorageContractTest, PutOverwritesEarlierValue) {
  Put(this->storage(), Column::kMeta, "term", "1");
  Put(this->storage(), Column::kMeta, "term", "2");
  EXPECT_EQ(Get(this->storage(), Column::kMeta, "term"), "2");
  EXPECT_EQ(Scan(this->storage(), Column::kMeta), (KeyValues{{"term", "2"}}));
}

TYPED_TEST(StorageContractTest, DeleteRemovesOnlyThatKey) {
  this->PutAll(Column::kTasks, {"a", "b", "c"});
  WriteBatch batch;
  batch.Delete(Column::kTasks, "b");
  WriteOk(this->storage(), batch);
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "b"), std::nullopt);
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kTasks)), (std::vector<std::string>{"a", "c"}));
}

TYPED_TEST(StorageContractTest, DeleteOfMissingKeySucceedsAndChangesNothing) {
  this->PutAll(Column::kTasks, {"a"});
  WriteBatch batch;
  batch.Delete(Column::kTasks, "zzz");
  WriteOk(this->storage(), batch);
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kTasks)), (std::vector<std::string>{"a"}));
}

TYPED_TEST(StorageContractTest, DeleteRangeRemovesBeginInclusiveToEndExclusive) {
  this->PutAll(Column::kLog, {"a", "b", "b1", "c", "d"});
  WriteBatch batch;
  batch.DeleteRange(Column::kLog, "b", "d");
  WriteOk(this->storage(), batch);
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog)), (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(Get(this->storage(), Column::kLog, "b"), std::nullopt);
  EXPECT_EQ(Get(this->storage(), Column::kLog, "d"), "v:d");
}

TYPED_TEST(StorageContractTest, DeleteRangeWithEqualBoundsRemovesNothing) {
  this->PutAll(Column::kLog, {"a", "b"});
  WriteBatch batch;
  batch.DeleteRange(Column::kLog, "b", "b");
  WriteOk(this->storage(), batch);
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog)), (std::vector<std::string>{"a", "b"}));
}

TYPED_TEST(StorageContractTest, PutAfterDeleteRangeIsVisible) {
  this->PutAll(Column::kLog, {"a", "b", "c"});
  WriteBatch batch;
  batch.DeleteRange(Column::kLog, "a", "z");
  WriteOk(this->storage(), batch);
  Put(this->storage(), Column::kLog, "b", "again");
  EXPECT_EQ(Scan(this->storage(), Column::kLog), (KeyValues{{"b", "again"}}));
}

TYPED_TEST(StorageContractTest, ScanVisitsKeysInUnsignedByteOrder) {
  // Bytes >= 0x80 sort after ASCII (unsigned comparison), and a prefix before its extensions.
  this->PutAll(Column::kLog, {"b", "\xff", "a", "ab", "\x80", "\x01", "aa", "A"});
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog)),
            (std::vector<std::string>{"\x01", "A", "a", "aa", "ab", "b", "\x80", "\xff"}));
}

TYPED_TEST(StorageContractTest, ScanReturnsValuesWithTheirKeys) {
  Put(this->storage(), Column::kTasks, "x", "1");
  Put(this->storage(), Column::kTasks, "y", "2");
  EXPECT_EQ(Scan(this->storage(), Column::kTasks), (KeyValues{{"x", "1"}, {"y", "2"}}));
}

TYPED_TEST(StorageContractTest, ScanIncludesBeginAndExcludesEnd) {
  this->PutAll(Column::kLog, {"a", "b", "c", "d", "e"});
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog, "b", "d")),
            (std::vector<std::string>{"b", "c"}));
  // Bounds need not be keys that exist.
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog, "bb", "dd")),
            (std::vector<std::string>{"c", "d"}));
}

TYPED_TEST(StorageContractTest, ScanWithEmptyEndRunsToTheEndOfTheColumn) {
  this->PutAll(Column::kLog, {"a", "b", "c"});
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog, "b", "")),
            (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog, "", "")),
            (std::vector<std::string>{"a", "b", "c"}));
}

TYPED_TEST(StorageContractTest, ScanWithEndNotAfterBeginVisitsNothing) {
  this->PutAll(Column::kLog, {"a", "b", "c"});
  EXPECT_TRUE(Scan(this->storage(), Column::kLog, "b", "b").empty());
  EXPECT_TRUE(Scan(this->storage(), Column::kLog, "c", "a").empty());
}

TYPED_TEST(StorageContractTest, ScanOfEmptyColumnVisitsNothing) {
  EXPECT_TRUE(Scan(this->storage(), Column::kLog).empty());
}

TYPED_TEST(StorageContractTest, ScanStopsWhenVisitorReturnsFalse) {
  this->PutAll(Column::kLog, {"a", "b", "c", "d"});
  int calls = 0;
  Status s = this->storage().Scan(Column::kLog, "", "", [&](std::string_view, std::string_view) {
    ++calls;
    return calls < 2;
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(calls, 2);
}

TYPED_TEST(StorageContractTest, ColumnsAreIndependent) {
  Put(this->storage(), Column::kMeta, "k", "meta");
  Put(this->storage(), Column::kLog, "k", "log");
  Put(this->storage(), Column::kTasks, "k", "tasks");
  EXPECT_EQ(Get(this->storage(), Column::kMeta, "k"), "meta");
  EXPECT_EQ(Get(this->storage(), Column::kLog, "k"), "log");
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "k"), "tasks");

  Put(this->storage(), Column::kLog, "only-in-log", "x");
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "only-in-log"), std::nullopt);
  EXPECT_EQ(Scan(this->storage(), Column::kMeta), (KeyValues{{"k", "meta"}}));

  WriteBatch deletes;
  deletes.Delete(Column::kMeta, "k");
  deletes.DeleteRange(Column::kLog, "", "\xff");
  WriteOk(this->storage(), deletes);
  EXPECT_EQ(Get(this->storage(), Column::kMeta, "k"), std::nullopt);
  EXPECT_TRUE(Scan(this->storage(), Column::kLog).empty());
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "k"), "tasks");
}

TYPED_TEST(StorageContractTest, BatchOpsAcrossColumnsAreAllVisibleAfterOneWrite) {
  this->PutAll(Column::kTasks, {"old"});
  WriteBatch batch;
  batch.Put(Column::kLog, "g1/0001", "submit t-1");
  batch.Put(Column::kTasks, "t-1", "ready");
  batch.Delete(Column::kTasks, "old");
  batch.Put(Column::kMeta, "applied", "1");
  WriteOk(this->storage(), batch);
  EXPECT_EQ(Get(this->storage(), Column::kLog, "g1/0001"), "submit t-1");
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "t-1"), "ready");
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "old"), std::nullopt);
  EXPECT_EQ(Get(this->storage(), Column::kMeta, "applied"), "1");
}

TYPED_TEST(StorageContractTest, BatchOpsApplyInTheOrderAdded) {
  WriteBatch batch;
  batch.Put(Column::kTasks, "deleted-last", "x");
  batch.Delete(Column::kTasks, "deleted-last");
  batch.Delete(Column::kTasks, "put-last");
  batch.Put(Column::kTasks, "put-last", "y");
  batch.Put(Column::kTasks, "overwritten", "1");
  batch.Put(Column::kTasks, "overwritten", "2");
  WriteOk(this->storage(), batch);
  EXPECT_EQ(Scan(this->storage(), Column::kTasks),
            (KeyValues{{"overwritten", "2"}, {"put-last", "y"}}));
}

TYPED_TEST(StorageContractTest, RejectedBatchChangesNothing) {
  this->PutAll(Column::kTasks, {"keep"});
  WriteBatch batch;
  batch.Put(Column::kTasks, "new", "1");
  batch.Delete(Column::kTasks, "keep");
  batch.DeleteRange(Column::kLog, "z", "a");  // end before begin: the whole batch is refused
  Status s = this->storage().Write(batch, /*sync=*/true);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_EQ(Scan(this->storage(), Column::kTasks), (KeyValues{{"keep", "v:keep"}}));
}

TYPED_TEST(StorageContractTest, EmptyBatchSucceeds) {
  WriteOk(this->storage(), WriteBatch(), /*sync=*/true);
  WriteOk(this->storage(), WriteBatch(), /*sync=*/false);
}

TYPED_TEST(StorageContractTest, SyncedWritesSurviveRestart) {
  this->PutAll(Column::kLog, {"1", "2", "3", "4"});
  Put(this->storage(), Column::kMeta, "term", "7");
  Put(this->storage(), Column::kMeta, "term", "8");
  WriteBatch batch;
  batch.Delete(Column::kLog, "1");
  batch.DeleteRange(Column::kLog, "3", "4");
  batch.Put(Column::kTasks, "t", "done");
  WriteOk(this->storage(), batch);

  this->Restart();

  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog)), (std::vector<std::string>{"2", "4"}));
  EXPECT_EQ(Get(this->storage(), Column::kMeta, "term"), "8");
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "t"), "done");
}

TYPED_TEST(StorageContractTest, StoreAcceptsWritesAfterRestart) {
  Put(this->storage(), Column::kMeta, "a", "1");
  this->Restart();
  Put(this->storage(), Column::kMeta, "b", "2");
  this->Restart();
  EXPECT_EQ(Scan(this->storage(), Column::kMeta), (KeyValues{{"a", "1"}, {"b", "2"}}));
}

TYPED_TEST(StorageContractTest, KeysAndValuesWithNulBytesRoundTrip) {
  const std::string a("a", 1);
  const std::string a_nul("a\0", 2);
  const std::string a_nul_b("a\0b", 3);
  const std::string a_nul_c("a\0c", 3);
  const std::string nul_only("\0", 1);
  const std::string value("\0x\0\0y\0", 6);
  WriteBatch batch;
  for (const std::string& key : {a_nul_c, a, a_nul_b, a_nul, nul_only}) {
    batch.Put(Column::kLog, key, value + key);
  }
  WriteOk(this->storage(), batch);

  EXPECT_EQ(Get(this->storage(), Column::kLog, a_nul_b), value + a_nul_b);
  EXPECT_EQ(Get(this->storage(), Column::kLog, a), value + a);  // not confused with "a\0..."
  EXPECT_EQ(Get(this->storage(), Column::kLog, std::string("a\0d", 3)), std::nullopt);
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog)),
            (std::vector<std::string>{nul_only, a, a_nul, a_nul_b, a_nul_c}));
  // NUL bytes inside scan bounds are bounds, not terminators.
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kLog, a_nul, a_nul_c)),
            (std::vector<std::string>{a_nul, a_nul_b}));

  WriteBatch deletes;
  deletes.DeleteRange(Column::kLog, a_nul_b, std::string("a\0z", 3));
  deletes.Delete(Column::kLog, nul_only);
  WriteOk(this->storage(), deletes);
  this->Restart();
  EXPECT_EQ(Scan(this->storage(), Column::kLog),
            (KeyValues{{a, value + a}, {a_nul, value + a_nul}}));
}

TYPED_TEST(StorageContractTest, EmptyKeyIsAKeyLikeAnyOther) {
  Put(this->storage(), Column::kMeta, "", "root");
  Put(this->storage(), Column::kMeta, "a", "1");
  EXPECT_EQ(Get(this->storage(), Column::kMeta, ""), "root");
  EXPECT_EQ(Keys(Scan(this->storage(), Column::kMeta)), (std::vector<std::string>{"", "a"}));
}

TYPED_TEST(StorageContractTest, LargeValueRoundTrips) {
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 251);
  Put(this->storage(), Column::kTasks, "big", big);
  this->Restart();
  EXPECT_EQ(Get(this->storage(), Column::kTasks, "big"), big);
}

// ---- MemoryStorage: the fsync model the simulator relies on ----

TEST(MemoryStorageTest, UnsyncedWriteIsVisibleBeforeACrash) {
  MemoryStorage storage;
  Put(storage, Column::kLog, "k", "v", /*sync=*/false);
  EXPECT_EQ(Get(storage, Column::kLog, "k"), "v");
}

TEST(MemoryStorageTest, CrashDropsUnsyncedWritesButKeepsSyncedOnes) {
  MemoryStorage storage;
  Put(storage, Column::kLog, "synced", "1", /*sync=*/true);
  Put(storage, Column::kLog, "unsynced", "2", /*sync=*/false);
  Put(storage, Column::kMeta, "unsynced-meta", "3", /*sync=*/false);
  storage.Crash();
  EXPECT_EQ(Get(storage, Column::kLog, "synced"), "1");
  EXPECT_EQ(Get(storage, Column::kLog, "unsynced"), std::nullopt);
  EXPECT_EQ(Get(storage, Column::kMeta, "unsynced-meta"), std::nullopt);
}

TEST(MemoryStorageTest, CrashUndoesUnsyncedOverwritesAndDeletes) {
  MemoryStorage storage;
  Put(storage, Column::kTasks, "overwritten", "old", /*sync=*/true);
  Put(storage, Column::kTasks, "deleted", "here", /*sync=*/true);
  Put(storage, Column::kTasks, "range", "here", /*sync=*/true);
  WriteBatch batch;
  batch.Put(Column::kTasks, "overwritten", "new");
  batch.Delete(Column::kTasks, "deleted");
  batch.DeleteRange(Column::kTasks, "r", "s");
  WriteOk(storage, batch, /*sync=*/false);
  EXPECT_TRUE(Get(storage, Column::kTasks, "range") == std::nullopt);

  storage.Crash();

  EXPECT_EQ(Scan(storage, Column::kTasks),
            (KeyValues{{"deleted", "here"}, {"overwritten", "old"}, {"range", "here"}}));
}

TEST(MemoryStorageTest, SyncedWriteMakesEarlierUnsyncedWritesDurable) {
  MemoryStorage storage;
  Put(storage, Column::kLog, "1", "a", /*sync=*/false);
  Put(storage, Column::kTasks, "2", "b", /*sync=*/false);
  Put(storage, Column::kMeta, "3", "c", /*sync=*/true);
  Put(storage, Column::kLog, "4", "after the sync", /*sync=*/false);
  storage.Crash();
  EXPECT_EQ(Get(storage, Column::kLog, "1"), "a");
  EXPECT_EQ(Get(storage, Column::kTasks, "2"), "b");
  EXPECT_EQ(Get(storage, Column::kMeta, "3"), "c");
  EXPECT_EQ(Get(storage, Column::kLog, "4"), std::nullopt);
}

TEST(MemoryStorageTest, EmptySyncedBatchActsAsAnFsync) {
  MemoryStorage storage;
  Put(storage, Column::kLog, "k", "v", /*sync=*/false);
  WriteOk(storage, WriteBatch(), /*sync=*/true);
  storage.Crash();
  EXPECT_EQ(Get(storage, Column::kLog, "k"), "v");
}

TEST(MemoryStorageTest, SecondCrashLosesNothingMore) {
  MemoryStorage storage;
  Put(storage, Column::kLog, "k", "v", /*sync=*/true);
  storage.Crash();
  storage.Crash();
  EXPECT_EQ(Get(storage, Column::kLog, "k"), "v");
}

TEST(MemoryStorageTest, WipeLosesDurableAndUnsyncedData) {
  MemoryStorage storage;
  Put(storage, Column::kLog, "synced", "1", /*sync=*/true);
  Put(storage, Column::kTasks, "unsynced", "2", /*sync=*/false);
  storage.Wipe();
  EXPECT_TRUE(Scan(storage, Column::kLog).empty());
  EXPECT_TRUE(Scan(storage, Column::kTasks).empty());
  storage.Crash();  // nothing durable comes back either
  EXPECT_TRUE(Scan(storage, Column::kLog).empty());
}

TEST(MemoryStorageTest, WritesAreCountedBySyncFlagAndRejectedOnesAreNot) {
  MemoryStorage storage;
  Put(storage, Column::kLog, "a", "1", /*sync=*/true);
  Put(storage, Column::kLog, "b", "1", /*sync=*/false);
  Put(storage, Column::kLog, "c", "1", /*sync=*/false);
  WriteBatch bad;
  bad.DeleteRange(Column::kLog, "z", "a");
  EXPECT_FALSE(storage.Write(bad, /*sync=*/true).ok());
  EXPECT_EQ(storage.synced_writes(), 1u);
  EXPECT_EQ(storage.unsynced_writes(), 2u);
}

TEST(MemoryStorageDeathTest, WriteFromAScanVisitorAborts) {
  MemoryStorage storage;
  Put(storage, Column::kLog, "a", "1");
  EXPECT_DEATH(
      {
        Status ignored = storage.Scan(Column::kLog, "", "", [&](std::string_view, std::string_view) {
          Put(storage, Column::kLog, "b", "2");
          return true;
        });
      },
      "Scan visitor");
}

// ---- RocksDbStorage: opening, and failing to open, a real directory ----

TEST(RocksDbStorageTest, OpenCreatesMissingNestedDirectory) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/not/yet/there";
  Result<std::unique_ptr<RocksDbStorage>> opened = RocksDbStorage::Open(dir);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_EQ((*opened)->dir(), dir);
}

TEST(RocksDbStorageTest, OpeningADirectoryAlreadyOpenFailsNamingTheDirectory) {
  TempDir tmp;
  Result<std::unique_ptr<RocksDbStorage>> first = RocksDbStorage::Open(tmp.path());
  ASSERT_TRUE(first.ok()) << first.status().ToString();

  Result<std::unique_ptr<RocksDbStorage>> second = RocksDbStorage::Open(tmp.path());
  ASSERT_FALSE(second.ok());
  const std::string& msg = second.status().message();
  EXPECT_EQ(second.status().code(), Status::Code::kIOError) << msg;
  EXPECT_NE(msg.find("cannot open data directory " + tmp.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("is another magpie-node using it?"), std::string::npos) << msg;

  // The first store is unharmed, and closing it frees the directory.
  Put(**first, Column::kMeta, "k", "v");
  first = Status::Unavailable("closed");
  Result<std::unique_ptr<RocksDbStorage>> third = RocksDbStorage::Open(tmp.path());
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(Get(**third, Column::kMeta, "k"), "v");
}

TEST(RocksDbStorageTest, OpeningADirectoryLockedByAnotherProcessFailsNamingTheDirectory) {
  TempDir tmp;
  {
    Result<std::unique_ptr<RocksDbStorage>> created = RocksDbStorage::Open(tmp.path());
    ASSERT_TRUE(created.ok()) << created.status().ToString();
  }
  // The child takes RocksDB's lock (an fcntl lock on DIR/LOCK) with plain system calls, so
  // nothing but async-signal-safe code runs after fork. Pipes order the steps: no sleeps.
  int locked[2];
  int release[2];
  ASSERT_EQ(pipe(locked), 0);
  ASSERT_EQ(pipe(release), 0);
  const std::string lock_file = tmp.path() + "/LOCK";
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int fd = open(lock_file.c_str(), O_RDWR);
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    char ok = (fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0) ? 1 : 0;
    if (write(locked[1], &ok, 1) != 1) _exit(1);
    char ignored;
    if (read(release[0], &ignored, 1) < 0) _exit(1);
    _exit(0);
  }
  char child_locked = 0;
  ASSERT_EQ(read(locked[0], &child_locked, 1), 1);
  ASSERT_EQ(child_locked, 1) << "the child could not lock " << lock_file;

  Result<std::unique_ptr<RocksDbStorage>> opened = RocksDbStorage::Open(tmp.path());

  char go = 0;
  EXPECT_EQ(write(release[1], &go, 1), 1);
  int wait_status = 0;
  EXPECT_EQ(waitpid(child, &wait_status, 0), child);
  for (int fd : {locked[0], locked[1], release[0], release[1]}) close(fd);

  ASSERT_FALSE(opened.ok());
  const std::string& msg = opened.status().message();
  EXPECT_EQ(opened.status().code(), Status::Code::kIOError) << msg;
  EXPECT_NE(msg.find("cannot open data directory " + tmp.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("is another magpie-node using it?"), std::string::npos) << msg;
}

TEST(RocksDbStorageTest, OpeningARegularFileFailsNamingThePath) {
  TempDir tmp;
  const std::string file = tmp.path() + "/a-file";
  std::ofstream(file) << "not a database";
  Result<std::unique_ptr<RocksDbStorage>> opened = RocksDbStorage::Open(file);
  ASSERT_FALSE(opened.ok());
  const std::string& msg = opened.status().message();
  EXPECT_NE(msg.find(file), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a directory"), std::string::npos) << msg;
}

TEST(RocksDbStorageTest, OpeningBelowARegularFileFailsNamingThePath) {
  TempDir tmp;
  const std::string file = tmp.path() + "/a-file";
  std::ofstream(file) << "not a database";
  const std::string dir = file + "/data";
  Result<std::unique_ptr<RocksDbStorage>> opened = RocksDbStorage::Open(dir);
  ASSERT_FALSE(opened.ok());
  EXPECT_NE(opened.status().message().find(dir), std::string::npos) << opened.status().ToString();
}

TEST(RocksDbStorageTest, OpeningEmptyPathIsInvalidArgument) {
  Result<std::unique_ptr<RocksDbStorage>> opened = RocksDbStorage::Open("");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), Status::Code::kInvalidArgument);
}

TEST(RocksDbStorageTest, OpeningADirectoryWithAnUnknownColumnFamilyFailsClearly) {
  TempDir tmp;
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, tmp.path(), &db).ok());
    rocksdb::ColumnFamilyHandle* cf = nullptr;
    ASSERT_TRUE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "from-the-future", &cf).ok());
    ASSERT_TRUE(db->DestroyColumnFamilyHandle(cf).ok());
    delete db;
  }
  Result<std::unique_ptr<RocksDbStorage>> opened = RocksDbStorage::Open(tmp.path());
  ASSERT_FALSE(opened.ok());
  const std::string& msg = opened.status().message();
  EXPECT_EQ(opened.status().code(), Status::Code::kFailedPrecondition) << msg;
  EXPECT_NE(msg.find(tmp.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("from-the-future"), std::string::npos) << msg;
}

TEST(RocksDbStorageTest, FlushKeepsDataAndSizeCountsIt) {
  TempDir tmp;
  Result<std::unique_ptr<RocksDbStorage>> opened = RocksDbStorage::Open(tmp.path());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  RocksDbStorage& storage = **opened;

  Result<uint64_t> empty_size = storage.ApproximateSizeBytes();
  ASSERT_TRUE(empty_size.ok()) << empty_size.status().ToString();

  WriteBatch batch;
  for (int i = 0; i < 1000; ++i) {
    batch.Put(Column::kLog, "entry-" + std::to_string(1000000 + i), std::string(100, 'x'));
  }
  WriteOk(storage, batch);
  Result<uint64_t> in_memtable = storage.ApproximateSizeBytes();
  ASSERT_TRUE(in_memtable.ok()) << in_memtable.status().ToString();
  EXPECT_GT(*in_memtable, *empty_size);

  Status flushed = storage.Flush();
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  Result<uint64_t> on_disk = storage.ApproximateSizeBytes();
  ASSERT_TRUE(on_disk.ok()) << on_disk.status().ToString();
  EXPECT_GT(*on_disk, 0u);
  EXPECT_EQ(Scan(storage, Column::kLog).size(), 1000u);
  EXPECT_EQ(Get(storage, Column::kLog, "entry-1000999"), std::string(100, 'x'));
}

}  // namespace
}  // namespace magpie
