// The oracle: what really happened, in true time, whatever the nodes believe. It records
// every acknowledgement a client received, every simulated process start and stop, and
// which group lives where; the checkers read it. It decides nothing.
#ifndef MAGPIE_SIMULATIONS_ORACLE_H_
#define MAGPIE_SIMULATIONS_ORACLE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "simulations/sim_executor.h"
#include "simulations/sim_time.h"

namespace magpie {

struct AckRecord {
  std::string id;
  std::string group;
  int client = -1;
  int node = -1;  // the node that answered
  SimTime at;     // when the client received it
  std::string key;  // the idempotency key the client submitted it with ("" if none)
};

// A Submit some replica applied: the group committed it at this index.
struct CommittedSubmit {
  std::string key;  // the spec's idempotency key
  uint64_t index = 0;
  SimTime at;  // first applied anywhere
};

struct ProcessRecord {
  uint64_t id = 0;
  int node = -1;
  uint32_t attempt = 0;
  SimTime started;
};

class Oracle {
 public:
  // The group an id belongs to: ids are "<group>-<seq>" (DESIGN §3).
  static std::string GroupOf(const std::string& task_id);

  void RecordAck(const AckRecord& ack);
  void RecordProcessStart(const SimProcess& p);
  void RecordProcessStop(SimTime now, const SimProcess& p);
  // A node booted holding this group as its home group (it created the group).
  void RecordReplica(const std::string& group, int node);
  // The disk of the node known as node_id was wiped: that identity is gone for good.
  void RecordWipe(const std::string& node_id) { wiped_ids_.insert(node_id); }
  bool Wiped(const std::string& node_id) const { return wiped_ids_.count(node_id) != 0; }
  // The world saw a majority of the group's voters (in some replica's configuration) with
  // wiped disks: nothing guarantees its committed log any more (World::NoteGroupLosses).
  void RecordGroupLost(const std::string& group, SimTime at);
  // The group's committed log is still held by a majority of its voters' disks.
  bool GroupSurvives(const std::string& group) const { return lost_groups_.count(group) == 0; }
  size_t lost_groups() const { return lost_groups_.size(); }
  // The node that created the group (its home node), or -1.
  int HomeOf(const std::string& group) const;

  // A replica applied a Submit; the first one of an id is kept.
  void RecordCommittedSubmit(const std::string& id, const std::string& key, uint64_t index, SimTime at);
  const CommittedSubmit* Committed(const std::string& id) const;

  const std::map<std::string, AckRecord>& acks() const { return acks_; }
  const std::vector<std::string>& AcksOfGroup(const std::string& group) const;
  const std::map<std::string, std::vector<std::string>>& acks_by_group() const { return acks_by_group_; }
  // Live processes of a task, by process id.
  const std::map<uint64_t, ProcessRecord>* LiveOf(const std::string& task_id) const;
  // The highest attempt number a process was ever started for (0: none).
  uint32_t MaxAttemptStarted(const std::string& task_id) const;
  uint64_t processes_started() const { return processes_started_; }
  size_t live_processes() const { return live_count_; }

 private:
  std::map<std::string, AckRecord> acks_;                 // first ack of each id
  std::map<std::string, std::vector<std::string>> acks_by_group_;
  std::map<std::string, std::map<uint64_t, ProcessRecord>> live_;  // by task id
  std::map<std::string, uint32_t> max_attempt_;
  std::map<std::string, std::set<int>> replicas_;  // group -> the node that created it
  std::set<std::string> wiped_ids_;
  std::map<std::string, SimTime> lost_groups_;
  std::map<std::string, CommittedSubmit> committed_;  // by task id
  uint64_t processes_started_ = 0;
  size_t live_count_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_ORACLE_H_
