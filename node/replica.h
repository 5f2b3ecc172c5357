// What a node keeps for one replica group it belongs to (DESIGN §4): the group's Raft
// member, the task table its committed log builds, and, while this node leads the group,
// the leader's bookkeeping (leases of remote holders, proposals awaiting commit). Plain
// data: NodeCore drives it (node_core_groups.cc).
#ifndef MAGPIE_NODE_REPLICA_H_
#define MAGPIE_NODE_REPLICA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/time.h"
#include "node/client_protocol.h"
#include "node/raft/raft_group.h"
#include "node/steal_messages.h"
#include "node/task_table.h"

namespace magpie {

// Where a client reply goes: opaque to the core, meaningful to the driver. A request that
// another node forwarded here is answered to that node (forward_to), which relays it.
struct ReplyTo {
  std::string route;  // the transport's address of the client
  uint64_t request_id = 0;
  std::string forward_to;    // peer address of the node that forwarded the request
  uint64_t forward_seq = 0;  // that node's number for it
};

// Leader side: an attempt held by another node, kept alive by its renewals.
struct Lease {
  std::string holder_id;
  uint32_t attempt = 0;
  Instant last_renewal;  // on this node's clock
  bool expiry_proposed = false;
};

struct PendingSteal {
  std::string thief_id;
  std::string thief_address;
  uint64_t seq = 0;
  std::vector<std::string> task_ids;
  int32_t slots = 0;  // the thief's slots these tasks take: counted against its next ask
};

struct PendingReply {
  ReplyTo to;
  RequestType type = RequestType::kStatus;
  std::vector<std::string> ids;
  std::vector<bool> existing;
  // A Submit entry of this request was refused when it applied (its id was taken by
  // another task): the request must not be acknowledged.
  bool refused = false;
};

// A proposal succeeded iff the entry committed at its index has its term (Raft §3).
template <typename T>
struct Proposed {
  uint64_t term = 0;
  T what;
};

struct Replica {
  Replica(RaftConfig config, uint64_t seed, std::shared_ptr<spdlog::logger> logger)
      : group(config.group_id), raft(std::move(config), seed, std::move(logger)) {}

  std::string group;
  RaftGroup raft;
  TaskTable table;
  std::unique_ptr<TaskRecordStore> records;  // where table reads back ended records
  bool in_ready = false;        // a Raft Ready was taken and awaits Advance
  bool removed = false;         // the group removed us: drop the replica after Advance
  uint64_t last_compacted = 0;  // applied index of the last persisted snapshot of the table

  // --- While this node leads the group ---
  // Leading, and an entry of this term has been applied: the table is up to date, so
  // requests and grants may be served.
  bool serving = false;
  Instant leases_valid_from;  // re-grant nothing that was running before this
  // Grants proposed in this leadership, not yet applied: task id -> the slots each holds
  // here until it applies (0 for a Grant to a thief). Counted by the Grant, not the table:
  // a Grant proposed behind its Submit has no record to read yet.
  std::map<std::string, int32_t> granting;
  std::map<std::string, Lease> leases;  // task id -> lease of a holder other than us
  // Held attempts (assigned, not started) asked back from their holders, and when.
  std::map<std::string, Instant> taking_back;
  std::map<uint64_t, Proposed<PendingReply>> pending;  // by the index that completes them
  std::map<uint64_t, Proposed<PendingSteal>> pending_steals;
  std::map<uint64_t, Proposed<std::pair<std::string, AttemptRef>>> pending_finish_acks;
  // Proposed but not yet applied, so a second request sees them.
  std::map<std::string, std::string> inflight_keys;   // idempotency key -> id
  std::map<std::string, std::string> inflight_names;  // name -> id
  std::set<std::string> inflight_ids;
  uint64_t next_seq = 0;  // 0: take it from the table when serving starts
  Instant next_membership_check;
  std::set<AttemptRef> lost_reported;  // own attempts of earlier lives, already ended
  std::set<std::string> upstream_proposed;  // Upstream entries proposed, not yet applied
  Instant next_upstream_poll;
  // Fire entries proposed in a term, by schedule id: the latest slot. The schedule waits
  // for it to apply before the next is planned (docs/schedules.md).
  std::map<std::string, std::pair<uint64_t, int64_t>> fires_proposed;  // id -> (term, slot)
};

}  // namespace magpie

#endif  // MAGPIE_NODE_REPLICA_H_
