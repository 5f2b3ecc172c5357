#include "storage/write_batch.h"

namespace magpie {

// These names are on disk (RocksDB column family names): never rename one.
const char* ColumnName(Column c) {
  switch (c) {
    case Column::kMeta:
      return "meta";
    case Column::kLog:
      return "log";
    case Column::kTasks:
      return "tasks";
  }
  // Only reachable through a cast from a bad integer; a name is still better than a crash
  // here, since callers put it in error messages.
  return "unknown";
}

}  // namespace magpie
