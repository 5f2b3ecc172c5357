#include "simulations/workload.h"

#include <algorithm>

namespace magpie {

const char* WorkloadName(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kMixed: return "mixed";
    case WorkloadKind::kRandom: return "random";
    case WorkloadKind::kDag: return "dag";
    case WorkloadKind::kFailing: return "failing";
    case WorkloadKind::kLong: return "long";
    case WorkloadKind::kOneNode: return "one-node";
    case WorkloadKind::kCancelRestart: return "cancel-restart";
  }
  return "?";
}

const std::vector<WorkloadKind>& AllWorkloads() {
  static const std::vector<WorkloadKind> kAll = {
      WorkloadKind::kMixed, WorkloadKind::kRandom, WorkloadKind::kDag, WorkloadKind::kFailing,
      WorkloadKind::kLong, WorkloadKind::kOneNode, WorkloadKind::kCancelRestart};
  return kAll;
}

std::optional<WorkloadKind> ParseWorkload(const std::string& name) {
  for (WorkloadKind k : AllWorkloads()) {
    if (name == WorkloadName(k)) return k;
  }
  return std::nullopt;
}

void ClientMemory::Remember(int node, const std::string& id) {
  std::vector<std::string>& v = ids[node];
  if (std::find(v.begin(), v.end(), id) != v.end()) return;
  if (v.size() >= kMaxRemembered) v.erase(v.begin());
  v.push_back(id);
}

Workload::Workload(WorkloadKind kind, std::vector<NodeShape> nodes, Prng* prng)
    : kind_(kind), nodes_(std::move(nodes)), prng_(prng) {
  auto w = [&](uint32_t max) { return static_cast<uint32_t>(prng_->Between(0, max)); };
  switch (kind) {
    case WorkloadKind::kRandom:
      mix_ = WorkloadMix{1, 0, 0, 0, 0, 0, 0, 0, false};
      break;
    case WorkloadKind::kDag:
      mix_ = WorkloadMix{1, 6, 0, 0, 0, 0, 1, 0, false};
      break;
    case WorkloadKind::kFailing:
      mix_ = WorkloadMix{1, 1, 5, 0, 0, 1, 1, 0, false};
      break;
    case WorkloadKind::kLong:
      mix_ = WorkloadMix{2, 1, 0, 3, 1, 0, 1, 0, false};
      break;
    case WorkloadKind::kCancelRestart:
      mix_ = WorkloadMix{3, 1, 1, 1, 3, 3, 1, 0, false};
      break;
    case WorkloadKind::kMixed:
    case WorkloadKind::kOneNode:
      mix_ = WorkloadMix{1 + w(9), w(6), w(4), w(2), w(3), w(3), w(3), w(1),
                         kind == WorkloadKind::kOneNode};
      break;
  }
}

std::string Workload::Describe() const {
  return std::string(WorkloadName(kind_)) + " (weights single=" + std::to_string(mix_.single) +
         " pipeline=" + std::to_string(mix_.pipeline) + " failing=" +
         std::to_string(mix_.failing) + " long=" + std::to_string(mix_.long_task) +
         " cancel=" + std::to_string(mix_.cancel) + " restart=" + std::to_string(mix_.restart) +
         " read=" + std::to_string(mix_.read) + " garbage=" + std::to_string(mix_.garbage) +
         (mix_.one_node ? ", all to node 0)" : ")");
}

std::vector<std::string> Workload::QuickCommand() {
  switch (prng_->Below(10)) {
    case 0: return {"true"};
    case 1: return {"false"};
    case 2: return {"@noop"};
    case 3: return {"@fail"};
    case 4: return {"@sleep", "0." + std::to_string(prng_->Between(1, 9))};
    case 5: return {"sleep", std::to_string(prng_->Between(0, 3))};
    case 6: return {"flaky", std::to_string(prng_->Between(10, 60))};
    case 7: return {"exit", std::to_string(prng_->Between(0, 3))};
    default: return {"work"};
  }
}

TaskSpec Workload::BaseSpec(int node, ClientMemory& memory, std::vector<std::string> command) {
  TaskSpec s;
  s.command = std::move(command);
  s.priority = static_cast<int32_t>(prng_->Between(0, 100));
  s.max_attempts = static_cast<int32_t>(prng_->Between(1, 4));
  s.backoff_ms = prng_->Between(50, 2000);
  const NodeShape& shape = nodes_[node];
  s.slots = static_cast<int32_t>(prng_->Chance(1, 5) ? prng_->Between(1, shape.slots) : 1);
  if (!shape.labels.empty() && prng_->Chance(1, 3)) {
    auto it = shape.labels.begin();
    std::advance(it, static_cast<long>(prng_->Below(shape.labels.size())));
    s.labels.insert(*it);
  }
  if (prng_->Chance(1, 8)) s.timeout_ms = prng_->Between(100, 5000);
  s.idempotency_key = memory.name + "-k" + std::to_string(memory.next_key++);
  return s;
}

const std::string* Workload::PickKnown(int node, const ClientMemory& memory) {
  auto it = memory.ids.find(node);
  if (it == memory.ids.end() || it->second.empty()) return nullptr;
  return &it->second[prng_->Below(it->second.size())];
}

PlannedRequest Workload::Submit(int node, std::vector<TaskSpec> specs) {
  PlannedRequest r;
  r.node = node;
  r.type = RequestType::kSubmit;
  r.tasks = specs.size();
  r.body = PackBody(SubmitRequest{std::move(specs), false});
  return r;
}

const std::string* Workload::PickAnyKnown(const ClientMemory& memory) {
  size_t n = 0;
  for (const auto& [node, ids] : memory.ids) n += ids.size();
  if (n == 0) return nullptr;
  size_t i = prng_->Below(n);
  for (const auto& [node, ids] : memory.ids) {
    if (i < ids.size()) return &ids[i];
    i -= ids.size();
  }
  return nullptr;
}

PlannedRequest Workload::Single(int node, ClientMemory& memory) {
  TaskSpec s = BaseSpec(node, memory, QuickCommand());
  // Any id this client was given: one another node gave lives in another group, so `after`
  // crosses groups (Upstream entries) about as often as it stays within one.
  if (const std::string* up = PickAnyKnown(memory); up != nullptr && prng_->Chance(1, 4)) {
    s.after.push_back(*up);
  }
  return Submit(node, {std::move(s)});
}

PlannedRequest Workload::Pipeline(int node, ClientMemory& memory) {
  const std::string prefix = memory.name + "-p" + std::to_string(memory.next_pipeline++) + "-";
  const int64_t n = prng_->Between(2, 8);
  std::vector<TaskSpec> specs;
  for (int64_t i = 0; i < n; ++i) {
    // Mostly tasks that succeed, so that pipelines get deep; some fail and block.
    TaskSpec s = BaseSpec(node, memory, prng_->Chance(3, 4) ? std::vector<std::string>{"true"}
                                                            : QuickCommand());
    s.name = prefix + std::to_string(i);
    for (int64_t j = 0; j < i; ++j) {
      if (prng_->Chance(1, 2)) s.after.push_back(prefix + std::to_string(j));
    }
    specs.push_back(std::move(s));
  }
  return Submit(node, std::move(specs));
}

PlannedRequest Workload::Failing(int node, ClientMemory& memory) {
  std::vector<std::string> cmd;
  switch (prng_->Below(5)) {
    case 0: cmd = {"false"}; break;
    case 1: cmd = {"@fail"}; break;
    case 2: cmd = {"exit", std::to_string(prng_->Between(1, 255))}; break;
    case 3: cmd = {"missing-tool"}; break;
    default: cmd = {"sleep", std::to_string(prng_->Between(2, 20))}; break;
  }
  TaskSpec s = BaseSpec(node, memory, std::move(cmd));
  s.max_attempts = static_cast<int32_t>(prng_->Between(1, 3));
  s.backoff_ms = prng_->Between(50, 500);
  if (s.command[0] == "sleep") s.timeout_ms = prng_->Between(200, 1500);  // it times out
  return Submit(node, {std::move(s)});
}

PlannedRequest Workload::Long(int node, ClientMemory& memory) {
  if (memory.long_tasks >= ClientMemory::kMaxLongTasks) return Single(node, memory);
  ++memory.long_tasks;
  std::vector<std::string> cmd = prng_->Chance(1, 2)
      ? std::vector<std::string>{"sleep", std::to_string(prng_->Between(30, 200))}
      : std::vector<std::string>{"@sleep", std::to_string(prng_->Between(30, 120))};
  TaskSpec s = BaseSpec(node, memory, std::move(cmd));
  s.timeout_ms = prng_->Chance(1, 4) ? prng_->Between(10'000, 60'000) : 0;
  return Submit(node, {std::move(s)});
}

PlannedRequest Workload::Control(int node, ClientMemory& memory, RequestType type) {
  const std::string* id = PickKnown(node, memory);
  if (id == nullptr) return Single(node, memory);
  PlannedRequest r;
  r.node = node;
  r.type = type;
  r.body = type == RequestType::kCancel ? PackBody(CancelRequest{*id}) : PackBody(RestartRequest{*id});
  return r;
}

PlannedRequest Workload::Read(int node, ClientMemory& memory) {
  PlannedRequest r;
  r.node = node;
  const std::string* id = PickKnown(node, memory);
  const uint64_t pick = prng_->Below(3);
  if (id == nullptr || pick == 0) {
    r.type = RequestType::kList;
    ListRequest l;
    l.limit = static_cast<uint32_t>(prng_->Between(1, 50));
    r.body = PackBody(l);
  } else if (pick == 1) {
    r.type = RequestType::kStatus;
    r.body = PackBody(StatusRequest{*id});
  } else {
    r.type = RequestType::kWait;
    r.body = PackBody(WaitRequest{{*id}, prng_->Between(100, 2000)});
  }
  return r;
}

PlannedRequest Workload::Garbage(int node) {
  PlannedRequest r;
  r.node = node;
  r.garbage = true;
  if (prng_->Chance(1, 2)) {
    // A well-formed frame with a body that is not the struct its type names.
    std::string body(static_cast<size_t>(prng_->Between(0, 24)), '\0');
    for (char& c : body) c = static_cast<char>(prng_->Below(256));
    r.raw = EncodeRequest(RequestFrame{RequestType::kSubmit, 0, body});
  } else {
    r.raw.resize(static_cast<size_t>(prng_->Between(0, 48)));
    for (char& c : r.raw) c = static_cast<char>(prng_->Below(256));
  }
  return r;
}

PlannedRequest Workload::AddSchedule(int node, ClientMemory& memory) {
  // Quick built-in work and periods of seconds: the cluster is idle between firings, so the
  // liveness phase still finds moments where everything has converged.
  TaskSpec s = BaseSpec(node, memory, {"@sleep", "0." + std::to_string(prng_->Between(1, 5))});
  s.name = memory.name + "-schedule-" + std::to_string(schedules_left_);
  static constexpr int64_t kPeriods[] = {5'000, 7'000, 10'000, 20'000};
  s.schedule.every_ms = kPeriods[prng_->Below(4)];
  s.schedule.catch_up = prng_->Chance(1, 2) ? 0 : static_cast<int32_t>(prng_->Between(1, 3));
  s.schedule.no_overlap = prng_->Chance(1, 2);
  s.timeout_ms = 0;
  return Submit(node, {std::move(s)});
}

PlannedRequest Workload::Next(ClientMemory& memory) {
  const int node = mix_.one_node ? 0 : static_cast<int>(prng_->Below(nodes_.size()));
  if (schedules_left_ > 0) {
    PlannedRequest r = AddSchedule(node, memory);
    --schedules_left_;
    return r;
  }
  const uint32_t weights[] = {mix_.single, mix_.pipeline, mix_.failing, mix_.long_task,
                              mix_.cancel, mix_.restart, mix_.read, mix_.garbage};
  uint64_t total = 0;
  for (uint32_t w : weights) total += w;
  uint64_t roll = prng_->Below(total);
  int kind = 0;
  while (roll >= weights[kind]) roll -= weights[kind++];
  switch (kind) {
    case 1: return Pipeline(node, memory);
    case 2: return Failing(node, memory);
    case 3: return Long(node, memory);
    case 4: return Control(node, memory, RequestType::kCancel);
    case 5: return Control(node, memory, RequestType::kRestart);
    case 6: return Read(node, memory);
    case 7: return Garbage(node);
    default: return Single(node, memory);
  }
}

}  // namespace magpie
