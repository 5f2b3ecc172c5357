// A small deterministic world for RaftGroup tests: N members, each over its own
// MemoryStorage, driven exactly as raft_group.h says (install, apply, persist, send,
// Advance), on one simulated clock, with a network whose delivery the test controls
// (latency, loss, duplication, cuts, a drop predicate) and crashes that lose unsynced
// writes. The state machine is the list of applied entries; it persists itself at each
// compaction, as NodeCore persists its task table.
//
// The safety properties are checked on every step, whatever the test does:
//   Election Safety       at most one leader per term;
//   State Machine Safety  an index is applied with the same entry everywhere, and a
//                         committed entry never changes;
//   Leader Completeness   a new leader's log holds every entry applied anywhere;
//   Lease Safety          at any instant at most one leader has quorum contact
//                         (HasQuorumContact), the property leases and grants build on.
#ifndef MAGPIE_TESTS_RAFT_HARNESS_H_
#define MAGPIE_TESTS_RAFT_HARNESS_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "base/prng.h"
#include "node/raft/raft_group.h"
#include "storage/memory_storage.h"

namespace magpie {

struct NetMessage {
  std::string from;
  std::string to;
  PeerMessageType type;
  std::string payload;
  RaftMessage decoded;  // for predicates and transcripts
};

class RaftNet {
 public:
  struct Options {
    int nodes = 3;
    int initial_voters = -1;  // -1: all; the rest start empty (joiners)
    uint64_t seed = 1;
    RaftConfig base;          // group/self ids are filled in per node
    int64_t min_latency_us = 1000;
    int64_t max_latency_us = 3000;
    uint64_t drop_per_million = 0;
    uint64_t duplicate_per_million = 0;
    // The state machine compacts the log every this many applied entries (0: never),
    // keeping `compact_margin` entries for slow followers.
    uint64_t compact_every = 0;
    uint64_t compact_margin = 0;
    bool verbose = false;  // raft logs to stderr
  };

  struct Node {
    std::string id;
    MemoryStorage storage;
    std::unique_ptr<RaftGroup> group;
    bool up = false;
    bool ticking = true;          // tests may stop a node's timers (it still answers)
    std::vector<Entry> applied;   // the state machine: applied[i].index == i + 1
    uint64_t last_compacted = 0;
    uint64_t boots = 0;
    uint64_t snapshots_installed = 0;
  };

  explicit RaftNet(Options o);

  // --- Time and delivery ---
  Instant now() const { return now_; }
  // Runs the world for d: messages arrive at their time, timers fire at their deadlines.
  void RunFor(Duration d);
  // Runs until pred() holds or d passes; returns pred().
  bool RunUntil(const std::function<bool()>& pred, Duration d);
  // Delivers everything queued (and what that causes), ignoring latency; time stands still.
  void DeliverAll(int max_rounds = 10000);
  size_t queued() const { return queue_.size(); }

  // --- Faults ---
  void Cut(const std::string& a, const std::string& b);  // both directions
  void Partition(const std::vector<std::vector<std::string>>& sides);
  void Isolate(const std::string& id);
  void Heal();
  void SetLoss(uint64_t drop_per_million, uint64_t duplicate_per_million) {
    options_.drop_per_million = drop_per_million;
    options_.duplicate_per_million = duplicate_per_million;
  }
  // Messages for which it returns true are dropped (after cuts).
  std::function<bool(const NetMessage&)> drop_if;
  // When it returns true for a Ready, the node dies instead of carrying it out: the
  // batch never reaches the disk and nothing in it is sent (a crash before fsync).
  std::function<bool(const std::string& id, const RaftReady& rd)> crash_before_write;
  void Crash(const std::string& id);    // unsynced writes lost
  void Restart(const std::string& id);  // a new RaftGroup over the surviving storage
  // Wipes the node's disk and starts it empty. Only for a member that never was one: a
  // former member that forgets its term breaks Raft (use Erase).
  void Replace(const std::string& id);
  // A member that knows it has left erases the group's data but keeps its hard state
  // (RaftGroup::EraseKeepingTombstone), then starts empty. False if it may not yet.
  bool Erase(const std::string& id);

  // --- Driving ---
  Node& node(const std::string& id) { return *nodes_.at(id); }
  RaftGroup& group(const std::string& id) { return *nodes_.at(id)->group; }
  const std::vector<std::string>& ids() const { return ids_; }
  void Campaign(const std::string& id);
  Result<uint64_t> Propose(const std::string& id, const std::string& payload);
  // The member that leads at the highest term, or "" if none.
  std::string Leader() const;
  // Carries out every Ready of the node (also run after each input by the helpers).
  void Process(const std::string& id);
  // Carries out one Ready a test took itself: install, apply, persist, send, Advance.
  void CarryOut(const std::string& id, RaftReady rd);

  // --- Transcript (golden tests) ---
  // When set, every delivery, drop, role change, application, crash and restart is written
  // here as one readable line, in order (tests/raft_testdata/*.txt).
  std::vector<std::string>* transcript = nullptr;
  void Note(const std::string& line) {
    if (transcript != nullptr) transcript->push_back(line);
  }
  static std::string Summarize(const RaftMessage& m);

  // --- Observations ---
  // What applied where: index -> (term, payload) of the first application anywhere.
  const std::map<uint64_t, std::pair<uint64_t, std::string>>& committed() const { return committed_; }
  const std::map<uint64_t, std::string>& leaders() const { return leaders_; }
  uint64_t trace_hash() const { return trace_hash_; }
  uint64_t delivered() const { return delivered_; }
  // Every up node has applied the same entries through the same index.
  bool Converged() const;
  std::string Describe() const;

 private:
  void Send(const std::string& from, RaftOutMessage m);
  void Deliver(const NetMessage& m);
  void Apply(Node& n, const Entry& e);
  void Check(Node& n, const RaftReady& rd);
  void CheckLeases();
  void Hash(const std::string& s);
  std::shared_ptr<spdlog::logger> Logger(const std::string& id);
  void Boot(Node& n);

  Options options_;
  Prng prng_;
  Instant now_;
  std::vector<std::string> ids_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::map<std::pair<Instant, uint64_t>, NetMessage> queue_;
  uint64_t next_seq_ = 0;
  std::set<std::pair<std::string, std::string>> cut_;
  std::map<uint64_t, std::pair<uint64_t, std::string>> committed_;
  std::map<uint64_t, std::string> leaders_;  // term -> leader
  uint64_t trace_hash_ = 1469598103934665603ULL;
  uint64_t delivered_ = 0;
};

// Compares lines with tests/raft_testdata/<name>; MAGPIE_UPDATE_GOLDEN=1 rewrites the file.
void ExpectGolden(const std::vector<std::string>& lines, const std::string& name);

// The state machine's snapshot: every applied entry (small in tests, and exact to check).
std::string EncodeAppliedState(const std::vector<Entry>& applied);
std::vector<Entry> DecodeAppliedState(const std::string& bytes);

}  // namespace magpie

#endif  // MAGPIE_TESTS_RAFT_HARNESS_H_
