// The node's protocol core: deterministic, single-threaded and sans-IO, after
// etcd-io/raft's RawNode. Input arrives only through Tick, Request and OnExecutorEvent,
// each with `now`; output leaves only through TakeReady, acknowledged by Advance.
//
// The driver's loop (node_driver.h for real processes, magpie-sim for simulated ones):
//   feed inputs; while (core.HasReady()) { Ready rd = core.TakeReady();
//     storage.Write(rd.writes, rd.sync);            // FIRST: persist, synced if rd.sync
//     send rd.messages and rd.replies; start rd.starts; kill rd.kills; extend rd.extends;
//     core.Advance(now); }
//   sleep until core.NextDeadline() or the next input.
//
// The node holds a replica of each group it belongs to (node/replica.h): its own home
// group, which it normally leads, and up to R-1 others'. Tasks live in their group's
// table; the group's leader grants them, to itself or to thieves.
#ifndef MAGPIE_NODE_NODE_CORE_H_
#define MAGPIE_NODE_NODE_CORE_H_

#include <cstdint>
#include <deque>
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
#include "node/event_ring.h"
#include "node/name_lookup.h"
#include "base/prng.h"
#include "node/renewals_in_flight.h"
#include "node/replica.h"
#include "node/round_trip_estimate.h"
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
  // Execution leases (DESIGN §4). A holder renews every lease/3; it kills its attempt at
  // lease x (1 - max_drift) after sending the last renewal that was acknowledged; the
  // leader re-grants only after lease x (1 + max_drift) without one, and a new leader
  // first waits out one full lease.
  Duration lease = Duration::Seconds(6);
  int64_t max_drift_percent = 5;
  // Replica groups (DESIGN §4, docs/replication.md): voters per group, the Raft timing,
  // and how long gossip must call a member dead before the leader replaces it.
  int32_t replication = 3;
  Duration election_timeout = Duration::Millis(1000);
  Duration heartbeat_interval = Duration::Millis(100);
  Duration replace_after = Duration::Seconds(10);
  // Groups this node may hold a replica of (each costs a Raft member and a task table).
  size_t max_groups = 256;
  // A request for a group whose leader is not known yet waits this long for one.
  Duration route_wait = Duration::Seconds(5);
  // Work stealing (DESIGN §6): how often an idle node may ask, at the most and the least.
  Duration steal_backoff_min = Duration::Millis(20);
  Duration steal_backoff_max = Duration::Millis(200);
  bool stealing = true;
  // Slots of stolen work a busy thief may hold ahead, under its lease but not started, so
  // that a freed slot starts one at once instead of waiting a steal's round trip and the
  // victim's synced Grant (docs/proposals/w3-stealing.md). 0: ask only when a slot is free.
  int32_t steal_prefetch_slots = 4;
  // Applied entries between snapshots: each snapshot writes the changed task records and
  // removes the log they cover. Recovery replays at most this many entries.
  uint64_t compact_every = 10000;
  // Admission control (docs/security.md "Limits"): a submit that would take the unfinished
  // tasks of the groups this node leads past max_queued_tasks, or one submitter's past
  // max_queued_per_submitter, is refused with a pointer to a less loaded member. They bound
  // memory before it runs out; 0 turns a limit off.
  uint64_t max_queued_tasks = 1000000;
  uint64_t max_queued_per_submitter = 250000;
  // Events out (docs/events.md): the events kept for watchers once one has asked (about
  // 200 bytes each), and the watches held at once.
  size_t max_watch_events = 100000;
  size_t max_watchers = 1024;
};

struct ClientReply {
  ReplyTo to;
  RequestType type = RequestType::kStatus;
  ReplyFrame frame;
};

// A committed entry this node applied, for observers (the simulator's checkers). Leaders'
// no-ops and membership changes too, so that the indexes an observer sees have no gaps.
struct AppliedEntry {
  std::string group;
  Entry entry;
};

// One batch of effects. Field order is the order the driver must carry them out in.
struct Ready {
  // 1. Persist. When sync is true the write must be durable before anything below happens.
  WriteBatch writes;
  bool sync = false;
  // 2. Then, in any order (except that the first `messages_before_write` messages may
  //    leave before the write: Raft leaders' appends, RaftReady::messages_before_write):
  std::vector<PeerMessage> messages;
  size_t messages_before_write = 0;
  std::vector<ClientReply> replies;
  std::vector<StartProcess> starts;
  std::vector<KillProcess> kills;
  std::vector<ExtendDeadline> extends;
  // Information only.
  std::vector<AppliedEntry> applied;
};

class NodeCore {
 public:
  NodeCore(CoreOptions options, std::shared_ptr<spdlog::logger> logger);
  NodeCore(const NodeCore&) = delete;
  NodeCore& operator=(const NodeCore&) = delete;

  // Loads every replica this node holds (task tables and Raft state) from storage.
  // REQUIRES: called once, before any input. storage must outlive the core; the core
  // only reads it (writes go through Ready).
  Status Recover(const Storage* storage, Instant now);

  void Tick(Instant now);
  // A message from another node. Malformed or unexpected ones are dropped and counted;
  // nothing that arrives from the network can stop the core.
  void Step(Instant now, const PeerMessage& message);
  void Request(Instant now, const ReplyTo& from, const RequestFrame& frame);
  void OnExecutorEvent(Instant now, const ExecutorEvent& event);

  // A graceful stop: take no new attempts and end the running ones as lost, so they run
  // again (here after a restart, or elsewhere). The driver keeps turning the loop until
  // stopped().
  void Stop(Instant now);
  bool stopping() const { return stopping_; }
  // A stop is complete: no attempt runs here, their ends are reported, and the cluster
  // has heard we left.
  bool stopped() const;

  bool HasReady() const;
  Ready TakeReady();
  // The last Ready has been carried out (its writes are durable).
  void Advance(Instant now);

  // When the core next needs a Tick (Instant::Never() if nothing is scheduled).
  Instant NextDeadline() const;

  // Read-only views for the driver (logs, metrics) and tests.
  // The home group's table (empty if this node holds no replica of it).
  const TaskTable& tasks() const;
  // A task by id in any group this node holds a replica of, or by name in the home group.
  const Task* LookupTask(const std::string& id_or_name) const;
  const Replica* replica(const std::string& group) const;
  std::vector<std::string> groups() const;
  const CoreOptions& options() const { return options_; }
  int32_t used_slots() const { return used_slots_; }
  const Membership& membership() const { return *membership_; }
  size_t running_local() const { return local_.size() - held_specs_.size(); }
  uint64_t life() const { return life_; }
  // Every replica has applied the log it found at Recover (the replay is done).
  bool replayed() const;

 private:
  struct LocalAttempt {
    std::string group;
    uint32_t attempt = 0;
    int32_t slots = 0;
    Instant timeout_at = Instant::Never();
    Outcome killed_for = Outcome::kNone;
    std::string leader_hint;  // address of the leader to renew with, when not us
    Instant lease_base;  // when we sent the last renewal the leader acknowledged
    Instant extended_to;  // the last deadline handed to the watchdog
    // Stolen ahead of a free slot: held under its lease, no process yet (StartHeld).
    bool held = false;
    int64_t started_ms = 0;  // when its process was started (0: held, not started)
  };
  // An attempt that ended here whose Finish has not been applied or acknowledged yet.
  struct PendingFinish {
    std::string group;
    FinishEntry finish;
    std::string leader_hint;
    Instant send_at;
    int sends = 0;
    uint64_t proposed_term = 0;  // proposed by us as leader in this term (0: not)
  };
  struct Waiter {
    ReplyTo to;
    std::string group;
    std::vector<std::string> ids;
    size_t remaining = 0;
    Instant deadline;
  };
  // A request for a group whose leader is not known yet (or not serving yet).
  struct Parked {
    ReplyTo to;
    RequestFrame frame;
    std::string group;
    int32_t hops = 0;
    Instant deadline;
  };
  struct Forwarded {
    ReplyTo to;
    RequestType type = RequestType::kStatus;
    Instant deadline;
  };

  // Replica groups (node_core_groups.cc).
  Replica* FindReplica(const std::string& group);
  const Replica* FindReplica(const std::string& group) const;
  Replica* AddReplica(const std::string& group);
  Status LoadReplica(Replica& r);
  void StepRaft(Instant now, const PeerMessage& m);
  void TakeRaftReady(Replica& r, Ready& rd);
  void InstallSnapshot(Replica& r, const RaftSnapshotToApply& snap, Ready& rd);
  void ApplyEntries(Replica& r, const std::vector<Entry>& entries, Ready& rd);
  Entry StampedLive(const Entry& e) const;  // BUGGIFY apply_reads_clock
  void BecameServing(Replica& r);
  void LostLeadership(Replica& r);
  void MaybeCompact(Replica& r, Ready& rd);
  void ManageMembers(Replica& r, Instant now);
  void ForgetReplica(Replica& r, Ready& rd);
  RaftConfig RaftConfigFor(const std::string& group) const;
  // Where to reach the leader of a group: ourselves (empty), or a peer address.
  std::string LeaderAddress(const std::string& group, const std::string& hint) const;
  std::string AddressOf(const std::string& node_id) const;
  bool CanGrant(const Replica& r, Instant now) const;
  Result<uint64_t> Propose(Replica& r, EntryType type, std::string payload);

  // Routing (node_core_requests.cc).
  std::string GroupForRequest(const RequestFrame& frame) const;
  bool KnownGroup(const std::string& group) const;
  // group: the group the request is for, when a forwarding node already decided it.
  void Route(Instant now, const ReplyTo& from, const RequestFrame& frame, int32_t hops,
             const std::string& group = "", bool resolve_names = true);
  void Serve(Instant now, Replica& r, const ReplyTo& from, const RequestFrame& frame);
  void RetryParked(Instant now);
  void OnForwardRequest(Instant now, const std::string& from, const ForwardRequest& req);
  void OnForwardReply(const ForwardReply& reply);

  // Names (node_core_names.cc): a request naming tasks by name waits while every group's
  // leader is asked for them, then is routed with the ids.
  bool IsTaskId(const std::string& id_or_name) const;
  std::set<std::string> KnownGroups() const;
  std::vector<NameHit> NameHitsIn(const Replica& r, const std::vector<std::string>& names) const;
  // Starts resolving the names the request holds; false if it holds none (route it as is).
  bool ResolveNames(Instant now, const ReplyTo& from, const RequestFrame& frame, int32_t hops);
  void OnNameQuery(const std::string& from, const NameQuery& q);
  void OnNameAnswer(Instant now, const NameAnswer& a);
  void FinishNameLookups(Instant now);

  // Request handlers (node_core_requests.cc).
  void HandleSubmit(Instant now, Replica& r, const ReplyTo& from, const std::string& body);
  // Ok, or why new_specs (the tasks a submit would add) are refused here.
  Status Admit(const std::vector<const TaskSpec*>& new_specs) const;
  // "; NODE at ADDR is less loaded" from gossip, or "" (for refusals).
  std::string LessLoadedHint() const;
  void HandleStatus(Replica& r, const ReplyTo& from, const std::string& body);
  void HandleList(const ReplyTo& from, const std::string& body);
  void HandleWait(Instant now, Replica& r, const ReplyTo& from, const std::string& body);
  void HandleProgress(Instant now, Replica& r, const ReplyTo& from, const std::string& body);
  void HandleCancel(Instant now, Replica& r, const ReplyTo& from, const std::string& body);
  void HandleRestart(Instant now, Replica& r, const ReplyTo& from, const std::string& body);
  void HandleSchedule(Instant now, Replica& r, const ReplyTo& from, const std::string& body);
  // Schedules (node_core_schedules.cc): as a group's leader, propose the Fire entries due.
  void FireSchedules(Instant now, Replica& r);
  Instant NextScheduleDeadline(const Replica& r) const;
  void HandleMembers(Instant now, const ReplyTo& from);
  MemberLoad LocalLoad() const;

  // Events out (node_core_watch.cc).
  struct Watcher {
    ReplyTo to;
    WatchFilter filter;
    uint32_t max = 0;
    uint64_t after = 0;  // the ring's cursor it has read up to
    Instant deadline;
  };
  void RecordWatchEvent(Replica& r, const Entry& e, const ApplyResult& res);
  // The tasks of r that ended since the last call (RecordWatchEvent takes them from the
  // table as each entry applies, to report ends no entry names).
  std::vector<std::string> TakeEndedTasks(Replica& r);
  void HandleWatch(Instant now, const ReplyTo& from, const std::string& body);
  void AnswerWatchers();
  // Answers the watches whose timeout passed (all of them once the node is stopping).
  void ExpireWatchers(Instant now);
  Instant NextWatchDeadline() const;

  // Work stealing, leases and finishes (node_core_steal.cc).
  void StepSteal(Instant now, const PeerMessage& m);
  void MaybeSteal(Instant now);
  // Whether a slot here will likely free within a steal's round trip or two, by the
  // durations of the attempts that ran here (false before any ended): only then is work
  // worth holding ahead.
  bool SlotFreesSoon(Instant now) const;
  void OnStealRequest(Instant now, const std::string& from, const StealRequest& req);
  // Slots of the Grants to this thief proposed here and not yet answered, and of answers
  // sent that it says it is still awaiting.
  int32_t SlotsOnTheWayTo(const std::string& thief_id, const std::vector<uint64_t>& awaiting, Instant now) const;
  void RememberStealAnswer(Instant now, const std::string& thief_id, uint64_t seq, int32_t slots);
  void OnStealReply(Instant now, const std::string& from, const StealReply& reply);
  void OnLeaseRenew(Instant now, const std::string& from, const LeaseRenew& renew);
  void OnLeaseRenewAck(Instant now, const LeaseRenewAck& ack);
  void OnFinishReport(Instant now, const std::string& from, const FinishReport& report);
  void OnFinishAck(const FinishAck& ack);
  void RenewLeases(Instant now);
  void ExpireLeases(Instant now);
  void SendFinishes(Instant now);
  std::map<AttemptRef, PendingFinish>::iterator SendFinish(
      Instant now, std::map<AttemptRef, PendingFinish>::iterator it);
  void SweepOwnAttempts(Instant now);
  // Our replica of the task's group shows the attempt closed or replaced by a later one.
  bool Superseded(const std::string& task_id, uint32_t attempt) const;
  // Starts held (stolen ahead) attempts in the order they came while slots are free.
  void StartHeld(Instant now);
  void StartStolen(Instant now, const std::string& task_id, LocalAttempt& la, const TaskSpec& spec);
  // Forgets a held attempt; with a reason, reports it back to its leader as not started.
  void DropHeld(Instant now, const std::string& task_id, Outcome outcome, const std::string& reason);
  void OnGrantApplied(Instant now, Replica& r, const GrantEntry& g, const ApplyResult& res);
  // Held work never idles the cluster (node_core_take_back.cc): as leader of r, asks holders
  // other than except_holder for up to `slots` slots of attempts they hold and have not
  // started that a node with `labels` can run, most urgent first; as a holder, hands back
  // those it still holds.
  void TakeBackHeld(Instant now, Replica& r, int32_t slots, const std::string& except_holder,
                    const std::map<std::string, std::string>& labels);
  void OnTakeBack(Instant now, const TakeBack& tb);
  void OnFinishApplied(Replica& r, const Entry& entry);
  void PollUpstreams(Instant now);
  void OnUpstreamQuery(Instant now, const std::string& from, const UpstreamQuery& q);
  void OnUpstreamAnswer(const UpstreamAnswer& a);
  void ProposeUpstream(const UpstreamEntry& e);
  std::vector<UpstreamEntry> UpstreamOutcomes(const Replica& r, const std::vector<std::string>& ids) const;
  template <typename T>
  void SendPeer(const std::string& to, PeerMessageType type, const T& body) {
    outbox_.messages.push_back(PeerMessage{options_.client_address, to, type, EncodePayload(body)});
  }
  Duration HolderLease() const { return options_.lease.Scaled(100 - options_.max_drift_percent, 100); }
  Duration LeaderLease() const { return options_.lease.Scaled(100 + options_.max_drift_percent, 100); }
  Status StartGossip(const Storage& storage, Instant now);
  void PersistIncarnation();

  template <typename T>
  void Reply(const ReplyTo& to, RequestType type, const T& body) {
    SendReply(to, type, ReplyFrame{to.request_id, Status::Ok(), PackBody(body)});
  }
  void ReplyError(const ReplyTo& to, RequestType type, Status status);
  void SendReply(const ReplyTo& to, RequestType type, ReplyFrame frame);

  void OnApplied(Instant now, Replica& r, const Entry& entry, const ApplyResult& result);
  void AnswerWaiters(Replica& r);
  std::string PackWaitReply(const Replica& r, const std::vector<std::string>& ids, bool all_ended) const;
  void Schedule(Instant now);
  // Proposes Grants to this node right behind the Submits of one request, so that a task
  // submitted to an idle leader commits with its Grant in one quorum round instead of two.
  void GrantBehindSubmit(Instant now, Replica& r, const std::vector<SubmitEntry>& submitted);
  void EnforceTimeouts(Instant now);
  void StartLocal(Instant now, Replica& r, const Task& t);
  // Proposes, in each group this node leads, one Started entry for its own attempts whose
  // processes started since the last call and are still running (the rest tell their
  // start in their Finish). Holders elsewhere tell theirs in their lease renewals.
  void ProposeStarts();
  void ProposeStarted(Replica& r, std::vector<StartedAttempt> starts);
  void FinishLocal(Instant now, const std::string& task_id, LocalAttempt la, FinishEntry f);

  CoreOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  const Storage* storage_ = nullptr;
  std::map<std::string, std::unique_ptr<Replica>> replicas_;
  TaskTable empty_table_;
  uint64_t life_ = 0;  // this start's incarnation
  Instant recovered_at_;  // this start's first `now`
  uint64_t persisted_incarnation_ = 0;
  std::map<std::string, uint64_t> replay_to_;  // group -> last log index found at Recover

  Ready outbox_;
  Instant last_now_;  // the latest `now` passed in: NextDeadline has none of its own
  bool stopping_ = false;
  bool force_sync_ = false;  // the next Ready must be synced (incarnation bump)
  // Own attempts may have been orphaned (restart, a leadership ended): sweep on the next
  // Advance, not only on the once-a-tick sweep.
  bool sweep_due_ = true;

  std::map<std::string, LocalAttempt> local_;  // attempts this node runs, by task id
  std::vector<AttemptRef> starts_to_report_;    // started here since the last ProposeStarts
  std::map<AttemptRef, PendingFinish> finishes_;
  // finishes_ by when each is next due, so that a tick looks only at those due rather than
  // at every end not yet acknowledged (thousands, on a thief cut off from its victims).
  // Lazy: an entry whose finish is gone, or was rescheduled, is skipped when it comes up.
  std::set<std::pair<Instant, AttemptRef>> finishes_due_;
  // The sweep of attempts granted to this node that nothing here runs walks every running
  // task of every group: once a tick was most of a busy node's time.
  Instant next_sweep_at_;
  int32_t used_slots_ = 0;

  std::map<uint64_t, Waiter> waiters_;
  std::multimap<std::string, uint64_t> waiting_on_;  // task id -> waiter
  uint64_t next_waiter_ = 1;
  EventRing events_{options_.max_watch_events};
  std::map<uint64_t, Watcher> watchers_;
  uint64_t next_watcher_ = 1;
  std::vector<std::string> ended_by_apply_;  // see TakeEndedTasks
  std::vector<Parked> parked_;
  NameLookups name_lookups_;
  std::map<uint64_t, Forwarded> forwarded_;
  uint64_t next_forward_seq_ = 1;
  uint64_t next_upstream_seq_ = 1;
  uint64_t dropped_peer_messages_ = 0;
  std::unique_ptr<Membership> membership_;
  Prng prng_;

  // Victim side: the last few answers with tasks sent to each thief.
  struct SentStealAnswer {
    uint64_t seq = 0;
    int32_t slots = 0;
    Instant sent_at;
  };
  std::map<std::string, std::deque<SentStealAnswer>> steal_answers_;

  // Thief side.
  uint64_t next_steal_seq_ = 1;
  uint64_t steal_in_flight_ = 0;  // seq of the request awaiting a reply (0: none)
  Instant steal_sent_at_;
  // How long to wait for a victim's answer before asking again (its commits set the pace).
  RoundTripEstimate steal_round_trip_{Duration::Millis(150), Duration::Seconds(1)};
  Instant next_steal_at_;
  Duration steal_backoff_;
  bool steal_blind_ = false;    // the request in flight went to a member gossip showed idle
  bool blind_backoff_ = false;  // the backoff came from an empty answer to a blind request
  Instant next_renew_at_;
  uint64_t next_renew_seq_ = 1;
  RenewalsInFlight renewals_;
  std::map<uint64_t, Instant> steal_asked_at_;   // steal request seq -> when sent (bounded)
  // Held attempts' specs, and their order of arrival; their slots in held_slots_.
  std::map<std::string, TaskSpec> held_specs_;
  std::deque<std::string> held_order_;
  int32_t held_slots_ = 0;
  int64_t run_ms_average_ = -1;  // smoothed run time of attempts here (-1: none ended yet)
  int64_t stolen_count_ = 0;
  int64_t given_count_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_NODE_CORE_H_
