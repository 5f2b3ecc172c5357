#include "node/stored_task_records.h"

#include "base/check.h"
#include "node/log_entry.h"

namespace magpie {

std::optional<Task> StoredTaskRecords::Read(const std::string& id) const {
  // The column holds every group's records; a lookup of another group's id is a miss here.
  if (GroupOfTaskId(id) != group_) return std::nullopt;
  auto v = storage_->Get(Column::kTasks, id);
  MAGPIE_CHECK(v.ok(), "reading task record " + id + ": " + v.status().ToString());
  if (!v->has_value()) return std::nullopt;
  auto t = DecodePayload<Task>(**v);
  MAGPIE_CHECK(t.ok(), "task record " + id + " undecodable: " + t.status().ToString());
  return std::move(*t);
}

std::optional<std::string> StoredTaskRecords::ReadEncoded(const std::string& id) const {
  if (GroupOfTaskId(id) != group_) return std::nullopt;
  auto v = storage_->Get(Column::kTasks, id);
  MAGPIE_CHECK(v.ok(), "reading task record " + id + ": " + v.status().ToString());
  return std::move(*v);
}

void StoredTaskRecords::ForEachId(const std::function<bool(const std::string& id)>& visit) const {
  Status s = storage_->Scan(Column::kTasks, GroupTasksBegin(group_), GroupTasksEnd(group_),
                            [&](std::string_view key, std::string_view) {
                              return visit(std::string(key));
                            });
  MAGPIE_CHECK(s.ok(), "reading the task records of group " + group_ + ": " + s.ToString());
}

}  // namespace magpie
