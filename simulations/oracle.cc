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

void Oracle::RecordWipe(int node) {
  for (auto& [group, nodes] : replicas_) {
    if (nodes.count(node) != 0) lost_replicas_[group].insert(node);
  }
}

bool Oracle::GroupSurvives(const std::string& group) const {
  auto r = replicas_.find(group);
  if (r == replicas_.end()) return false;
  auto l = lost_replicas_.find(group);
  const size_t lost = l == lost_replicas_.end() ? 0 : l->second.size();
  // One replica today: a wipe loses the group. A replica group survives while a majority
  // of its replicas kept their disks.
  return lost * 2 < r->second.size();
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
