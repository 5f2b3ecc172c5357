// A replica group's task records in storage, as its TaskTable reads them back once ended
// tasks have left memory (docs/DESIGN.md, "Ended tasks live on disk").
#ifndef MAGPIE_NODE_STORED_TASK_RECORDS_H_
#define MAGPIE_NODE_STORED_TASK_RECORDS_H_

#include <string>

#include "node/task_table.h"
#include "storage/storage.h"

namespace magpie {

// Task records of a group sort between these keys of Column::kTasks (ids are <group>-<seq>).
inline std::string GroupTasksBegin(const std::string& group) { return group + "-"; }
inline std::string GroupTasksEnd(const std::string& group) { return group + "."; }

class StoredTaskRecords : public TaskRecordStore {
 public:
  StoredTaskRecords(const Storage* storage, std::string group)
      : storage_(storage), group_(std::move(group)) {}

  // A record that cannot be read or decoded stops the node: the table would otherwise
  // decide differently from its peers.
  std::optional<Task> Read(const std::string& id) const override;
  std::optional<std::string> ReadEncoded(const std::string& id) const override;
  void ForEachId(const std::function<bool(const std::string& id)>& visit) const override;

 private:
  const Storage* storage_;
  std::string group_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_STORED_TASK_RECORDS_H_
