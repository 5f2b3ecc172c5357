// The simulated network's fault model: partitions block exactly the links they cut, heal
// restores them, one-way cuts are one-way, loss and duplication happen at their rates,
// and a link without reordering delivers in order.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "simulations/partition.h"
#include "simulations/sim_network.h"

namespace magpie {
namespace {

struct Net {
  explicit Net(NetworkOptions o) : prng(7), network(o, &prng, &events, &trace) {}
  Prng prng;
  EventQueue events;
  TraceHash trace;
  SimNetwork network;

  // Sends one peer packet from -> to at `at`; returns its copies.
  int Send(int from, int to, SimTime at = SimTime::Zero(), std::string payload = "x") {
    Packet p;
    p.kind = Packet::Kind::kPeer;
    p.from = from;
    p.to = to;
    p.peer.payload = std::move(payload);
    return network.Send(at, std::move(p));
  }
  // Delivers everything on the wire; returns the packets that arrived, in arrival order.
  std::vector<Packet> DrainAll() {
    std::vector<Packet> got;
    while (!events.empty()) {
      Event e = events.Pop();
      if (auto p = network.Take(e.at, e.arg)) got.push_back(std::move(*p));
    }
    return got;
  }
};

NetworkOptions Quiet(int nodes, int clients = 0) {
  NetworkOptions o;
  o.nodes = nodes;
  o.clients = clients;
  return o;
}

TEST(SimPartition, SplitBlocksBothWaysAcrossSidesOnly) {
  Partition p(5);
  p.Split({0, 1});
  for (int a : {0, 1}) {
    for (int b : {2, 3, 4}) {
      EXPECT_TRUE(p.Blocks(a, b)) << a << "->" << b;
      EXPECT_TRUE(p.Blocks(b, a)) << b << "->" << a;
    }
  }
  EXPECT_FALSE(p.Blocks(0, 1));
  EXPECT_FALSE(p.Blocks(2, 4));
  EXPECT_TRUE(p.active());
}

TEST(SimPartition, HealRestoresEveryLink) {
  Partition p(4);
  p.Isolate(2);
  EXPECT_TRUE(p.Blocks(2, 0));
  p.Heal();
  EXPECT_FALSE(p.active());
  for (int a = 0; a < 4; ++a) {
    for (int b = 0; b < 4; ++b) EXPECT_FALSE(p.Blocks(a, b));
  }
}

TEST(SimPartition, OneWayCutLetsTheReverseDirectionThrough) {
  Partition p(3);
  p.OneWay({0}, {1, 2});
  EXPECT_TRUE(p.Blocks(0, 1));
  EXPECT_TRUE(p.Blocks(0, 2));
  EXPECT_FALSE(p.Blocks(1, 0));
  EXPECT_FALSE(p.Blocks(2, 0));
  EXPECT_FALSE(p.Blocks(1, 2));
}

TEST(SimPartition, BridgeNodeSeesBothSides) {
  Partition p(5);
  p.Bridge({0, 1}, 2);
  EXPECT_TRUE(p.Blocks(0, 3));
  EXPECT_TRUE(p.Blocks(4, 1));
  for (int n : {0, 1, 3, 4}) {
    EXPECT_FALSE(p.Blocks(2, n));
    EXPECT_FALSE(p.Blocks(n, 2));
  }
}

TEST(SimPartition, IsolatedNodeReachesNobody) {
  Partition p(4);
  p.Isolate(1);
  for (int n : {0, 2, 3}) {
    EXPECT_TRUE(p.Blocks(1, n));
    EXPECT_TRUE(p.Blocks(n, 1));
  }
  EXPECT_FALSE(p.Blocks(0, 2));
}

TEST(SimNetwork, PartitionDropsAtSendAndHealDelivers) {
  Net n(Quiet(3));
  n.network.partition().Split({0});
  EXPECT_EQ(n.Send(0, 1), 0);
  EXPECT_EQ(n.network.stats().cut, 1u);
  n.network.partition().Heal();
  EXPECT_EQ(n.Send(0, 1), 1);
  EXPECT_EQ(n.DrainAll().size(), 1u);
}

TEST(SimNetwork, PartitionSwallowsWhatIsAlreadyOnTheWire) {
  Net n(Quiet(2));
  ASSERT_EQ(n.Send(0, 1), 1);
  n.network.partition().Isolate(1);
  EXPECT_TRUE(n.DrainAll().empty());
  EXPECT_EQ(n.network.stats().cut, 1u);
}

TEST(SimNetwork, OneWayPartitionDeliversOnlyTheOpenDirection) {
  Net n(Quiet(2));
  n.network.partition().OneWay({0}, {1});
  EXPECT_EQ(n.Send(0, 1), 0);
  EXPECT_EQ(n.Send(1, 0), 1);
  auto got = n.DrainAll();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].from, 1);
}

TEST(SimNetwork, ClientLinksIgnorePartitions) {
  Net n(Quiet(2, 1));
  n.network.partition().Isolate(0);
  Packet p;
  p.kind = Packet::Kind::kRequest;
  p.from = 2;  // the client
  p.to = 0;
  p.bytes = "frame";
  EXPECT_EQ(n.network.Send(SimTime::Zero(), std::move(p)), 1);
}

TEST(SimNetwork, WithoutReorderALinkIsFifo) {
  NetworkOptions o = Quiet(2);
  o.latency_min_us = 100;
  o.latency_max_us = 100;
  o.tail_per_10k = 5000;  // half the packets are held up: FIFO must hold anyway
  o.tail_max_us = 50'000;
  Net n(o);
  for (int i = 0; i < 200; ++i) n.Send(0, 1, SimTime::FromMicros(i * 10), std::to_string(i));
  auto got = n.DrainAll();
  ASSERT_EQ(got.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i].peer.payload, std::to_string(i));
}

TEST(SimNetwork, ReorderLetsPacketsOvertake) {
  NetworkOptions o = Quiet(2);
  o.reorder = true;
  o.jitter_max_us = 10'000;
  Net n(o);
  for (int i = 0; i < 200; ++i) n.Send(0, 1, SimTime::FromMicros(i * 10), std::to_string(i));
  auto got = n.DrainAll();
  ASSERT_EQ(got.size(), 200u);
  int out_of_order = 0;
  for (int i = 1; i < 200; ++i) out_of_order += std::stoi(got[i].peer.payload) < std::stoi(got[i - 1].peer.payload);
  EXPECT_GT(out_of_order, 10);
}

TEST(SimNetwork, LossAndDuplicationHappenAtAboutTheirRates) {
  NetworkOptions o = Quiet(2);
  o.drop_per_10k = 2000;  // 20 %
  o.dup_per_10k = 1000;   // 10 % of what survives
  Net n(o);
  for (int i = 0; i < 10000; ++i) n.Send(0, 1);
  EXPECT_NEAR(static_cast<double>(n.network.stats().lost), 2000, 200);
  EXPECT_NEAR(static_cast<double>(n.network.stats().duplicated), 800, 150);
  EXPECT_EQ(n.DrainAll().size(), 10000 - n.network.stats().lost + n.network.stats().duplicated);
}

TEST(SimNetwork, CalmStopsLossAndHealsPartitions) {
  NetworkOptions o = Quiet(3);
  o.drop_per_10k = 10000;
  Net n(o);
  n.network.partition().Split({0});
  n.network.Calm();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(n.Send(0, 1), 1);
}

}  // namespace
}  // namespace magpie
