#include "storage/memory_storage.h"

#include <utility>

#include "base/check.h"

namespace magpie {

namespace {

bool IsValidColumn(Column column) { return static_cast<int>(column) < kColumnCount; }

// Rejects a batch that RocksDbStorage would reject too, before any of it is applied, so a
// bad batch changes nothing in either store.
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

}  // namespace

void MemoryStorage::Apply(const WriteBatch& batch, Tables& tables) {
  for (const WriteBatch::Op& op : batch.ops()) {
    Table& table = tables[static_cast<int>(op.column)];
    switch (op.type) {
      case WriteBatch::OpType::kPut:
        table.insert_or_assign(op.key, op.value);
        break;
      case WriteBatch::OpType::kDelete:
        table.erase(op.key);
        break;
      case WriteBatch::OpType::kDeleteRange:
        table.erase(table.lower_bound(op.key), table.lower_bound(op.value));
        break;
    }
  }
}

Status MemoryStorage::Write(const WriteBatch& batch, bool sync) {
  MAGPIE_CHECK(scans_in_progress_ == 0, "MemoryStorage::Write called from a Scan visitor");
  Status s = CheckBatch(batch);
  if (!s.ok()) return s;

  Apply(batch, live_);
  if (sync) {
    // fsync of a log file: everything written before it becomes durable with it.
    for (const WriteBatch& earlier : unsynced_) Apply(earlier, durable_);
    unsynced_.clear();
    Apply(batch, durable_);
    ++synced_writes_;
  } else {
    unsynced_.push_back(batch);
    ++unsynced_writes_;
  }
  return Status::Ok();
}

Result<std::optional<std::string>> MemoryStorage::Get(Column column, std::string_view key) const {
  if (!IsValidColumn(column)) {
    return Status::InvalidArgument("get from unknown column " +
                                   std::to_string(static_cast<int>(column)));
  }
  const Table& table = live_[static_cast<int>(column)];
  auto it = table.find(key);
  if (it == table.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

Status MemoryStorage::Scan(Column column, std::string_view begin, std::string_view end,
                           const Visitor& visit) const {
  if (!IsValidColumn(column)) {
    return Status::InvalidArgument("scan of unknown column " +
                                   std::to_string(static_cast<int>(column)));
  }
  // Counted so that a visitor that writes trips a check instead of a dangling iterator;
  // the guard keeps the count right if the visitor throws.
  struct ScanGuard {
    int& count;
    explicit ScanGuard(int& c) : count(c) { ++count; }
    ~ScanGuard() { --count; }
  } guard(scans_in_progress_);

  const Table& table = live_[static_cast<int>(column)];
  for (auto it = table.lower_bound(begin); it != table.end(); ++it) {
    if (!end.empty() && std::string_view(it->first) >= end) break;
    if (!visit(it->first, it->second)) break;
  }
  return Status::Ok();
}

void MemoryStorage::Crash() {
  MAGPIE_CHECK(scans_in_progress_ == 0, "MemoryStorage::Crash called from a Scan visitor");
  live_ = durable_;
  unsynced_.clear();
}

void MemoryStorage::Wipe() {
  MAGPIE_CHECK(scans_in_progress_ == 0, "MemoryStorage::Wipe called from a Scan visitor");
  live_ = Tables();
  durable_ = Tables();
  unsynced_.clear();
}

}  // namespace magpie
