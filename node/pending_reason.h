// Why a task that is not running is not running (DESIGN §3: a task not running carries a
// pending reason): which upstream it waits on, which label no live node has, whether the
// slots it could use are busy or tasks of higher priority come first, which node holds it,
// or until when it backs off. Answered by the group's leader from its table and gossip's
// view of the cluster, at the moment it is asked; it is words for people, not a state.
#ifndef MAGPIE_NODE_PENDING_REASON_H_
#define MAGPIE_NODE_PENDING_REASON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "gossip/member.h"
#include "node/task_table.h"

namespace magpie {

struct PendingContext {
  int64_t now_ms = 0;
  // Live members, this node among them, with their slots, slots in use and labels.
  std::vector<MemberView> live;
  // Node id -> address, to name the holder of an assigned task by where it listens.
  std::string holder_address;
};

// "" for a task that runs or has ended.
std::string PendingReason(const TaskTable& table, const Task& t, const PendingContext& ctx);

}  // namespace magpie

#endif  // MAGPIE_NODE_PENDING_REASON_H_
