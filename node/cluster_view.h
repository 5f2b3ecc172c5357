// Where groups and nodes are, as this node's core knows them: for the driver's work that
// must reach other nodes outside the core (task output). Read from the core's public views
// on the driver's thread; copied out, so nothing refers into the core afterwards.
#ifndef MAGPIE_NODE_CLUSTER_VIEW_H_
#define MAGPIE_NODE_CLUSTER_VIEW_H_

#include <cstddef>
#include <string>
#include <vector>

#include "base/time.h"
#include "node/node_core.h"

namespace magpie {

struct GroupView {
  bool held = false;        // this node holds a replica of the group
  size_t voters = 0;        // known only when held
  bool self_voter = false;
  // The other members (learners too), when held: node id and address.
  std::vector<std::pair<std::string, std::string>> others;
  // Where its leader is: this node's own address when it leads, "" when unknown.
  std::string leader_address;
};
GroupView ViewGroup(const NodeCore& core, const std::string& group);

struct NodeView {
  std::string address;  // "" when not known
  bool gone = false;    // gossip says it is dead or has left
};
NodeView ViewNode(const NodeCore& core, const std::string& node_id, Instant now);

}  // namespace magpie

#endif  // MAGPIE_NODE_CLUSTER_VIEW_H_
