#include "simulations/sim_node.h"

#include <algorithm>
#include <cstdio>

#include "simulations/drawn_options.h"

namespace magpie {

namespace {

constexpr const char* kNodeIdKey = "node_id";  // as node/node_identity.cc keeps it

// The log entries a batch makes durable: what the oracle learns was committed.
std::vector<Entry> DecodeLogEntries(const WriteBatch& batch) {
  std::vector<Entry> out;
  for (const auto& op : batch.ops()) {
    if (op.type != WriteBatch::OpType::kPut || op.column != Column::kLog) continue;
    auto e = DecodeEntry(op.value);
    if (e.ok()) out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace

// The machine as the driver loop sees it.
class SimNode::Io : public DriverIo {
 public:
  explicit Io(SimNode* n) : n_(n) {}

  Instant Now() override { return n_->clock_.LocalAt(n_->now_); }

  Status Write(const WriteBatch& batch, bool sync, bool* pending) override {
    *pending = false;
    if (n_->disk_full_) return Status::IOError("No space left on device (simulated)");
    // Into the page cache at once; durable only when the fsync ends.
    Status s = n_->storage_.Write(batch, /*sync=*/false);
    if (!s.ok() || !sync) return s;
    *pending = true;
    n_->in_flight_entries_ = DecodeLogEntries(batch);
    const SimTime now = n_->now_;
    const SimTime done = now + Duration::Micros(n_->prng_->Between(n_->options_.fsync_min_us,
                                                                   n_->options_.fsync_max_us));
    n_->events_->Push(done, EventKind::kSyncDone, n_->options_.index, n_->incarnation_);
    n_->hooks_->OnSyncStarted(now, n_->options_.index, done);
    return Status::Ok();
  }
  Status ResumeDisk() override {
    return n_->disk_full_ ? Status::IOError("No space left on device (simulated)") : Status::Ok();
  }
  void Send(PeerMessage m) override {
    auto it = n_->addresses_->find(m.to);
    if (it == n_->addresses_->end() || !n_->network_->IsNode(it->second)) {
      ++n_->stats_.unknown_destinations;
      return;
    }
    Packet p;
    p.kind = Packet::Kind::kPeer;
    p.from = n_->options_.index;
    p.to = it->second;
    p.peer = std::move(m);
    n_->network_->Send(n_->now_, std::move(p));
  }
  void Reply(const ReplyTo& to, const ReplyFrame& frame) override { n_->SendReply(n_->now_, to, frame); }
  void Start(Instant, const StartProcess& sp) override {
    auto failed = n_->executor_.Start(n_->now_, n_->incarnation_, sp);
    if (failed) n_->exits_.push_back(std::move(*failed));
  }
  void Kill(const KillProcess& k) override { n_->executor_.Kill(n_->now_, k); }
  void Extend(const ExtendDeadline& e) override { n_->executor_.Extend(n_->now_, e); }
  std::vector<ExecutorEvent> TakeExecutorEvents(Instant) override {
    std::vector<ExecutorEvent> out;
    while (!n_->exits_.empty() && out.size() < kMaxInputsPerTurn) {
      out.push_back(std::move(n_->exits_.front()));
      n_->exits_.pop_front();
    }
    return out;
  }
  bool WatchdogAlive() override { return n_->executor_.watchdog_alive(); }
  void OnReadyTaken(Instant, const Ready& rd) override { n_->OnReadyTaken(rd); }

 private:
  SimNode* n_;
};

std::vector<std::string> JoinAddresses(int index, int nodes) {
  constexpr int kJoinEveryoneUpTo = 32;
  constexpr int kSeeds = 3;
  std::vector<std::string> out;
  const int last = nodes <= kJoinEveryoneUpTo ? nodes : std::min(nodes, kSeeds);
  for (int i = 0; i < last; ++i) {
    if (i != index) out.push_back(NodeAddress(i));
  }
  std::sort(out.begin(), out.end());  // the order the address map gave before: same traces
  return out;
}

SimNode::SimNode(SimNodeOptions options, SimClock clock, Prng* prng, EventQueue* events,
                 SimNetwork* network, TraceHash* trace, NodeHooks* hooks,
                 ProcessObserver* observer, const std::map<std::string, int>* addresses,
                 uint64_t* next_process_id, std::shared_ptr<spdlog::sinks::sink> log_sink,
                 spdlog::level::level_enum log_level)
    : options_(std::move(options)),
      clock_(clock),
      prng_(prng),
      events_(events),
      network_(network),
      trace_(trace),
      hooks_(hooks),
      addresses_(addresses),
      log_sink_(std::move(log_sink)),
      log_level_(log_level),
      executor_(options_.index, options_.executor, &clock_, prng, events, trace, observer,
                next_process_id) {}

SimNode::~SimNode() = default;

void SimNode::LoadIdentity(SimTime now) {
  auto v = storage_.Get(Column::kMeta, kNodeIdKey);
  if (v.ok() && v->has_value()) {
    node_id_ = **v;
  } else {
    // Drawn from the world's PRNG, so ids (and the trace) repeat with the seed.
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(prng_->Next()));
    node_id_ = buf;
    WriteBatch b;
    b.Put(Column::kMeta, kNodeIdKey, node_id_);
    Status s = storage_.Write(b, /*sync=*/true);
    if (!s.ok()) hooks_->OnNodeError(now, options_.index, "storing the node id: " + s.ToString());
  }
  group_id_ = node_id_.substr(0, 8);
}

void SimNode::Boot(SimTime now, bool wipe) {
  MAGPIE_CHECK(!up(), "Boot of a node that is up");
  MAGPIE_CHECK(now >= executor_.sweep_done_at(), "Boot before the watchdog swept the last life");
  if (wipe) storage_.Wipe();
  LoadIdentity(now);
  ++incarnation_;
  ++stats_.boots;
  paused_ = false;
  log_ = std::make_shared<spdlog::logger>("n" + std::to_string(options_.index) + "/" + group_id_,
                                          log_sink_);
  log_->set_level(log_level_);

  CoreOptions co;
  co.node_id = node_id_;
  co.group_id = group_id_;
  co.client_address = options_.address;
  co.slots = options_.slots;
  co.labels = options_.labels;
  co.compact_every = options_.compact_every;
  co.replication = options_.replication;
  co.join = JoinAddresses(options_.index, network_->options().nodes);
  co.seed = prng_->Next();
  co.stealing = options_.stealing;
  core_ = std::make_unique<NodeCore>(co, log_);
  now_ = now;
  executor_.NewLife();
  Status s = core_->Recover(&storage_, clock_.LocalAt(now));
  if (!s.ok()) {
    core_.reset();
    hooks_->OnNodeError(now, options_.index, "recovery failed: " + s.ToString());
    return;
  }
  trace_->Record(now, options_.index, TraceKind::kRecover, incarnation_,
                 core_->tasks().size());
  // The core replays its log through its Readies: the oracle checks the table once that
  // is done (MaybeReportRecovered).
  recovery_reported_ = false;
  io_ = std::make_unique<Io>(this);
  DriverLoopOptions lo;
  lo.max_ready_per_turn = kMaxReadyPerTurn;
  lo.address = options_.address;
  loop_ = std::make_unique<DriverLoop>(core_.get(), io_.get(), log_, lo);
  loop_->Flush(clock_.LocalAt(now));
  AfterTurn(now);
}

void SimNode::MaybeReportRecovered(SimTime now) {
  if (!up() || recovery_reported_ || !core_->replayed()) return;
  recovery_reported_ = true;
  hooks_->OnRecovered(now, options_.index);
}

void SimNode::Crash(SimTime now) {
  if (!up()) return;
  if (loop_->writing()) {
    // An fsync was in flight. The disk may have taken the batch or not: both happen.
    bool reached_disk = sync_finished_;
    if (!reached_disk && prng_->Chance(1, 2)) {
      storage_.Write(WriteBatch(), /*sync=*/true);
      reached_disk = true;
    }
    if (reached_disk) hooks_->OnDurableUnapplied(now, options_.index, in_flight_entries_);
  }
  storage_.Crash();
  Exit(now);
}

void SimNode::Exit(SimTime now) {
  loop_.reset();
  io_.reset();
  core_.reset();
  log_.reset();
  inbox_.clear();
  exits_.clear();
  sync_finished_ = false;
  in_flight_entries_.clear();
  paused_ = false;
  ++tick_generation_;
  tick_at_ = SimTime::Never();
  executor_.NodeDied(now, incarnation_);
}

void SimNode::Stop(SimTime now) {
  if (!up()) return;
  now_ = now;
  loop_->Stop(clock_.LocalAt(now), "SIGTERM");
  if (!paused_) ScheduleTurn(now);
}

void SimNode::Pause(SimTime now) {
  if (up()) paused_ = true;
}

void SimNode::Resume(SimTime now) {
  if (!up() || !paused_) return;
  paused_ = false;
  if (sync_finished_) {
    FinishSync(now);
  } else if (!loop_->writing()) {
    ScheduleTurn(now);
  }
}

void SimNode::DeliverRequest(SimTime now, int client, const std::string& client_route,
                             std::string bytes) {
  if (!up()) return;
  if (inbox_.size() >= kMaxInbox) {
    ++stats_.inbox_overflowed;
    return;
  }
  Input in;
  in.kind = Input::Kind::kRequest;
  in.route = client_route;
  in.bytes = std::move(bytes);
  inbox_.push_back(std::move(in));
  if (!paused_ && !loop_->writing()) ScheduleTurn(now);
}

void SimNode::DeliverPeer(SimTime now, PeerMessage message) {
  if (!up()) return;
  if (inbox_.size() >= kMaxInbox) {
    ++stats_.inbox_overflowed;
    return;
  }
  Input in;
  in.kind = Input::Kind::kPeer;
  in.peer = std::move(message);
  inbox_.push_back(std::move(in));
  if (!paused_ && !loop_->writing()) ScheduleTurn(now);
}

void SimNode::OnProcessEnd(SimTime now, uint64_t process_id, bool killed) {
  auto ended = executor_.End(now, process_id, killed);
  if (!ended || !up() || ended->first != incarnation_) return;
  exits_.push_back(std::move(ended->second));
  if (!paused_ && !loop_->writing()) ScheduleTurn(now);
}

void SimNode::ScheduleTurn(SimTime now) {
  if (turn_scheduled_) return;
  turn_scheduled_ = true;
  events_->Push(now, EventKind::kNodeTurn, options_.index, 0);
}

void SimNode::TickDue(SimTime now, uint64_t generation) {
  if (generation != tick_generation_) return;
  tick_at_ = SimTime::Never();
  Turn(now);
}

void SimNode::Turn(SimTime now) {
  turn_scheduled_ = false;
  if (!up() || paused_ || loop_->writing()) return;
  now_ = now;
  size_t fed = 0;
  // The real driver's order: requests, then the loop's turn (executor events, the tick).
  while (!inbox_.empty() && fed < kMaxInputsPerTurn) {
    Input in = std::move(inbox_.front());
    inbox_.pop_front();
    Feed(now, in);
    ++fed;
  }
  loop_->Turn(clock_.LocalAt(now));
  AfterTurn(now);
  if (up()) hooks_->OnTurnEnd(now, options_.index);
}

void SimNode::Feed(SimTime now, Input& in) {
  if (in.kind == Input::Kind::kPeer) {
    if (loop_->stalled()) return;  // read-only: peers see silence, as from a pause
    core_->Step(clock_.LocalAt(now), in.peer);
  } else {
    HandleFrame(now, in.route, in.bytes);
  }
}

void SimNode::HandleFrame(SimTime now, const std::string& route, const std::string& bytes) {
  // As node_driver.cc: a frame that does not decode is answered here and never reaches
  // the core; `logs` is the driver's to answer.
  auto frame = DecodeRequest(bytes);
  if (!frame.ok()) {
    ++stats_.bad_frames;
    SendReply(now, ReplyTo{route, 0}, ReplyFrame{0, frame.status(), {}});
    return;
  }
  ReplyTo to{route, frame->request_id};
  if (frame->type == RequestType::kLogs) {
    AnswerLogs(now, to, frame->body);
    return;
  }
  if (loop_->stalled()) return SendReply(now, to, ReplyFrame{to.request_id, loop_->ReadOnlyError(), {}});
  core_->Request(clock_.LocalAt(now), to, *frame);
}

void SimNode::AnswerLogs(SimTime now, const ReplyTo& to, const std::string& body) {
  // Simulated processes write no files: the tails kept in the record are the output.
  auto req = UnpackBody<LogsRequest>(body);
  Status error;
  LogsReply reply;
  if (!req.ok()) {
    error = req.status();
  } else if (const Task* t = core_->tasks().Lookup(req->id); t == nullptr) {
    error = Status::NotFound("no task with id or name '" + req->id + "'");
  } else {
    reply.text = req->stderr_stream ? t->stderr_tail : t->stdout_tail;
    reply.node = t->attempts.empty() ? "" : t->attempts.back().node;
  }
  ReplyFrame f{to.request_id, error, error.ok() ? PackBody(reply) : std::string()};
  // A reply from the driver leaves at once, like node_driver's AnswerLogs.
  SendReply(now, to, f);
}

void SimNode::SendReply(SimTime now, const ReplyTo& to, const ReplyFrame& frame) {
  auto it = addresses_->find(to.route);
  if (it == addresses_->end()) {
    ++stats_.unknown_destinations;
    return;
  }
  Packet p;
  p.kind = Packet::Kind::kReply;
  p.from = options_.index;
  p.to = it->second;
  p.bytes = EncodeReply(frame);
  network_->Send(now, std::move(p));
}

void SimNode::OnReadyTaken(const Ready& rd) {
  const SimTime now = now_;
  ++stats_.readies;
  trace_->Record(now, options_.index, TraceKind::kReady,
                 (rd.writes.size() << 1) | (rd.sync ? 1 : 0),
                 (rd.messages.size() << 48) ^ (rd.replies.size() << 32) ^
                     (rd.starts.size() << 16) ^ rd.kills.size());
  // Entries the core applied while taking this Ready are committed (on a quorum of their
  // group); the oracle learns of them now, group by group, before any reply leaves. A
  // replay after a restart re-applies what the oracle heard of in an earlier life: the
  // world checks the replayed tables once, in OnRecovered (recovered() is false until then).
  for (const auto& a : rd.applied) {
    trace_->Record(now, options_.index, TraceKind::kCommit, a.entry.index,
                   static_cast<uint64_t>(a.entry.type));
  }
  std::vector<Entry> run;
  for (size_t i = 0; i < rd.applied.size(); ++i) {
    run.push_back(rd.applied[i].entry);
    if (i + 1 == rd.applied.size() || rd.applied[i + 1].group != rd.applied[i].group) {
      hooks_->OnCommitted(now, options_.index, rd.applied[i].group, run);
      run.clear();
    }
  }
  MaybeReportRecovered(now);
}

void SimNode::SyncDone(SimTime now, uint64_t incarnation) {
  if (!up() || !loop_->writing() || incarnation != incarnation_ || sync_finished_) return;
  storage_.Write(WriteBatch(), /*sync=*/true);  // the fsync: every earlier write is durable
  ++stats_.syncs;
  if (paused_) {
    sync_finished_ = true;  // the kernel finished it; the node acts when it runs again
    return;
  }
  FinishSync(now);
}

void SimNode::FinishSync(SimTime now) {
  sync_finished_ = false;
  in_flight_entries_.clear();
  now_ = now;
  loop_->WriteDone(clock_.LocalAt(now));
  AfterTurn(now);
}

void SimNode::AfterTurn(SimTime now) {
  if (!up()) return;
  if (loop_->Done(clock_.LocalAt(now))) {
    // The stop is over: the process exits. What it wrote is in the page cache, which an
    // exit does not lose.
    storage_.Write(WriteBatch(), /*sync=*/true);
    hooks_->OnNodeStopped(now, options_.index);
    Exit(now);
    return;
  }
  if (!loop_->writing() && !paused_) {
    // The per-turn bound cut it short (read-only, the core waits for the disk instead).
    if (!loop_->stalled() && core_->HasReady()) ScheduleTurn(now);
    const Instant deadline = loop_->NextDeadline();
    if (deadline <= clock_.LocalAt(now)) {
      // The core wants a tick it has just had. Once is a race; turn after turn it is a
      // busy loop: node_driver.cc polls with a zero timeout while the deadline is past.
      ++stats_.past_deadlines;
      if (++spinning_turns_ == kMaxSpinTurns) {
        hooks_->OnNodeError(now, options_.index,
                            "NextDeadline() stays at " + std::to_string(deadline.micros()) +
                                " (not after now, " + std::to_string(clock_.LocalAt(now).micros()) +
                                ") over " + std::to_string(kMaxSpinTurns) +
                                " turns in a row: a real driver would spin on it");
      }
    } else {
      spinning_turns_ = 0;
    }
    if (deadline < Instant::Never()) {
      const SimTime at = std::max(now + Duration::Micros(1), clock_.TrueAt(deadline));
      // An earlier tick already scheduled stays: ticking early is harmless.
      if (at < tick_at_) {
        tick_at_ = at;
        events_->Push(at, EventKind::kNodeTick, options_.index, ++tick_generation_);
      }
    }
  }
  // Ends of processes wait for the core while the node is read-only; inputs do not.
  if (!inbox_.empty() || (!exits_.empty() && !loop_->stalled())) {
    if (!paused_ && !loop_->writing()) ScheduleTurn(now);
  }
}

}  // namespace magpie
