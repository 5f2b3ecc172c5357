// What the HTTP threads may know of the node: a plain-data snapshot the driver takes on its
// own thread (about once a second) and hands over under a mutex. The core is
// single-threaded; nothing on an HTTP thread ever touches it.
#ifndef MAGPIE_NODE_HTTP_SNAPSHOT_H_
#define MAGPIE_NODE_HTTP_SNAPSHOT_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/time.h"

namespace magpie {

class NodeCore;

// A latency histogram with fixed buckets, in seconds (Prometheus convention).
struct LatencyHistogram {
  static constexpr std::array<double, 12> kBoundsSeconds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};
  std::array<uint64_t, kBoundsSeconds.size()> buckets{};  // not cumulative: per bucket
  uint64_t count = 0;
  double sum_seconds = 0;

  void Observe(int64_t micros);
};

// Counted by the driver as it carries out Ready batches and executor events. Only the
// driver's thread writes these; a copy rides in each snapshot.
struct DriverCounters {
  LatencyHistogram write_synced;    // RocksDB writes that were fsynced
  LatencyHistogram write_unsynced;
  // Committed entries applied by this node's replicas, since the process started
  // (recovery's replay included): group -> entry type name -> count.
  std::map<std::string, std::map<std::string, uint64_t>> applied;
  // Finish entries applied, group -> outcome name -> count.
  std::map<std::string, std::map<std::string, uint64_t>> finishes;
  uint64_t attempts_started = 0;  // processes (or built-ins) started on this node
  std::map<std::string, uint64_t> attempts_exited;  // "exited" / "signalled" / "start_failed"
  uint64_t client_frames = 0;    // client request frames received
  uint64_t bad_client_frames = 0;
};

struct GroupMemberInfo {
  std::string id;
  std::string address;
  bool voter = true;
  bool catching_up = false;
};

struct GroupInfo {
  std::string id;
  bool home = false;  // this node's home group
  std::string role;   // this node's Raft role in it
  bool serving = false;
  std::string leader_id;
  std::string leader_address;
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_index = 0;
  uint64_t snapshot_index = 0;
  std::vector<GroupMemberInfo> members;
  std::map<std::string, uint64_t> tasks_by_state;  // every state, zeros included
  uint64_t task_records_in_memory = 0;  // the rest are on disk only (ended tasks)
  uint64_t stale_finishes = 0;
  uint64_t leases = 0;  // leases of remote holders this node tracks as leader
};

struct NodeSnapshot {
  int64_t taken_unix_ms = 0;
  std::string node_id;
  std::string home_group;
  std::string listen;
  int32_t slots_total = 0;
  int32_t slots_used = 0;
  size_t running_local = 0;
  int64_t stolen = 0;
  int64_t given = 0;
  uint64_t incarnation = 0;
  int health_score = 0;
  std::map<std::string, uint64_t> members_by_state;  // every state, zeros included
  std::map<std::string, uint64_t> gossip_counters;
  std::vector<GroupInfo> groups;
  DriverCounters counters;
};

// Builds a snapshot. REQUIRES: the caller is the thread that drives the core.
std::shared_ptr<const NodeSnapshot> TakeSnapshot(const NodeCore& core, Instant now,
                                                 const DriverCounters& counters);

// The hand-off: the driver publishes, HTTP threads read the latest. Thread-safe.
class SnapshotBox {
 public:
  void Publish(std::shared_ptr<const NodeSnapshot> snapshot) {
    std::lock_guard<std::mutex> lock(mu_);
    latest_ = std::move(snapshot);
  }
  // nullptr until the driver published the first one.
  std::shared_ptr<const NodeSnapshot> Latest() const {
    std::lock_guard<std::mutex> lock(mu_);
    return latest_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const NodeSnapshot> latest_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_HTTP_SNAPSHOT_H_
