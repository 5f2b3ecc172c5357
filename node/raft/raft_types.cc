#include "node/raft/raft_types.h"

#include <algorithm>

namespace magpie {

const char* RaftRoleName(RaftRole role) {
  switch (role) {
    case RaftRole::kFollower: return "follower";
    case RaftRole::kPreCandidate: return "pre-candidate";
    case RaftRole::kCandidate: return "candidate";
    case RaftRole::kLeader: return "leader";
  }
  return "unknown";
}

const char* RaftChangeKindName(RaftChangeKind kind) {
  switch (kind) {
    case RaftChangeKind::kAddLearner: return "add-learner";
    case RaftChangeKind::kAddVoter: return "add-voter";
    case RaftChangeKind::kPromote: return "promote";
    case RaftChangeKind::kRemove: return "remove";
  }
  return "unknown";
}

const RaftMember* RaftMembership::Find(const std::string& id) const {
  for (const auto& m : members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

bool RaftMembership::IsVoter(const std::string& id) const {
  const RaftMember* m = Find(id);
  return m != nullptr && m->voter;
}

size_t RaftMembership::VoterCount() const {
  return static_cast<size_t>(
      std::count_if(members.begin(), members.end(), [](const RaftMember& m) { return m.voter; }));
}

void RaftMembership::Sort() {
  std::sort(members.begin(), members.end(),
            [](const RaftMember& a, const RaftMember& b) { return a.id < b.id; });
}

}  // namespace magpie
