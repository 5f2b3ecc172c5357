// What a node tells the cluster about its work, so idle nodes can pick whom to steal from
// (DESIGN §6) and any node can route a request to a group's leader (DESIGN §4). It rides on
// the node's "alive" updates; see docs/gossip.md for how fresh it stays.
#ifndef MAGPIE_GOSSIP_MEMBER_LOAD_H_
#define MAGPIE_GOSSIP_MEMBER_LOAD_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace magpie {

struct MemberLoad {
  int32_t slots = 0;    // slots the node has in total
  int32_t running = 0;  // slots in use by running attempts
  int32_t ready = 0;    // ready tasks in the groups it leads, waiting for a slot
  // Ready tasks by priority band, most urgent band first (the bands are the node layer's
  // choice; gossip carries them as given). At most kMaxLoadBands entries on the wire.
  std::vector<int32_t> ready_by_band;
  std::map<std::string, std::string> labels;        // the node's labels (gpu=1, ...)
  std::map<std::string, std::string> leader_hints;  // group id -> node id of its leader
  int64_t stolen = 0;  // tasks this node has stolen from others, since it started
  int64_t given = 0;   // tasks others have stolen from this node, since it started

  bool operator==(const MemberLoad&) const = default;
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_MEMBER_LOAD_H_
