#include "node/cluster_view.h"

namespace magpie {

GroupView ViewGroup(const NodeCore& core, const std::string& group) {
  GroupView v;
  const std::string& self = core.options().node_id;
  if (const Replica* r = core.replica(group)) {
    v.held = true;
    const RaftMembership& m = r->raft.members();
    v.voters = m.VoterCount();
    v.self_voter = m.IsVoter(self);
    for (const RaftMember& member : m.members) {
      if (member.id != self) v.others.emplace_back(member.id, member.address);
    }
    if (r->raft.is_leader()) {
      v.leader_address = core.options().client_address;
    } else if (const RaftMember* leader = m.Find(r->raft.leader_id())) {
      v.leader_address = leader->address;
    }
  }
  if (v.leader_address.empty()) v.leader_address = core.membership().LeaderHintAddress(group);
  return v;
}

NodeView ViewNode(const NodeCore& core, const std::string& node_id, Instant now) {
  NodeView v;
  if (node_id == core.options().node_id) {
    v.address = core.options().client_address;
    return v;
  }
  if (auto m = core.membership().Find(node_id, now)) {
    v.address = m->address;
    v.gone = m->state == MemberState::kDead || m->state == MemberState::kLeft;
    return v;
  }
  // Not in gossip's view (reaped long ago, or not heard of yet): a group may still name it.
  for (const std::string& g : core.groups()) {
    if (const Replica* r = core.replica(g)) {
      if (const RaftMember* m = r->raft.members().Find(node_id)) {
        v.address = m->address;
        return v;
      }
    }
  }
  return v;
}

}  // namespace magpie
