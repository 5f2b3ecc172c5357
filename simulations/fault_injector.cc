#include "simulations/fault_injector.h"

#include <algorithm>

#include "simulations/sim_options.h"

namespace magpie {

FaultInjector::FaultInjector(FaultPlan plan, Prng* prng, EventQueue* events, TraceHash* trace,
                             FaultTarget* target, std::shared_ptr<spdlog::logger> log)
    : plan_(plan), prng_(prng), events_(events), trace_(trace), target_(target), log_(std::move(log)) {}

void FaultInjector::Note(SimTime now, int node, const std::string& what) {
  log_->info("fault: {}", what);
  trace_->MixString(what);
  trace_->Record(now, node, TraceKind::kFault);
}

void FaultInjector::Start(SimTime now) {
  if ((plan_.faults & (kFaultCrash | kFaultPause | kFaultPartition | kFaultStop | kFaultWatchdog |
                       kFaultDisk)) == 0) {
    return;
  }
  events_->Push(now + Duration::Micros(prng_->Between(0, 2 * plan_.gap_mean_us)),
                EventKind::kFaultTick, -1, 0);
}

int FaultInjector::NodeFaults() const {
  int n = 0;
  for (int i = 0; i < plan_.nodes; ++i) n += !target_->NodeUp(i) || target_->NodePaused(i);
  return n + disk_faults_;
}

int FaultInjector::PickNode(bool up_and_running) {
  std::vector<int> candidates;
  for (int i = 0; i < plan_.nodes; ++i) {
    if (!up_and_running ||
        (target_->NodeUp(i) && !target_->NodePaused(i) && target_->NodeGuarded(i))) {
      candidates.push_back(i);
    }
  }
  if (candidates.empty()) return -1;
  return candidates[prng_->Below(candidates.size())];
}

std::vector<int> FaultInjector::PickSide(int min, int max) {
  // A random subset of the chosen size: a partial shuffle of 0..n-1.
  std::vector<int> all(plan_.nodes);
  for (int i = 0; i < plan_.nodes; ++i) all[i] = i;
  const int size = static_cast<int>(prng_->Between(min, max));
  for (int i = 0; i < size; ++i) {
    std::swap(all[i], all[i + prng_->Below(plan_.nodes - i)]);
  }
  all.resize(size);
  std::sort(all.begin(), all.end());
  return all;
}

void FaultInjector::Schedule(SimTime at, Active a) {
  const uint64_t id = next_record_++;
  active_.emplace(id, std::move(a));
  events_->Push(at, EventKind::kFaultEnd, -1, id);
}

void FaultInjector::OnTick(SimTime now) {
  if (stopped_) return;
  events_->Push(now + Duration::Micros(prng_->Between(0, 2 * plan_.gap_mean_us)),
                EventKind::kFaultTick, -1, 0);
  std::vector<Kind> choices;
  if (On(kFaultCrash)) choices.push_back(Kind::kCrash);
  if (On(kFaultPause)) choices.push_back(Kind::kPause);
  if (On(kFaultPartition) && plan_.nodes >= 2 && !partitioned_) choices.push_back(Kind::kPartition);
  if (On(kFaultStop)) choices.push_back(Kind::kStop);
  if (On(kFaultWatchdog)) choices.push_back(Kind::kWatchdog);
  if (On(kFaultDisk)) choices.push_back(Kind::kDisk);
  if (choices.empty()) return;
  const Kind kind = choices[prng_->Below(choices.size())];
  if (kind == Kind::kPartition) return StartPartition(now);
  if (NodeFaults() >= plan_.max_faulty) return;
  const int node = PickNode(true);
  if (node < 0) return;
  if (kind == Kind::kCrash) return StartCrash(now, node, false);
  if (kind == Kind::kStop) return StartStop(now, node);
  if (kind == Kind::kWatchdog) return StartWatchdogLoss(now, node);
  if (kind == Kind::kDisk) return StartDiskFull(now, node);
  StartPause(now);
}

void FaultInjector::StartCrash(SimTime now, int node, bool in_sync) {
  ++stats_.crashes;
  if (in_sync) ++stats_.crashes_in_sync;
  Note(now, node, "crash node " + std::to_string(node) + (in_sync ? " during an fsync" : ""));
  target_->CrashNode(now, node);
  Active a;
  a.kind = Kind::kCrash;
  a.node = node;
  Schedule(now + Duration::Micros(prng_->Between(plan_.down_min_us, plan_.down_max_us)), a);
}

void FaultInjector::StartStop(SimTime now, int node) {
  ++stats_.stops;
  Note(now, node, "stop node " + std::to_string(node) + " (SIGTERM)");
  target_->StopNode(now, node);
  Active a;
  a.kind = Kind::kStop;
  a.node = node;
  Schedule(now + Duration::Micros(prng_->Between(plan_.down_min_us, plan_.down_max_us)), a);
}

void FaultInjector::StartWatchdogLoss(SimTime now, int node) {
  ++stats_.watchdogs_lost;
  Note(now, node, "the watchdog of node " + std::to_string(node) + " dies");
  target_->LoseWatchdog(now, node);
  if (prng_->Chance(1, 2)) {
    // The danger the watchdog is for: its node frozen past every lease it holds, soon
    // after the death; a real node polls the watchdog's socket and notices within a turn.
    Active p;
    p.kind = Kind::kPauseBegins;
    p.node = node;
    Schedule(now + Duration::Micros(prng_->Between(100'000, 1'000'000)), p);
  }
  Active a;
  a.kind = Kind::kStop;  // the node stops by itself: restart it later
  a.node = node;
  Schedule(now + Duration::Micros(prng_->Between(plan_.down_min_us, plan_.down_max_us)), a);
}

void FaultInjector::StartDiskFull(SimTime now, int node) {
  ++stats_.disks_full;
  ++disk_faults_;
  Note(now, node, "the disk of node " + std::to_string(node) + " is full");
  target_->SetDiskFull(now, node, true);
  Active a;
  a.kind = Kind::kDisk;
  a.node = node;
  Schedule(now + Duration::Micros(prng_->Between(plan_.pause_min_us, plan_.pause_max_us)), a);
}

void FaultInjector::StartPause(SimTime now) {
  const int node = PickNode(true);
  if (node < 0) return;
  ++stats_.pauses;
  Note(now, node, "pause node " + std::to_string(node));
  target_->PauseNode(now, node);
  Active a;
  a.kind = Kind::kPause;
  a.node = node;
  Schedule(now + Duration::Micros(prng_->Between(plan_.pause_min_us, plan_.pause_max_us)), a);
}

void FaultInjector::ApplyShape(const std::string& shape, const std::vector<int>& side, int node) {
  Partition& p = target_->network().partition();
  if (shape == "split") {
    p.Split(side);
  } else if (shape == "one-way") {
    std::vector<int> rest;
    for (int i = 0; i < plan_.nodes; ++i) {
      if (std::find(side.begin(), side.end(), i) == side.end()) rest.push_back(i);
    }
    p.OneWay(side, rest);
  } else if (shape == "bridge") {
    p.Bridge(side, node);
  } else {
    p.Isolate(node);
  }
}

void FaultInjector::StartPartition(SimTime now) {
  const int n = plan_.nodes;
  static const char* kShapes[] = {"split", "one-way", "bridge", "isolate", "flap", "leader"};
  std::string shape = kShapes[prng_->Below(6)];
  if (shape == "bridge" && n < 3) shape = "split";
  if (shape == "leader") {
    if (StartLeaderMinority(now)) return;
    shape = "isolate";
  }
  Active a;
  a.kind = shape == "flap" ? Kind::kFlap : Kind::kPartition;
  if (shape == "flap") {
    a.shape = prng_->Chance(1, 2) ? "split" : "isolate";
  } else {
    a.shape = shape;
  }
  a.side = PickSide(1, a.shape == "bridge" ? n - 2 : n - 1);
  a.node = a.shape == "bridge" ? PickSide(1, 1)[0] : static_cast<int>(prng_->Below(n));
  if (a.shape == "bridge") {
    // The bridge must not be on side A, and side A must not be all the others.
    while (std::find(a.side.begin(), a.side.end(), a.node) != a.side.end()) {
      a.node = (a.node + 1) % n;
    }
  }
  ApplyShape(a.shape, a.side, a.node);
  partitioned_ = true;
  ++stats_.partitions;
  const Duration lasts = Duration::Micros(prng_->Between(plan_.cut_min_us, plan_.cut_max_us));
  Note(now, -1, "partition " + target_->network().partition().description() +
                    (a.kind == Kind::kFlap ? " (flapping)" : "") + " for " +
                    std::to_string(lasts.millis()) + " ms");
  if (a.kind == Kind::kFlap) {
    a.until = now + lasts;
    a.cut = true;
    Schedule(now + Duration::Micros(prng_->Between(plan_.flap_min_us, plan_.flap_max_us)), a);
  } else {
    Schedule(now + lasts, a);
  }
}

bool FaultInjector::StartLeaderMinority(SimTime now) {
  // A group's leader cut into a minority of the cluster, which may keep one of its
  // followers as a bridge: the leader then still hears from that follower (and may keep
  // its quorum and lease), while the majority side cannot reach it.
  const int n = plan_.nodes;
  const std::vector<GroupLead> leads = target_->Leaders();
  if (n < 3 || leads.empty()) return false;
  const GroupLead& lead = leads[prng_->Below(leads.size())];
  std::vector<int> others;
  for (int i = 0; i < n; ++i) {
    if (i != lead.leader) others.push_back(i);
  }
  // The minority: the leader and up to (n-1)/2 - 1 others.
  const int extra = static_cast<int>(prng_->Below(static_cast<uint64_t>((n - 1) / 2)));
  Active a;
  a.kind = Kind::kPartition;
  a.side.push_back(lead.leader);
  for (int k = 0; k < extra && !others.empty(); ++k) {
    const size_t at = prng_->Below(others.size());
    a.side.push_back(others[at]);
    others.erase(others.begin() + static_cast<std::ptrdiff_t>(at));
  }
  std::sort(a.side.begin(), a.side.end());
  std::vector<int> bridges;  // followers outside the minority
  for (int f : lead.followers) {
    if (std::find(a.side.begin(), a.side.end(), f) == a.side.end()) bridges.push_back(f);
  }
  const bool bridged = !bridges.empty() && prng_->Chance(1, 2);
  if (bridged) {
    a.shape = "bridge";
    a.node = bridges[prng_->Below(bridges.size())];
  } else {
    a.shape = "split";
  }
  ApplyShape(a.shape, a.side, a.node);
  partitioned_ = true;
  ++stats_.partitions;
  ++stats_.leader_cuts;
  const Duration lasts = Duration::Micros(prng_->Between(plan_.cut_min_us, plan_.cut_max_us));
  Note(now, lead.leader,
       "partition " + target_->network().partition().description() + " (a leader, node " +
           std::to_string(lead.leader) + ", in the minority" +
           (bridged ? ", still talking to its follower node " + std::to_string(a.node) : "") +
           ") for " + std::to_string(lasts.millis()) + " ms");
  Schedule(now + lasts, a);
  return true;
}

void FaultInjector::OnSyncStarted(SimTime now, int node, SimTime done_at) {
  if (stopped_ || !On(kFaultCrash) || plan_.crash_in_sync_per_10k == 0) return;
  if (!prng_->Chance(plan_.crash_in_sync_per_10k, 10000)) return;
  const int64_t window_us = (done_at - now).micros();
  if (window_us <= 0) return;
  Active a;
  a.kind = Kind::kCrashInSync;
  a.node = node;
  Schedule(now + Duration::Micros(prng_->Between(0, window_us - 1)), a);
}

void FaultInjector::OnEnd(SimTime now, uint64_t record_id) {
  auto it = active_.find(record_id);
  if (it == active_.end()) return;  // healed by Stop already
  Active a = std::move(it->second);
  active_.erase(it);
  switch (a.kind) {
    case Kind::kCrash: {
      const bool wipe = On(kFaultWipe) && prng_->Chance(plan_.wipe_per_100, 100);
      if (wipe) ++stats_.wipes;
      Note(now, a.node, "restart node " + std::to_string(a.node) + (wipe ? " with a wiped disk" : ""));
      target_->RestartNode(now, a.node, wipe);
      break;
    }
    case Kind::kCrashInSync:
      if (target_->NodeUp(a.node) && NodeFaults() < plan_.max_faulty) StartCrash(now, a.node, true);
      break;
    case Kind::kPauseBegins:
      // The pause that follows a watchdog's death: past any lease the node holds.
      if (!target_->NodeUp(a.node) || target_->NodePaused(a.node) || NodeFaults() >= plan_.max_faulty) break;
      ++stats_.pauses;
      Note(now, a.node, "pause node " + std::to_string(a.node));
      target_->PauseNode(now, a.node);
      a.kind = Kind::kPause;
      Schedule(now + Duration::Micros(prng_->Between(5'000'000, plan_.pause_max_us)), a);
      break;
    case Kind::kPause:
      Note(now, a.node, "resume node " + std::to_string(a.node));
      target_->ResumeNode(now, a.node);
      break;
    case Kind::kStop:
      Note(now, a.node, "restart node " + std::to_string(a.node));
      target_->RestartNode(now, a.node, false);
      break;
    case Kind::kWatchdog:  // never scheduled: its node's restart is a kStop
      break;
    case Kind::kDisk:
      --disk_faults_;
      Note(now, a.node, "the disk of node " + std::to_string(a.node) + " has room again");
      target_->SetDiskFull(now, a.node, false);
      break;
    case Kind::kPartition:
      Note(now, -1, "heal partition");
      target_->network().partition().Heal();
      partitioned_ = false;
      break;
    case Kind::kFlap:
      if (now >= a.until) {
        Note(now, -1, "heal flapping partition");
        target_->network().partition().Heal();
        partitioned_ = false;
        break;
      }
      ++stats_.flaps;
      if (a.cut) {
        target_->network().partition().Heal();
      } else {
        ApplyShape(a.shape, a.side, a.node);
      }
      a.cut = !a.cut;
      Schedule(now + Duration::Micros(prng_->Between(plan_.flap_min_us, plan_.flap_max_us)), a);
      break;
  }
}

void FaultInjector::Stop(SimTime now) {
  stopped_ = true;
  Note(now, -1, "heal everything");
  for (auto& [id, a] : active_) {
    if (a.kind == Kind::kCrash || a.kind == Kind::kStop) target_->RestartNode(now, a.node, false);
    if (a.kind == Kind::kPause) target_->ResumeNode(now, a.node);
    if (a.kind == Kind::kDisk) target_->SetDiskFull(now, a.node, false);
  }
  active_.clear();
  disk_faults_ = 0;
  partitioned_ = false;
  target_->network().Calm();
}

}  // namespace magpie
