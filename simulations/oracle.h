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
  // A node booted holding this group (its home group today; replicas with replica groups).
  void RecordReplica(const std::string& group, int node);
  // The node's disk was wiped: every group it held loses that replica.
  void RecordWipe(int node);

  // False when every replica of the group lost its disk, so nothing could have kept its
  // tasks. Today a group has one replica; with replica groups this becomes "a majority".
  bool GroupSurvives(const std::string& group) const;
  // The node that holds the group (its home node), or -1.
  int HomeOf(const std::string& group) const;

  const std::map<std::string, AckRecord>& acks() const { return acks_; }
  const std::vector<std::string>& AcksOfGroup(const std::string& group) const;
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
  std::map<std::string, std::set<int>> replicas_;       // group -> nodes holding it
  std::map<std::string, std::set<int>> lost_replicas_;  // group -> nodes that were wiped
  uint64_t processes_started_ = 0;
  size_t live_count_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_ORACLE_H_
