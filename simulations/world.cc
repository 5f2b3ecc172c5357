#include "simulations/world.h"

#include "base/buggify.h"
#include "simulations/entry_words.h"
#include "simulations/sim_log.h"
#include "simulations/schedule_checker.h"

namespace magpie {

namespace {

// Every replica the node holds: its applied index and its task records.
std::map<std::string, std::pair<uint64_t, TableImage>> ImagesOfNode(const SimNode& n) {
  std::map<std::string, std::pair<uint64_t, TableImage>> out;
  for (const auto& g : n.core().groups()) {
    if (const Replica* r = n.core().replica(g)) out[g] = {r->raft.applied_index(), ImageOf(r->table)};
  }
  return out;
}

void SetBuggify(const std::string& name) {
  BuggifySwitches& b = Buggify();
  b = BuggifySwitches{};
  for (const auto& s : kBuggifySwitchNames) b.*s.on = name == s.name;
}

}  // namespace

World::World(const SimOptions& options, spdlog::level::level_enum log_level, bool stealing,
             const std::function<void(DrawnOptions&)>& shape)
    : options_(options),
      prng_(options.seed),
      sink_(std::make_shared<SimLogSink>(&now_)),
      log_level_(log_level),
      log_(MakeSimLogger("world", sink_, log_level)),
      record_(options.nodes, GossipConfig{}.probe_timeout.Scaled(1, 2)) {
  MAGPIE_CHECK(ValidateOptions(options).ok(), "World with invalid options");
  drawn_ = DrawOptions(options_, prng_);
  if (shape) shape(drawn_);
  for (int i = 0; i < options_.nodes; ++i) addresses_[NodeAddress(i)] = i;
  for (const auto& c : drawn_.clients) addresses_[c.name] = c.endpoint;
  network_ = std::make_unique<SimNetwork>(drawn_.network, &prng_, &events_, &trace_);
  network_->set_fault_record(&record_);
  if (options_.buggify == kSimBuggify) {
    network_->HideCut(0, SimTime::Zero() + Duration::Seconds(100), SimTime::Zero() + Duration::Seconds(130));
  }

  std::vector<NodeShape> shapes;
  for (auto& d : drawn_.nodes) {
    d.node.stealing = stealing;
    d.node.replication = options_.replication;
    nodes_.push_back(std::make_unique<SimNode>(
        d.node, SimClock(d.clock_offset_us, d.clock_drift_ppm), &prng_, &events_, network_.get(),
        &trace_, this, this, &addresses_, &next_process_id_, sink_, log_level_));
    shapes.push_back(NodeShape{d.node.slots, d.node.labels});
  }
  workload_ = std::make_unique<Workload>(*ParseWorkload(options_.workload), shapes, &prng_);
  workload_->AddSchedules(options_.schedules);
  for (const auto& c : drawn_.clients) {
    clients_.push_back(std::make_unique<SimClient>(c, workload_.get(), &prng_, &events_,
                                                   network_.get(), &trace_, this,
                                                   MakeSimLogger(c.name, sink_, log_level_)));
  }
  safety_ = std::make_unique<SafetyChecker>(&oracle_, &nodes_,
                                            (options_.faults & kFaultDriftBeyond) == 0);
  liveness_ = std::make_unique<LivenessChecker>(&oracle_, &nodes_);
  membership_ = std::make_unique<MembershipChecker>(&record_);
  injector_ = std::make_unique<FaultInjector>(drawn_.faults, &prng_, &events_, &trace_, this,
                                              MakeSimLogger("faults", sink_, log_level_));
}

World::~World() { SetBuggify(""); }

std::string World::DescribeOptions() const {
  std::string out = "magpie-sim seed=" + std::to_string(options_.seed) +
                    " nodes=" + std::to_string(options_.nodes) +
                    " duration=" + std::to_string(options_.duration_s) + "s replication=" +
                    std::to_string(options_.replication) + " faults=" +
                    FaultsName(options_.faults) + " workload=" + options_.workload +
                    " buggify=" + (options_.buggify.empty() ? "none" : options_.buggify) + "\n";
  out += "options drawn from the seed:\n" + DescribeDrawn(drawn_);
  out += "  workload: " + workload_->Describe() + "\n";
  return out;
}

// --- hooks -------------------------------------------------------------------------------

void World::OnCommitted(SimTime now, int node, const std::string& group,
                        const std::vector<Entry>& entries) {
  if (nodes_[node]->recovered()) last_progress_ = now;
  known_groups_.insert(group);
  if (log_->should_log(spdlog::level::trace)) {
    for (const auto& e : entries) {
      log_->trace("node {} committed {}/{}", node, group, DescribeEntry(e));
    }
  }
  for (const auto& e : entries) {
    if (e.type != EntryType::kSubmit) continue;
    auto s = DecodePayload<SubmitEntry>(e.payload);
    if (s.ok()) oracle_.RecordCommittedSubmit(s->id, s->spec.idempotency_key, e.index, now);
  }
  // Every applied Grant may be the one a process starts under, replay or not.
  safety_->NoteGrants(entries);
  safety_->NoteApplied(now, node, group, entries);
  // A replay re-applies what was checked in an earlier life, and what arrives before it
  // is over is applied unchecked too: OnRecovered checks the result, allowing the
  // restarts among them.
  if (nodes_[node]->recovered()) {
    safety_->OnCommitted(now, node, group, entries);
  } else {
    safety_->OnDurableUnapplied(now, node, entries);
  }
}

void World::OnDurableUnapplied(SimTime now, int node, const std::vector<Entry>& entries) {
  safety_->OnDurableUnapplied(now, node, entries);
}

void World::OnRecovered(SimTime now, int node) {
  record_.Booted(now, node, nodes_[node]->node_id());
  oracle_.RecordReplica(nodes_[node]->group_id(), node);
  NoteGroupLosses(now);
  safety_->OnRecovered(now, node);
}

void World::OnNodeError(SimTime now, int node, const std::string& what) {
  safety_->Report(now, kNodeContract, "node " + std::to_string(node) + ": " + what);
}

void World::OnSyncStarted(SimTime now, int node, SimTime done_at) {
  injector_->OnSyncStarted(now, node, done_at);
}

void World::OnTurnEnd(SimTime now, int node) {
  membership_->OnTurnEnd(now, node, *nodes_[node]);
  if (turn_observer_) turn_observer_(now, node);
}

void World::OnProcessStart(SimTime now, const SimProcess& p) {
  log_->debug("process {} of {} attempt {} starts on node {}", p.id, p.task_id, p.attempt, p.node);
  safety_->OnProcessStart(now, p);
  if (auto o = orphans_.find(p.task_id); o != orphans_.end() && p.attempt > o->second.attempt) {
    const int64_t ms = (now - o->second.crashed).millis();
    if (o->second.leader && p.node != o->second.node) {
      failover_leader_ms_.push_back(ms);
    } else {
      failover_other_ms_.push_back(ms);
    }
    orphans_.erase(o);
  }
  oracle_.RecordProcessStart(p);
  last_progress_ = now;
}

void World::OnProcessStop(SimTime now, const SimProcess& p) {
  log_->debug("process {} of {} attempt {} on node {} ends ({})", p.id, p.task_id, p.attempt,
              p.node, p.ended_by);
  oracle_.RecordProcessStop(now, p);
  last_progress_ = now;
}

void World::OnAck(SimTime now, int client, int node, const std::vector<std::string>& ids,
                  const std::vector<std::string>& keys) {
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string& id = ids[i];
    trace_.MixString(id);
    trace_.Record(now, client, TraceKind::kAck, static_cast<uint64_t>(node));
    if (oracle_.acks().count(id) != 0) continue;
    AckRecord ack{id, Oracle::GroupOf(id), client, node, now, i < keys.size() ? keys[i] : ""};
    oracle_.RecordAck(ack);
    NoteGroupLosses(now);
    safety_->OnAck(now, ack);
  }
}

void World::CrashNode(SimTime now, int node) {
  record_.Crashed(now, node);
  SimNode& n = *nodes_[node];
  if (n.up()) {
    // Its attempts are orphaned: how long until each runs again (the failover figure).
    for (const auto& [pid, p] : n.executor().processes()) {
      if (p.node != node) continue;
      const std::string group = Oracle::GroupOf(p.task_id);
      const Replica* r = n.core().replica(group);
      const bool leader = r != nullptr && r->raft.is_leader() && r->serving;
      orphans_[p.task_id] = Orphan{p.attempt, now, node, leader};
    }
  }
  n.Crash(now);
}

std::vector<GroupLead> World::Leaders() const {
  std::vector<GroupLead> out;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const SimNode& n = *nodes_[i];
    if (!n.up()) continue;
    for (const auto& g : n.core().groups()) {
      const Replica* r = n.core().replica(g);
      if (r == nullptr || !r->raft.is_leader() || !r->serving) continue;
      GroupLead lead;
      lead.leader = static_cast<int>(i);
      for (const auto& m : r->raft.members().members) {
        if (!m.voter || m.id == n.node_id()) continue;
        for (size_t j = 0; j < nodes_.size(); ++j) {
          if (nodes_[j]->node_id() == m.id) lead.followers.push_back(static_cast<int>(j));
        }
      }
      out.push_back(std::move(lead));
    }
  }
  return out;
}

void World::NoteGroupLosses(SimTime now) {
  for (const auto& n : nodes_) {
    if (!n->up()) continue;
    for (const auto& g : n->core().groups()) {
      if (!oracle_.GroupSurvives(g)) continue;
      const Replica* r = n->core().replica(g);
      if (r == nullptr) continue;
      size_t voters = 0, wiped = 0;
      for (const auto& m : r->raft.members().members) {
        if (!m.voter) continue;
        ++voters;
        if (oracle_.Wiped(m.id)) ++wiped;
      }
      if (voters != 0 && wiped * 2 >= voters) {
        log_->info("group {} is lost: {} of its {} voters (as node {} lists them) lost their disks",
                   g, wiped, voters, n->options().index);
        oracle_.RecordGroupLost(g, now);
      }
    }
  }
  // A group no node holds any more (its voters' identities all gone, with one voter or
  // before it grew): nothing holds its log. A replica made for a member that never heard
  // from a leader (no configuration, nothing of the log) holds nothing either.
  for (const auto& group : known_groups_) {
    if (!oracle_.GroupSurvives(group)) continue;
    bool held = false;
    for (const auto& n : nodes_) {
      const Replica* r = n->up() ? n->core().replica(group) : nullptr;
      held = held || !n->up() || (r != nullptr && !r->raft.members().members.empty());
    }
    if (!held) oracle_.RecordGroupLost(group, now);
  }
}

void World::StopNode(SimTime now, int node) { nodes_[node]->Stop(now); }

bool World::NodeGuarded(int node) const { return nodes_[node]->executor().watchdog_alive(); }

void World::OnNodeStopped(SimTime now, int node) { record_.Crashed(now, node); }

void World::LoseWatchdog(SimTime now, int node) { nodes_[node]->executor().LoseWatchdog(); }

void World::SetDiskFull(SimTime now, int node, bool full) {
  // A node whose disk refuses a write turns read-only and falls silent to its peers, as if
  // paused: gossip may rightly suspect it.
  record_.Disturbed(now, node, node);
  nodes_[node]->SetDiskFull(full);
}

void World::RestartNode(SimTime now, int node, bool wipe) {
  events_.Push(now, EventKind::kRestartNode, node, wipe ? 1 : 0);
}

void World::PauseNode(SimTime now, int node) {
  if (nodes_[node]->up()) record_.Paused(now, node);
  nodes_[node]->Pause(now);
}

void World::ResumeNode(SimTime now, int node) {
  record_.Resumed(now, node);
  nodes_[node]->Resume(now);
}

// --- the loop ----------------------------------------------------------------------------

void World::Deliver(uint64_t packet_id) {
  auto p = network_->Take(now_, packet_id);
  if (!p) return;
  switch (p->kind) {
    case Packet::Kind::kPeer:
      nodes_[p->to]->DeliverPeer(now_, std::move(p->peer));
      break;
    case Packet::Kind::kRequest:
      nodes_[p->to]->DeliverRequest(now_, p->from, clients_[p->from - options_.nodes]->options().name,
                                    std::move(p->bytes));
      break;
    case Packet::Kind::kReply:
      clients_[p->to - options_.nodes]->OnReply(now_, p->bytes);
      break;
  }
}

void World::Dispatch(const Event& e) {
  trace_.Record(now_, e.target, TraceKind::kEvent, static_cast<uint64_t>(e.kind), e.arg);
  switch (e.kind) {
    case EventKind::kDeliver: return Deliver(e.arg);
    case EventKind::kNodeTurn: return nodes_[e.target]->Turn(now_);
    case EventKind::kNodeTick: return nodes_[e.target]->TickDue(now_, e.arg);
    case EventKind::kSyncDone: return nodes_[e.target]->SyncDone(now_, e.arg);
    case EventKind::kProcessExit: return nodes_[e.target]->OnProcessEnd(now_, e.arg, false);
    case EventKind::kProcessKilled: return nodes_[e.target]->OnProcessEnd(now_, e.arg, true);
    case EventKind::kWatchdogSweep: return nodes_[e.target]->executor().Sweep(now_, e.arg);
    case EventKind::kWatchdogDeadline:
      return nodes_[e.target]->executor().CheckDeadline(now_, e.arg);
    case EventKind::kFaultTick: return injector_->OnTick(now_);
    case EventKind::kFaultEnd: return injector_->OnEnd(now_, e.arg);
    case EventKind::kClientAct: return clients_[e.target]->Act(now_);
    case EventKind::kClientRetry: return clients_[e.target]->Retry(now_, e.arg);
    case EventKind::kPhaseEnd: return BeginLiveness(now_);
    case EventKind::kLivenessProbe: return Probe(now_);
    case EventKind::kRestartNode: {
      SimNode& n = *nodes_[e.target];
      if (n.up() && (n.stopping() || !n.executor().watchdog_alive())) {
        // A graceful stop is under way (or about to begin: the node has yet to notice
        // that its watchdog died): restart once the process has exited.
        events_.Push(now_ + Duration::Millis(100), EventKind::kRestartNode, e.target, e.arg);
        return;
      }
      if (n.up()) return;
      // The real node waits on its last watchdog's flock before it opens storage: no
      // attempt of the previous life may still run when recovery declares them lost.
      if (now_ < n.executor().sweep_done_at()) {
        events_.Push(n.executor().sweep_done_at(), EventKind::kRestartNode, e.target, e.arg);
        return;
      }
      if (e.arg != 0) oracle_.RecordWipe(n.node_id());
      n.Boot(now_, e.arg != 0);
      if (e.arg != 0) NoteGroupLosses(now_);
      return;
    }
  }
}

bool World::RunUntil(SimTime limit, bool until_converged) {
  while (!events_.empty() && events_.next_time() <= limit) {
    if (++steps_ > kMaxSteps) {
      late_violations_.push_back(Violation{now_, kWorldBounds, "the run exceeded its bound of " +
                                                                   std::to_string(kMaxSteps) + " steps"});
      return false;
    }
    const Event e = events_.Pop();
    now_ = e.at;
    Dispatch(e);
    if (Failed()) return false;
    if (until_converged && converged_) return true;
  }
  if (events_.overflowed() != 0) {
    late_violations_.push_back(Violation{now_, kWorldBounds, "the event queue overflowed"});
    return false;
  }
  return true;
}

size_t World::Outstanding() const {
  size_t n = 0;
  for (const auto& c : clients_) n += c->outstanding();
  return n;
}

void World::BeginLiveness(SimTime now) {
  log_->info("safety phase over: healing everything");
  phase_ = Phase::kLiveness;
  healed_at_ = now;
  injector_->Stop(now);
  for (auto& c : clients_) c->StopNewWork();
  events_.Push(now + kProbeEvery, EventKind::kLivenessProbe, -1, 0);
}

bool World::MembershipAgrees(SimTime now) {
  const std::string disagreement = membership_->Disagreement(now, nodes_);
  if (disagreement.empty()) {
    if (members_agreed_at_ == SimTime::Never()) members_agreed_at_ = now;
    return true;
  }
  if (members_agreed_at_ == SimTime::Never() && now - healed_at_ >= MembershipChecker::kAgreementBound) {
    late_violations_.push_back(membership_->AgreementViolation(
        now, "gossip did not agree within " + std::to_string(MembershipChecker::kAgreementBound.millis() / 1000) +
                 " s of the heal: " + disagreement));
  }
  return false;
}

void World::CheckAndPauseSchedules(SimTime now) {
  schedules_paused_ = true;
  for (auto& v : CheckSchedules(now, healed_at_, *liveness_, nodes_, nullptr)) late_violations_.push_back(std::move(v));
  uint64_t request_id = 1;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]->up()) continue;
    for (const auto& g : nodes_[i]->core().groups()) {
      if (liveness_->LeaderOf(g) != static_cast<int>(i)) continue;
      for (const auto& id : nodes_[i]->core().replica(g)->table.schedule_ids()) {
        InjectRequest(static_cast<int>(i),
                      EncodeRequest(RequestFrame{RequestType::kSchedule, request_id++,
                                                 PackBody(ScheduleRequest{id, "pause"})}));
      }
    }
  }
}

void World::Probe(SimTime now) {
  NoteGroupLosses(now);
  if (options_.schedules > 0 && !schedules_paused_ && now - healed_at_ >= kScheduleWatch) {
    CheckAndPauseSchedules(now);
  }
  const bool agreed = MembershipAgrees(now);
  if (Failed()) return;
  if (agreed && liveness_->Converged(Outstanding())) {
    if (converged_since_ == SimTime::Never()) converged_since_ = now;
    if (now - converged_since_ >= kQuietPeriod) {
      converged_ = true;
      return;
    }
  } else {
    converged_since_ = SimTime::Never();
  }
  if (now - last_progress_ >= kStallLimit || now - healed_at_ >= kLivenessCap) {
    converged_ = true;  // stop here: the checks say what did not converge
    return;
  }
  events_.Push(now + kProbeEvery, EventKind::kLivenessProbe, -1, 0);
}

void World::CheckReplay() {
  phase_ = Phase::kReplay;
  for (size_t i = 0; i < nodes_.size() && !Failed(); ++i) {
    SimNode& n = *nodes_[i];
    if (!n.up()) continue;
    // A table is compared at a raft applied index only between Readies: one taken and not
    // yet advanced (its write pending) holds entries the index does not count yet.
    if (!RunUntilIdle(n)) return;
    if (!n.up() || n.busy()) continue;  // read-only past the bound: nothing to compare
    const auto before = ImagesOfNode(n);
    record_.Crashed(now_, static_cast<int>(i));
    n.Crash(now_);
    if (!RunUntil(n.executor().sweep_done_at(), false)) return;
    now_ = std::max(now_, n.executor().sweep_done_at());
    n.Boot(now_, /*wipe=*/false);
    if (!n.up()) return;  // reported by OnNodeError
    // The core replays its log through a few Readies (and fsyncs): let it finish.
    const SimTime replay_limit = now_ + Duration::Seconds(5);
    while (n.up() && (!n.recovered() || n.busy()) && now_ < replay_limit) {
      const SimTime step = now_ + Duration::Millis(10);
      if (!RunUntil(step, false)) return;
      now_ = std::max(now_, step);
    }
    if (!n.up()) return;
    if (n.busy()) continue;
    ++replays_checked_;
    // Replica by replica; one that applied more while the node was down and replaying
    // (a leader sent it what it lacked: a follower may lag at the quiet period) is skipped.
    const auto after = ImagesOfNode(n);
    for (const auto& [g, b] : before) {
      auto a = after.find(g);
      if (a == after.end() || a->second.first != b.first) continue;
      for (auto& v : liveness_->CheckReplay(now_, static_cast<int>(i), b.second, a->second.second)) {
        late_violations_.push_back(std::move(v));
      }
    }
  }
}

bool World::RunUntilIdle(SimNode& n) {
  const SimTime limit = now_ + Duration::Seconds(5);
  while (n.up() && n.busy() && now_ < limit) {
    const SimTime step = now_ + Duration::Millis(1);
    if (!RunUntil(step, false)) return false;
    now_ = std::max(now_, step);
  }
  return true;
}

void World::BootAll() {
  for (int i = 0; i < options_.nodes; ++i) {
    events_.Push(SimTime::Zero() + Duration::Micros(prng_.Between(0, 100'000)),
                 EventKind::kRestartNode, i, 0);
  }
}

bool World::RunTo(SimTime limit) {
  const bool ok = RunUntil(limit, false);
  if (ok && now_ < limit) now_ = limit;  // idle time passes too
  return ok;
}

std::vector<Violation> World::violations() const {
  std::vector<Violation> out = safety_->violations();
  for (const auto& v : membership_->violations()) out.push_back(v);
  for (const auto& v : late_violations_) out.push_back(v);
  return out;
}

void World::InjectRequest(int node, std::string bytes) {
  nodes_[node]->DeliverRequest(now_, -1, "gossip-figures", std::move(bytes));
}

RunReport World::Run() {
  SetBuggify(options_.buggify);
  BootAll();
  for (auto& c : clients_) c->Start(SimTime::Zero() + Duration::Millis(200));
  injector_->Start(SimTime::Zero());
  events_.Push(SimTime::Zero() + Duration::Seconds(options_.duration_s), EventKind::kPhaseEnd, -1, 0);

  bool ok = RunUntil(SimTime::Never(), true);
  if (ok && !converged_) {
    late_violations_.push_back(Violation{now_, kLiveness, "the world ran out of events before it converged"});
    ok = false;
  }
  if (ok) {
    for (auto& v : liveness_->CheckConverged(now_, Outstanding())) late_violations_.push_back(std::move(v));
    for (auto& v : CheckSchedules(now_, healed_at_, *liveness_, nodes_, &schedules_checked_)) {
      late_violations_.push_back(std::move(v));
    }
    // Agreed at some probe but not now: gossip changed its mind with nothing wrong.
    const std::string disagreement = membership_->Disagreement(now_, nodes_);
    if (!disagreement.empty() && members_agreed_at_ < SimTime::Never()) {
      late_violations_.push_back(membership_->AgreementViolation(
          now_, "gossip agreed at t=" + members_agreed_at_.ToString() + " but not at the end: " + disagreement));
    }
  }
  if (!Failed()) CheckReplay();
  phase_ = Phase::kDone;

  RunReport r;
  r.options = options_;
  r.violations = safety_->violations();
  for (const auto& v : membership_->violations()) r.violations.push_back(v);
  for (const auto& v : late_violations_) r.violations.push_back(v);
  r.passed = r.violations.empty();
  r.trace_hash = trace_.value();
  r.trace_records = trace_.records();
  r.ended = now_;
  r.steps = steps_;
  r.acked_tasks = oracle_.acks().size();
  r.excluded_acks = liveness_->ExcludedAcks();
  r.failover_leader_ms = failover_leader_ms_;
  r.failover_other_ms = failover_other_ms_;
  r.lost_groups = oracle_.lost_groups();
  if (members_agreed_at_ < SimTime::Never()) r.members_agreed_ms = (members_agreed_at_ - healed_at_).millis();
  r.summary = Summary();
  SetBuggify("");
  return r;
}

std::string World::Summary() const {
  const FaultStats& f = injector_->stats();
  const NetworkStats& n = network_->stats();
  uint64_t requests = 0, sends = 0, errors = 0, garbage = 0, garbage_answered = 0;
  for (const auto& c : clients_) {
    requests += c->stats().requests;
    sends += c->stats().sends;
    errors += c->stats().errors;
    garbage += c->stats().garbage_sent;
    garbage_answered += c->stats().garbage_answered;
  }
  uint64_t boots = 0, readies = 0, syncs = 0, overflowed = 0;
  for (const auto& node : nodes_) {
    boots += node->stats().boots;
    readies += node->stats().readies;
    syncs += node->stats().syncs;
    overflowed += node->stats().inbox_overflowed;
  }
  std::string s;
  s += "safety phase: " + std::to_string(options_.duration_s) + "s; faults: " +
       std::to_string(f.crashes) + " crashes (" + std::to_string(f.crashes_in_sync) +
       " during an fsync, " + std::to_string(f.wipes) + " restarts with a wiped disk), " +
       std::to_string(f.pauses) + " pauses, " + std::to_string(f.partitions) + " partitions (" +
       std::to_string(f.flaps) + " flaps, " + std::to_string(f.leader_cuts) +
       " with a group's leader in the minority)\n";
  s += "network: " + std::to_string(n.sent) + " sent, " + std::to_string(n.delivered) +
       " delivered, " + std::to_string(n.lost) + " lost, " + std::to_string(n.cut) +
       " cut by partitions, " + std::to_string(n.duplicated) + " duplicated\n";
  s += "clients: " + std::to_string(requests) + " requests (" + std::to_string(sends) +
       " sends with retries), " + std::to_string(oracle_.acks().size()) +
       " task ids acknowledged (" + std::to_string(liveness_->ExcludedAcks()) +
       " excluded: " + std::to_string(oracle_.lost_groups()) +
       " groups lost a majority of their voters' disks), " + std::to_string(errors) +
       " error answers, " + std::to_string(garbage_answered) + "/" + std::to_string(garbage) +
       " garbage frames answered\n";
  s += "nodes: " + std::to_string(boots) + " boots, " + std::to_string(readies) + " readies, " +
       std::to_string(syncs) + " fsyncs, " + std::to_string(overflowed) +
       " inputs over the inbox bound; processes: " + std::to_string(oracle_.processes_started()) +
       " started\n";
  s += "liveness phase: healed at t=" + healed_at_.ToString() +
       (converged_since_ < SimTime::Never()
           ? ", converged at t=" + converged_since_.ToString()
           : ", did not converge (last progress at t=" + last_progress_.ToString() + ")") +
       "; replay: " + std::to_string(replays_checked_) + " nodes restarted from storage\n";
  s += "gossip: " + std::to_string(membership_->declarations()) + " deaths declared (" +
       std::to_string(membership_->declarations_of_live()) + " of running nodes, all within " +
       std::to_string(membership_->Window(record_.ids()).millis() / 1000) +
       " s of a fault on them, or a violation below); " +
       (members_agreed_at_ < SimTime::Never()
           ? "every live node listed every live node alive " +
                 std::to_string((members_agreed_at_ - healed_at_).millis()) + " ms after the heal"
           : std::string("no agreement checked (the run stopped before)")) + "\n";
  if (options_.schedules > 0) {
    s += "schedules: " + std::to_string(schedules_checked_.schedules) + " checked at their leaders, " +
         std::to_string(schedules_checked_.fired) + " slots fired, " +
         std::to_string(schedules_checked_.skipped) + " skipped\n";
  }
  s += "checks: " + std::to_string(safety_->checks()) + " safety checks over " +
       std::to_string(steps_) + " steps\n";
  return s;
}

}  // namespace magpie
