// Raft's known hard cases, each scripted step by step on the in-test network: the
// dissertation's Figure 3.7, leader changes in the middle of a membership change, a stale
// leader cut off in a minority, a partitioned node rejoining (pre-vote), snapshots to a
// lagging and to a new member, and leadership transfer. The harness checks Election Safety,
// State Machine Safety and Leader Completeness throughout.
#include "tests/raft_harness.h"
#include "tests/raft_harness_inl.h"

namespace magpie {
namespace {

RaftNet::Options Opts(int nodes) {
  RaftNet::Options o;
  o.nodes = nodes;
  return o;
}

void StopClocks(RaftNet& net) {
  for (const auto& id : net.ids()) net.node(id).ticking = false;
}
void StartClocks(RaftNet& net) {
  for (const auto& id : net.ids()) net.node(id).ticking = true;
}

// Campaigns until id leads (a pre-vote may first have to learn a newer term), letting more
// than an election timeout pass first so no follower still feels a leader's lease.
bool WinElection(RaftNet& net, const std::string& id, int attempts = 4) {
  for (int i = 0; i < attempts && !net.group(id).is_leader(); ++i) {
    net.RunFor(Duration::Seconds(3));
    net.Campaign(id);
    net.DeliverAll();
  }
  return net.group(id).is_leader();
}

bool IsAppendFrom(const NetMessage& m, const std::string& from) {
  return m.from == from && m.decoded.type == RaftMessageType::kAppend;
}

bool CarriesIndexAtLeast(const NetMessage& m, uint64_t index) {
  for (const auto& e : m.decoded.entries) {
    if (e.index >= index) return true;
  }
  return false;
}

// Figure 3.7 (a)-(c): s1 leads term 2 and gets its entry (index 2) to s2 only; s5 leads
// term 3 with its own index 2 that nobody gets; s1 leads term 4 and copies its term-2 entry
// to more followers (here n3 and n4), and learns that they hold it. Index 2 (term 2) is now
// on a majority the leader knows of, and must still not be committed.
void Figure37UpToC(RaftNet& net) {
  StopClocks(net);
  net.drop_if = [](const NetMessage& m) { return IsAppendFrom(m, "n1") && m.to != "n2"; };
  ASSERT_TRUE(WinElection(net, "n1"));
  ASSERT_EQ(net.group("n1").term(), 2u);
  ASSERT_EQ(net.group("n2").TermAt(2), std::optional<uint64_t>(2));
  ASSERT_EQ(net.group("n3").last_index(), 1u);

  net.Note("# (b) n1 crashes; n5 leads term 3 with its own index 2, which reaches nobody");
  net.Crash("n1");
  net.drop_if = [](const NetMessage& m) {
    return m.from == "n5" && (m.decoded.type == RaftMessageType::kAppend ||
                              m.decoded.type == RaftMessageType::kHeartbeat);
  };
  ASSERT_TRUE(WinElection(net, "n5")) << net.Describe();
  ASSERT_EQ(net.group("n5").term(), 3u);
  ASSERT_EQ(net.group("n5").TermAt(2), std::optional<uint64_t>(3));
  net.Crash("n5");

  net.Note("# (c) n1 restarts and leads term 4; index 2 (term 2) reaches n3 and n4, index 3 nobody");
  net.Restart("n1");
  // n1's term-4 no-op (index 3) reaches nobody; its old entry (index 2) reaches n3 and n4.
  // (They see index 3 only in a first probe, which they refuse for lack of index 2.)
  net.drop_if = [&net](const NetMessage& m) {
    if (!IsAppendFrom(m, "n1")) return false;
    if (m.to != "n3" && m.to != "n4") return true;
    return CarriesIndexAtLeast(m, 3) && net.group(m.to).last_index() >= 2;
  };
  ASSERT_TRUE(WinElection(net, "n1")) << net.Describe();
  ASSERT_EQ(net.group("n1").term(), 4u);
  net.DeliverAll();
  for (const auto& id : {"n1", "n2", "n3", "n4"}) {
    ASSERT_EQ(net.group(id).TermAt(2), std::optional<uint64_t>(2)) << id << "\n" << net.Describe();
  }
  size_t known = 1;  // the leader itself
  for (const auto& p : net.group("n1").Peers()) known += p.match >= 2 ? 1 : 0;
  ASSERT_GE(known, 3u) << "the leader must know a majority holds index 2";
}

TEST(RaftFigure37, AnOldTermEntryOnAMajorityIsNotCommittedAndMayBeOverwritten) {
  RaftNet::Options o = Opts(5);
  o.base.max_entries_per_append = 1;  // so index 2 and index 3 travel separately
  RaftNet net(o);
  std::vector<std::string> transcript;
  net.transcript = &transcript;
  net.Note("# (a) n1 leads term 2; its entry at index 2 reaches n2 only");
  Figure37UpToC(net);
  net.Note("# n1 knows index 2 (term 2) is on n1, n3 and n4, a majority: still not committed");
  // The heart of Figure 3.7: counting replicas commits nothing of an older term.
  EXPECT_EQ(net.group("n1").commit_index(), 1u);
  EXPECT_EQ(net.committed().count(2), 0u);

  // (d) n1 crashes; n5, whose last term (3) beats the majority's (2), is elected and
  // overwrites index 2 everywhere. Nothing committed is lost, because nothing was.
  net.Note("# (d) n1 crashes; n5 (last term 3) wins and overwrites index 2");
  net.Crash("n1");
  net.drop_if = nullptr;
  net.Restart("n5");
  ASSERT_TRUE(WinElection(net, "n5")) << net.Describe();
  net.transcript = nullptr;  // the rest is ordinary catching up
  net.Restart("n1");
  StartClocks(net);
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged() && net.node("n1").applied.size() >= 3; },
                           Duration::Seconds(5)));
  for (const auto& id : net.ids()) EXPECT_EQ(net.node(id).applied[1].term, 3u) << id;
  ExpectGolden(transcript, "figure37_overwrite.txt");
}

TEST(RaftFigure37, OnceAnEntryOfTheCurrentTermCommitsTheOlderOneIsSafe) {
  RaftNet::Options o = Opts(5);
  o.base.max_entries_per_append = 1;
  RaftNet net(o);
  Figure37UpToC(net);
  // (e) n1's term-4 entry reaches n3 and n4: it commits, and index 2 with it.
  net.drop_if = [](const NetMessage& m) { return IsAppendFrom(m, "n1") && m.to != "n3" && m.to != "n4"; };
  net.group("n1").Tick(net.now() + Duration::Millis(100));  // heartbeat: nudges the resend
  net.Process("n1");
  net.DeliverAll();
  ASSERT_EQ(net.group("n1").commit_index(), 3u) << net.Describe();
  net.Crash("n1");
  net.drop_if = nullptr;
  net.Restart("n5");
  // n5 (last term 3) can no longer win: n3 and n4 hold a term-4 entry, n1 is down.
  EXPECT_FALSE(WinElection(net, "n5", 3));
  EXPECT_LE(net.group("n5").term(), 5u) << "pre-vote keeps a hopeless candidate's term down";
  net.Restart("n1");
  StartClocks(net);
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged() && net.node("n5").applied.size() >= 3; },
                           Duration::Seconds(10)));
  for (const auto& id : net.ids()) EXPECT_EQ(net.node(id).applied[1].term, 2u) << id;
}

// A removal appended by the leader and copied to n2 only, when the leader dies.
void UncommittedRemovalOfN5(RaftNet& net) {
  StopClocks(net);
  ASSERT_TRUE(WinElection(net, "n1"));
  net.DeliverAll();
  ASSERT_EQ(net.group("n1").commit_index(), 2u);
  net.drop_if = [](const NetMessage& m) { return IsAppendFrom(m, "n1") && m.to != "n2"; };
  auto index = net.group("n1").ProposeMembershipChange(net.now(), RaftChangeKind::kRemove, RaftMember{"n5", ""});
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  net.Process("n1");
  net.DeliverAll();
  // In effect where appended (§4.1), though not committed: 2 of the new 4 voters hold it.
  EXPECT_EQ(net.group("n1").members().VoterCount(), 4u);
  EXPECT_EQ(net.group("n2").members().VoterCount(), 4u);
  EXPECT_EQ(net.group("n3").members().VoterCount(), 5u);
  EXPECT_EQ(net.group("n1").commit_index(), 2u);
  net.Crash("n1");
  net.drop_if = nullptr;
}

TEST(RaftMembership, AnUncommittedRemovalIsUndoneWhenTheNewLeaderNeverSawIt) {
  RaftNet net(Opts(5));
  UncommittedRemovalOfN5(net);
  // n3 wins with n4 and n5 (n2, whose log is longer, refuses); its no-op overwrites the
  // removal on n2, and n2's configuration goes back to five members.
  ASSERT_TRUE(WinElection(net, "n3")) << net.Describe();
  net.DeliverAll();
  EXPECT_EQ(net.group("n2").members().VoterCount(), 5u);
  EXPECT_EQ(net.group("n2").last_config_index(), 1u);
  net.Restart("n1");
  StartClocks(net);
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged(); }, Duration::Seconds(5)));
  for (const auto& id : net.ids()) EXPECT_EQ(net.group(id).members().VoterCount(), 5u) << id;
  // And the group can change again.
  std::string leader = net.Leader();
  Status last;
  ASSERT_TRUE(net.RunUntil([&] {
    auto r = net.group(leader).ProposeMembershipChange(net.now(), RaftChangeKind::kRemove, RaftMember{"n5", ""});
    last = r.ok() ? Status::Ok() : r.status();
    return r.ok();
  }, Duration::Seconds(2))) << last.ToString() << "\n" << net.Describe();
  net.Process(leader);
  ASSERT_TRUE(net.RunUntil([&] { return net.group(leader).commit_index() >= net.group(leader).last_config_index(); },
                           Duration::Seconds(2)));
  for (const auto& id : {"n1", "n2", "n3", "n4"}) EXPECT_EQ(net.group(id).members().VoterCount(), 4u) << id;
}

TEST(RaftMembership, AnUncommittedRemovalCompletesUnderANewLeaderThatHasIt) {
  RaftNet net(Opts(5));
  UncommittedRemovalOfN5(net);
  uint64_t config_index = net.group("n2").last_config_index();
  // n2 counts votes in its 4-voter configuration: n3 and n4 make a majority with it.
  ASSERT_TRUE(WinElection(net, "n2")) << net.Describe();
  net.DeliverAll();
  EXPECT_GE(net.group("n2").commit_index(), config_index + 1);
  for (const auto& id : {"n2", "n3", "n4"}) EXPECT_EQ(net.group(id).members().VoterCount(), 4u) << id;
  // The removed n5 never hears of it; it campaigns forever but disturbs nobody.
  uint64_t term = net.group("n2").term();
  net.Restart("n1");
  StartClocks(net);
  net.RunFor(Duration::Seconds(10));
  EXPECT_EQ(net.Leader(), "n2");
  EXPECT_EQ(net.group("n2").term(), term);
  EXPECT_FALSE(net.group("n5").is_leader());
  EXPECT_EQ(net.node("n1").applied.size(), net.node("n2").applied.size());
}

TEST(RaftMembership, OneChangeAtATimeAndOnlyAfterTheLeaderCommittedInItsTerm) {
  RaftNet net(Opts(3));
  StopClocks(net);
  net.drop_if = [](const NetMessage& m) { return m.decoded.type == RaftMessageType::kAppendResponse; };
  ASSERT_TRUE(WinElection(net, "n1"));
  auto early = net.group("n1").ProposeMembershipChange(net.now(), RaftChangeKind::kAddLearner, RaftMember{"n9", ""});
  EXPECT_EQ(early.status().code(), Status::Code::kUnavailable) << "no change before the no-op commits";
  net.drop_if = nullptr;
  net.group("n1").Tick(net.now() + Duration::Millis(100));
  net.Process("n1");
  net.DeliverAll();
  auto first = net.group("n1").ProposeMembershipChange(net.now(), RaftChangeKind::kAddLearner, RaftMember{"n9", "addr-n9"});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = net.group("n1").ProposeMembershipChange(net.now(), RaftChangeKind::kAddLearner, RaftMember{"n8", ""});
  EXPECT_EQ(second.status().code(), Status::Code::kBusy);
  net.Process("n1");
  net.DeliverAll();
  EXPECT_TRUE(net.group("n1").ProposeMembershipChange(net.now(), RaftChangeKind::kAddLearner, RaftMember{"n8", ""}).ok());
  // A learner that never answers does not hold commits back.
  net.Process("n1");
  ASSERT_TRUE(net.Propose("n1", "x").ok());
  net.DeliverAll();
  EXPECT_EQ(net.group("n1").commit_index(), net.group("n1").last_index());
  EXPECT_EQ(net.group("n1").members().VoterCount(), 3u);
  EXPECT_EQ(net.group("n1").members().members.size(), 5u);
}

TEST(RaftMembership, ALeaderRemovingItselfCommitsWithoutItsVoteAndHandsOver) {
  RaftNet net(Opts(3));
  ASSERT_TRUE(net.RunUntil([&] { return !net.Leader().empty(); }, Duration::Seconds(5)));
  std::string old = net.Leader();
  net.RunFor(Duration::Millis(300));
  ASSERT_TRUE(net.group(old).ProposeMembershipChange(net.now(), RaftChangeKind::kRemove, RaftMember{old, ""}).ok());
  net.Process(old);
  Instant asked = net.now();
  ASSERT_TRUE(net.RunUntil([&] { std::string l = net.Leader(); return !l.empty() && l != old; },
                           Duration::Seconds(5)));
  EXPECT_LT(net.now() - asked, Duration::Millis(100)) << "TimeoutNow, not an election timeout";
  EXPECT_FALSE(net.group(old).is_voter());
  EXPECT_EQ(net.group(net.Leader()).members().members.size(), 2u);
}

}  // namespace
}  // namespace magpie
