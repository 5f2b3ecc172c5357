// The simulated world: N node machines, clients, a network, one event queue, one PRNG,
// the oracle and the checkers. Run() is one whole test:
//
//   1. safety phase (--duration): the workload runs and faults come and go; the safety
//      checkers run after every step, and the first violation ends the run;
//   2. heal: partitions heal, loss and duplication stop, paused nodes resume, crashed ones
//      restart; clients send nothing new but keep retrying what is unanswered;
//   3. liveness phase: the world runs until it has converged and stayed quiet for
//      kQuietPeriod (or stalls, see kStallLimit); then the liveness checkers run;
//   4. replay: each node crashes and restarts from its own storage, and must recover the
//      very table it held.
//
// Deterministic: the same options give the same events, the same trace hash, the same
// result. Nothing here reads a clock or starts a thread.
#ifndef MAGPIE_SIMULATIONS_WORLD_H_
#define MAGPIE_SIMULATIONS_WORLD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "base/prng.h"
#include "simulations/drawn_options.h"
#include "simulations/schedule_checker.h"
#include "simulations/event_queue.h"
#include "simulations/fault_injector.h"
#include "simulations/fault_record.h"
#include "simulations/liveness_checker.h"
#include "simulations/membership_checker.h"
#include "simulations/oracle.h"
#include "simulations/safety_checker.h"
#include "simulations/sim_client.h"
#include "simulations/sim_network.h"
#include "simulations/sim_node.h"
#include "simulations/sim_options.h"
#include "simulations/trace_hash.h"
#include "simulations/workload.h"

namespace magpie {

struct RunReport {
  SimOptions options;
  bool passed = false;
  std::vector<Violation> violations;
  uint64_t trace_hash = 0;
  uint64_t trace_records = 0;
  SimTime ended;         // true time when the run stopped
  uint64_t steps = 0;    // events dispatched
  uint64_t acked_tasks = 0;
  uint64_t excluded_acks = 0;
  int64_t members_agreed_ms = -1;  // after the heal; -1: not checked (the run stopped before)
  // Failover: from the crash of a node holding an attempt to the task's next attempt
  // starting, in true ms. `leader`: the crashed node was serving as the leader of the
  // task's group; the next attempt started on another node.
  std::vector<int64_t> failover_leader_ms;
  std::vector<int64_t> failover_other_ms;  // every other orphaned attempt
  uint64_t lost_groups = 0;
  std::string summary;   // the report's middle lines
};

class World : public NodeHooks, public ProcessObserver, public ClientHooks, public FaultTarget {
 public:
  static constexpr Duration kProbeEvery = Duration::Seconds(1);
  static constexpr Duration kQuietPeriod = Duration::Seconds(5);
  // The liveness phase ends without convergence when nothing has moved (no entry committed,
  // no process started or ended) for kStallLimit — longer than any task the workloads
  // run — or after kLivenessCap in all. Idle time is free: the clock jumps.
  static constexpr Duration kStallLimit = Duration::Seconds(900);
  static constexpr Duration kLivenessCap = Duration::Seconds(6 * 3600);
  // A bound on one run: twenty times what the busiest seeds need; a run that hits it has
  // a runaway loop (a task granted over and over, a message storm) and fails.
  static constexpr uint64_t kMaxSteps = 20'000'000;

  // Draws every parameter from options.seed. REQUIRES: ValidateOptions(options).ok().
  // stealing: CoreOptions::stealing of every node (the gossip figures run without it).
  // shape, if given, may change what was drawn before the nodes are built (the steal
  // figures give every node the same slots).
  World(const SimOptions& options, spdlog::level::level_enum log_level, bool stealing = true,
        const std::function<void(DrawnOptions&)>& shape = nullptr);
  ~World() override;
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // The seed line and every drawn option: print it before Run.
  std::string DescribeOptions() const;
  RunReport Run();

  // --- Scenarios (gossip_figures.h): the world driven step by step, with no clients, no
  // fault injector and no phases; the caller crashes, restarts and measures. ---
  // Boots every node at a drawn instant in the first 100 ms, as Run does.
  void BootAll();
  // Runs every event up to `limit`; false when a violation or a bound stopped it.
  bool RunTo(SimTime limit);
  SimTime now() const { return now_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const SimNode& node(int i) const { return *nodes_[i]; }
  const std::vector<std::unique_ptr<SimNode>>& nodes() const { return nodes_; }
  const MembershipChecker& membership_checker() const { return *membership_; }
  const NetworkStats& network_stats() const { return network_->stats(); }
  // Every violation so far, safety and membership first.
  std::vector<Violation> violations() const;
  // Called after every node turn, after the checkers.
  void set_turn_observer(std::function<void(SimTime, int)> observer) { turn_observer_ = std::move(observer); }
  // An encoded request straight into a node's inbox, as from a client; replies go nowhere.
  void InjectRequest(int node, std::string bytes);
  uint64_t trace_hash() const { return trace_.value(); }
  // Every packet between any endpoints lost with this probability (per 10,000).
  void SetLoss(uint32_t per_10k) { network_->set_drop_per_10k(per_10k); }

  // NodeHooks
  void OnCommitted(SimTime now, int node, const std::string& group,
                   const std::vector<Entry>& entries) override;
  void OnDurableUnapplied(SimTime now, int node, const std::vector<Entry>& entries) override;
  void OnRecovered(SimTime now, int node) override;
  void OnNodeError(SimTime now, int node, const std::string& what) override;
  void OnSyncStarted(SimTime now, int node, SimTime done_at) override;
  void OnTurnEnd(SimTime now, int node) override;
  void OnNodeStopped(SimTime now, int node) override;
  // ProcessObserver
  void OnProcessStart(SimTime now, const SimProcess& p) override;
  void OnProcessStop(SimTime now, const SimProcess& p) override;
  // ClientHooks
  void OnAck(SimTime now, int client, int node, const std::vector<std::string>& ids,
             const std::vector<std::string>& keys) override;
  // FaultTarget
  bool NodeUp(int node) const override { return nodes_[node]->up(); }
  bool NodePaused(int node) const override { return nodes_[node]->paused(); }
  void CrashNode(SimTime now, int node) override;
  void RestartNode(SimTime now, int node, bool wipe) override;
  void PauseNode(SimTime now, int node) override;
  void ResumeNode(SimTime now, int node) override;
  void StopNode(SimTime now, int node) override;
  bool NodeGuarded(int node) const override;
  void LoseWatchdog(SimTime now, int node) override;
  void SetDiskFull(SimTime now, int node, bool full) override;
  SimNetwork& network() override { return *network_; }
  std::vector<GroupLead> Leaders() const override;

 private:
  enum class Phase : uint8_t { kSafety, kLiveness, kReplay, kDone };

  void Dispatch(const Event& e);
  void Deliver(uint64_t packet_id);
  void BeginLiveness(SimTime now);
  void Probe(SimTime now);
  // Pops events up to `limit` (inclusive), or until the world converged when
  // until_converged; false when a violation or the step bound stops it.
  bool RunUntil(SimTime limit, bool until_converged);
  void CheckReplay();
  // Runs the world until `n` has no Ready in flight (bounded); false if the run must end.
  bool RunUntilIdle(SimNode& n);
  size_t Outstanding() const;
  bool Failed() const {
    return !safety_->violations().empty() || !membership_->violations().empty() ||
           !late_violations_.empty();
  }
  // After the heal: whether gossip agrees yet; a violation once kAgreementBound has passed.
  bool MembershipAgrees(SimTime now);
  // Marks lost every group whose voters (as any up replica's configuration lists them) are
  // a majority wiped identities: DESIGN §1.1 promises nothing for it.
  void NoteGroupLosses(SimTime now);
  std::string Summary() const;

  SimOptions options_;
  SimTime now_ = SimTime::Zero();
  Prng prng_;
  EventQueue events_;
  TraceHash trace_;
  std::shared_ptr<spdlog::sinks::sink> sink_;
  spdlog::level::level_enum log_level_;
  std::shared_ptr<spdlog::logger> log_;
  DrawnOptions drawn_;
  std::map<std::string, int> addresses_;
  std::unique_ptr<SimNetwork> network_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::unique_ptr<Workload> workload_;
  std::vector<std::unique_ptr<SimClient>> clients_;
  Oracle oracle_;
  std::unique_ptr<SafetyChecker> safety_;
  std::unique_ptr<LivenessChecker> liveness_;
  FaultRecord record_;
  std::unique_ptr<MembershipChecker> membership_;
  std::unique_ptr<FaultInjector> injector_;
  uint64_t next_process_id_ = 1;

  Phase phase_ = Phase::kSafety;
  uint64_t steps_ = 0;
  SimTime healed_at_ = SimTime::Never();
  ScheduleTotals schedules_checked_;
  // Schedules fire for ever, so the cluster would never be quiet: kScheduleWatch after the
  // heal they are held to having kept firing, then paused (docs/simulation.md).
  static constexpr Duration kScheduleWatch = Duration::Seconds(90);
  bool schedules_paused_ = false;
  void CheckAndPauseSchedules(SimTime now);
  SimTime converged_since_ = SimTime::Never();
  SimTime last_progress_ = SimTime::Zero();
  bool converged_ = false;
  SimTime members_agreed_at_ = SimTime::Never();  // first probe after the heal that agreed
  std::vector<Violation> late_violations_;  // liveness, replay, and the world's own bounds
  uint64_t replays_checked_ = 0;
  std::function<void(SimTime, int)> turn_observer_;
  // Attempts orphaned by a crash, by task: the attempt, the crash, the node, whether it led.
  struct Orphan {
    uint32_t attempt = 0;
    SimTime crashed;
    int node = -1;
    bool leader = false;
  };
  std::map<std::string, Orphan> orphans_;
  std::set<std::string> known_groups_;  // every group some replica applied an entry of
  std::vector<int64_t> failover_leader_ms_;
  std::vector<int64_t> failover_other_ms_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_WORLD_H_
