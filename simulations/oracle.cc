#include "simulations/oracle.h"

#include <algorithm>

namespace magpie {

std::string Oracle::GroupOf(const std::string& task_id) {
  const size_t dash = task_id.rfind('-');
  return dash == std::string::npos ? std::string() : task_id.substr(0, dash);
}

void Oracle::RecordAck(const AckRecord& ack) {
  if (acks_.count(ack.id) != 0) return;
  acks_.emplace(ack.id, ack);
  acks_by_group_[ack.group].push_back(ack.id);
}

void Oracle::RecordProcessStart(const SimProcess& p) {
  live_[p.task_id][p.id] = ProcessRecord{p.id, p.node, p.attempt, p.started};
  uint32_t& max = max_attempt_[p.task_id];
  max = std::max(max, p.attempt);
  ++processes_started_;
  ++live_count_;
}

void Oracle::RecordProcessStop(SimTime now, const SimProcess& p) {
  auto it = live_.find(p.task_id);
  if (it == live_.end()) return;
  if (it->second.erase(p.id) != 0) --live_count_;
  if (it->second.empty()) live_.erase(it);
}

void Oracle::RecordReplica(const std::string& group, int node) {
  replicas_[group].insert(node);
}

void Oracle::RecordGroupLost(const std::string& group, SimTime at) {
  lost_groups_.emplace(group, at);
}

void Oracle::RecordCommittedSubmit(const std::string& id, const std::string& key, uint64_t index,
                                   SimTime at) {
  committed_.emplace(id, CommittedSubmit{key, index, at});
}

const CommittedSubmit* Oracle::Committed(const std::string& id) const {
  auto it = committed_.find(id);
  return it == committed_.end() ? nullptr : &it->second;
}

int Oracle::HomeOf(const std::string& group) const {
  auto r = replicas_.find(group);
  return r == replicas_.end() || r->second.empty() ? -1 : *r->second.begin();
}

const std::vector<std::string>& Oracle::AcksOfGroup(const std::string& group) const {
  static const std::vector<std::string> kNone;
  auto it = acks_by_group_.find(group);
  return it == acks_by_group_.end() ? kNone : it->second;
}

const std::map<uint64_t, ProcessRecord>* Oracle::LiveOf(const std::string& task_id) const {
  auto it = live_.find(task_id);
  return it == live_.end() ? nullptr : &it->second;
}

uint32_t Oracle::MaxAttemptStarted(const std::string& task_id) const {
  auto it = max_attempt_.find(task_id);
  return it == max_attempt_.end() ? 0 : it->second;
}

}  // namespace magpie
