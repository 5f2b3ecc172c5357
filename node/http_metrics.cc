#include "node/http_metrics.h"

#include <fmt/format.h>

#include <utility>
#include <vector>

namespace magpie {

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string EscapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Writer {
 public:
  // One family: HELP and TYPE once, then its samples.
  void Family(const std::string& name, const char* type, const std::string& help) {
    out_ += "# HELP " + name + " " + help + "\n";
    out_ += "# TYPE " + name + " " + type + "\n";
  }
  template <typename V>
  void Sample(const std::string& name, const Labels& labels, V value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) out_ += ',';
        out_ += labels[i].first + "=\"" + EscapeLabel(labels[i].second) + "\"";
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += fmt::format("{}", value);
    out_ += '\n';
  }
  template <typename V>
  void One(const std::string& name, const char* type, const std::string& help, V value) {
    Family(name, type, help);
    Sample(name, {}, value);
  }
  void Histogram(const std::string& name, const Labels& labels, const LatencyHistogram& h) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      cumulative += h.buckets[i];
      Labels l = labels;
      l.emplace_back("le", fmt::format("{}", LatencyHistogram::kBoundsSeconds[i]));
      Sample(name + "_bucket", l, cumulative);
    }
    Labels inf = labels;
    inf.emplace_back("le", "+Inf");
    Sample(name + "_bucket", inf, h.count);
    Sample(name + "_sum", labels, h.sum_seconds);
    Sample(name + "_count", labels, h.count);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string RenderPrometheus(const NodeSnapshot& s) {
  Writer w;
  w.Family("magpie_node_info", "gauge", "This node: its id, home group and client address (always 1).");
  w.Sample("magpie_node_info", {{"node_id", s.node_id}, {"home_group", s.home_group}, {"listen", s.listen}}, 1);
  w.One("magpie_snapshot_timestamp_seconds", "gauge",
        "Unix time the driver took the snapshot these figures come from.",
        static_cast<double>(s.taken_unix_ms) / 1000.0);
  w.One("magpie_slots", "gauge", "Task slots of this node.", s.slots_total);
  w.One("magpie_slots_used", "gauge", "Slots taken by attempts running on this node.", s.slots_used);
  w.One("magpie_attempts_running", "gauge", "Attempts running on this node.", s.running_local);
  w.One("magpie_tasks_stolen_total", "counter", "Tasks this node stole from others since it started.",
        s.stolen);
  w.One("magpie_tasks_given_total", "counter", "Tasks others stole from this node since it started.",
        s.given);
  w.One("magpie_attempts_started_total", "counter",
        "Attempts (processes or built-ins) this node started since it started.",
        s.counters.attempts_started);
  w.Family("magpie_attempts_ended_total", "counter",
           "Attempts that ended on this node: exited, signalled or start_failed.");
  for (const char* how : {"exited", "signalled", "start_failed"}) {
    auto it = s.counters.attempts_exited.find(how);
    w.Sample("magpie_attempts_ended_total", {{"how", how}},
             it == s.counters.attempts_exited.end() ? 0 : it->second);
  }
  w.One("magpie_client_frames_total", "counter", "Client request frames received.",
        s.counters.client_frames);
  w.One("magpie_client_frames_bad_total", "counter",
        "Client request frames refused as malformed.", s.counters.bad_client_frames);

  // Replica groups this node holds.
  w.Family("magpie_tasks", "gauge",
           "Tasks by state in each replica group this node holds (every replica reports its "
           "group: count a group once, e.g. where magpie_raft_is_leader is 1).");
  for (const GroupInfo& g : s.groups) {
    for (const auto& [state, n] : g.tasks_by_state) w.Sample("magpie_tasks", {{"group", g.id}, {"state", state}}, n);
  }
  w.Family("magpie_task_records_in_memory", "gauge",
           "Task records this node holds in memory for the group: every task not ended and "
           "ended ones not yet written or lately read; the rest are read from disk on demand.");
  for (const GroupInfo& g : s.groups) {
    w.Sample("magpie_task_records_in_memory", {{"group", g.id}}, g.task_records_in_memory);
  }
  w.Family("magpie_tasks_submitted_total", "counter",
           "Submit entries this node's replica of the group applied since the process started.");
  for (const GroupInfo& g : s.groups) {
    uint64_t n = 0;
    auto it = s.counters.applied.find(g.id);
    if (it != s.counters.applied.end()) {
      auto jt = it->second.find("submit");
      if (jt != it->second.end()) n = jt->second;
    }
    w.Sample("magpie_tasks_submitted_total", {{"group", g.id}}, n);
  }
  w.Family("magpie_task_finishes_total", "counter",
           "Finish entries applied by this node's replica of the group, by the attempt's "
           "outcome (succeeded, failed, timed_out, cancelled, lost: lost counts lease "
           "expirations and attempts lost with their node).");
  for (const auto& [group, by_outcome] : s.counters.finishes) {
    for (const auto& [outcome, n] : by_outcome) {
      w.Sample("magpie_task_finishes_total", {{"group", group}, {"outcome", outcome}}, n);
    }
  }
  w.Family("magpie_raft_entries_applied_total", "counter",
           "Committed log entries applied by this node's replica of the group, by type "
           "(restart counts task restarts, grant new attempts).");
  for (const auto& [group, by_type] : s.counters.applied) {
    for (const auto& [type, n] : by_type) {
      w.Sample("magpie_raft_entries_applied_total", {{"group", group}, {"type", type}}, n);
    }
  }
  w.Family("magpie_stale_finishes_rejected_total", "counter",
           "Finish reports refused because their attempt was no longer the current one (fencing).");
  for (const GroupInfo& g : s.groups) w.Sample("magpie_stale_finishes_rejected_total", {{"group", g.id}}, g.stale_finishes);
  w.Family("magpie_leases_held_by_others", "gauge",
           "Attempts of a group this node leads that other nodes hold leases for.");
  for (const GroupInfo& g : s.groups) w.Sample("magpie_leases_held_by_others", {{"group", g.id}}, g.leases);

  w.Family("magpie_raft_term", "gauge", "Current Raft term of this node's replica of the group.");
  for (const GroupInfo& g : s.groups) w.Sample("magpie_raft_term", {{"group", g.id}}, g.term);
  w.Family("magpie_raft_commit_index", "gauge", "Highest log index known committed.");
  for (const GroupInfo& g : s.groups) w.Sample("magpie_raft_commit_index", {{"group", g.id}}, g.commit_index);
  w.Family("magpie_raft_applied_index", "gauge", "Highest log index applied to the task table.");
  for (const GroupInfo& g : s.groups) w.Sample("magpie_raft_applied_index", {{"group", g.id}}, g.applied_index);
  w.Family("magpie_raft_last_index", "gauge", "Last index in this replica's log.");
  for (const GroupInfo& g : s.groups) w.Sample("magpie_raft_last_index", {{"group", g.id}}, g.last_index);
  w.Family("magpie_raft_is_leader", "gauge", "1 if this node leads the group.");
  for (const GroupInfo& g : s.groups) w.Sample("magpie_raft_is_leader", {{"group", g.id}}, g.role == "leader" ? 1 : 0);
  w.Family("magpie_raft_leader", "gauge",
           "The leader this node knows for the group (always 1; leader is empty when none is known).");
  for (const GroupInfo& g : s.groups) w.Sample("magpie_raft_leader", {{"group", g.id}, {"leader", g.leader_id}}, 1);
  w.Family("magpie_raft_voters", "gauge", "Voting members of the group.");
  for (const GroupInfo& g : s.groups) {
    int voters = 0;
    for (const auto& m : g.members) voters += m.voter ? 1 : 0;
    w.Sample("magpie_raft_voters", {{"group", g.id}}, voters);
  }

  // Gossip.
  w.Family("magpie_gossip_members", "gauge", "Members this node's gossip knows, by state.");
  for (const auto& [state, n] : s.members_by_state) w.Sample("magpie_gossip_members", {{"state", state}}, n);
  w.One("magpie_gossip_incarnation", "gauge", "This node's SWIM incarnation number.", s.incarnation);
  w.One("magpie_gossip_health_score", "gauge",
        "Lifeguard local health multiplier (0 is healthy; higher: this node is slow to answer).",
        s.health_score);
  for (const auto& [name, n] : s.gossip_counters) {
    std::string metric = "magpie_gossip_" + name + "_total";
    w.One(metric, "counter", "SWIM counter " + name + " since the node started.", n);
  }

  // Storage.
  w.Family("magpie_storage_write_seconds", "histogram",
           "RocksDB batch write latency, measured by the driver; sync=\"true\" were fsynced.");
  w.Histogram("magpie_storage_write_seconds", {{"sync", "true"}}, s.counters.write_synced);
  w.Histogram("magpie_storage_write_seconds", {{"sync", "false"}}, s.counters.write_unsynced);
  return w.Take();
}

}  // namespace magpie
