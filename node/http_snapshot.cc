#include "node/http_snapshot.h"

#include "gossip/member.h"
#include "node/node_core.h"

namespace magpie {

void LatencyHistogram::Observe(int64_t micros) {
  const double seconds = static_cast<double>(micros) / 1e6;
  ++count;
  sum_seconds += seconds;
  for (size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    if (seconds <= kBoundsSeconds[i]) {
      ++buckets[i];
      return;
    }
  }
  // Above the last bound: counted only in +Inf (count).
}

std::shared_ptr<const NodeSnapshot> TakeSnapshot(const NodeCore& core, Instant now,
                                                 const DriverCounters& counters) {
  auto snap = std::make_shared<NodeSnapshot>();
  const CoreOptions& o = core.options();
  snap->taken_unix_ms = now.unix_millis();
  snap->node_id = o.node_id;
  snap->home_group = o.group_id;
  snap->listen = o.client_address;
  snap->slots_total = o.slots;
  snap->slots_used = core.used_slots();
  snap->running_local = core.running_local();
  snap->counters = counters;

  const Membership& m = core.membership();
  snap->incarnation = m.incarnation();
  snap->health_score = m.health_score();
  for (MemberState s : {MemberState::kAlive, MemberState::kSuspect, MemberState::kDead,
                        MemberState::kLeft}) {
    snap->members_by_state[MemberStateName(s)] = 0;
  }
  std::map<std::string, std::string> addresses;  // node id -> address, for leader addresses
  for (const MemberView& v : m.Members(now)) {
    ++snap->members_by_state[MemberStateName(v.state)];
    addresses[v.id] = v.address;
    if (v.is_self) {
      snap->stolen = v.load.stolen;
      snap->given = v.load.given;
    }
  }
  const GossipCounters& gc = m.counters();
  snap->gossip_counters = {
      {"probes", gc.probes},
      {"probe_failures", gc.probe_failures},
      {"indirect_probes", gc.indirect_probes},
      {"suspicions", gc.suspicions},
      {"suspicions_refuted", gc.suspicions_refuted},
      {"deaths_declared", gc.deaths_declared},
      {"messages_sent", gc.messages_sent},
      {"messages_received", gc.messages_received},
      {"dropped_messages", gc.dropped_messages},
  };

  for (const std::string& g : core.groups()) {
    const Replica* r = core.replica(g);
    if (r == nullptr) continue;
    GroupInfo info;
    info.id = g;
    info.home = g == o.group_id;
    info.role = RaftRoleName(r->raft.role());
    info.serving = r->serving;
    info.leader_id = r->raft.leader_id();
    info.term = r->raft.term();
    info.commit_index = r->raft.commit_index();
    info.applied_index = r->raft.applied_index();
    info.last_index = r->raft.last_index();
    info.snapshot_index = r->raft.snapshot_index();
    for (const RaftMember& rm : r->raft.members().members) {
      info.members.push_back(GroupMemberInfo{rm.id, rm.address, rm.voter, rm.catching_up});
      if (rm.id == info.leader_id) info.leader_address = rm.address;
    }
    if (info.leader_address.empty() && !info.leader_id.empty()) {
      auto it = addresses.find(info.leader_id);
      if (it != addresses.end()) info.leader_address = it->second;
    }
    for (TaskState s : {TaskState::kPending, TaskState::kReady, TaskState::kRunning,
                        TaskState::kSucceeded, TaskState::kFailed, TaskState::kCancelled,
                        TaskState::kBlocked, TaskState::kWaiting, TaskState::kScheduled,
                        TaskState::kAssigned}) {
      info.tasks_by_state[TaskStateName(s)] = r->table.CountInState(s);
    }
    info.task_records_in_memory = r->table.resident();
    info.stale_finishes = r->table.stale_finishes();
    info.leases = r->leases.size();
    snap->groups.push_back(std::move(info));
  }
  return snap;
}

}  // namespace magpie
