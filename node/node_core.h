// The node's protocol core: deterministic, single-threaded and sans-IO, after
// etcd-io/raft's RawNode. Input arrives only through Tick, Request and OnExecutorEvent,
// each with `now`; output leaves only through TakeReady, acknowledged by Advance.
//
// The driver's loop (node_driver.h for real processes, magpie-sim for simulated ones):
//   feed inputs; while (core.HasReady()) { Ready rd = core.TakeReady();
//     storage.Write(rd.writes, rd.sync);            // FIRST: persist, synced if rd.sync
//     send rd.replies; start rd.starts; kill rd.kills; extend rd.extends;
//     core.Advance(now); }
//   sleep until core.NextDeadline() or the next input.
#ifndef MAGPIE_NODE_NODE_CORE_H_
#define MAGPIE_NODE_NODE_CORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "base/status.h"
#include "base/time.h"
#include "gossip/gossip_config.h"
#include "gossip/membership.h"
#include "gossip/peer_message.h"
#include "node/client_protocol.h"
#include "node/effects.h"
#include "base/prng.h"
#include "node/group_log.h"
#include "node/steal_messages.h"
#include "node/task_table.h"
#include "storage/storage.h"

namespace magpie {

struct CoreOptions {
  std::string node_id;         // stable across restarts
  std::string group_id;        // the node's home group
  std::string client_address;  // HOST:PORT clients (and tasks, via MAGPIE_NODE) reach it at
  int32_t slots = 4;
  std::map<std::string, std::string> labels;
  // Bounds on one loop turn, so a flood of work cannot stall the node.
  size_t max_scan_per_turn = 4096;
  // Peers to join through (any one reachable is enough); empty starts a new cluster.
  std::vector<std::string> join;
  GossipConfig gossip;
  // Seeds the core's randomness (gossip probe order, election timeouts): the driver draws
  // it from the OS, the simulator from its seed.
  uint64_t seed = 1;
  // Execution leases (DESIGN §4). A holder that is not the leader renews every lease/3;
  // it kills its attempt at lease x (1 - max_drift) after sending the last renewal that
  // was acknowledged; the leader re-grants only after lease x (1 + max_drift) without one.
  Duration lease = Duration::Seconds(6);
  int64_t max_drift_percent = 5;
  // Work stealing (DESIGN §6): how often an idle node may ask, at the most and the least.
  Duration steal_backoff_min = Duration::Millis(20);
  Duration steal_backoff_max = Duration::Millis(200);
  bool stealing = true;
  // Applied entries between snapshots: each snapshot writes the changed task records and
  // removes the log they cover. Recovery replays at most this many entries.
  uint64_t compact_every = 10000;
};

// Where a client reply goes: opaque to the core, meaningful to the driver.
struct ReplyTo {
  std::string route;  // the transport's address of the client
  uint64_t request_id = 0;
};

struct ClientReply {
  ReplyTo to;
  RequestType type = RequestType::kStatus;
  ReplyFrame frame;
};

// One batch of effects. Field order is the order the driver must carry them out in.
struct Ready {
  // 1. Persist. When sync is true the write must be durable before anything below happens.
  WriteBatch writes;
  bool sync = false;
  // 2. Then, in any order:
  std::vector<PeerMessage> messages;
  std::vector<ClientReply> replies;
  std::vector<StartProcess> starts;
  std::vector<KillProcess> kills;
  std::vector<ExtendDeadline> extends;
};

class NodeCore {
 public:
  NodeCore(CoreOptions options, std::shared_ptr<spdlog::logger> logger);
  NodeCore(const NodeCore&) = delete;
  NodeCore& operator=(const NodeCore&) = delete;

  // Loads the task table and log from storage and decides what became of attempts that
  // were running when the node last stopped. REQUIRES: called once, before any input.
  // storage must outlive the core; the core only reads it (writes go through Ready).
  Status Recover(const Storage* storage, Instant now);

  void Tick(Instant now);
  // A message from another node. Malformed or unexpected ones are dropped and counted;
  // nothing that arrives from the network can stop the core.
  void Step(Instant now, const PeerMessage& message);
  void Request(Instant now, const ReplyTo& from, const RequestFrame& frame);
  void OnExecutorEvent(Instant now, const ExecutorEvent& event);

  // A graceful stop: take no new attempts and end the running ones as lost, so they run
  // again (here after a restart, or elsewhere). The driver keeps turning the loop until
  // running_local() is 0 and HasReady() is false.
  void Stop(Instant now);
  bool stopping() const { return stopping_; }
  // A stop is complete: no attempt runs here and the cluster has heard we left.
  bool stopped() const;

  bool HasReady() const;
  Ready TakeReady();
  // The last Ready has been carried out (its writes are durable).
  void Advance(Instant now);

  // When the core next needs a Tick (Instant::Never() if nothing is scheduled).
  Instant NextDeadline() const;

  // Read-only views for the driver (logs, metrics) and tests.
  const TaskTable& tasks() const { return table_; }
  const CoreOptions& options() const { return options_; }
  int32_t used_slots() const { return used_slots_; }
  const Membership& membership() const { return *membership_; }
  size_t running_local() const { return local_.size(); }

 private:
  struct LocalAttempt {
    uint32_t attempt = 0;
    int32_t slots = 0;
    Instant timeout_at = Instant::Never();
    Outcome killed_for = Outcome::kNone;
    // Stolen: the attempt belongs to another node's group and lives by its lease.
    bool remote = false;
    std::string leader_address;
    Instant lease_base;  // when we sent the last renewal the leader acknowledged
  };
  // A remote attempt that ended here and whose Finish the leader has not acknowledged.
  struct RemoteFinish {
    std::string leader_address;
    FinishEntry finish;
    Instant resend_at;
    int sends = 0;
  };
  // Leader side: an attempt held by another node, kept alive by its renewals.
  struct Lease {
    std::string holder_id;
    std::string holder_address;
    uint32_t attempt = 0;
    Instant last_renewal;  // on this node's clock
    bool expiry_proposed = false;
  };
  struct PendingSteal {
    std::string thief_id;
    std::string thief_address;
    uint64_t seq = 0;
    std::vector<std::string> task_ids;
  };
  struct PendingReply {
    ReplyTo to;
    RequestType type;
    std::vector<std::string> ids;
    std::vector<bool> existing;
  };
  struct Waiter {
    ReplyTo to;
    std::vector<std::string> ids;
    size_t remaining = 0;
    Instant deadline;
  };

  // Request handlers (node_core_requests.cc).
  void HandleSubmit(Instant now, const ReplyTo& from, const std::string& body);
  void HandleStatus(const ReplyTo& from, const std::string& body);
  void HandleList(const ReplyTo& from, const std::string& body);
  void HandleWait(Instant now, const ReplyTo& from, const std::string& body);
  void HandleCancel(Instant now, const ReplyTo& from, const std::string& body);
  void HandleRestart(Instant now, const ReplyTo& from, const std::string& body);
  void HandleMembers(Instant now, const ReplyTo& from);
  MemberLoad LocalLoad() const;

  // Work stealing and leases (node_core_steal.cc).
  void StepSteal(Instant now, const PeerMessage& m);
  void MaybeSteal(Instant now);
  void OnStealRequest(Instant now, const std::string& from, const StealRequest& req);
  void OnStealReply(Instant now, const std::string& from, const StealReply& reply);
  void OnLeaseRenew(Instant now, const std::string& from, const LeaseRenew& renew);
  void OnLeaseRenewAck(Instant now, const LeaseRenewAck& ack);
  void OnFinishReport(Instant now, const std::string& from, const FinishReport& report);
  void OnFinishAck(const FinishAck& ack);
  void RenewLeases(Instant now);
  void ExpireLeases(Instant now);
  void ResendFinishes(Instant now);
  void OnGrantApplied(Instant now, const GrantEntry& g, const ApplyResult& r);
  void OnFinishApplied(uint64_t index, const Entry& entry, const ApplyResult& r);
  template <typename T>
  void SendPeer(const std::string& to, PeerMessageType type, const T& body) {
    outbox_.messages.push_back(PeerMessage{options_.client_address, to, type, EncodePayload(body)});
  }
  Duration HolderLease() const { return options_.lease.Scaled(100 - options_.max_drift_percent, 100); }
  Duration LeaderLease() const { return options_.lease.Scaled(100 + options_.max_drift_percent, 100); }
  Status StartGossip(const Storage& storage, Instant now);

  template <typename T>
  void Reply(const ReplyTo& to, RequestType type, const T& body) {
    outbox_.replies.push_back(ClientReply{to, type, ReplyFrame{to.request_id, Status::Ok(), PackBody(body)}});
  }
  void ReplyError(const ReplyTo& to, RequestType type, Status status);

  uint64_t Propose(EntryType type, std::string payload);
  void ApplyCommitted(Instant now);
  void OnApplied(Instant now, const Entry& entry, const ApplyResult& result);
  void AnswerPending(uint64_t applied_index);
  void AnswerWaiters(Instant now);
  void Schedule(Instant now);
  void EnforceTimeouts(Instant now);
  void PersistDirty();
  void Snapshot();
  void StartLocal(Instant now, const Task& t);

  CoreOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  const Storage* storage_ = nullptr;
  GroupLog group_log_;
  TaskTable table_;

  Ready outbox_;
  uint64_t in_flight_index_ = 0;  // last log index in the Ready being carried out
  bool recovering_ = false;       // replaying the log: no processes, no replies
  uint64_t next_seq_ = 1;
  Instant last_now_;  // the latest `now` passed in: NextDeadline has none of its own
  bool stopping_ = false;
  bool force_sync_ = false;  // the next Ready must be synced (incarnation bump)
  uint64_t last_compacted_ = 0;

  std::map<std::string, LocalAttempt> local_;  // attempts this node runs, by task id
  std::set<std::string> granting_;             // Grants to this node not yet applied
  int32_t used_slots_ = 0;

  // Proposed but not yet applied, so a second request sees them.
  std::map<std::string, std::string> inflight_keys_;   // idempotency key -> id
  std::map<std::string, std::string> inflight_names_;  // name -> id
  std::set<std::string> inflight_ids_;
  std::map<uint64_t, PendingReply> pending_;  // by the log index that completes them

  std::map<uint64_t, Waiter> waiters_;
  std::multimap<std::string, uint64_t> waiting_on_;  // task id -> waiter
  uint64_t next_waiter_ = 1;
  uint64_t dropped_peer_messages_ = 0;
  std::unique_ptr<Membership> membership_;
  Prng prng_;

  // Thief side.
  uint64_t next_steal_seq_ = 1;
  uint64_t steal_in_flight_ = 0;  // seq of the request awaiting a reply (0: none)
  Instant steal_sent_at_;
  Instant next_steal_at_;
  Duration steal_backoff_;
  Instant next_renew_at_;
  uint64_t next_renew_seq_ = 1;
  std::map<uint64_t, Instant> renew_sent_at_;  // renewal seq -> when sent (bounded)
  std::map<AttemptRef, RemoteFinish> remote_finishes_;
  int64_t stolen_count_ = 0;
  int64_t given_count_ = 0;

  // Leader side.
  std::map<std::string, Lease> leases_;            // task id -> lease of a remote holder
  std::map<uint64_t, PendingSteal> pending_steals_;  // by the index of the last Grant
  std::map<uint64_t, std::pair<std::string, AttemptRef>> pending_finish_acks_;  // index -> (holder, attempt)
  Instant leases_valid_from_;  // a restarted leader re-grants nothing before this
};

}  // namespace magpie

#endif  // MAGPIE_NODE_NODE_CORE_H_
