// Randomized runs over many seeds: partitions, message loss, duplication and reordering,
// crashes that lose unsynced writes (and crashes in the middle of a Ready), restarts,
// compaction and snapshots, membership changes and leadership transfers, all at once.
// The harness checks Election Safety, State Machine Safety (an index is applied with the
// same entry everywhere; committed entries never change) and Leader Completeness at every
// step. After the chaos, a liveness phase heals everything: the group must elect a leader,
// commit, and every member must apply the same entries.
//
// MAGPIE_RAFT_SEEDS=N runs N seeds (default 200); MAGPIE_RAFT_SEED=S runs one, verbosely.
#include <cstdlib>

#include "tests/raft_harness.h"
#include "tests/raft_harness_inl.h"

namespace magpie {
namespace {

struct Drawn {
  RaftNet::Options options;
  std::string Describe() const {
    const auto& o = options;
    return "nodes=" + std::to_string(o.nodes) + " drop=" + std::to_string(o.drop_per_million) +
           "ppm dup=" + std::to_string(o.duplicate_per_million) + "ppm latency=" +
           std::to_string(o.min_latency_us) + ".." + std::to_string(o.max_latency_us) +
           "us compact_every=" + std::to_string(o.compact_every) + " per_append=" +
           std::to_string(o.base.max_entries_per_append) + " inflight=" +
           std::to_string(o.base.max_inflight_appends) + " pre_vote=" + std::to_string(o.base.pre_vote) +
           " check_quorum=" + std::to_string(o.base.check_quorum);
  }
};

Drawn Draw(uint64_t seed) {
  Prng p(seed);
  Drawn d;
  auto& o = d.options;
  o.seed = seed;
  o.nodes = p.Chance(1, 2) ? 3 : 5;
  o.min_latency_us = 500;
  o.max_latency_us = p.Between(1000, 40000);
  o.drop_per_million = p.Between(0, 100'000);
  o.duplicate_per_million = p.Between(0, 20'000);
  const uint64_t compacts[] = {0, 5, 17, 50};
  o.compact_every = compacts[p.Below(4)];
  o.compact_margin = p.Below(4);
  const size_t per_append[] = {1, 3, 64};
  o.base.max_entries_per_append = per_append[p.Below(3)];
  const size_t inflight[] = {1, 4, 64};
  o.base.max_inflight_appends = inflight[p.Below(3)];
  o.base.snapshot_chunk_bytes = 256;
  o.base.pre_vote = !p.Chance(1, 5);
  o.base.check_quorum = !p.Chance(1, 5);
  return d;
}

// What the runs did, so a reader can see the chaos was real.
struct Totals {
  uint64_t runs = 0, leaders = 0, committed = 0, membership_changes = 0, snapshots = 0,
           boots = 0, messages = 0, erased = 0;
};

// One randomized run; returns the trace hash (for the determinism check).
uint64_t RunSeed(uint64_t seed, bool verbose, Totals* totals = nullptr) {
  Drawn d = Draw(seed);
  d.options.verbose = verbose;
  SCOPED_TRACE("seed " + std::to_string(seed) + " (" + d.Describe() + "); replay: MAGPIE_RAFT_SEED=" +
               std::to_string(seed) + " raft_random_test --gtest_filter=RaftRandom.ManySeeds*");
  RaftNet net(d.options);
  Prng p(seed * 31 + 7);
  const std::vector<std::string> ids = net.ids();
  auto pick = [&](const std::vector<std::string>& from) { return from[p.Below(from.size())]; };
  std::set<std::string> doomed;  // crash before their next write
  net.crash_before_write = [&](const std::string& id, const RaftReady& rd) {
    return doomed.erase(id) > 0 && (rd.sync || !rd.writes.empty());
  };
  uint64_t proposed = 0;
  uint64_t erased = 0;

  // --- Safety phase: everything goes wrong for 30 s. ---
  for (int step = 0; step < 600 && !::testing::Test::HasFailure(); ++step) {
    net.RunFor(Duration::Millis(50));
    std::string leader = net.Leader();
    if (!leader.empty() && p.Chance(3, 5)) {
      for (uint64_t k = p.Between(1, 5); k > 0; --k) (void)net.Propose(leader, "e" + std::to_string(proposed++));
    }
    std::vector<std::string> up, down;
    for (const auto& id : ids) (net.node(id).up ? up : down).push_back(id);
    if (p.Chance(2, 100) && !up.empty()) net.Crash(pick(up));
    if (p.Chance(6, 100) && !down.empty()) net.Restart(pick(down));
    if (p.Chance(1, 100) && !up.empty()) doomed.insert(pick(up));
    if (p.Chance(2, 100)) {
      std::vector<std::string> a, b;
      for (const auto& id : ids) (p.Chance(1, 2) ? a : b).push_back(id);
      net.Heal();
      net.Partition({a, b});
    }
    if (p.Chance(3, 100)) net.Heal();
    if (!leader.empty() && !net.node(leader).up) leader.clear();  // died proposing
    if (!leader.empty() && p.Chance(1, 100)) {
      RaftGroup& g = net.group(leader);
      const RaftMembership& m = g.members();
      std::vector<std::string> in, out;
      for (const auto& id : ids) (m.Find(id) ? in : out).push_back(id);
      if (!out.empty() && (p.Chance(1, 2) || m.VoterCount() <= 2)) {
        std::string id = pick(out);
        // A member that knows it has left may erase its data, keeping a tombstone.
        if (p.Chance(1, 2) && net.Erase(id)) ++erased;
        (void)g.ProposeMembershipChange(net.now(), RaftChangeKind::kAddVoter, RaftMember{id, "addr-" + id});
      } else if (m.VoterCount() > 2) {
        (void)g.ProposeMembershipChange(net.now(), RaftChangeKind::kRemove, RaftMember{pick(in), ""});
      }
      net.Process(leader);
      if (!net.node(leader).up) leader.clear();
    }
    if (!leader.empty() && net.node(leader).up && p.Chance(1, 100)) {
      (void)net.group(leader).TransferLeadership(net.now(), pick(ids));
      net.Process(leader);
    }
  }

  // --- Liveness phase: heal, restart, no loss; the group must converge. ---
  doomed.clear();
  net.Heal();
  net.SetLoss(0, 0);
  for (const auto& id : ids) {
    if (!net.node(id).up) net.Restart(id);
  }
  bool live = net.RunUntil([&] { return !net.Leader().empty(); }, Duration::Seconds(20));
  EXPECT_TRUE(live) << "no leader after healing\n" << net.Describe();
  if (!live) return net.trace_hash();
  std::string leader = net.Leader();
  auto final_index = net.Propose(leader, "final");
  EXPECT_TRUE(final_index.ok() || final_index.status().code() == Status::Code::kUnavailable)
      << final_index.status().ToString();
  Instant last_final = net.now();
  auto members_applied_final = [&] {
    std::string l = net.Leader();
    if (l.empty()) return false;
    bool all = true;
    for (const auto& m : net.group(l).members().members) {
      const auto& applied = net.node(m.id).applied;
      bool has = false;
      for (auto it = applied.rbegin(); it != applied.rend() && !has; ++it) has = it->payload == "final";
      all = all && has;
    }
    if (!all && net.now() - last_final >= Duration::Seconds(2)) {
      (void)net.Propose(l, "final");  // a transfer or an election may have lost it
      last_final = net.now();
    }
    return all;
  };
  EXPECT_TRUE(net.RunUntil(members_applied_final, Duration::Seconds(30)))
      << "members did not all apply the final entry\n" << net.Describe();
  if (totals != nullptr) {
    ++totals->runs;
    totals->leaders += net.leaders().size();
    totals->committed += net.committed().size();
    for (const auto& [index, v] : net.committed()) {
      totals->membership_changes += v.second.rfind(std::to_string(static_cast<int>(kRaftConfigEntryType)) + ":", 0) == 0;
    }
    for (const auto& id : ids) {
      totals->snapshots += net.node(id).snapshots_installed;
      totals->boots += net.node(id).boots;
    }
    totals->messages += net.delivered();
    totals->erased += erased;
  }
  return net.trace_hash();
}

uint64_t EnvSeeds(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::strtoull(v, nullptr, 10);
}

TEST(RaftRandom, ManySeedsKeepElectionAndStateMachineSafetyAndConverge) {
  if (std::getenv("MAGPIE_RAFT_SEED") != nullptr) {
    RunSeed(EnvSeeds("MAGPIE_RAFT_SEED", 1), /*verbose=*/true);
    return;
  }
  const uint64_t seeds = EnvSeeds("MAGPIE_RAFT_SEEDS", 200);
  Totals t;
  for (uint64_t seed = 1; seed <= seeds && !HasFailure(); ++seed) RunSeed(seed, false, &t);
  std::cout << t.runs << " runs: " << t.leaders << " leaderships, " << t.committed
            << " entries committed (" << t.membership_changes << " membership changes), "
            << t.snapshots << " snapshots installed, " << t.boots << " boots, " << t.messages
            << " messages delivered, " << t.erased << " departed members erased\n";
}

TEST(RaftRandom, TheSameSeedGivesTheSameTrace) {
  uint64_t a = RunSeed(4242, false);
  uint64_t b = RunSeed(4242, false);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, RunSeed(4243, false));
}

}  // namespace
}  // namespace magpie
