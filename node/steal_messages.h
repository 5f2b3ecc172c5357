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
  uint64_t thief_life = 0;  // the thief's incarnation: grants carry it (holder_life)
  // Set when a follower passed the request on to a leader: where the answer goes.
  std::string thief_address;
  int32_t hops = 0;
  // The thief's earlier asks it has no answer to yet (asked within half a lease): a victim
  // that answered one of them subtracts what it gave, since it is still on its way.
  std::vector<uint64_t> awaiting;
  // Of free_slots, those free now (the rest are asked ahead of a free slot): what a victim
  // with nothing ready may take back from other holders for this thief.
  int32_t idle_slots = 0;
  MSGPACK_DEFINE(seq, thief_id, free_slots, labels, thief_life, thief_address, hops, awaiting,
                 idle_slots);
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

// One renewal covers the holder's attempts of one group, sent to that group's leader.
struct LeaseRenew {
  uint64_t seq = 0;
  std::string holder_id;
  std::vector<AttemptRef> attempts;
  std::string group;
  // Those of `attempts` whose processes have started, with when: the leader commits the
  // starts it has not yet (an assigned task becomes running).
  std::vector<StartedAttempt> started;
  MSGPACK_DEFINE(seq, holder_id, attempts, group, started);
};

struct LeaseRenewAck {
  uint64_t seq = 0;                // of the renewal it answers
  std::vector<AttemptRef> current;  // still granted to the holder; the rest must die
  // The receiver does not lead the group (or cannot vouch for its lease now): `current`
  // means nothing; ask the leader it names, if any.
  bool not_leader = false;
  std::string leader_id;
  MSGPACK_DEFINE(seq, current, not_leader, leader_id);
};

// The leader of a group asks a holder for attempts it was granted ahead and has not
// started, because a slot is free elsewhere now (DESIGN §6: held work never idles the
// cluster). The holder hands back those it still holds with a Finish (lost, not started);
// one it has started meanwhile it keeps, and its start reaches the leader as usual.
inline constexpr auto kTakeBackType = static_cast<PeerMessageType>(82);
struct TakeBack {
  std::string group;
  std::vector<AttemptRef> attempts;
  MSGPACK_DEFINE(group, attempts);
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

// A client request that a node which does not lead the task's group passes to the leader
// (DESIGN §4: the client never needs to know who leads what).
inline constexpr auto kForwardRequestType = static_cast<PeerMessageType>(70);
inline constexpr auto kForwardReplyType = static_cast<PeerMessageType>(71);

struct ForwardRequest {
  uint64_t seq = 0;  // the forwarding node's number for it
  int32_t hops = 0;  // forwarded this many times already (bounded)
  std::string group;
  std::string request;  // EncodeRequest of the client's frame
  MSGPACK_DEFINE(seq, hops, group, request);
};

// Cross-group dependencies (DESIGN §4): the leader of a group whose tasks wait on tasks of
// another group asks that group's leader for their outcomes, and commits what it hears.
inline constexpr auto kUpstreamQueryType = static_cast<PeerMessageType>(72);
inline constexpr auto kUpstreamAnswerType = static_cast<PeerMessageType>(73);

struct UpstreamQuery {
  uint64_t seq = 0;
  std::string group;             // the group the ids belong to
  std::vector<std::string> ids;  // bounded by the sender
  MSGPACK_DEFINE(seq, group, ids);
};

struct UpstreamAnswer {
  uint64_t seq = 0;
  bool not_leader = false;               // the receiver cannot vouch for the group now
  std::vector<UpstreamEntry> outcomes;   // the ids that have ended or do not exist
  MSGPACK_DEFINE(seq, not_leader, outcomes);
};

struct ForwardReply {
  uint64_t seq = 0;
  std::string reply;  // EncodeReply of the answer
  MSGPACK_DEFINE(seq, reply);
};

}  // namespace magpie

#endif  // MAGPIE_NODE_STEAL_MESSAGES_H_
