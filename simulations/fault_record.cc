#include "simulations/fault_record.h"

#include <algorithm>

namespace magpie {

FaultRecord::FaultRecord(int nodes, Duration slow_packet)
    : slow_packet_(slow_packet), nodes_(static_cast<size_t>(std::max(nodes, 0))) {}

void FaultRecord::Note(SimTime at, int node) {
  if (node < 0 || node >= static_cast<int>(nodes_.size())) return;
  nodes_[node].last = std::max(nodes_[node].last, at);
}

void FaultRecord::Booted(SimTime at, int node, const std::string& id) {
  if (node < 0 || node >= static_cast<int>(nodes_.size())) return;
  Node& n = nodes_[node];
  n.id = id;
  n.up = true;
  n.paused = false;
  node_of_[id] = node;
  Note(at, node);  // down until now
}

void FaultRecord::Crashed(SimTime at, int node) {
  if (node < 0 || node >= static_cast<int>(nodes_.size())) return;
  nodes_[node].up = false;
  Note(at, node);
}

void FaultRecord::Paused(SimTime at, int node) {
  if (node < 0 || node >= static_cast<int>(nodes_.size())) return;
  nodes_[node].paused = true;
  Note(at, node);
}

void FaultRecord::Resumed(SimTime at, int node) {
  if (node < 0 || node >= static_cast<int>(nodes_.size())) return;
  nodes_[node].paused = false;
  Note(at, node);
}

void FaultRecord::Disturbed(SimTime at, int from, int to) {
  Note(at, from);
  Note(at, to);
}

int FaultRecord::NodeOf(const std::string& id) const {
  auto it = node_of_.find(id);
  return it == node_of_.end() ? -1 : it->second;
}

SimTime FaultRecord::LastDisturbed(const std::string& id) const {
  const int node = NodeOf(id);
  if (node < 0) return SimTime::Never();
  const Node& n = nodes_[node];
  if (n.id != id || !n.up || n.paused) return SimTime::Never();
  return n.last;
}

}  // namespace magpie
