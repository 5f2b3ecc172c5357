// What clients ask for. A workload is a mix of request kinds with weights (drawn per seed
// for `mixed`, swarm-testing style, so each seed stresses a different blend):
//
//   single     one task to a random node: quick, failing, sleeping or drawn work, with
//              random priority, retries, backoff, sometimes a timeout, labels or `after`
//   pipeline   a DAG of 2..8 named tasks with `after` edges, submitted atomically
//   failing    tasks that fail, cannot start, or time out
//   long       tasks that run 30 s .. 200 s (at most kMaxLongTasks per client)
//   cancel     cancel a task this client was given
//   restart    restart a task this client was given
//   read       status, list or wait
//   garbage    a malformed frame or body: it must get an error and change nothing
//
// Named workloads (--workload): mixed, random, dag, failing, long, one-node (everything
// to node 0), cancel-restart. Every submit carries idempotency keys, so a retried submit
// is safe. Tasks only ask for labels and slots their target node has: until stealing
// exists a task runs only on the node it was submitted to.
#ifndef MAGPIE_SIMULATIONS_WORKLOAD_H_
#define MAGPIE_SIMULATIONS_WORKLOAD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/prng.h"
#include "node/client_protocol.h"

namespace magpie {

enum class WorkloadKind : uint8_t { kMixed, kRandom, kDag, kFailing, kLong, kOneNode, kCancelRestart };
const char* WorkloadName(WorkloadKind kind);
std::optional<WorkloadKind> ParseWorkload(const std::string& name);
const std::vector<WorkloadKind>& AllWorkloads();

struct WorkloadMix {
  uint32_t single = 1;
  uint32_t pipeline = 0;
  uint32_t failing = 0;
  uint32_t long_task = 0;
  uint32_t cancel = 0;
  uint32_t restart = 0;
  uint32_t read = 0;
  uint32_t garbage = 0;
  bool one_node = false;
};

struct NodeShape {
  int32_t slots = 1;
  std::map<std::string, std::string> labels;
};

// What one client remembers: the ids it was given, per node (the latest kMaxRemembered).
struct ClientMemory {
  static constexpr size_t kMaxRemembered = 128;
  // Long tasks one client may submit: enough to hold slots through faults, few enough
  // that a one-slot node still drains its queue in the liveness phase.
  static constexpr int kMaxLongTasks = 6;
  int long_tasks = 0;
  std::string name;
  uint64_t next_key = 1;
  uint64_t next_pipeline = 1;
  std::map<int, std::vector<std::string>> ids;

  void Remember(int node, const std::string& id);
};

struct PlannedRequest {
  int node = 0;
  RequestType type = RequestType::kSubmit;
  std::string body;
  bool garbage = false;  // `raw` is the whole frame, on purpose not a valid one
  std::string raw;
  size_t tasks = 0;
};

class Workload {
 public:
  // prng must outlive the workload. The mix is drawn here for kMixed and kOneNode.
  Workload(WorkloadKind kind, std::vector<NodeShape> nodes, Prng* prng);

  PlannedRequest Next(ClientMemory& memory);
  // The first n requests (over all clients) add a schedule each.
  void AddSchedules(int n) { schedules_left_ = n; }

  WorkloadKind kind() const { return kind_; }
  const WorkloadMix& mix() const { return mix_; }
  std::string Describe() const;

 private:
  TaskSpec BaseSpec(int node, ClientMemory& memory, std::vector<std::string> command);
  std::vector<std::string> QuickCommand();
  PlannedRequest Submit(int node, std::vector<TaskSpec> specs);
  PlannedRequest Single(int node, ClientMemory& memory);
  PlannedRequest Pipeline(int node, ClientMemory& memory);
  PlannedRequest Failing(int node, ClientMemory& memory);
  PlannedRequest Long(int node, ClientMemory& memory);
  PlannedRequest Control(int node, ClientMemory& memory, RequestType type);
  PlannedRequest Read(int node, ClientMemory& memory);
  PlannedRequest Garbage(int node);
  PlannedRequest AddSchedule(int node, ClientMemory& memory);
  const std::string* PickKnown(int node, const ClientMemory& memory);
  const std::string* PickAnyKnown(const ClientMemory& memory);

  WorkloadKind kind_;
  std::vector<NodeShape> nodes_;
  Prng* prng_;
  WorkloadMix mix_;
  int schedules_left_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_WORKLOAD_H_
