// Membership on a small deterministic network (gossip_test_net.h): joining, failure
// detection, refutation, leaving, restarts, load dissemination, loss, partitions.
#include <gtest/gtest.h>

#include <spdlog/sinks/null_sink.h>

#include "gossip/cluster_scale.h"
#include "gossip_test_net.h"

namespace magpie {
namespace {

using State = MemberState;

GossipTestNet::Options Net(int nodes, uint64_t seed = 1, uint64_t loss_per_mille = 0) {
  GossipTestNet::Options o;
  o.nodes = nodes;
  o.seed = seed;
  o.loss_per_mille = loss_per_mille;
  return o;
}

bool AllAlive(const GossipTestNet& net, int n) {
  for (int j = 0; j < n; ++j) {
    if (net.up(j) && !net.AllSee(j, State::kAlive)) return false;
  }
  return true;
}

// Starts every node through node 0 and waits until everyone sees everyone alive.
void Converge(GossipTestNet& net, int n) {
  net.StartAll();
  ASSERT_TRUE(net.RunFor(Duration::Seconds(10), [&] { return AllAlive(net, n); }));
}

// Counts kDead events about each node, as seen by anyone.
struct DeathLog {
  std::map<std::string, int> deaths;
  void Attach(GossipTestNet& net) {
    net.set_on_event([this](int, const MemberEvent& e) {
      if (e.type == MemberEventType::kDead) ++deaths[e.id];
    });
  }
};

TEST(GossipMembershipTest, FiveNodesJoinedThroughOneSeedAllSeeFiveAliveWithinThreeSeconds) {
  GossipTestNet net(Net(5));
  net.StartAll();
  const Instant t0 = net.now();
  ASSERT_TRUE(net.RunFor(Duration::Seconds(3), [&] { return AllAlive(net, 5); }));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(net.node(i).Members(net.now()).size(), 5u) << i;
    EXPECT_TRUE(net.node(i).joined()) << i;
  }
  std::printf("all 5 alive everywhere after %lld ms\n", static_cast<long long>((net.now() - t0).millis()));
}

TEST(GossipMembershipTest, CrashedNodeIsDeclaredDeadByAllWithinFiveIntervalsPlusTheSuspicionBound) {
  GossipTestNet net(Net(5));
  Converge(net, 5);
  DeathLog log;
  log.Attach(net);
  const GossipConfig& c = net.node(0).config();
  const Duration max_suspicion = SuspicionTimeout(c.suspicion_mult, 5, c.probe_interval) * c.suspicion_max_timeout_mult;
  const Duration bound = c.probe_interval * 5 + max_suspicion;
  net.Crash(3);
  const Instant t0 = net.now();
  ASSERT_TRUE(net.RunFor(bound, [&] { return net.AllSee(3, State::kDead); }));
  std::printf("node 3 dead everywhere after %lld ms (bound %lld ms)\n",
              static_cast<long long>((net.now() - t0).millis()), static_cast<long long>(bound.millis()));
  // Nobody else died on the way.
  EXPECT_EQ(log.deaths.size(), 1u);
  EXPECT_TRUE(AllAlive(net, 5));
}

TEST(GossipMembershipTest, SuspectedButAliveNodeRefutesAndStaysAlive) {
  GossipTestNet net(Net(5));
  Converge(net, 5);
  DeathLog log;
  log.Attach(net);
  const uint64_t before = net.node(2).incarnation();
  net.Isolate(2, true);
  auto someone_suspects = [&] {
    for (int i = 0; i < 5; ++i) {
      if (i != 2 && net.StateOf(i, 2) == State::kSuspect) return true;
    }
    return false;
  };
  ASSERT_TRUE(net.RunFor(Duration::Seconds(20), someone_suspects));
  net.Isolate(2, false);
  ASSERT_TRUE(net.RunFor(Duration::Seconds(5), [&] { return net.AllSee(2, State::kAlive); }));
  net.RunFor(Duration::Seconds(60));
  EXPECT_TRUE(AllAlive(net, 5));
  EXPECT_EQ(log.deaths.count(GossipTestNet::Id(2)), 0u);
  EXPECT_GT(net.node(2).incarnation(), before);
  EXPECT_GE(net.node(2).counters().refutations, 1u);
  uint64_t refuted = 0;
  for (int i = 0; i < 5; ++i) refuted += net.node(i).counters().suspicions_refuted;
  EXPECT_GE(refuted, 1u);
}

TEST(GossipMembershipTest, GracefulLeaveShowsLeftNotDead) {
  GossipTestNet net(Net(5));
  Converge(net, 5);
  DeathLog log;
  log.Attach(net);
  net.Leave(4);
  ASSERT_TRUE(net.RunFor(Duration::Seconds(5), [&] { return net.node(4).leave_done(); }));
  net.Crash(4);  // the process exits
  ASSERT_TRUE(net.RunFor(Duration::Seconds(5), [&] { return net.AllSee(4, State::kLeft); }));
  net.RunFor(Duration::Seconds(60));
  EXPECT_TRUE(net.AllSee(4, State::kLeft));
  EXPECT_EQ(log.deaths.size(), 0u);
}

TEST(GossipMembershipTest, LeftAndDeadMembersAreReapedAfterTheConfiguredTime) {
  GossipTestNet::Options o = Net(4);
  o.config.reap_dead_after = Duration::Seconds(60);
  o.config.reap_left_after = Duration::Seconds(30);
  GossipTestNet net(o);
  Converge(net, 4);
  net.Leave(3);
  net.RunFor(Duration::Seconds(2));
  net.Crash(3);
  net.Crash(2);
  ASSERT_TRUE(net.RunFor(Duration::Seconds(60), [&] { return net.AllSee(2, State::kDead); }));
  ASSERT_TRUE(net.RunFor(Duration::Seconds(120), [&] {
    return net.node(0).Members(net.now()).size() == 2 && net.node(1).Members(net.now()).size() == 2;
  }));
}

TEST(GossipMembershipTest, RestartedNodeWithHigherIncarnationIsAliveEverywhere) {
  GossipTestNet net(Net(5));
  Converge(net, 5);
  const uint64_t stored = net.node(3).incarnation();
  net.Crash(3);
  ASSERT_TRUE(net.RunFor(Duration::Seconds(60), [&] { return net.AllSee(3, State::kDead); }));
  net.Start(3, stored + 1, {0});
  ASSERT_TRUE(net.RunFor(Duration::Seconds(5), [&] { return net.AllSee(3, State::kAlive); }));
  for (int i = 0; i < 5; ++i) {
    if (i == 3) continue;
    EXPECT_EQ(net.node(i).Find(GossipTestNet::Id(3), net.now())->incarnation, stored + 1) << i;
  }
  EXPECT_EQ(net.node(3).Members(net.now()).size(), 5u);
}

TEST(GossipMembershipTest, RestartedNodeThatLostItsIncarnationRefutesItsWayBack) {
  GossipTestNet net(Net(5));
  Converge(net, 5);
  net.Crash(3);
  ASSERT_TRUE(net.RunFor(Duration::Seconds(60), [&] { return net.AllSee(3, State::kDead); }));
  net.Start(3, 0, {0});  // nothing persisted: the same incarnation as its dead self
  ASSERT_TRUE(net.RunFor(Duration::Seconds(10), [&] { return net.AllSee(3, State::kAlive); }));
  EXPECT_GT(net.node(3).incarnation(), 0u);
}

TEST(GossipMembershipTest, LoadUpdatesReachAllWithinTwoProbeIntervals) {
  GossipTestNet net(Net(5));
  Converge(net, 5);
  net.RunFor(Duration::Seconds(5));  // quiet: the join's updates have run their course
  for (int round = 0; round < 5; ++round) {
    MemberLoad load;
    load.slots = 8;
    load.running = round;
    load.ready = 10 * round;
    load.ready_by_band = {round, 0, 1};
    load.labels = {{"gpu", "1"}};
    load.leader_hints = {{"g1", GossipTestNet::Id(1)}};
    net.SetLoad(1, load);
    const Instant t0 = net.now();
    ASSERT_TRUE(net.RunFor(net.node(0).config().probe_interval * 2, [&] {
      for (int i = 0; i < 5; ++i) {
        if (i == 1) continue;
        if (net.node(i).Find(GossipTestNet::Id(1), net.now())->load != load) return false;
      }
      return true;
    })) << "round " << round;
    std::printf("load round %d everywhere after %lld ms\n", round, static_cast<long long>((net.now() - t0).millis()));
    net.RunFor(Duration::Millis(300));
  }
}

TEST(GossipMembershipTest, NoFalseDeathOverOneHourAtFivePercentLossWithTwentyNodes) {
  GossipTestNet net(Net(20, /*seed=*/3, /*loss_per_mille=*/50));
  Converge(net, 20);
  DeathLog log;
  log.Attach(net);
  net.RunFor(Duration::Seconds(3600));
  EXPECT_EQ(log.deaths.size(), 0u);
  EXPECT_TRUE(AllAlive(net, 20));
  uint64_t suspicions = 0, refuted = 0, probes = 0;
  for (int i = 0; i < 20; ++i) {
    suspicions += net.node(i).counters().suspicions;
    refuted += net.node(i).counters().suspicions_refuted;
    probes += net.node(i).counters().probes;
  }
  std::printf("1 h, 20 nodes, 5%% loss: %llu probes, %llu suspicions, %llu refuted, %llu messages\n",
              static_cast<unsigned long long>(probes), static_cast<unsigned long long>(suspicions),
              static_cast<unsigned long long>(refuted), static_cast<unsigned long long>(net.delivered()));
}

// The thief's indexes (alive others, and those with ready work) must say exactly what the
// member list says, through load changes, a death, a restart, a leave and reaping.
void ExpectIndexesMatchMembers(GossipTestNet& net, int n) {
  for (int i = 0; i < n; ++i) {
    if (!net.up(i)) continue;
    const Membership& m = net.node(i);
    std::set<std::string> alive, with_work, alive_index, with_work_index;
    for (const auto& v : m.Members(net.now())) {
      if (v.is_self || v.state != State::kAlive) continue;
      alive.insert(v.id);
      if (v.load.ready > 0) with_work.insert(v.id);
    }
    for (size_t k = 0; k < m.NumAliveOthers(); ++k) alive_index.insert(m.AliveOther(k, net.now()).id);
    for (size_t k = 0; k < m.NumAliveWithWork(); ++k) {
      const MemberView v = m.AliveWithWork(k, net.now());
      EXPECT_GT(v.load.ready, 0) << v.id;
      with_work_index.insert(v.id);
    }
    EXPECT_EQ(alive_index.size(), m.NumAliveOthers()) << "node " << i << ": duplicates in the index";
    EXPECT_EQ(alive_index, alive) << "node " << i;
    EXPECT_EQ(with_work_index, with_work) << "node " << i;
  }
}

TEST(GossipMembershipTest, ThiefIndexesFollowTheMemberList) {
  GossipTestNet::Options o = Net(6);
  o.config.reap_dead_after = Duration::Seconds(30);
  o.config.reap_left_after = Duration::Seconds(30);
  GossipTestNet net(o);
  Converge(net, 6);
  auto set_ready = [&](int i, int ready) {
    MemberLoad load;
    load.slots = 4;
    load.ready = ready;
    net.SetLoad(i, load);
  };
  set_ready(1, 5);
  set_ready(2, 3);
  net.RunFor(Duration::Seconds(3));
  ExpectIndexesMatchMembers(net, 6);
  EXPECT_EQ(net.node(0).NumAliveWithWork(), 2u);
  EXPECT_EQ(net.node(0).NumAliveOthers(), 5u);
  set_ready(1, 0);
  net.RunFor(Duration::Seconds(3));
  ExpectIndexesMatchMembers(net, 6);
  EXPECT_EQ(net.node(0).NumAliveWithWork(), 1u);
  net.Crash(2);  // dead with work: must leave both indexes
  ASSERT_TRUE(net.RunFor(Duration::Seconds(60), [&] { return net.AllSee(2, State::kDead); }));
  ExpectIndexesMatchMembers(net, 6);
  EXPECT_EQ(net.node(0).NumAliveWithWork(), 0u);
  net.Leave(5);
  ASSERT_TRUE(net.RunFor(Duration::Seconds(5), [&] { return net.node(5).leave_done(); }));
  net.Crash(5);
  net.RunFor(Duration::Seconds(40));  // both reaped
  EXPECT_EQ(net.node(0).Members(net.now()).size(), 4u);
  ExpectIndexesMatchMembers(net, 6);
  net.Start(2, 100, {0});
  set_ready(2, 7);
  ASSERT_TRUE(net.RunFor(Duration::Seconds(10), [&] { return net.AllSee(2, State::kAlive); }));
  net.RunFor(Duration::Seconds(3));
  ExpectIndexesMatchMembers(net, 6);
  EXPECT_EQ(net.node(0).NumAliveWithWork(), 1u);
  EXPECT_EQ(net.node(0).NumAliveOthers(), 4u);
}

TEST(GossipMembershipTest, HealedPartitionConvergesToAllAlive) {
  GossipTestNet net(Net(6));
  Converge(net, 6);
  const Instant cut = net.now();
  net.Partition({3, 4, 5});
  auto sides_apart = [&] {
    for (int i = 0; i < 3; ++i) {
      for (int j = 3; j < 6; ++j) {
        if (net.StateOf(i, j) != State::kDead || net.StateOf(j, i) != State::kDead) return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(net.RunFor(Duration::Seconds(120), sides_apart));
  const Instant apart = net.now();
  net.RunFor(Duration::Seconds(30));
  net.Heal();
  const GossipConfig& c = net.node(0).config();
  const Instant healed = net.now();
  ASSERT_TRUE(net.RunFor(c.reconnect_interval + Duration::Seconds(15), [&] { return AllAlive(net, 6); }));
  std::printf("sides apart after %lld ms; all alive %lld ms after the heal\n",
              static_cast<long long>((apart - cut).millis()),
              static_cast<long long>((net.now() - healed).millis()));
}

TEST(GossipMembershipTest, SameSeedGivesTheSameRun) {
  auto run = [](uint64_t seed) {
    GossipTestNet net(Net(8, seed, /*loss_per_mille=*/100));
    std::string trace;
    net.set_on_event([&](int i, const MemberEvent& e) {
      trace += std::to_string(i) + MemberEventTypeName(e.type) + e.id + std::to_string(e.at.micros()) + ";";
    });
    net.StartAll();
    net.RunFor(Duration::Seconds(30));
    net.Crash(5);
    net.RunFor(Duration::Seconds(60));
    return trace + std::to_string(net.delivered());
  };
  const std::string a = run(11);
  EXPECT_EQ(a, run(11));
  EXPECT_NE(a, run(12));
}

TEST(GossipMembershipTest, BadInputIsDroppedAndCountedNeverFatal) {
  auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_st>());
  Membership m(GossipConfig{}, "me", "10.0.0.1:7400", 0, 1, log);
  const Instant t = Instant::FromMicros(1'000'000);
  m.Step(t, PeerMessage{"x:1", "10.0.0.1:7400", PeerMessageType::kGossipPing, "junk"});  // before Join
  EXPECT_EQ(m.counters().dropped_messages, 1u);
  m.Join(t, {});
  m.Step(t, PeerMessage{"x:1", "10.0.0.1:7400", static_cast<PeerMessageType>(16), "raft"});
  m.Step(t, PeerMessage{"x:1", "10.0.0.1:7400", PeerMessageType::kGossipPing, "\x97\x01"});
  m.Step(t, PeerMessage{"x:1", "10.0.0.1:7400", PeerMessageType::kGossipAck, std::string(5 << 20, 'x')});
  GossipPacket own;
  own.sender_id = "me";
  m.Step(t, PeerMessage{"x:1", "10.0.0.1:7400", PeerMessageType::kGossipPing, EncodeGossipPacket(own)});
  GossipPacket other;
  other.sender_id = "you";
  other.target_id = "someone-else";
  m.Step(t, PeerMessage{"x:1", "10.0.0.1:7400", PeerMessageType::kGossipPing, EncodeGossipPacket(other)});
  EXPECT_EQ(m.counters().dropped_messages, 6u);
  EXPECT_TRUE(m.TakeMessages().empty());
  EXPECT_EQ(m.Members(t).size(), 1u);
}

TEST(GossipMembershipTest, PingIsAnsweredWithAnAckThatCarriesTheRefutation) {
  auto log = std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_st>());
  Membership m(GossipConfig{}, "me", "10.0.0.1:7400", 5, 1, log);
  const Instant t = Instant::FromMicros(1'000'000);
  m.Join(t, {});
  (void)m.TakeMessages();
  GossipPacket ping;
  ping.sender_id = "you";
  ping.seq = 77;
  ping.target_id = "me";
  ping.updates.push_back(GossipUpdate{UpdateKind::kSuspect, "me", "", 5, 0, "you", {}});
  m.Step(t, PeerMessage{"10.0.0.2:7400", "10.0.0.1:7400", PeerMessageType::kGossipPing, EncodeGossipPacket(ping)});
  std::vector<PeerMessage> out = m.TakeMessages();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, PeerMessageType::kGossipAck);
  EXPECT_EQ(out[0].to, "10.0.0.2:7400");
  EXPECT_EQ(out[0].from, "10.0.0.1:7400");
  Result<GossipPacket> ack = DecodeGossipPacket(out[0].payload);
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->seq, 77u);
  EXPECT_EQ(m.incarnation(), 6u);
  bool refutes = false;
  for (const auto& u : ack->updates) refutes |= u.kind == UpdateKind::kAlive && u.id == "me" && u.incarnation == 6;
  EXPECT_TRUE(refutes);
}

}  // namespace
}  // namespace magpie

namespace magpie {
namespace {

// One Membership driven by hand: a peer's messages in, its answers out.
struct Solo {
  Solo() : log(std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_st>())),
           m(GossipConfig{}, "me", "10.0.0.1:7400", 0, 1, log) {
    m.Join(t, {});
    GossipUpdate x{UpdateKind::kAlive, "x", "10.0.0.9:7400", 5, 0, "", {}};
    Deliver(PeerMessageType::kGossipUpdate, {x});
    (void)m.TakeMessages();
  }
  void Deliver(PeerMessageType type, std::vector<GossipUpdate> updates) {
    GossipPacket p;
    p.sender_id = "peer";
    p.updates = std::move(updates);
    m.Step(t, PeerMessage{"10.0.0.2:7400", "10.0.0.1:7400", type, EncodeGossipPacket(p)});
  }
  std::shared_ptr<spdlog::logger> log;
  Instant t = Instant::FromMicros(1'000'000);
  Membership m;
};

TEST(GossipMembershipTest, StaleNewsIsAnsweredWithWhatWeKnow) {
  Solo s;
  s.Deliver(PeerMessageType::kGossipUpdate, {GossipUpdate{UpdateKind::kSuspect, "x", "", 3, 0, "peer", {}}});
  std::vector<PeerMessage> out = s.m.TakeMessages();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, "10.0.0.2:7400");
  Result<GossipPacket> p = DecodeGossipPacket(out[0].payload);
  ASSERT_TRUE(p.ok());
  bool corrected = false;
  for (const auto& u : p->updates) corrected |= u.kind == UpdateKind::kAlive && u.id == "x" && u.incarnation == 5;
  EXPECT_TRUE(corrected);
  EXPECT_EQ(s.m.counters().corrections, 1u);
  EXPECT_EQ(s.m.Find("x", s.t)->state, State::kAlive);
  // News that is not stale gets no correction.
  s.Deliver(PeerMessageType::kGossipUpdate, {GossipUpdate{UpdateKind::kSuspect, "x", "", 5, 0, "peer", {}}});
  EXPECT_EQ(s.m.counters().corrections, 1u);
  EXPECT_EQ(s.m.Find("x", s.t)->state, State::kSuspect);
}

TEST(GossipMembershipTest, SuspicionAtANewerIncarnationStartsOver) {
  Solo s;
  // Two members, so no confirmations are expected and a suspicion lasts the minimum, 4 s.
  const Instant t0 = s.t;
  s.Deliver(PeerMessageType::kGossipUpdate, {GossipUpdate{UpdateKind::kSuspect, "x", "", 5, 0, "peer", {}}});
  // x refuted (we missed its "alive 6") and was suspected again at 6, 3 s later.
  s.t = t0 + Duration::Seconds(3);
  s.Deliver(PeerMessageType::kGossipUpdate, {GossipUpdate{UpdateKind::kSuspect, "x", "", 6, 0, "other", {}}});
  EXPECT_EQ(s.m.Find("x", s.t)->incarnation, 6u);
  // Past the end of the first suspicion, x is still only suspect...
  s.t = t0 + Duration::Seconds(5);
  s.m.Tick(s.t);
  EXPECT_EQ(s.m.Find("x", s.t)->state, State::kSuspect);
  // ...until the second one ends.
  s.t = t0 + Duration::Seconds(7);
  s.m.Tick(s.t);
  EXPECT_EQ(s.m.Find("x", s.t)->state, State::kDead);
  EXPECT_EQ(s.m.Find("x", s.t)->incarnation, 6u);
}

}  // namespace
}  // namespace magpie
