// RaftGroup basics on the in-test network: election, replication, commit, batching and
// pipelining, the persist-before-send contract, and recovery of hard state.
#include "tests/raft_harness.h"
#include "tests/raft_harness_inl.h"

namespace magpie {
namespace {

RaftNet::Options Opts(int nodes, uint64_t seed = 1) {
  RaftNet::Options o;
  o.nodes = nodes;
  o.seed = seed;
  return o;
}

std::string ElectLeader(RaftNet& net) {
  EXPECT_TRUE(net.RunUntil([&] { return !net.Leader().empty(); }, Duration::Seconds(10))) << net.Describe();
  return net.Leader();
}

TEST(RaftGroup, ThreeMembersElectExactlyOneLeaderWhoCommitsItsNoop) {
  RaftNet net(Opts(3));
  std::string leader = ElectLeader(net);
  ASSERT_FALSE(leader.empty());
  net.RunFor(Duration::Seconds(1));
  EXPECT_EQ(net.Leader(), leader);
  int leaders = 0;
  for (const auto& id : net.ids()) {
    leaders += net.group(id).is_leader() ? 1 : 0;
    EXPECT_EQ(net.group(id).leader_id(), leader) << id;
    EXPECT_EQ(net.group(id).term(), net.group(leader).term());
    // Index 1 is the bootstrap configuration, index 2 the leader's no-op.
    EXPECT_EQ(net.group(id).commit_index(), 2u) << id;
    ASSERT_EQ(net.node(id).applied.size(), 2u);
    EXPECT_EQ(net.node(id).applied[1].type, EntryType::kNoop);
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_TRUE(net.group(leader).HasQuorumContact(net.now()));
}

TEST(RaftGroup, ProposalsCommitOnEveryMemberInOrder) {
  RaftNet net(Opts(3));
  std::string leader = ElectLeader(net);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(net.Propose(leader, "p" + std::to_string(i)).ok());
  ASSERT_TRUE(net.RunUntil([&] { return net.Converged() && net.node("n1").applied.size() == 22; },
                           Duration::Seconds(2)));
  for (const auto& id : net.ids()) {
    for (int i = 0; i < 20; ++i) EXPECT_EQ(net.node(id).applied[2 + i].payload, "p" + std::to_string(i));
  }
}

TEST(RaftGroup, FollowerRefusesAProposalAndNamesTheLeader) {
  RaftNet net(Opts(3));
  std::string leader = ElectLeader(net);
  net.RunFor(Duration::Millis(200));
  std::string follower = leader == "n1" ? "n2" : "n1";
  auto r = net.Propose(follower, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(r.status().message(), "not the leader of group g1; leader is " + leader);
  EXPECT_EQ(net.group(follower).leader_id(), leader);
}

TEST(RaftGroup, SingleMemberGroupLeadsAtOnceAndCommitsOnlyWhatIsDurable) {
  RaftNet net(Opts(1));
  net.RunFor(Duration::Millis(1));
  RaftGroup& g = net.group("n1");
  ASSERT_TRUE(g.is_leader()) << "a group of one needs no election timeout";
  auto index = g.Propose(net.now(), EntryType::kSubmit, "a");
  ASSERT_TRUE(index.ok());
  RaftReady rd = g.TakeReady();
  EXPECT_TRUE(rd.sync);
  EXPECT_TRUE(rd.committed.empty()) << "committed before it was durable";
  ASSERT_TRUE(net.node("n1").storage.Write(rd.writes, rd.sync).ok());
  g.Advance(net.now());
  EXPECT_EQ(g.commit_index(), *index);
  RaftReady next = g.TakeReady();
  ASSERT_EQ(next.committed.size(), 1u);
  EXPECT_EQ(next.committed[0].payload, "a");
  g.Advance(net.now());
}

const RaftOutMessage* Find(const RaftReady& rd, RaftMessageType type, const std::string& to) {
  for (const auto& m : rd.messages) {
    if (m.type == ToPeerMessageType(type) && m.to_id == to) return &m;
  }
  return nullptr;
}

bool WritesKey(const RaftReady& rd, const std::string& key) {
  for (const auto& op : rd.writes.ops()) {
    if (op.key == key) return true;
  }
  return false;
}

// Members grant no vote for an election timeout after they start (stickiness kept across
// a restart): hand-driven elections first let that pass.
void PassStartupQuiet(RaftNet& net) { net.RunFor(Duration::Millis(1100)); }

TEST(RaftGroup, AVoteLeavesOnlyInAReadyThatSyncsTheVote) {
  RaftNet net(Opts(3));
  for (const auto& id : net.ids()) net.node(id).ticking = false;
  PassStartupQuiet(net);
  net.group("n1").Campaign(net.now());
  RaftReady pre = net.group("n1").TakeReady();
  EXPECT_FALSE(pre.sync) << "a pre-vote changes no state";
  ASSERT_NE(Find(pre, RaftMessageType::kPreVote, "n2"), nullptr);
  RaftOutMessage pre_vote = *Find(pre, RaftMessageType::kPreVote, "n2");
  net.CarryOut("n1", std::move(pre));
  net.group("n2").Step(net.now(), pre_vote.type, pre_vote.payload);
  RaftReady granted = net.group("n2").TakeReady();
  EXPECT_FALSE(granted.sync) << "granting a pre-vote binds nothing";
  RaftOutMessage grant = granted.messages.at(0);
  net.CarryOut("n2", std::move(granted));
  net.group("n1").Step(net.now(), grant.type, grant.payload);
  RaftReady vote_req = net.group("n1").TakeReady();
  EXPECT_TRUE(vote_req.sync) << "the candidate's term and self-vote are synced before it asks";
  ASSERT_NE(Find(vote_req, RaftMessageType::kVote, "n2"), nullptr);
  RaftOutMessage ask = *Find(vote_req, RaftMessageType::kVote, "n2");
  net.CarryOut("n1", std::move(vote_req));
  net.group("n2").Step(net.now(), ask.type, ask.payload);
  RaftReady vote = net.group("n2").TakeReady();
  EXPECT_TRUE(vote.sync) << "a vote is a promise: durable before it is sent";
  EXPECT_TRUE(WritesKey(vote, net.group("n2").HardStateKey()));
  ASSERT_NE(Find(vote, RaftMessageType::kVoteResponse, "n1"), nullptr);
  // n2 dies before its write is durable: the vote never left, and it is not remembered.
  net.Crash("n2");
  net.Restart("n2");
  EXPECT_EQ(net.group("n2").vote(), "");
}

TEST(RaftGroup, AnAppendIsAcknowledgedOnlyInTheReadyThatSyncsItsEntries) {
  RaftNet net(Opts(3));
  std::string leader = ElectLeader(net);
  net.RunFor(Duration::Millis(300));
  for (const auto& id : net.ids()) net.node(id).ticking = false;
  std::string follower = leader == "n1" ? "n2" : "n1";
  RaftGroup& g = net.group(leader);
  auto index = g.Propose(net.now(), EntryType::kSubmit, "x");
  ASSERT_TRUE(index.ok());
  RaftReady rd = g.TakeReady();
  EXPECT_TRUE(rd.sync);
  ASSERT_NE(Find(rd, RaftMessageType::kAppend, follower), nullptr);
  RaftOutMessage append = *Find(rd, RaftMessageType::kAppend, follower);
  net.drop_if = [](const NetMessage&) { return true; };
  net.CarryOut(leader, std::move(rd));
  net.drop_if = nullptr;
  net.group(follower).Step(net.now(), append.type, append.payload);
  RaftReady f = net.group(follower).TakeReady();
  EXPECT_TRUE(f.sync);
  EXPECT_TRUE(WritesKey(f, "g1/" + EncodeRaftIndex(*index)));
  const RaftOutMessage* ack = Find(f, RaftMessageType::kAppendResponse, leader);
  ASSERT_NE(ack, nullptr);
  auto decoded = DecodeRaftMessage(ack->payload);
  ASSERT_TRUE(decoded.ok());
  EXPECT_FALSE(decoded->reject);
  EXPECT_EQ(decoded->index, *index);
  // The follower dies before the batch is durable: no ack left, and the entry is gone.
  net.Crash(follower);
  net.Restart(follower);
  EXPECT_LT(net.group(follower).last_index(), *index);
  for (const auto& p : g.Peers()) {
    if (p.id == follower) {
      EXPECT_LT(p.match, *index);
    }
  }
  for (const auto& id : net.ids()) net.node(id).ticking = true;
  net.RunFor(Duration::Millis(500));
  EXPECT_TRUE(net.Converged());
  EXPECT_EQ(net.node(follower).applied.back().payload, "x");
}

TEST(RaftGroup, ManyProposalsInOneTurnTravelAsFewBoundedAppendsPerFollower) {
  RaftNet::Options o = Opts(3);
  o.base.max_entries_per_append = 64;
  RaftNet net(o);
  std::string leader = ElectLeader(net);
  net.RunFor(Duration::Millis(300));
  RaftGroup& g = net.group(leader);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(g.Propose(net.now(), EntryType::kSubmit, "e").ok());
  RaftReady rd = g.TakeReady();
  std::map<std::string, std::vector<size_t>> per_follower;
  for (const auto& m : rd.messages) {
    auto d = DecodeRaftMessage(m.payload);
    ASSERT_TRUE(d.ok());
    if (d->type == RaftMessageType::kAppend) per_follower[m.to_id].push_back(d->entries.size());
  }
  // Replicate state pipelines: 64 + 36, both before any answer.
  EXPECT_EQ(per_follower.size(), 2u);
  for (const auto& [id, sizes] : per_follower) EXPECT_EQ(sizes, (std::vector<size_t>{64, 36})) << id;
  net.CarryOut(leader, std::move(rd));
  net.RunFor(Duration::Millis(100));
  EXPECT_TRUE(net.Converged());
  EXPECT_EQ(net.node("n3").applied.size(), 102u);
}

TEST(RaftGroup, ThePipelineStopsAtTheInflightWindow) {
  RaftNet::Options o = Opts(2);
  o.base.max_entries_per_append = 1;
  o.base.max_inflight_appends = 4;
  RaftNet net(o);
  std::string leader = ElectLeader(net);
  net.RunFor(Duration::Millis(300));
  RaftGroup& g = net.group(leader);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(g.Propose(net.now(), EntryType::kSubmit, "e").ok());
  RaftReady rd = g.TakeReady();
  size_t appends = 0;
  for (const auto& m : rd.messages) appends += m.type == ToPeerMessageType(RaftMessageType::kAppend);
  EXPECT_EQ(appends, 4u);
  net.CarryOut(leader, std::move(rd));
  net.RunFor(Duration::Millis(100));
  EXPECT_TRUE(net.Converged());
  EXPECT_EQ(net.node("n1").applied.size(), 12u);
}

TEST(RaftGroup, HardStateAndLogSurviveARestart) {
  RaftNet net(Opts(3));
  std::string leader = ElectLeader(net);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(net.Propose(leader, "p").ok());
  net.RunFor(Duration::Millis(300));
  std::string follower = leader == "n3" ? "n2" : "n3";
  uint64_t term = net.group(follower).term();
  std::string vote = net.group(follower).vote();
  uint64_t last = net.group(follower).last_index();
  net.Crash(follower);
  net.Restart(follower);
  EXPECT_EQ(net.group(follower).term(), term);
  EXPECT_EQ(net.group(follower).vote(), vote);
  EXPECT_EQ(net.group(follower).last_index(), last);
  EXPECT_EQ(net.group(follower).members().VoterCount(), 3u);
  net.RunFor(Duration::Millis(500));
  EXPECT_TRUE(net.Converged());
}

TEST(RaftGroup, AMemberThatVotedAndRestartedDoesNotVoteAgainInThatTerm) {
  RaftNet::Options o = Opts(3);
  o.base.pre_vote = false;
  RaftNet net(o);
  for (const auto& id : net.ids()) net.node(id).ticking = false;
  PassStartupQuiet(net);
  net.Isolate("n3");
  net.Campaign("n1");  // term 2: n2 votes for n1
  net.DeliverAll();
  ASSERT_TRUE(net.group("n1").is_leader());
  EXPECT_EQ(net.group("n2").vote(), "n1");
  net.Crash("n2");
  net.Restart("n2");
  EXPECT_EQ(net.group("n2").vote(), "n1");
  PassStartupQuiet(net);  // so that only the remembered vote can make n2 refuse
  // n3, also at term 1, campaigns at term 2 after n2's restart: n2 must refuse.
  net.Heal();
  net.Cut("n3", "n1");
  net.Crash("n1");
  net.group("n3").Campaign(net.now());
  EXPECT_EQ(net.group("n3").term(), 2u);
  net.Process("n3");
  net.DeliverAll();
  EXPECT_FALSE(net.group("n3").is_leader());
  EXPECT_EQ(net.leaders().at(2), "n1");
}

TEST(RaftGroup, AFollowerWithADivergentTailTakesTheLeadersLog) {
  RaftNet net(Opts(3));
  for (const auto& id : net.ids()) net.node(id).ticking = false;
  PassStartupQuiet(net);
  net.Campaign("n1");
  net.DeliverAll();
  ASSERT_TRUE(net.group("n1").is_leader());
  // n1 appends three entries nobody else gets, then is cut off and n2 takes over.
  net.Isolate("n1");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(net.Propose("n1", "lost" + std::to_string(i)).ok());
  net.RunFor(Duration::Seconds(3));  // no ticks: time passes for the leases only
  net.Campaign("n2");
  net.DeliverAll();
  ASSERT_TRUE(net.group("n2").is_leader()) << net.Describe();
  ASSERT_TRUE(net.Propose("n2", "kept").ok());
  net.DeliverAll();
  net.Heal();
  for (const auto& id : net.ids()) net.node(id).ticking = true;
  net.RunFor(Duration::Seconds(1));
  ASSERT_TRUE(net.Converged()) << net.Describe();
  EXPECT_EQ(net.node("n1").applied.back().payload, "kept");
  EXPECT_EQ(net.group("n1").last_index(), net.group("n2").last_index());
  for (const auto& e : net.node("n1").applied) EXPECT_EQ(e.payload.rfind("lost", 0), std::string::npos);
}

}  // namespace
}  // namespace magpie
