// Log compaction and InstallSnapshot: a lagging follower and a brand-new member catch up
// from the caller's snapshot, sent in chunks, across lost chunks and crashes.
#include "tests/raft_harness.h"
#include "tests/raft_harness_inl.h"

namespace magpie {
namespace {

RaftNet::Options Opts(int nodes) {
  RaftNet::Options o;
  o.nodes = nodes;
  o.seed = 5;
  o.compact_every = 10;
  o.base.snapshot_chunk_bytes = 64;  // many chunks even for a small state
  return o;
}

std::string Settle(RaftNet& net) {
  EXPECT_TRUE(net.RunUntil([&] { return !net.Leader().empty(); }, Duration::Seconds(10)));
  net.RunFor(Duration::Millis(300));
  return net.Leader();
}

void ProposeMany(RaftNet& net, const std::string& leader, int n, const std::string& prefix) {
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(net.Propose(leader, prefix + std::to_string(i)).ok());
    if (i % 10 == 9) net.RunFor(Duration::Millis(20));
  }
}

TEST(RaftSnapshot, ALaggingFollowerBehindTheCompactedLogIsRestoredFromAChunkedSnapshot) {
  RaftNet net(Opts(3));
  std::string leader = Settle(net);
  std::string lagging = leader == "n3" ? "n2" : "n3";
  net.Isolate(lagging);
  ProposeMany(net, leader, 60, "p");
  net.RunFor(Duration::Millis(200));
  ASSERT_GT(net.group(leader).snapshot_index(), net.group(lagging).last_index())
      << "the leader compacted past what the lagging follower has";
  net.Heal();
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged(); }, Duration::Seconds(5))) << net.Describe();
  EXPECT_EQ(net.node(lagging).snapshots_installed, 1u);
  EXPECT_EQ(net.node(lagging).applied.size(), net.node(leader).applied.size());
  EXPECT_EQ(net.node(lagging).applied.back().payload, "p59");
  // It keeps up by entries afterwards.
  ASSERT_TRUE(net.Propose(leader, "after").ok());
  ASSERT_TRUE(net.RunUntil([&] { return net.node(lagging).applied.back().payload == "after"; },
                           Duration::Seconds(1)));
  EXPECT_EQ(net.node(lagging).snapshots_installed, 1u);
}

TEST(RaftSnapshot, ANewMemberCatchesUpFromASnapshotAndIsPromotedOnceCaughtUp) {
  RaftNet::Options o = Opts(4);
  o.initial_voters = 3;  // n4 starts with an empty disk and no configuration
  RaftNet net(o);
  std::string leader = Settle(net);
  EXPECT_TRUE(net.group("n4").members().members.empty());
  ProposeMany(net, leader, 45, "p");
  net.RunFor(Duration::Millis(200));
  ASSERT_GT(net.group(leader).snapshot_index(), 0u);
  auto add = net.group(leader).ProposeMembershipChange(net.now(), RaftChangeKind::kAddVoter,
                                                       RaftMember{"n4", "addr-n4", true, false});
  ASSERT_TRUE(add.ok()) << add.status().ToString();
  net.Process(leader);
  EXPECT_FALSE(net.group(leader).members().IsVoter("n4")) << "it joins as a learner";
  EXPECT_EQ(net.group(leader).members().VoterCount(), 3u);
  ASSERT_TRUE(net.RunUntil([&] { return net.group(leader).members().IsVoter("n4"); }, Duration::Seconds(5)))
      << net.Describe();
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged(); }, Duration::Seconds(2)));
  EXPECT_EQ(net.node("n4").snapshots_installed, 1u);
  for (const auto& id : net.ids()) EXPECT_EQ(net.group(id).members().VoterCount(), 4u) << id;
  // As a voter it now counts: with two of the old members down, n4 makes the majority.
  std::vector<std::string> down;
  for (const auto& id : {"n1", "n2", "n3"}) {
    if (id != leader && down.size() < 1) down.push_back(id);
  }
  net.Crash(down[0]);
  ASSERT_TRUE(net.Propose(leader, "with n4").ok());
  ASSERT_TRUE(net.RunUntil([&] { return net.node("n4").applied.back().payload == "with n4"; },
                           Duration::Seconds(2)));
}

TEST(RaftSnapshot, LostChunksAreResentAndTheInstallCompletes) {
  RaftNet::Options o = Opts(3);
  RaftNet net(o);
  std::string leader = Settle(net);
  std::string lagging = leader == "n3" ? "n2" : "n3";
  net.Isolate(lagging);
  ProposeMany(net, leader, 40, "a payload with some bulk to it, ");
  net.RunFor(Duration::Millis(200));
  net.Heal();
  uint64_t seen = 0;
  net.drop_if = [&](const NetMessage& m) {  // every third chunk is lost
    return m.decoded.type == RaftMessageType::kInstallSnapshot && ++seen % 3 == 0;
  };
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged(); }, Duration::Seconds(30))) << net.Describe();
  EXPECT_EQ(net.node(lagging).snapshots_installed, 1u);
  EXPECT_GT(seen, 20u) << "kilobytes in 64-byte chunks, a third of them sent twice";
}

TEST(RaftSnapshot, ACrashBeforeTheInstallIsDurableKeepsTheOldStateAndTheInstallIsRedone) {
  RaftNet net(Opts(3));
  std::string leader = Settle(net);
  std::string lagging = leader == "n3" ? "n2" : "n3";
  net.Isolate(lagging);
  ProposeMany(net, leader, 30, "p");
  net.RunFor(Duration::Millis(200));
  size_t before = net.node(lagging).applied.size();
  uint64_t last_before = net.group(lagging).last_index();
  int crashes = 0;
  net.crash_before_write = [&](const std::string& id, const RaftReady& rd) {
    return id == lagging && rd.snapshot.has_value() && crashes++ == 0;
  };
  net.Heal();
  ASSERT_TRUE(net.RunUntil([&] { return crashes > 0; }, Duration::Seconds(5)));
  net.Restart(lagging);
  // The old log, whole (what applies again right away depends on the commit hint, which is
  // written unsynced: it is re-learned from the leader).
  EXPECT_EQ(net.group(lagging).last_index(), last_before);
  EXPECT_LE(net.node(lagging).applied.size(), before);
  EXPECT_EQ(net.group(lagging).snapshot_index(), 0u);
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged(); }, Duration::Seconds(5))) << net.Describe();
  EXPECT_EQ(net.node(lagging).snapshots_installed, 1u);
  EXPECT_EQ(crashes, 2) << "the install was handed out a second time, after the resend";
}

TEST(RaftSnapshot, CompactedStateAndTheRestOfTheLogSurviveARestart) {
  RaftNet net(Opts(3));
  std::string leader = Settle(net);
  ProposeMany(net, leader, 35, "p");
  net.RunFor(Duration::Millis(200));
  for (const auto& id : net.ids()) {
    uint64_t snap = net.group(id).snapshot_index();
    uint64_t last = net.group(id).last_index();
    ASSERT_GT(snap, 0u) << id;
    net.Crash(id);
    net.Restart(id);
    EXPECT_EQ(net.group(id).snapshot_index(), snap) << id;
    EXPECT_EQ(net.group(id).last_index(), last) << id;
  }
  ASSERT_TRUE(net.RunUntil([&] { return !net.Leader().empty() && net.Converged(); }, Duration::Seconds(10)));
  EXPECT_EQ(net.node("n1").applied.size(), 37u + 1) << "every entry, plus the new leader's no-op";
}

TEST(RaftSnapshot, CompactAndProvideRefuseIndexesOutsideTheAppliedLog) {
  RaftNet::Options o = Opts(1);
  o.compact_every = 0;
  RaftNet net(o);
  net.RunFor(Duration::Millis(10));
  RaftGroup& g = net.group("n1");
  ASSERT_TRUE(g.is_leader());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose("n1", "p").ok());
  uint64_t applied = g.applied_index();
  EXPECT_EQ(g.Compact(applied + 1).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(g.ProvideSnapshot(applied + 1, "x").code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(g.Compact(applied - 2).ok());
  net.Process("n1");
  EXPECT_EQ(g.snapshot_index(), applied - 2);
  EXPECT_EQ(g.ProvideSnapshot(applied - 3, "x").code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(g.ProvideSnapshot(applied, "x").ok());
  EXPECT_TRUE(g.Compact(1).ok()) << "compacting behind the snapshot is a no-op";
}

// A member added, removed and added again, which missed all of it, replays the log from
// its start: it meets the configuration that removed it before the one that adds it back.
// Taking the first for its own removal, it erased itself (again and again, in the node)
// while the leader, counting the entries it had acknowledged, probed it from past them
// forever (the R=3 swarm's slowest seeds).
TEST(RaftMembership, AMemberReplayingThePrefixThatRemovedItDoesNotEraseItself) {
  RaftNet::Options o = Opts(4);
  o.initial_voters = 3;
  o.base.max_entries_per_append = 1;  // the prefix arrives entry by entry
  RaftNet net(o);
  std::string leader = Settle(net);
  auto change = [&](RaftChangeKind kind) {
    auto idx = net.group(leader).ProposeMembershipChange(net.now(), kind,
                                                         RaftMember{"n4", "addr-n4", false, false});
    EXPECT_TRUE(idx.ok()) << idx.status().ToString();
    const uint64_t at = idx.ok() ? *idx : 0;
    net.Process(leader);
    EXPECT_TRUE(net.RunUntil([&]() -> bool { return net.group(leader).commit_index() >= at; },
                             Duration::Seconds(2)));
    return at;
  };
  net.drop_if = [](const NetMessage& m) { return m.to == "n4"; };
  change(RaftChangeKind::kAddLearner);
  change(RaftChangeKind::kRemove);
  const uint64_t readd = change(RaftChangeKind::kAddLearner);
  ASSERT_EQ(net.group("n4").last_index(), 0u);

  // n4 now hears the leader, but not the re-adding entry or anything after it.
  net.drop_if = [readd](const NetMessage& m) {
    return m.to == "n4" && m.decoded.type == RaftMessageType::kAppend &&
           !m.decoded.entries.empty() && m.decoded.entries.back().index >= readd;
  };
  ASSERT_TRUE(net.RunUntil([&]() -> bool { return net.group("n4").commit_index() == readd - 1; },
                           Duration::Seconds(5)))
      << net.Describe();
  EXPECT_EQ(net.group("n4").members().Find("n4"), nullptr) << "its latest configuration is the removal";
  EXPECT_FALSE(net.Erase("n4")) << "it knows the leader has committed past what it holds";

  net.drop_if = nullptr;
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged(); }, Duration::Seconds(5))) << net.Describe();
  EXPECT_NE(net.group("n4").members().Find("n4"), nullptr);
  EXPECT_EQ(net.group("n4").last_index(), net.group(leader).last_index());
}

}  // namespace
}  // namespace magpie
