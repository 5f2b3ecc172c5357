// Writes the seed corpora of every fuzz target (tests/fuzz/corpus/<target>/) from real
// encodings: a three-node cluster of real NodeCores on an in-memory network runs for a few
// simulated seconds (gossip, Raft replication, stealing, leases, forwarding, upstream
// queries), and every message and record it produces is material. The fuzzed node's whole
// input is recorded as it arrived, so node_peer_fuzzer replays real traffic.
//
//   build-fuzz/bin/fuzz_corpus_writer tests/fuzz/corpus
//
// Deterministic: the same build writes the same files. Seeds are kept small (each file at
// most kMaxSeedBytes) so the committed corpora stay a few KB per target.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "gossip/gossip_codec.h"
#include "gossip/peer_envelope.h"
#include "node/client_protocol.h"
#include "node/log_entry.h"
#include "node/output_messages.h"
#include "node/raft/raft_log.h"
#include "node/raft/raft_messages.h"
#include "node/steal_messages.h"
#include "tests/fuzz/core_world.h"
#include "tests/fuzz/fuzz_util.h"

namespace magpie::fuzz {
namespace {

constexpr size_t kMaxSeedBytes = 4096;

class Corpus {
 public:
  explicit Corpus(std::filesystem::path root) : root_(std::move(root)) {}

  void Put(const std::string& target, const std::string& name, const std::string& bytes) {
    if (bytes.size() > kMaxSeedBytes) return;
    std::filesystem::create_directories(root_ / target);
    std::ofstream out(root_ / target / name, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ++written_[target];
    bytes_[target] += bytes.size();
  }

  void Report() const {
    for (const auto& [t, n] : written_) std::cout << t << ": " << n << " seeds, " << bytes_.at(t) << " bytes\n";
  }

 private:
  std::filesystem::path root_;
  std::map<std::string, int> written_;
  std::map<std::string, size_t> bytes_;
};

std::string Sel(size_t selector, const std::string& bytes) {
  return std::string(1, static_cast<char>(selector)) + bytes;
}

std::string TypeName(PeerMessageType t) { return std::to_string(static_cast<int>(t)); }

TaskSpec Command(std::string name, std::vector<std::string> argv) {
  TaskSpec s;
  s.name = std::move(name);
  s.command = std::move(argv);
  return s;
}

// --- The cluster ---------------------------------------------------------------------------

struct InFlight {
  Instant at;
  PeerMessage message;
};

struct Recording {
  std::vector<std::string> target_records;  // what node X received, as node_peer_fuzzer reads it
  std::vector<PeerMessage> traffic;         // every message any node sent
  std::vector<std::string> client_frames;   // requests sent to X
  MemoryStorage* target_storage = nullptr;
};

class Cluster {
 public:
  Cluster() : start_(Instant::FromMicros(kStartMicros)) {
    a_ = Add(NodeOptions(kPeerAId, kPeerAAddress, 1, {}), Duration::Millis(200));
    x_ = Add(TargetOptions(), Duration::Millis(0));  // as node_peer_fuzzer drives it
    b_ = Add(NodeOptions(kPeerBId, kPeerBAddress, 1, {kPeerAAddress}), Duration::Millis(200));
  }

  Recording& Run() {
    rec_.target_storage = storage_[x_].get();
    const Duration step = Duration::Millis(10);
    for (Instant t = start_; t < start_ + Duration::Seconds(4); t = t + step) {
      Script(t);
      for (size_t n = 0; n < worlds_.size(); ++n) Turn(n, t);
    }
    return rec_;
  }

 private:
  size_t Add(CoreOptions o, Duration run_for) {
    const size_t n = worlds_.size();
    storage_.push_back(std::make_unique<MemoryStorage>());
    worlds_.push_back(std::make_unique<CoreWorld>(o, storage_.back().get(), start_));
    CoreWorld& w = *worlds_.back();
    w.run_for = run_for;
    w.on_message = [this, &w](const PeerMessage& m) {
      rec_.traffic.push_back(m);
      net_.push_back(InFlight{w.now() + Duration::Millis(5), m});
    };
    w.on_reply = [this](const ClientReply& r) { replies_[r.to.request_id] = r.frame; };
    if (!w.Boot().ok()) std::abort();
    return n;
  }

  // Client traffic: work in A's group for X to steal, a task at X waiting on A's group, and
  // requests that cross nodes (forwarded).
  void Script(Instant t) {
    const int64_t ms = (t - start_).micros() / 1000;
    if (ms == 1500) {
      std::vector<TaskSpec> specs;
      for (int i = 0; i < 12; ++i) specs.push_back(Command("t" + std::to_string(i), {"true"}));
      specs[3].after = {"t0"};
      specs[5].priority = 90;
      specs[6].labels = {{"gpu", "1"}};
      a_submit_ = Submit(a_, specs);
    }
    if (ms == 1700) {
      a_ids_ = IdsOf(a_submit_);
      if (a_ids_.size() < 12) {
        std::cerr << "the submit to A was not answered\n";
        std::abort();
      }
      TaskSpec s = Command("waits-on-a", {"true"});
      s.after = {a_ids_[0], a_ids_[1]};
      x_submit_ = Submit(x_, {s, Command("own", {"sh", "-c", "exit 0"})});
    }
    if (ms == 2000) x_ids_ = IdsOf(x_submit_);
    if (ms == 2200 && !x_ids_.empty()) {
      Call(b_, RequestType::kStatus, PackBody(StatusRequest{x_ids_[0]}));  // B forwards to X
      Call(x_, RequestType::kStatus, PackBody(StatusRequest{a_ids_[2]}));  // X forwards to A
      Call(x_, RequestType::kCancel, PackBody(CancelRequest{a_ids_[11]}));
    }
    if (ms == 2600 && !x_ids_.empty()) {
      Call(x_, RequestType::kWait, PackBody(WaitRequest{{x_ids_[0], x_ids_[1]}, 500}));
      Call(x_, RequestType::kList, PackBody(ListRequest{}));
      Call(x_, RequestType::kMembers, PackBody(MembersRequest{}));
      Call(x_, RequestType::kRestart, PackBody(RestartRequest{x_ids_[1]}));
    }
  }

  uint64_t Call(size_t n, RequestType type, std::string body) {
    RequestFrame f{type, ++request_id_, std::move(body)};
    if (n == x_) {
      to_x_.push_back(f);
    } else {
      worlds_[n]->core().Request(worlds_[n]->now(), ReplyTo{"client", f.request_id}, f);
    }
    return f.request_id;
  }

  uint64_t Submit(size_t n, std::vector<TaskSpec> specs) {
    return Call(n, RequestType::kSubmit, PackBody(SubmitRequest{std::move(specs), false}));
  }

  std::vector<std::string> IdsOf(uint64_t request_id) {
    auto it = replies_.find(request_id);
    if (it == replies_.end() || !it->second.status.ok()) return {};
    auto reply = UnpackBody<SubmitReply>(it->second.body);
    return reply.ok() ? reply->ids : std::vector<std::string>{};
  }

  void Turn(size_t n, Instant t) {
    CoreWorld& w = *worlds_[n];
    if (t < w.now()) return;
    std::vector<PeerMessage> due;
    for (auto it = net_.begin(); it != net_.end();) {
      if (it->at <= t && it->message.to == w.options().client_address) {
        due.push_back(std::move(it->message));
        it = net_.erase(it);
      } else {
        ++it;
      }
    }
    if (n != x_) {
      for (const auto& m : due) w.core().Step(t, m);
      w.AdvanceTo(t);
      return;
    }
    // X moves only when something arrives or it asks to be ticked, exactly as its replay in
    // node_peer_fuzzer will: a clock record, then each input followed by a tick.
    std::vector<RequestFrame> frames = std::move(to_x_);
    to_x_.clear();
    if (due.empty() && frames.empty() && t < w.NextDeadline()) return;
    const int64_t gap_ms = (t - w.now()).micros() / 1000;
    if (gap_ms > 0) {
      std::string body{static_cast<char>(gap_ms & 0xff), static_cast<char>((gap_ms >> 8) & 0xff)};
      rec_.target_records.push_back(Record(kTimeRecord, body));
      w.AdvanceTo(w.now() + Duration::Millis(gap_ms));
    }
    for (const auto& f : frames) {
      const std::string bytes = EncodeRequest(f);
      rec_.client_frames.push_back(bytes);
      rec_.target_records.push_back(Record(kClientRecord, bytes));
      w.core().Request(w.now(), ReplyTo{"client", f.request_id}, f);
      w.AdvanceTo(w.now());
    }
    for (const auto& m : due) {
      const bool from_b = m.from == kPeerBAddress;
      rec_.target_records.push_back(
          Record(static_cast<uint8_t>(m.type) | (from_b ? kFromPeerB : 0), m.payload));
      w.core().Step(w.now(), m);
      w.AdvanceTo(w.now());
    }
  }

  Instant start_;
  std::vector<std::unique_ptr<MemoryStorage>> storage_;
  std::vector<std::unique_ptr<CoreWorld>> worlds_;
  std::vector<InFlight> net_;
  std::map<uint64_t, ReplyFrame> replies_;
  std::vector<RequestFrame> to_x_;
  uint64_t request_id_ = 0;
  uint64_t a_submit_ = 0, x_submit_ = 0;
  size_t a_ = 0, x_ = 0, b_ = 0;
  std::vector<std::string> a_ids_, x_ids_;
  Recording rec_;
};

// --- Seeds per target ------------------------------------------------------------------------

void NodePeerSeeds(Corpus& c, const Recording& rec) {
  // The trace in windows of whole records, each at most kMaxSeedBytes; the first windows
  // replay from the start (joining, becoming a member of A's group).
  const auto& r = rec.target_records;
  std::string window;
  int n = 0;
  for (size_t i = 0; i < r.size() && n < 12; ++i) {
    if (window.size() + r[i].size() > kMaxSeedBytes) {
      c.Put("node_peer", "trace_" + std::to_string(n++), window);
      window.clear();
    }
    window += r[i];
  }
  if (!window.empty() && n < 12) c.Put("node_peer", "trace_" + std::to_string(n++), window);
  // A leader X has never heard of brings it into a new group, by a log or by a snapshot:
  // the paths where whatever a peer says is applied (a bad entry or snapshot used to stop
  // the node, docs/fuzzing.md).
  RaftMessage app;
  app.type = RaftMessageType::kAppend;
  app.group_id = "00000006";
  app.from = kPeerAId;
  app.from_address = kPeerAAddress;
  app.to = kTargetId;
  app.term = 2;
  app.commit = 3;
  SubmitEntry se{"00000006-1", 1, Command("a", {"true"}), 1700000000000};
  GrantEntry ge{"00000006-1", 1, kTargetId, kPeerAId, 1700000000001, 1};
  RaftConfigChange cc{RaftChangeKind::kAddVoter, RaftMember{kPeerAId, kPeerAAddress, true, false}, {}};
  cc.after.members = {RaftMember{kPeerAId, kPeerAAddress, true, false}, RaftMember{kTargetId, kTargetAddress, true, false}};
  app.entries = {Entry{1, 1, kRaftConfigEntryType, EncodeConfigChange(cc)},
                 Entry{2, 2, EntryType::kSubmit, EncodePayload(se)}, Entry{3, 2, EntryType::kGrant, EncodePayload(ge)}};
  c.Put("node_peer", "append_new_group",
        Record(kTimeRecord, "") + Record(static_cast<uint8_t>(app.type), EncodeRaftMessage(app)) +
            Record(kTimeRecord, std::string("\xe8\x03", 2)));
  RaftMessage snap = app;
  snap.type = RaftMessageType::kInstallSnapshot;
  snap.group_id = "00000005";
  snap.entries.clear();
  snap.index = 7;
  snap.log_term = 2;
  snap.members = cc.after;
  Task t;
  t.id = "00000005-1";
  t.seq = 1;
  t.spec = Command("a", {"true"});
  t.state = TaskState::kReady;
  snap.data = EncodePayload(std::vector<Task>{t});
  snap.total_bytes = snap.data.size();
  c.Put("node_peer", "snapshot_new_group",
        Record(kTimeRecord, "") + Record(static_cast<uint8_t>(snap.type), EncodeRaftMessage(snap)) +
            Record(kTimeRecord, std::string("\xe8\x03", 2)));
  // One message of each kind X received, alone, after a moment.
  std::set<uint8_t> seen;
  for (const auto& rec_bytes : r) {
    const uint8_t kind = static_cast<uint8_t>(rec_bytes[0]);
    if (kind == kTimeRecord || !seen.insert(kind & 0x7f).second) continue;
    c.Put("node_peer", "one_" + std::to_string(kind & 0x7f), Record(kTimeRecord, "") + rec_bytes);
  }
}

void EnvelopeAndPayloadSeeds(Corpus& c, const Recording& rec) {
  std::map<int, int> per_type;
  for (const PeerMessage& m : rec.traffic) {
    const int t = static_cast<int>(m.type);
    if (per_type[t]++ >= 2) continue;
    const std::string suffix = TypeName(m.type) + "_" + std::to_string(per_type[t]);
    c.Put("peer_envelope", "type_" + suffix, EncodePeerFrame(m));
    if (IsGossipMessage(m.type)) c.Put("gossip_codec", "type_" + suffix, m.payload);
    if (IsRaftPeerMessageType(m.type)) c.Put("raft_message", "recorded_" + suffix, Record(1, m.payload));
    if (t >= 64 && t <= 73) c.Put("steal_messages", "recorded_" + suffix, Sel(t - 64, m.payload));
  }
  c.Put("peer_envelope", "empty_payload", EncodePeerFrame(PeerMessage{"a:1", "b:2", PeerMessageType::kGossipPing, ""}));
}

void GossipSeeds(Corpus& c) {
  GossipUpdate alive;
  alive.kind = UpdateKind::kAlive;
  alive.id = "0123456789abcdef";
  alive.address = "10.0.0.7:7400";
  alive.incarnation = 42;
  alive.load_version = 7;
  alive.load.slots = 16;
  alive.load.running = 12;
  alive.load.ready = 30;
  alive.load.ready_by_band = {1, 0, 29};
  alive.load.labels = {{"gpu", "1"}};
  alive.load.leader_hints = {{"01234567", "0123456789abcdef"}};
  alive.load.stolen = 5;
  alive.load.given = 1LL << 40;
  GossipPacket p;
  p.sender_id = "fedcba9876543210";
  p.seq = UINT64_MAX;
  p.target_id = "0123456789abcdef";
  p.target_address = "10.0.0.7:7400";
  p.want_nack = true;
  p.join = true;
  p.updates = {alive, GossipUpdate{UpdateKind::kSuspect, "aaaa", "", 3, 0, "bbbb", {}},
               GossipUpdate{UpdateKind::kDead, "cccc", "10.0.0.9:1", 9, 0, "dddd", {}},
               GossipUpdate{UpdateKind::kLeft, "eeee", "", 1, 0, "eeee", {}}};
  c.Put("gossip_codec", "every_kind", EncodeGossipPacket(p));
  GossipPacket empty;
  empty.sender_id = "x";
  c.Put("gossip_codec", "empty", EncodeGossipPacket(empty));
}

// Raft: a leader n1 speaking to the fuzzed follower n2 of g1 (raft_message_fuzzer.cc).
RaftMessage FromLeader(RaftMessageType type, uint64_t term) {
  RaftMessage m;
  m.type = type;
  m.group_id = "g1";
  m.from = "n1";
  m.from_address = "10.0.0.1:7400";
  m.to = "n2";
  m.term = term;
  return m;
}

std::string TasksSnapshot() {
  Task t;
  t.id = "g1-1";
  t.seq = 1;
  t.spec = Command("a", {"true"});
  t.state = TaskState::kSucceeded;
  Task u = t;
  u.id = "g1-2";
  u.seq = 2;
  u.spec.after = {"g1-1"};
  u.state = TaskState::kReady;
  return EncodePayload(std::vector<Task>{t, u});
}

void RaftSeeds(Corpus& c) {
  const std::string r = "raft_message";
  RaftMessage hb = FromLeader(RaftMessageType::kHeartbeat, 2);
  hb.commit = 1;
  hb.echo_us = 5;
  RaftMessage app = FromLeader(RaftMessageType::kAppend, 2);
  app.index = 1;
  app.log_term = 1;
  app.commit = 3;
  SubmitEntry se{"g1-1", 1, Command("a", {"true"}), 1700000000000};
  app.entries = {Entry{2, 2, EntryType::kNoop, ""}, Entry{3, 2, EntryType::kSubmit, EncodePayload(se)},
                 Entry{4, 2, EntryType::kGrant, EncodePayload(GrantEntry{"g1-1", 1, "n2", "", 1, 1})}};
  RaftMessage snap = FromLeader(RaftMessageType::kInstallSnapshot, 3);
  snap.index = 10;
  snap.log_term = 3;
  snap.members.members = {RaftMember{"n1", "10.0.0.1:7400", true, false},
                          RaftMember{"n2", "10.0.0.2:7400", true, false},
                          RaftMember{"n3", "10.0.0.3:7400", false, true}};
  snap.data = TasksSnapshot();
  snap.total_bytes = snap.data.size();
  RaftMessage snap_half = snap;
  snap_half.data = snap.data.substr(0, snap.data.size() / 2);
  RaftMessage snap_rest = snap;
  snap_rest.members = {};
  snap_rest.offset = snap_half.data.size();
  snap_rest.data = snap.data.substr(snap_rest.offset);
  RaftMessage pre = FromLeader(RaftMessageType::kPreVote, 3);
  pre.index = 1;
  pre.log_term = 1;
  RaftMessage vote = FromLeader(RaftMessageType::kVote, 3);
  vote.index = 4;
  vote.log_term = 2;
  vote.transfer = true;
  RaftMessage grant = FromLeader(RaftMessageType::kPreVoteResponse, 1);
  RaftMessage vgrant = FromLeader(RaftMessageType::kVoteResponse, 2);
  RaftMessage app_resp = FromLeader(RaftMessageType::kAppendResponse, 2);
  app_resp.index = 4;
  app_resp.reject = true;
  app_resp.reject_hint = 1;
  app_resp.log_term = 1;
  RaftMessage hb_resp = FromLeader(RaftMessageType::kHeartbeatResponse, 2);
  RaftMessage snap_resp = FromLeader(RaftMessageType::kInstallSnapshotResponse, 2);
  snap_resp.index = 10;
  snap_resp.done = true;
  RaftMessage timeout = FromLeader(RaftMessageType::kTimeoutNow, 2);
  auto rec = [](uint8_t tick, const RaftMessage& m) { return Record(tick, EncodeRaftMessage(m)); };
  c.Put(r, "heartbeat", rec(1, hb));
  c.Put(r, "append_then_heartbeat", rec(1, app) + rec(10, hb));
  c.Put(r, "snapshot_whole", rec(1, snap));
  c.Put(r, "snapshot_in_two_chunks", rec(1, snap_half) + rec(1, snap_rest));
  c.Put(r, "prevote", rec(0, pre));
  c.Put(r, "vote_transfer", rec(0, vote));
  c.Put(r, "timeout_now", rec(0, timeout));
  // Responses that make the follower a leader after it campaigns (it waits out stickiness).
  c.Put(r, "campaign_and_win", rec(250, hb_resp) + rec(0, grant) + rec(1, vgrant) + rec(1, app_resp) + rec(1, snap_resp));
}

void StealSeeds(Corpus& c) {
  // Selectors: the order of kCheckers in steal_messages_fuzzer.cc.
  const std::string s = "steal_messages";
  SubmitRequest submit{{Command("a", {"true"}), Command("b", {"sh", "-c", "exit 1"})}, false};
  submit.tasks[1].after = {"a"};
  submit.tasks[1].env = {{"K", "V"}};
  FinishEntry fin{"g1-1", 2, Outcome::kSucceeded, 0, 0, 1700000000000, "exit 0", "out", "err"};
  Task task;
  task.id = "g1-1";
  task.seq = 1;
  task.spec = submit.tasks[0];
  task.attempts = {Attempt{1, "n1", 1, 2, 0, 0, Outcome::kSucceeded, "exit 0", "", 0, 1}};
  MemberInfo member{"0123456789abcdef", "10.0.0.1:7400", "alive", 3, 4, 1, 2, {{"gpu", "1"}}, 10, 1, 2};
  c.Put(s, "steal_request", Sel(0, PackBody(StealRequest{7, "n2", 2, {{"gpu", "1"}}, 3, "10.0.0.2:7400", 1})));
  c.Put(s, "steal_reply", Sel(1, PackBody(StealReply{7, "n1", {StolenTask{"g1-1", 1, submit.tasks[0]}}})));
  c.Put(s, "lease_renew", Sel(2, PackBody(LeaseRenew{3, "n2", {AttemptRef{"g1-1", 1}}, "g1"})));
  c.Put(s, "lease_renew_ack", Sel(3, PackBody(LeaseRenewAck{3, {AttemptRef{"g1-1", 1}}, false, "n1"})));
  c.Put(s, "finish_report", Sel(4, PackBody(FinishReport{"n2", fin})));
  c.Put(s, "finish_ack", Sel(5, PackBody(FinishAck{AttemptRef{"g1-1", 2}})));
  c.Put(s, "forward_request",
        Sel(6, PackBody(ForwardRequest{4, 1, "g1", EncodeRequest(RequestFrame{RequestType::kStatus, 9, PackBody(StatusRequest{"g1-1"})})})));
  c.Put(s, "forward_reply", Sel(7, PackBody(ForwardReply{4, EncodeReply(ReplyFrame{9, Status::Ok(), PackBody(StatusReply{task})})})));
  c.Put(s, "upstream_query", Sel(8, PackBody(UpstreamQuery{5, "g1", {"g1-1", "g1-2"}})));
  c.Put(s, "upstream_answer", Sel(9, PackBody(UpstreamAnswer{5, false, {UpstreamEntry{"g1-1", true, TaskState::kFailed, 17}}})));
  c.Put(s, "submit", Sel(10, PackBody(submit)));
  c.Put(s, "status", Sel(11, PackBody(StatusRequest{"g1-1"})));
  c.Put(s, "list", Sel(12, PackBody(ListRequest{"running", 5, 10, "g1-1"})));
  c.Put(s, "wait", Sel(13, PackBody(WaitRequest{{"g1-1"}, 100})));
  c.Put(s, "logs", Sel(14, PackBody(LogsRequest{"g1-1", true, 2})));
  c.Put(s, "cancel", Sel(15, PackBody(CancelRequest{"g1-1"})));
  c.Put(s, "restart", Sel(16, PackBody(RestartRequest{"g1-1"})));
  c.Put(s, "members", Sel(17, PackBody(MembersRequest{})));
  c.Put(s, "submit_reply", Sel(18, PackBody(SubmitReply{{"g1-1", "g1-2"}, {false, true}})));
  c.Put(s, "status_reply", Sel(19, PackBody(StatusReply{task})));
  c.Put(s, "list_reply", Sel(20, PackBody(ListReply{{task, task}, true})));
  c.Put(s, "wait_reply", Sel(21, PackBody(WaitReply{{task}, false})));
  c.Put(s, "logs_reply", Sel(22, PackBody(LogsReply{"hello\n", true, "n1"})));
  c.Put(s, "members_reply", Sel(23, PackBody(MembersReply{{member}})));
}

// Output messages: selectors are the switch in output_messages_fuzzer.cc.
void OutputSeeds(Corpus& c) {
  const std::string o = "output_messages";
  OutputData data;
  data.seq = 3;
  data.found = true;
  data.size = 12;
  data.offset = 6;
  data.data = "world\n";
  OutputData elsewhere;
  elsewhere.seq = 4;
  elsewhere.holders = {"10.0.0.2:7400", "10.0.0.3:7400"};
  OutputData kept = data;
  kept.kept_from = 6;
  kept.runner_address = "10.0.0.1:7400";
  c.Put(o, "read", Sel(0, EncodePayload(OutputRead{3, "g1-1", 2, true, 6, 1048576})));
  c.Put(o, "data", Sel(1, EncodePayload(data)));
  c.Put(o, "data_not_here", Sel(1, EncodePayload(elsewhere)));
  c.Put(o, "data_kept", Sel(1, EncodePayload(kept)));
  c.Put(o, "offer", Sel(2, EncodePayload(OutputOffer{"g1-1", 2, "n1", "10.0.0.1:7400", 12, 0, 1048576, false})));
  c.Put(o, "offer_relay", Sel(2, EncodePayload(OutputOffer{"g1-1", 2, "n1", "10.0.0.1:7400", 12, 4, 8, true})));
  c.Put(o, "kept", Sel(3, EncodePayload(OutputKept{"g1-1", 2, "n2", true, "", 3})));
  c.Put(o, "kept_refused", Sel(3, EncodePayload(OutputKept{"g1-1", 2, "n3", false, "holds no replica", 0})));
}

// Disk records: selectors are the order of kDecoders in disk_records_fuzzer.cc.
void DiskSeeds(Corpus& c, const Recording& rec) {
  const std::string d = "disk_records";
  MemoryStorage& st = *rec.target_storage;
  std::map<std::string, int> count;
  auto put = [&](const std::string& what, size_t sel, const std::string& bytes) {
    if (count[what]++ >= 3) return;
    c.Put(d, what + "_" + std::to_string(count[what]), Sel(sel, bytes));
  };
  std::string store;  // the node's whole store, as Store() reads records
  auto add_store = [&](uint8_t kind, const std::string& body) {
    if (store.size() + body.size() + 3 <= kMaxSeedBytes - 1) store += Record(kind, body);
  };
  const std::string home = TargetOptions().group_id;
  const std::string other = std::string(kPeerAId).substr(0, 8);
  auto index_byte = [](std::string_view key) -> int {
    if (key.size() < 8) return -1;
    uint64_t v = 0;
    for (char ch : key.substr(key.size() - 8)) v = (v << 8) | static_cast<uint8_t>(ch);
    return v < 256 ? static_cast<int>(v) : -1;
  };
  (void)st.Scan(Column::kLog, "", "", [&](std::string_view key, std::string_view value) {
    put("raft_entry", 0, std::string(value));
    auto e = DecodeRaftEntry(value);
    if (e.ok()) {
      put("group_log_entry", 4, EncodeEntry(*e));
      if (e->type == kRaftConfigEntryType) put("config_change", 1, e->payload);
      const int t = static_cast<int>(e->type);
      // Submit, Grant, Finish, Cancel, Restart, Upstream payloads: selectors 8..13.
      static const std::map<int, size_t> kPayloadSelector = {{1, 8}, {2, 9}, {3, 10}, {4, 11}, {5, 12}, {6, 13}};
      if (auto it = kPayloadSelector.find(t); it != kPayloadSelector.end()) {
        put("payload_" + std::to_string(t), it->second, e->payload);
      }
    }
    const int idx = index_byte(key);
    if (idx >= 0 && key.substr(0, home.size() + 1) == home + "/") add_store(0, std::string(1, char(idx)) + std::string(value));
    if (idx >= 0 && key.substr(0, other.size() + 1) == other + "/") add_store(7, std::string(1, char(idx)) + std::string(value));
    return true;
  });
  (void)st.Scan(Column::kMeta, "", "", [&](std::string_view key, std::string_view value) {
    const std::string k(key);
    const std::string v(value);
    if (k == "raft/hs/" + home) { put("hard_state", 2, v); add_store(1, v); }
    if (k == "raft/hs/" + other) { put("hard_state", 2, v); add_store(6, v); }
    if (k.rfind("raft/snap/", 0) == 0) put("snapshot_meta", 3, v);
    if (k == "raft/snap/" + home) add_store(2, v);
    if (k == "applied/" + home) add_store(3, v);
    if (k.rfind("applied/", 0) == 0 || k == "incarnation") put("index", 7, v);
    if (k == "incarnation") add_store(5, v);
    return true;
  });
  std::vector<Task> all;
  (void)st.Scan(Column::kTasks, "", "", [&](std::string_view key, std::string_view value) {
    put("task", 5, std::string(value));
    auto t = DecodePayload<Task>(value);
    if (t.ok()) all.push_back(*t);
    const std::string k(key);
    if (k.rfind(home + "-", 0) == 0) {
      const std::string seq = k.substr(home.size() + 1);
      if (seq.size() < 3 && std::stoi(seq) < 256) add_store(4, std::string(1, char(std::stoi(seq))) + std::string(value));
    }
    return true;
  });
  if (all.size() > 3) all.resize(3);
  put("snapshot_data", 6, EncodePayload(all));
  put("snapshot_data", 6, TasksSnapshot());
  RaftSnapshotMeta meta{10, 3, {}};
  meta.members.members = {RaftMember{"a", "x:1", true, false}, RaftMember{"b", "y:2", false, true}};
  put("snapshot_meta", 3, EncodeSnapshotMeta(meta));
  put("hard_state", 2, EncodeHardState(RaftHardState{9, "n3", 41}));
  c.Put(d, "store_recorded", Sel(14, store));
  // Regressions (docs/fuzzing.md): a forged array length, and a task state past the last.
  c.Put(d, "forged_array_length", Sel(5, "\xdd\xff\xff\xff\xff"));
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(4);
  pk.pack(std::string("00000000-1"));
  pk.pack(1);
  pk.pack(Command("a", {"true"}));
  pk.pack(200);  // TaskState has 7 values
  const std::string bad_state(buf.data(), buf.size());
  c.Put(d, "task_state_out_of_range", Sel(5, bad_state));
  c.Put(d, "snapshot_state_out_of_range", Sel(6, "\x91" + bad_state));
}

void PipelineSeeds(Corpus& c) {
  const std::string p = "pipeline_file";
  c.Put(p, "diamond.yaml", R"(tasks:
  - name: fetch
    command: [curl, -sSfo, data.csv, https://example.com/data.csv]
    retries: 3
    backoff: 2s
    timeout: 5m
  - name: stats
    command: [python3, stats.py, data.csv]
    after: [fetch]
    env: {PYTHONUNBUFFERED: "1"}
  - name: plot
    command: "python3 plot.py data.csv > plot.png"
    after: fetch
    labels: {gpu: "1"}
    slots: 2
  - name: report
    command: [python3, report.py]
    after: [stats, plot]
    priority: 80
  - name: cleanup
    command: "@sleep 1"
)");
  c.Put(p, "map_form.yaml", R"(tasks:
  fetch:
    command: [curl, -sSfo, data.csv, https://example.com/data.csv]
    idempotency_key: fetch-2024
  stats:
    command: [python3, stats.py, data.csv]
    after: [fetch]
    cwd: work/dir
)");
  c.Put(p, "pipeline.json",
        R"({"tasks": [{"name": "a", "command": ["true"], "timeout": "1h30m", "backoff": "1.5s"},)"
        R"( {"name": "b", "command": "echo hi", "after": ["a"], "priority": 0, "retries": 0}]})");
  c.Put(p, "cycle.yaml", "tasks:\n  - {name: a, command: x, after: b}\n  - {name: b, command: y, after: a}\n");
  c.Put(p, "anchors.yaml", "base: &b {command: [true]}\ntasks:\n  - {name: a, <<: *b}\n");
  c.Put(p, "unknown_field.yaml", "tasks:\n  - name: a\n    command: [x]\n    colour: blue\n");
  c.Put(p, "null_fields.yaml", "tasks:\n  - name: a\n    command: [x]\n    env:\n    after:\n    timeout: ~\n");
  c.Put(p, "builtins.yaml", "tasks:\n  - {name: s, command: '@sleep 0.5'}\n  - {name: f, command: '@fail', after: s}\n  - {name: n, command: '@noop'}\n");
}

void ClientFrameSeeds(Corpus& c, const Recording& rec) {
  SubmitRequest submit{{Command("a", {"true"}), Command("b", {"true"})}, false};
  submit.tasks[1].after = {"a"};
  c.Put("client_frame", "submit", EncodeRequest(RequestFrame{RequestType::kSubmit, 1, PackBody(submit)}));
  c.Put("client_frame", "status", EncodeRequest(RequestFrame{RequestType::kStatus, 2, PackBody(StatusRequest{"a"})}));
  c.Put("client_frame", "wait", EncodeRequest(RequestFrame{RequestType::kWait, 3, PackBody(WaitRequest{{"fz-1"}, 10})}));
  c.Put("client_frame", "reply", EncodeReply(ReplyFrame{4, Status::NotFound("no task"), PackBody(SubmitReply{{"fz-1"}, {false}})}));
}

}  // namespace
}  // namespace magpie::fuzz

int main(int argc, char** argv) {
  using namespace magpie::fuzz;
  if (argc != 2) {
    std::cerr << "usage: fuzz_corpus_writer CORPUS_ROOT (tests/fuzz/corpus)\n";
    return 2;
  }
  Corpus corpus(argv[1]);
  Cluster cluster;
  const Recording& rec = cluster.Run();
  std::cout << "node X received " << rec.target_records.size() << " records; the cluster sent "
            << rec.traffic.size() << " messages\n";
  NodePeerSeeds(corpus, rec);
  EnvelopeAndPayloadSeeds(corpus, rec);
  GossipSeeds(corpus);
  RaftSeeds(corpus);
  StealSeeds(corpus);
  OutputSeeds(corpus);
  DiskSeeds(corpus, rec);
  PipelineSeeds(corpus);
  ClientFrameSeeds(corpus, rec);
  corpus.Report();
  return 0;
}
