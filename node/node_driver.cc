#include "node/node_driver.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>
#include <utility>

#include <zmq_addon.hpp>

#include "gossip/peer_envelope.h"
#include "node/node_identity.h"

namespace magpie {

namespace {

// Bounds on one loop turn: a flood of requests cannot starve the executor or the disk.
constexpr size_t kMaxFramesPerTurn = 4096;
constexpr auto kMaxPollWait = std::chrono::milliseconds(250);

const char* EntryTypeLabel(EntryType t) {
  switch (t) {
    case EntryType::kNoop: return "noop";
    case EntryType::kSubmit: return "submit";
    case EntryType::kGrant: return "grant";
    case EntryType::kFinish: return "finish";
    case EntryType::kCancel: return "cancel";
    case EntryType::kRestart: return "restart";
    case EntryType::kUpstream: return "upstream";
    case EntryType::kProgress: return "progress";
    case EntryType::kFire: return "fire";
    case EntryType::kSchedulePause: return "schedule_pause";
    case EntryType::kStarted: return "started";
  }
  return "other";
}

// The outcome of a Finish entry without copying its output tails: the third field.
const char* FinishOutcomeLabel(const std::string& payload) {
  try {
    msgpack::object_handle oh = msgpack::unpack(payload.data(), payload.size());
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size < 3) return "unknown";
    return OutcomeName(o.via.array.ptr[2].as<Outcome>());
  } catch (const std::exception&) {
    return "unknown";
  }
}

// Whether a message came over a connection the ZAP handler accepted with the member key.
bool FromMember(const zmq::message_t& message) {
  // No such property (nullptr): not a connection the ZAP handler saw.
  const char* user = zmq_msg_gets(message.handle(), "User-Id");
  return user != nullptr && std::string_view(user) == "member";
}

}  // namespace

// The real node's world: RocksDB, ZeroMQ, processes and the output service.
class NodeDriver::Io : public DriverIo {
 public:
  explicit Io(NodeDriver* d) : d_(d) {}

  Instant Now() override { return d_->clock_.Now(); }

  Status Write(const WriteBatch& batch, bool sync, bool* pending) override {
    *pending = false;
    auto write_start = std::chrono::steady_clock::now();
    Status s = d_->CheckFreeSpace();
    if (s.ok()) s = d_->storage_->Write(batch, sync);
    if (d_->snapshot_box_) {
      int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - write_start)
                       .count();
      (sync ? d_->counters_.write_synced : d_->counters_.write_unsynced).Observe(us);
    }
    return s;
  }
  Status ResumeDisk() override {
    d_->next_disk_check_ = Instant();  // look now, not in up to 100 ms
    Status s = d_->CheckFreeSpace();
    if (s.ok()) s = d_->storage_->Resume();
    return s;
  }
  void Send(PeerMessage message) override { d_->transport_->Send(message); }
  void Reply(const ReplyTo& to, const ReplyFrame& frame) override {
    if (!d_->output_->OnCoreReply(d_->clock_.Now(), to, frame)) d_->SendReply(to, frame);
  }
  void Start(Instant now, const StartProcess& start) override {
    d_->output_->OnStart(start);
    d_->executor_->Start(start, now);
  }
  void Kill(const KillProcess& kill) override { d_->executor_->Kill(kill); }
  void Extend(const ExtendDeadline& extend) override { d_->executor_->Extend(extend); }
  std::vector<ExecutorEvent> TakeExecutorEvents(Instant now) override {
    return d_->TakeExecutorEvents(now);
  }
  bool WatchdogAlive() override { return d_->watchdog_->alive(); }
  void OnReadyTaken(Instant now, const Ready& rd) override {
    if (!d_->snapshot_box_) return;
    d_->CountApplied(rd);
    d_->counters_.attempts_started += rd.starts.size();
  }

 private:
  NodeDriver* d_;
};

void NodeDriver::BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

NodeDriver::NodeDriver(NodeConfig config, std::shared_ptr<spdlog::logger> logger)
    : config_(std::move(config)), log_(std::move(logger)), zmq_context_(1) {}

NodeDriver::~NodeDriver() {
  if (router_) {
    if (zap_) zmq_socket_monitor(router_->handle(), nullptr, 0);
    router_->close();
  }
  if (signal_fd_ >= 0) close(signal_fd_);
}

Result<std::unique_ptr<NodeDriver>> NodeDriver::Open(const NodeConfig& config,
                                                     std::shared_ptr<spdlog::logger> logger) {
  std::unique_ptr<NodeDriver> d(new NodeDriver(config, std::move(logger)));
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return Status::IOError("cannot create data directory " + config.data_dir + ": " + ec.message());
  }
  const std::string lock_path = config.data_dir + "/watchdog.lock";
  // A previous life's watchdog holds this lock until it has killed every process group
  // of that life; only then may attempts it ran be declared lost and run again.
  Status s = Watchdog::WaitForPrevious(lock_path, std::chrono::seconds(30));
  if (!s.ok()) return s;
  auto wd = Watchdog::Spawn(lock_path, d->log_);
  if (!wd.ok()) return wd.status();
  d->watchdog_ = std::move(*wd);

  auto st = RocksDbStorage::Open(config.data_dir + "/db");
  if (!st.ok()) return st.status();
  d->storage_ = std::move(*st);

  auto ident = LoadOrCreateIdentity(d->storage_.get());
  if (!ident.ok()) return ident.status();
  d->log_->info("node {} (home group {}){}", ident->node_id, ident->group_id,
                ident->created ? ", first start" : "");

  CoreOptions co;
  co.node_id = ident->node_id;
  co.group_id = ident->group_id;
  co.client_address = config.listen;
  co.slots = config.slots > 0 ? config.slots
                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  co.labels = config.labels;
  co.join = config.join;
  co.replication = config.replication;
  co.max_queued_tasks = config.max_queued_tasks;
  co.max_queued_per_submitter = config.max_queued_per_submitter;
  {
    std::random_device rd;  // outside the core: a real seed, so nodes differ
    co.seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }
  d->core_ = std::make_unique<NodeCore>(co, d->log_);
  s = d->core_->Recover(d->storage_.get(), d->clock_.Now());
  if (!s.ok()) return s;

  ProcessExecutorOptions eo;
  eo.output_dir = config.data_dir + "/output";
  eo.node_address = config.listen;
  eo.watchdog = d->watchdog_.get();
  d->executor_ = std::make_unique<ProcessExecutor>(eo, d->log_, &d->clock_);

  s = d->Listen();
  if (!s.ok()) return s;
  ZmqTransportOptions to;
  if (config.keys) {
    to.curve_server_public = config.keys->server.public_z85;
    to.curve_public = config.keys->member.public_z85;
    to.curve_secret = config.keys->member.secret_z85;
  }
  d->transport_ = std::make_unique<ZmqTransport>(&d->zmq_context_, to, d->log_);
  OutputServiceOptions oo;
  oo.data_dir = config.data_dir;
  oo.copies.keep_bytes = config.output_keep_bytes;
  NodeDriver* raw = d.get();
  OutputService::Hooks hooks;
  hooks.send_peer = [raw](PeerMessage m) { raw->transport_->Send(m); };
  hooks.reply = [raw](const ReplyTo& to, const ReplyFrame& frame) { raw->SendReply(to, frame); };
  hooks.ask_core = [raw](const ReplyTo& to, const RequestFrame& frame) { raw->core_asks_.emplace_back(to, frame); };
  d->output_ = std::make_unique<OutputService>(oo, d->core_.get(), std::move(hooks), d->log_);
  d->io_ = std::make_unique<Io>(raw);
  DriverLoopOptions lo;
  lo.address = config.listen;
  d->loop_ = std::make_unique<DriverLoop>(d->core_.get(), d->io_.get(), d->log_, lo);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  d->signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (d->signal_fd_ < 0) return Status::IOError("signalfd failed");

  d->log_->info("listening on {} with {} slots, data in {}", config.listen, co.slots,
                config.data_dir);
  return d;
}

Status NodeDriver::Listen() {
  const NodeConfig& config = config_;
  if (config.keys) {
    // The ZAP handler first: a CURVE server socket with no handler lets any client key in.
    ZapOptions zo;
    zo.member_public_key = config.keys->member.public_z85;
    zo.allow_keys_file = config.allow_keys_file;
    auto zap = ZapHandler::Start(&zmq_context_, zo, log_);
    if (!zap.ok()) return zap.status();
    zap_ = std::move(*zap);
  }
  try {
    router_ = std::make_unique<zmq::socket_t>(zmq_context_, zmq::socket_type::router);
    router_->set(zmq::sockopt::linger, 0);
    router_->set(zmq::sockopt::sndhwm, 100000);
    router_->set(zmq::sockopt::rcvhwm, 100000);
    // Far above any honest frame; a larger one costs the sender its connection.
    router_->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(4 * kMaxClientFrameBytes));
    if (config.keys) {
      router_->set(zmq::sockopt::curve_server, 1);
      router_->set(zmq::sockopt::curve_secretkey, config.keys->server.secret_z85);
      router_->set(zmq::sockopt::zap_domain, "magpie");
      // A connection that has not finished its handshake in this long is closed.
      router_->set(zmq::sockopt::handshake_ivl, 10000);
      Status s = zap_->Watch(router_.get());
      if (!s.ok()) return s;
    }
    router_->bind("tcp://" + config.listen);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("cannot listen on " + config.listen + ": " + e.what() +
                               " (is another node using that port?)");
  }
  return Status::Ok();
}

void NodeDriver::PublishSnapshotsTo(std::shared_ptr<SnapshotBox> box, Duration every) {
  snapshot_box_ = std::move(box);
  snapshot_every_ = every;
  next_snapshot_at_ = Instant();
}

void NodeDriver::MaybePublishSnapshot(Instant now) {
  if (!snapshot_box_ || now < next_snapshot_at_) return;
  next_snapshot_at_ = now + snapshot_every_;
  snapshot_box_->Publish(TakeSnapshot(*core_, now, counters_));
}

void NodeDriver::CountApplied(const Ready& rd) {
  for (const AppliedEntry& a : rd.applied) {
    if (a.entry.type == EntryType::kNoop || a.entry.type == kRaftConfigEntryType) continue;
    ++counters_.applied[a.group][EntryTypeLabel(a.entry.type)];
    if (a.entry.type == EntryType::kFinish) {
      ++counters_.finishes[a.group][FinishOutcomeLabel(a.entry.payload)];
    }
  }
}

Status NodeDriver::Run() {
  for (;;) {
    loop_->Flush(clock_.Now());
    Instant now = clock_.Now();
    if (loop_->Done(now)) break;

    transport_->Flush();
    Instant next = std::min({loop_->NextDeadline(), executor_->NextDeadline(), output_->NextDeadline()});
    auto wait = std::chrono::milliseconds(0);
    if ((loop_->stalled() || !core_->HasReady()) && next > now) {
      wait = std::min<std::chrono::milliseconds>(
          kMaxPollWait, std::chrono::milliseconds((next - now).millis() + 1));
      // Messages wait for a new peer's connection: look again soon.
      if (transport_->HasPending()) wait = std::min(wait, std::chrono::milliseconds(5));
    }
    std::vector<zmq::pollitem_t> items = {
        {router_->handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, signal_fd_, ZMQ_POLLIN, 0},
        {nullptr, executor_->wake_fd(), ZMQ_POLLIN, 0},
        {nullptr, watchdog_->socket_fd(), ZMQ_POLLIN, 0},
    };
    if (zap_) zap_->AppendPollItems(&items);
    try {
      zmq::poll(items, wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::IOError(std::string("poll failed: ") + e.what());
    }
    now = clock_.Now();

    if (items[1].revents & ZMQ_POLLIN) {
      signalfd_siginfo si;
      while (read(signal_fd_, &si, sizeof(si)) == sizeof(si)) {
        output_->ReleaseAllExits();  // a stop is bounded: ends are not held for copies
        loop_->Stop(now, "signal " + std::to_string(si.ssi_signo));
      }
    }
    if (items[3].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) watchdog_->CheckAlive();
    // Handshakes wait on the ZAP handler's answer: before the requests they let through.
    if (zap_) zap_->Service();
    ReceiveRequests(now);
    output_->Tick(now);
    if (!loop_->stalled()) {
      for (auto& [to, frame] : std::exchange(core_asks_, {})) core_->Request(now, to, frame);
    }
    loop_->Turn(now);
    MaybePublishSnapshot(now);
  }
  executor_->KillAll();
  log_->info("stopped");
  return loop_->failure();
}

void NodeDriver::ReceiveRequests(Instant now) {
  for (size_t n = 0; n < kMaxFramesPerTurn; ++n) {
    std::vector<zmq::message_t> parts;
    try {
      auto got = zmq::recv_multipart(*router_, std::back_inserter(parts), zmq::recv_flags::dontwait);
      if (!got) return;
    } catch (const zmq::error_t& e) {
      log_->warn("receive failed: {}", e.what());
      return;
    }
    HandleFrame(now, parts);
  }
}

void NodeDriver::HandleFrame(Instant now, std::vector<zmq::message_t>& parts) {
  // [identity, (empty delimiter,) payload]: REQ and DEALER clients both work.
  if (parts.size() < 2) return;
  ReplyTo to;
  to.route = parts[0].to_string();
  if (envelopes_.size() > 10000 && envelopes_.count(to.route) == 0) {
    envelopes_.clear();  // a bound: clients that left long ago need no route
  }
  std::vector<std::string>& envelope = envelopes_[to.route];
  envelope.clear();
  for (size_t i = 0; i + 1 < parts.size(); ++i) envelope.push_back(parts[i].to_string());

  const zmq::message_t& payload = parts.back();
  std::string_view bytes(static_cast<const char*>(payload.data()), payload.size());
  if (loop_->stalled() && IsPeerFrame(bytes)) return;  // read-only: peers see silence, as from a pause
  if (IsPeerFrame(bytes)) {
    // A client key of --allow-keys may talk to the node as a client, never as a peer: only
    // the member key (the ZAP handler's user id "member") joins, gossips, votes or steals.
    if (zap_ && !FromMember(payload)) {
      if (peer_frames_refused_++ == 0) {
        log_->warn("dropped a peer frame from a client key (--allow-keys keys are clients, not "
                   "members); further ones are dropped silently");
      }
      return;
    }
    auto msg = DecodePeerFrame(bytes);
    if (!msg.ok()) {
      log_->debug("dropped a bad peer frame: {}", msg.status().ToString());
      return;
    }
    if (output_->OnPeerMessage(now, *msg)) return;  // output is file IO: the driver's
    core_->Step(now, *msg);
    return;
  }
  auto frame = DecodeRequest(std::string_view(static_cast<const char*>(payload.data()), payload.size()));
  ++counters_.client_frames;
  if (!frame.ok()) {
    ++counters_.bad_client_frames;
    log_->debug("bad frame from a client: {}", frame.status().ToString());
    SendReply(to, ReplyFrame{0, frame.status(), {}});
    return;
  }
  to.request_id = frame->request_id;
  // Output lives in files: the driver answers, looking the task up through the core (or,
  // read-only, in this node's own replicas: output already written is still served).
  if (frame->type == RequestType::kLogs) return output_->OnLogsRequest(now, to, frame->body, loop_->stalled());
  if (loop_->stalled()) return SendReply(to, ReplyFrame{to.request_id, loop_->ReadOnlyError(), {}});
  core_->Request(now, to, *frame);
}

void NodeDriver::SendReply(const ReplyTo& to, const ReplyFrame& frame) {
  auto it = envelopes_.find(to.route);
  if (it == envelopes_.end()) return;
  try {
    for (const auto& part : it->second) {
      router_->send(zmq::buffer(part), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    }
    std::string bytes = EncodeReply(frame);
    router_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    log_->warn("reply to a client failed: {}", e.what());
  }
}

std::vector<ExecutorEvent> NodeDriver::TakeExecutorEvents(Instant now) {
  std::vector<ExecutorEvent> out;
  for (auto& ev : executor_->Poll(now)) {
    if (snapshot_box_) {
      const char* how = ev.kind == ExecutorEvent::Kind::kStartFailed ? "start_failed"
                        : ev.signal != 0                             ? "signalled"
                                                                     : "exited";
      ++counters_.attempts_exited[how];
    }
    // An attempt that wrote output ends, for the core, once its copies are on the group's
    // replicas (bounded): then "ended" implies "its output outlives this node".
    if (output_->HoldExit(now, ev)) continue;
    out.push_back(std::move(ev));
  }
  for (auto& ev : output_->TakeReleasedExits()) out.push_back(std::move(ev));
  return out;
}

Status NodeDriver::CheckFreeSpace() {
  if (config_.min_free_disk_mb == 0) return Status::Ok();
  const Instant now = clock_.Now();
  if (now < next_disk_check_) return Status::Ok();
  next_disk_check_ = now + Duration::Millis(100);  // a write cannot fill the reserve this fast
  struct statvfs fs;
  if (statvfs(config_.data_dir.c_str(), &fs) != 0) return Status::Ok();  // cannot tell: let the write say
  const uint64_t free_mb = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize / (1024 * 1024);
  if (free_mb >= config_.min_free_disk_mb) return Status::Ok();
  return Status::IOError("only " + std::to_string(free_mb) + " MB free in " + config_.data_dir +
                         ", below --min-free-disk-mb " + std::to_string(config_.min_free_disk_mb));
}

}  // namespace magpie
