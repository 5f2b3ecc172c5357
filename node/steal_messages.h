// Messages of work stealing and execution leases between nodes (DESIGN §4, §6), carried
// as PeerMessage payloads (msgpack arrays; fields are only ever appended).
//
//   thief  --StealRequest-->  victim (leader of its group)
//   thief  <--StealReply----  victim, once the Grants to the thief are committed
//   holder --LeaseRenew---->  leader, every lease/3; renewals are not logged
//   holder <--LeaseRenewAck-  leader: which attempts are still current
//   holder --FinishReport-->  leader, until acknowledged
//   holder <--FinishAck-----  leader, once the Finish is committed (or was stale)
#ifndef MAGPIE_NODE_STEAL_MESSAGES_H_
#define MAGPIE_NODE_STEAL_MESSAGES_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <msgpack.hpp>

#include "gossip/peer_message.h"
#include "node/log_entry.h"
#include "node/task.h"

namespace magpie {

inline constexpr auto kStealRequestType = static_cast<PeerMessageType>(64);
inline constexpr auto kStealReplyType = static_cast<PeerMessageType>(65);
inline constexpr auto kLeaseRenewType = static_cast<PeerMessageType>(66);
inline constexpr auto kLeaseRenewAckType = static_cast<PeerMessageType>(67);
inline constexpr auto kFinishReportType = static_cast<PeerMessageType>(68);
inline constexpr auto kFinishAckType = static_cast<PeerMessageType>(69);

struct StealRequest {
  uint64_t seq = 0;
  std::string thief_id;
  int32_t free_slots = 0;
  std::map<std::string, std::string> labels;
  MSGPACK_DEFINE(seq, thief_id, free_slots, labels);
};

struct StolenTask {
  std::string task_id;
  uint32_t attempt = 0;
  TaskSpec spec;
  MSGPACK_DEFINE(task_id, attempt, spec);
};

struct StealReply {
  uint64_t seq = 0;  // of the request it answers
  std::string victim_id;
  std::vector<StolenTask> tasks;  // empty: nothing to give
  MSGPACK_DEFINE(seq, victim_id, tasks);
};

struct AttemptRef {
  std::string task_id;
  uint32_t attempt = 0;
  MSGPACK_DEFINE(task_id, attempt);
  auto operator<=>(const AttemptRef&) const = default;
};

struct LeaseRenew {
  uint64_t seq = 0;
  std::string holder_id;
  std::vector<AttemptRef> attempts;
  MSGPACK_DEFINE(seq, holder_id, attempts);
};

struct LeaseRenewAck {
  uint64_t seq = 0;                // of the renewal it answers
  std::vector<AttemptRef> current;  // still granted to the holder; the rest must die
  MSGPACK_DEFINE(seq, current);
};

struct FinishReport {
  std::string holder_id;
  FinishEntry finish;
  MSGPACK_DEFINE(holder_id, finish);
};

struct FinishAck {
  AttemptRef attempt;
  MSGPACK_DEFINE(attempt);
};

}  // namespace magpie

#endif  // MAGPIE_NODE_STEAL_MESSAGES_H_
