// A list of puts and deletes over the storage columns, applied atomically by Storage::Write.
#ifndef MAGPIE_STORAGE_WRITE_BATCH_H_
#define MAGPIE_STORAGE_WRITE_BATCH_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace magpie {

// Column families. The numbers are stable: they name RocksDB column families on disk.
enum class Column : uint8_t {
  kMeta = 0,   // node identity, hard state, applied index, counters
  kLog = 1,    // group logs: key = group id + big-endian index
  kTasks = 2,  // the applied task table: key = task id
};
inline constexpr int kColumnCount = 3;
const char* ColumnName(Column c);

class WriteBatch {
 public:
  enum class OpType : uint8_t { kPut, kDelete, kDeleteRange };
  struct Op {
    OpType type;
    Column column;
    std::string key;    // for kDeleteRange: begin (inclusive)
    std::string value;  // for kDeleteRange: end (exclusive)
  };

  void Put(Column column, std::string_view key, std::string_view value) {
    bytes_ += key.size() + value.size();
    ops_.push_back(Op{OpType::kPut, column, std::string(key), std::string(value)});
  }
  void Delete(Column column, std::string_view key) {
    bytes_ += key.size();
    ops_.push_back(Op{OpType::kDelete, column, std::string(key), {}});
  }
  // Deletes every key in [begin, end).
  void DeleteRange(Column column, std::string_view begin, std::string_view end) {
    bytes_ += begin.size() + end.size();
    ops_.push_back(Op{OpType::kDeleteRange, column, std::string(begin), std::string(end)});
  }
  void Append(WriteBatch&& other) {
    bytes_ += other.bytes_;
    for (auto& op : other.ops_) ops_.push_back(std::move(op));
    other.Clear();
  }
  void Clear() {
    ops_.clear();
    bytes_ = 0;
  }

  bool empty() const { return ops_.empty(); }
  size_t size() const { return ops_.size(); }
  size_t bytes() const { return bytes_; }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_STORAGE_WRITE_BATCH_H_
