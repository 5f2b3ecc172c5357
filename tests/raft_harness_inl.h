// The definitions of tests/raft_harness.h (each test file is its own binary, so the
// harness is header-only).
#ifndef MAGPIE_TESTS_RAFT_HARNESS_INL_H_
#define MAGPIE_TESTS_RAFT_HARNESS_INL_H_

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "tests/raft_harness.h"

namespace magpie {

inline std::string EncodeAppliedState(const std::vector<Entry>& applied) { return EncodePayload(applied); }

inline std::vector<Entry> DecodeAppliedState(const std::string& bytes) {
  auto v = DecodePayload<std::vector<Entry>>(bytes);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : std::vector<Entry>{};
}

inline std::string EntrySummary(const Entry& e) {
  std::string what = e.type == EntryType::kNoop ? "noop"
                     : e.type == kRaftConfigEntryType ? "config"
                                                      : "'" + e.payload + "'";
  return std::to_string(e.index) + "/" + std::to_string(e.term) + " " + what;
}

inline std::string RaftNet::Summarize(const RaftMessage& m) {
  std::ostringstream out;
  out << m.from << "->" << m.to << " " << RaftMessageTypeName(m.type) << " term=" << m.term;
  switch (m.type) {
    case RaftMessageType::kPreVote:
    case RaftMessageType::kVote:
      out << " last=" << m.index << "/" << m.log_term << (m.transfer ? " transfer" : "");
      break;
    case RaftMessageType::kPreVoteResponse:
    case RaftMessageType::kVoteResponse:
      out << (m.reject ? " rejected" : " granted");
      break;
    case RaftMessageType::kAppend:
      out << " prev=" << m.index << "/" << m.log_term << " commit=" << m.commit << " [";
      for (size_t i = 0; i < m.entries.size(); ++i) out << (i ? ", " : "") << EntrySummary(m.entries[i]);
      out << "]";
      break;
    case RaftMessageType::kAppendResponse:
      out << (m.reject ? " rejected prev=" : " match=") << m.index;
      if (m.reject) out << " hint=" << m.reject_hint << "/" << m.log_term;
      break;
    case RaftMessageType::kHeartbeat: out << " commit=" << m.commit; break;
    case RaftMessageType::kInstallSnapshot:
      out << " snapshot=" << m.index << "/" << m.log_term << " bytes " << m.offset << "+" << m.data.size()
          << "/" << m.total_bytes;
      break;
    case RaftMessageType::kInstallSnapshotResponse:
      out << " snapshot=" << m.index << " held=" << m.offset << (m.done ? " done" : "");
      break;
    default: break;
  }
  return out.str();
}

inline void ExpectGolden(const std::vector<std::string>& lines, const std::string& name) {
  // The source tree's path from the build (__FILE__ may be relative to the build tree).
  std::string dir = std::string(MAGPIE_SOURCE_DIR) + "/tests/raft_testdata/";
  std::string got;
  for (const auto& l : lines) got += l + "\n";
  if (std::getenv("MAGPIE_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(dir + name) << got;
    return;
  }
  std::ifstream in(dir + name);
  ASSERT_TRUE(in.good()) << "no golden file " << dir + name << " (MAGPIE_UPDATE_GOLDEN=1 writes it)";
  std::stringstream want;
  want << in.rdbuf();
  if (want.str() == got) return;
  // Name the first line that differs, so a change in behaviour reads as a diff.
  std::istringstream a(want.str()), b(got);
  std::string la, lb;
  for (int n = 1;; ++n) {
    bool ha = static_cast<bool>(std::getline(a, la)), hb = static_cast<bool>(std::getline(b, lb));
    if (!ha && !hb) break;
    if (!ha || !hb || la != lb) {
      ADD_FAILURE() << name << " differs at line " << n << ":\n  want: " << (ha ? la : "<end>")
                    << "\n  got:  " << (hb ? lb : "<end>") << "\n(MAGPIE_UPDATE_GOLDEN=1 rewrites it)";
      return;
    }
  }
}

inline RaftNet::RaftNet(Options o) : options_(std::move(o)), prng_(options_.seed * 7919 + 17) {
  now_ = Instant::FromMicros(1'700'000'000'000'000);
  int voters = options_.initial_voters < 0 ? options_.nodes : options_.initial_voters;
  std::vector<RaftMember> members;
  for (int i = 1; i <= options_.nodes; ++i) {
    ids_.push_back("n" + std::to_string(i));
    if (i <= voters) members.push_back(RaftMember{ids_.back(), "addr-" + ids_.back(), true, false});
  }
  for (int i = 0; i < options_.nodes; ++i) {
    auto n = std::make_unique<Node>();
    n->id = ids_[i];
    Node& ref = *n;
    nodes_.emplace(ids_[i], std::move(n));
    Boot(ref);
    if (i < voters) ref.group->Bootstrap(members);
    ref.group->Tick(now_);  // a driver ticks at start: the member's clock begins
    Process(ref.id);
  }
}

inline std::shared_ptr<spdlog::logger> RaftNet::Logger(const std::string& id) {
  if (!options_.verbose) {
    return std::make_shared<spdlog::logger>(id, std::make_shared<spdlog::sinks::null_sink_st>());
  }
  auto logger = std::make_shared<spdlog::logger>(id, std::make_shared<spdlog::sinks::ostream_sink_st>(std::cerr));
  logger->set_pattern("%n %l: %v");
  logger->set_level(spdlog::level::debug);
  return logger;
}

inline void RaftNet::Boot(Node& n) {
  RaftConfig c = options_.base;
  c.group_id = "g1";
  c.self_id = n.id;
  c.self_address = "addr-" + n.id;
  n.group = std::make_unique<RaftGroup>(c, options_.seed * 1000003 + n.boots * 101 + std::hash<std::string>{}(n.id) % 97,
                                        Logger(n.id));
  auto sm = n.storage.Get(Column::kTasks, "sm");
  ASSERT_TRUE(sm.ok());
  n.applied = sm->has_value() ? DecodeAppliedState(**sm) : std::vector<Entry>{};
  n.last_compacted = n.applied.size();
  Status s = n.group->Load(n.storage, n.applied.size());
  ASSERT_TRUE(s.ok()) << n.id << ": " << s.ToString();
  ++n.boots;
  n.up = true;
  if (n.boots > 1) n.group->Tick(now_);
}

inline void RaftNet::Hash(const std::string& s) {
  for (unsigned char c : s) {
    trace_hash_ ^= c;
    trace_hash_ *= 1099511628211ULL;
  }
}

inline void RaftNet::Send(const std::string& from, RaftOutMessage m) {
  NetMessage nm{from, m.to_id, m.type, std::move(m.payload), {}};
  auto d = DecodeRaftMessage(nm.payload);
  EXPECT_TRUE(d.ok()) << "a member sent an undecodable message: " << d.status().ToString();
  if (!d.ok()) return;
  nm.decoded = std::move(*d);
  EXPECT_LE(nm.payload.size(), kMaxPeerMessageBytes);
  EXPECT_TRUE(m.to_address.empty() || m.to_address == "addr-" + nm.to) << m.to_address;
  if (cut_.count({from, nm.to}) != 0) return;
  if (drop_if && drop_if(nm)) {
    Note(Summarize(nm.decoded) + "  (dropped)");
    return;
  }
  if (prng_.Chance(options_.drop_per_million, 1'000'000)) return;
  int copies = prng_.Chance(options_.duplicate_per_million, 1'000'000) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    Duration latency = Duration::Micros(prng_.Between(options_.min_latency_us, options_.max_latency_us));
    queue_.emplace(std::make_pair(now_ + latency, next_seq_++), nm);
  }
}

inline void RaftNet::Deliver(const NetMessage& m) {
  auto it = nodes_.find(m.to);
  if (it == nodes_.end() || !it->second->up || cut_.count({m.from, m.to}) != 0) return;
  ++delivered_;
  Hash(m.from + ">" + m.to + ":" + m.payload);
  Note(Summarize(m.decoded));
  it->second->group->Step(now_, m.type, m.payload);
  Process(m.to);
  CheckLeases();
}

inline void RaftNet::Apply(Node& n, const Entry& e) {
  EXPECT_EQ(e.index, n.applied.size() + 1) << n.id << " applied out of order";
  std::string what = std::to_string(static_cast<int>(e.type)) + ":" + e.payload;
  auto [it, fresh] = committed_.emplace(e.index, std::make_pair(e.term, what));
  if (!fresh && (it->second.first != e.term || it->second.second != what)) {
    ADD_FAILURE() << "State Machine Safety: " << n.id << " applied index " << e.index << " term "
                  << e.term << " '" << e.payload << "', but term " << it->second.first << " '"
                  << it->second.second << "' was applied there before\n" << Describe();
  }
  n.applied.push_back(e);
  Hash(n.id + "@" + std::to_string(e.index));
  Note("  " + n.id + " applies " + EntrySummary(e));
}

inline void RaftNet::Check(Node& n, const RaftReady& rd) {
  RaftGroup& g = *n.group;
  if (!g.is_leader()) return;
  auto [it, fresh] = leaders_.emplace(g.term(), n.id);
  if (!fresh && it->second != n.id) {
    ADD_FAILURE() << "Election Safety: " << n.id << " and " << it->second << " both lead term " << g.term();
  }
  if (fresh) {
    for (const auto& [index, v] : committed_) {
      if (index <= g.snapshot_index()) continue;
      auto t = g.TermAt(index);
      EXPECT_TRUE(t.has_value() && *t == v.first)
          << "Leader Completeness: " << n.id << " leads term " << g.term() << " without committed entry "
          << index << " (term " << v.first << ")\n" << Describe();
    }
  }
}

inline void RaftNet::CheckLeases() {
  std::string holder;
  for (const auto& id : ids_) {
    const Node& n = *nodes_.at(id);
    if (!n.up || !n.group->HasQuorumContact(now_)) continue;
    if (!holder.empty()) {
      ADD_FAILURE() << "Lease Safety: " << holder << " (term " << nodes_.at(holder)->group->term()
                    << ") and " << id << " (term " << n.group->term()
                    << ") both lead with quorum contact\n" << Describe();
    }
    holder = id;
  }
}

inline void RaftNet::Process(const std::string& id) {
  Node& n = *nodes_.at(id);
  if (!n.up) return;
  Check(n, RaftReady{});
  for (int round = 0; round < 1000 && n.up && n.group->HasReady(); ++round) {
    CarryOut(id, n.group->TakeReady());
  }
  EXPECT_TRUE(!n.up || !n.group->HasReady()) << n.id << " never ran out of Readies";
}

inline void RaftNet::CarryOut(const std::string& id, RaftReady rd) {
  Node& n = *nodes_.at(id);
  Check(n, rd);
  if (rd.soft_state) {
    Note("  " + id + " is " + RaftRoleName(rd.soft_state->role) + " at term " +
         std::to_string(rd.soft_state->term) +
         (rd.soft_state->leader_id.empty() || rd.soft_state->role == RaftRole::kLeader
              ? ""
              : ", following " + rd.soft_state->leader_id));
  }
  // A leader's appends may leave before its write (and before a crash that loses it).
  for (size_t i = 0; i < rd.messages_before_write; ++i) Send(n.id, std::move(rd.messages[i]));
  rd.messages.erase(rd.messages.begin(), rd.messages.begin() + static_cast<ptrdiff_t>(rd.messages_before_write));
  rd.messages_before_write = 0;
  if (crash_before_write && crash_before_write(id, rd)) {
    Crash(id);
    return;
  }
  if (rd.snapshot) {
    std::vector<Entry> state = DecodeAppliedState(rd.snapshot->data);
    EXPECT_EQ(state.size(), rd.snapshot->index) << n.id << " got a snapshot that is not at its index";
    n.applied.clear();
    ++n.snapshots_installed;
    for (const auto& e : state) Apply(n, e);
    rd.writes.Put(Column::kTasks, "sm", rd.snapshot->data);  // same batch as the log it replaces
    n.last_compacted = n.applied.size();
  }
  for (const auto& e : rd.committed) Apply(n, e);
  bool compact = options_.compact_every > 0 && n.applied.size() >= n.last_compacted + options_.compact_every;
  if (compact) rd.writes.Put(Column::kTasks, "sm", EncodeAppliedState(n.applied));
  Status s = n.storage.Write(rd.writes, rd.sync);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (auto& m : rd.messages) Send(n.id, std::move(m));
  n.group->Advance(now_);
  EXPECT_EQ(n.group->applied_index(), n.applied.size()) << n.id;
  if (compact) {
    uint64_t to = n.applied.size() - std::min<uint64_t>(options_.compact_margin, n.applied.size());
    EXPECT_TRUE(n.group->Compact(to).ok());
    n.last_compacted = n.applied.size();
  }
  if (rd.snapshot_requested) {
    Status p = n.group->ProvideSnapshot(n.applied.size(), EncodeAppliedState(n.applied));
    EXPECT_TRUE(p.ok()) << p.ToString();
  }
}

inline void RaftNet::RunFor(Duration d) {
  const Instant end = now_ + d;
  Instant last = now_;
  int spins = 0;
  for (;;) {
    Instant next = Instant::Never();
    if (!queue_.empty()) next = queue_.begin()->first.first;
    for (const auto& id : ids_) {
      Node& n = *nodes_[id];
      if (n.up && n.ticking) next = std::min(next, std::max(n.group->NextDeadline(), now_));
    }
    if (next > end) break;
    now_ = std::max(now_, next);
    if (now_ == last && ++spins > 10000) {
      ADD_FAILURE() << "the world stopped moving at " << now_.micros() << "\n" << Describe();
      return;
    }
    if (now_ != last) spins = 0;
    last = now_;
    while (!queue_.empty() && queue_.begin()->first.first <= now_) {
      NetMessage m = std::move(queue_.begin()->second);
      queue_.erase(queue_.begin());
      Deliver(m);
    }
    for (const auto& id : ids_) {
      Node& n = *nodes_[id];
      if (n.up && n.ticking && n.group->NextDeadline() <= now_) {
        n.group->Tick(now_);
        Process(id);
      }
    }
    CheckLeases();
  }
  now_ = std::max(now_, end);
}

inline bool RaftNet::RunUntil(const std::function<bool()>& pred, Duration d) {
  const Instant end = now_ + d;
  for (;;) {  // pred is called once per step: it may act (propose, change membership)
    if (pred()) return true;
    if (now_ >= end) return false;
    RunFor(std::min(Duration::Millis(10), end - now_));
  }
}

inline void RaftNet::DeliverAll(int max_rounds) {
  for (int i = 0; i < max_rounds && !queue_.empty(); ++i) {
    NetMessage m = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    Deliver(m);
  }
  EXPECT_TRUE(queue_.empty()) << "messages kept coming";
}

inline void RaftNet::Cut(const std::string& a, const std::string& b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

inline void RaftNet::Partition(const std::vector<std::vector<std::string>>& sides) {
  for (size_t i = 0; i < sides.size(); ++i) {
    for (size_t j = i + 1; j < sides.size(); ++j) {
      for (const auto& a : sides[i]) {
        for (const auto& b : sides[j]) Cut(a, b);
      }
    }
  }
}

inline void RaftNet::Isolate(const std::string& id) {
  for (const auto& other : ids_) {
    if (other != id) Cut(id, other);
  }
}

inline void RaftNet::Heal() { cut_.clear(); }

inline void RaftNet::Crash(const std::string& id) {
  Note("  " + id + " crashes (unsynced writes lost)");
  Node& n = *nodes_.at(id);
  n.storage.Crash();
  n.group.reset();
  n.applied.clear();
  n.up = false;
}

inline void RaftNet::Restart(const std::string& id) {
  Node& n = *nodes_.at(id);
  if (n.up) Crash(id);
  Boot(n);
  Note("  " + id + " restarts: term " + std::to_string(n.group->term()) + ", log through " +
       std::to_string(n.group->last_index()) + " (term " +
       std::to_string(n.group->TermAt(n.group->last_index()).value_or(0)) + ")");
  Process(id);
}

inline void RaftNet::Replace(const std::string& id) {
  Node& n = *nodes_.at(id);
  if (n.up) Crash(id);
  n.storage.Wipe();
  Boot(n);
  Process(id);
}

inline bool RaftNet::Erase(const std::string& id) {
  Node& n = *nodes_.at(id);
  if (!n.up) return false;
  WriteBatch b;
  if (!n.group->EraseKeepingTombstone(&b).ok()) return false;
  b.Delete(Column::kTasks, "sm");
  EXPECT_TRUE(n.storage.Write(b, /*sync=*/true).ok());
  n.group.reset();
  n.applied.clear();
  n.up = false;
  Boot(n);
  Process(id);
  return true;
}

inline void RaftNet::Campaign(const std::string& id) {
  if (!node(id).up) return;
  group(id).Campaign(now_);
  Process(id);
}

inline Result<uint64_t> RaftNet::Propose(const std::string& id, const std::string& payload) {
  if (!node(id).up) return Status::Unavailable(id + " is down");
  auto r = group(id).Propose(now_, EntryType::kSubmit, payload);
  Process(id);
  return r;
}

inline std::string RaftNet::Leader() const {
  std::string best;
  uint64_t best_term = 0;
  for (const auto& id : ids_) {
    const Node& n = *nodes_.at(id);
    if (n.up && n.group->is_leader() && n.group->term() >= best_term) {
      best = id;
      best_term = n.group->term();
    }
  }
  return best;
}

inline bool RaftNet::Converged() const {
  size_t size = SIZE_MAX;
  for (const auto& id : ids_) {
    const Node& n = *nodes_.at(id);
    if (!n.up) continue;
    if (size == SIZE_MAX) size = n.applied.size();
    if (n.applied.size() != size) return false;
  }
  return true;
}

inline std::string RaftNet::Describe() const {
  std::ostringstream out;
  out << "t=" << now_.micros() << "us\n";
  for (const auto& id : ids_) {
    const Node& n = *nodes_.at(id);
    out << "  " << id << (n.up ? "" : " (down)");
    if (n.up) {
      const RaftGroup& g = *n.group;
      out << " " << RaftRoleName(g.role()) << " term " << g.term() << " leader '" << g.leader_id()
          << "' log " << g.snapshot_index() << "+.." << g.last_index() << " commit " << g.commit_index()
          << " applied " << n.applied.size() << " voters " << g.members().VoterCount() << "/"
          << g.members().members.size();
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace magpie

#endif  // MAGPIE_TESTS_RAFT_HARNESS_INL_H_
