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
constexpr int kMaxReadyPerTurn = 64;
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
  bool stop_requested = false;
  Instant stop_deadline = Instant::Never();
  for (;;) {
    Status s = Flush();
    if (!s.ok()) return s;
    Instant now = clock_.Now();
    if (core_->stopping() && (core_->stopped() || now >= stop_deadline) && !core_->HasReady()) {
      break;
    }

    transport_->Flush();
    Instant next = std::min({core_->NextDeadline(), executor_->NextDeadline(), output_->NextDeadline()});
    auto wait = std::chrono::milliseconds(0);
    if (stalled_) next = next_disk_retry_;  // the core's deadlines wait with it
    if ((stalled_ || !core_->HasReady()) && next > now) {
      wait = std::min<std::chrono::milliseconds>(
          kMaxPollWait, std::chrono::milliseconds((next - now).millis() + 1));
      // Messages wait for a new peer's connection: look again soon.
      if (transport_->HasPending()) wait = std::min(wait, std::chrono::milliseconds(5));
    }
    std::vector<zmq::pollitem_t> items = {
        {router_->handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, signal_fd_, ZMQ_POLLIN, 0},
        {nullptr, executor_->wake_fd(), ZMQ_POLLIN, 0},
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
        if (!stop_requested) {
          log_->info("signal {}: stopping; running attempts end as lost and run again later",
                     si.ssi_signo);
          stop_requested = true;
          stop_deadline = now + Duration::Seconds(5);
          output_->ReleaseAllExits();  // a stop is bounded: ends are not held for copies
          core_->Stop(now);
        }
      }
    }
    // Handshakes wait on the ZAP handler's answer: before the requests they let through.
    if (zap_) zap_->Service();
    ReceiveRequests(now);
    output_->Tick(now);
    if (stalled_) {
      // Read-only: the core stands still (its processes' ends wait in the executor).
      if (stop_requested) {
        log_->warn("stopping while read-only: the refused write is dropped; nothing it held "
                   "was acknowledged");
        break;
      }
      RetryStalledWrite(now);
      continue;
    }
    for (auto& [to, frame] : std::exchange(core_asks_, {})) core_->Request(now, to, frame);
    PollExecutor(now);
    core_->Tick(now);
    MaybePublishSnapshot(now);
  }
  executor_->KillAll();
  log_->info("stopped");
  return Status::Ok();
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
  if (stalled_ && IsPeerFrame(bytes)) return;  // read-only: peers see silence, as from a pause
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
  if (frame->type == RequestType::kLogs) return output_->OnLogsRequest(now, to, frame->body, stalled_.has_value());
  if (stalled_) {
    return SendReply(to, ReplyFrame{to.request_id,
                                    Status::Unavailable("node " + config_.listen + " is read-only: its disk "
                                                        "refused a write (" + stall_reason_.ToString() +
                                                        "); it takes no requests until a retry succeeds; "
                                                        "use another node"),
                                    {}});
  }
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

void NodeDriver::PollExecutor(Instant now) {
  for (const auto& ev : executor_->Poll(now)) {
    if (snapshot_box_) {
      const char* how = ev.kind == ExecutorEvent::Kind::kStartFailed ? "start_failed"
                        : ev.signal != 0                             ? "signalled"
                                                                     : "exited";
      ++counters_.attempts_exited[how];
    }
    // An attempt that wrote output ends, for the core, once its copies are on the group's
    // replicas (bounded): then "ended" implies "its output outlives this node".
    if (output_->HoldExit(now, ev)) continue;
    core_->OnExecutorEvent(now, ev);
  }
  for (const auto& ev : output_->TakeReleasedExits()) core_->OnExecutorEvent(now, ev);
}

Status NodeDriver::Flush() {
  for (int turn = 0; turn < kMaxReadyPerTurn && !stalled_ && core_->HasReady(); ++turn) {
    Ready rd = core_->TakeReady();
    if (rd.messages_before_write > 0) {
      // Raft leaders' appends: their followers write while we do.
      const auto early_end = rd.messages.begin() + static_cast<ptrdiff_t>(rd.messages_before_write);
      for (auto it = rd.messages.begin(); it != early_end; ++it) transport_->Send(*it);
      rd.messages.erase(rd.messages.begin(), early_end);
      rd.messages_before_write = 0;
    }
    if (!rd.writes.empty()) {
      auto write_start = std::chrono::steady_clock::now();
      Status s = CheckFreeSpace();
      if (s.ok()) s = storage_->Write(rd.writes, rd.sync);
      if (snapshot_box_) {
        int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::steady_clock::now() - write_start)
                         .count();
        (rd.sync ? counters_.write_synced : counters_.write_unsynced).Observe(us);
      }
      if (!s.ok()) {
        // Going on could acknowledge what is not stored. Hold this batch and everything it
        // would send; try again every second (the disk may fill up and empty again).
        const Instant now = clock_.Now();
        stall_reason_ = s;
        stalled_since_ = now;
        next_disk_retry_ = now + Duration::Seconds(1);
        next_stall_log_ = now + Duration::Seconds(30);
        log_->critical("read-only: the disk refused a write ({}); this node grants and "
                       "acknowledges nothing until a retry succeeds (every second); nothing "
                       "acknowledged is lost",
                       s.ToString());
        stalled_ = std::move(rd);
        return Status::Ok();
      }
    }
    Deliver(rd);
  }
  return Status::Ok();
}

void NodeDriver::Deliver(Ready& rd) {
  if (snapshot_box_) {
    CountApplied(rd);
    counters_.attempts_started += rd.starts.size();
  }
  Instant now = clock_.Now();
  for (const auto& m : rd.messages) transport_->Send(m);
  for (const auto& r : rd.replies) {
    if (!output_->OnCoreReply(now, r.to, r.frame)) SendReply(r.to, r.frame);
  }
  for (const auto& k : rd.kills) executor_->Kill(k);
  for (const auto& e : rd.extends) executor_->Extend(e);
  for (const auto& sp : rd.starts) {
    output_->OnStart(sp);
    executor_->Start(sp, now);
  }
  core_->Advance(now);
  // Built-ins finish at once: feed them back in this turn, so they batch with the rest.
  PollExecutor(now);
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

void NodeDriver::RetryStalledWrite(Instant now) {
  if (!stalled_ || now < next_disk_retry_) return;
  next_disk_retry_ = now + Duration::Seconds(1);
  next_disk_check_ = Instant();  // look now, not in up to 100 ms
  Status s = CheckFreeSpace();
  if (s.ok()) s = storage_->Resume();
  if (s.ok()) s = storage_->Write(stalled_->writes, stalled_->sync);
  if (!s.ok()) {
    stall_reason_ = s;
    if (now >= next_stall_log_) {
      next_stall_log_ = now + Duration::Seconds(30);
      log_->error("still read-only after {} s: {}", (now - stalled_since_).millis() / 1000, s.ToString());
    }
    return;
  }
  log_->warn("the disk takes writes again after {} s read-only; serving", (now - stalled_since_).millis() / 1000);
  Ready rd = std::move(*stalled_);
  stalled_.reset();
  Deliver(rd);
}

}  // namespace magpie
