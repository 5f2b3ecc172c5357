// The gossip wire codec: what is encoded decodes to the same thing, and anything else —
// garbage, truncation, oversize, out-of-range fields — is a Status, never an exception.
#include <gtest/gtest.h>

#include <msgpack.hpp>

#include "base/prng.h"
#include "gossip/gossip_codec.h"

namespace magpie {
namespace {

GossipUpdate AliveUpdate() {
  GossipUpdate u;
  u.kind = UpdateKind::kAlive;
  u.id = "0123456789abcdef";
  u.address = "10.0.0.7:7400";
  u.incarnation = 42;
  u.load_version = 7;
  u.load.slots = 16;
  u.load.running = 12;
  u.load.ready = 30;
  u.load.ready_by_band = {1, 0, 29, -1};
  u.load.labels = {{"gpu", "1"}, {"zone", "b"}};
  u.load.leader_hints = {{"01234567", "0123456789abcdef"}};
  u.load.stolen = 5;
  u.load.given = 1LL << 40;
  return u;
}

GossipPacket FullPacket() {
  GossipPacket p;
  p.sender_id = "fedcba9876543210";
  p.seq = UINT64_MAX;
  p.target_id = "0123456789abcdef";
  p.target_address = "10.0.0.7:7400";
  p.want_nack = true;
  p.join = true;
  p.updates.push_back(AliveUpdate());
  p.updates.push_back(GossipUpdate{UpdateKind::kSuspect, "aaaa", "", 3, 0, "bbbb", {}});
  p.updates.push_back(GossipUpdate{UpdateKind::kDead, "cccc", "10.0.0.9:1", 9, 0, "dddd", {}});
  p.updates.push_back(GossipUpdate{UpdateKind::kLeft, "eeee", "", 1, 0, "eeee", {}});
  return p;
}

TEST(GossipCodecTest, RoundTripsEveryField) {
  const GossipPacket p = FullPacket();
  Result<GossipPacket> back = DecodeGossipPacket(EncodeGossipPacket(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
}

TEST(GossipCodecTest, PreEncodedUpdatesGiveTheSameBytes) {
  const GossipPacket p = FullPacket();
  std::vector<std::string> encoded;
  for (const auto& u : p.updates) encoded.push_back(EncodeGossipUpdate(u));
  EXPECT_EQ(EncodeGossipPacket(p, encoded), EncodeGossipPacket(p));
}

TEST(GossipCodecTest, EmptyPacketRoundTrips) {
  GossipPacket p;
  p.sender_id = "x";
  Result<GossipPacket> back = DecodeGossipPacket(EncodeGossipPacket(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
}

TEST(GossipCodecTest, EveryTruncationIsRejected) {
  const std::string bytes = EncodeGossipPacket(FullPacket());
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_FALSE(DecodeGossipPacket(std::string_view(bytes).substr(0, len)).ok()) << len;
  }
}

TEST(GossipCodecTest, TrailingBytesAreRejected) {
  EXPECT_FALSE(DecodeGossipPacket(EncodeGossipPacket(FullPacket()) + "x").ok());
}

TEST(GossipCodecTest, OversizedPayloadIsRejectedBeforeParsing) {
  std::string huge(kMaxGossipPayloadBytes + 1, '\x90');
  Result<GossipPacket> r = DecodeGossipPacket(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exceeds"), std::string::npos);
}

TEST(GossipCodecTest, RandomGarbageNeverThrowsOrDecodes) {
  Prng prng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(prng.Below(64), '\0');
    for (char& c : junk) c = static_cast<char>(prng.Below(256));
    EXPECT_FALSE(DecodeGossipPacket(junk).ok());
  }
}

TEST(GossipCodecTest, BitFlipsNeverCrash) {
  const std::string bytes = EncodeGossipPacket(FullPacket());
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string b = bytes;
      b[i] = static_cast<char>(b[i] ^ (1 << bit));
      (void)DecodeGossipPacket(b);  // may or may not decode; must not throw or crash
    }
  }
}

// Hand-built messages that are well-formed msgpack but break a rule.
std::string Pack(const std::function<void(msgpack::packer<msgpack::sbuffer>&)>& f) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  f(pk);
  return std::string(buf.data(), buf.size());
}

void PackHeader(msgpack::packer<msgpack::sbuffer>& pk, uint32_t version, const std::string& sender, uint64_t flags) {
  pk.pack_array(7);
  pk.pack(version);
  pk.pack(sender);
  pk.pack(1);
  pk.pack(std::string("t"));
  pk.pack(std::string("a:1"));
  pk.pack(flags);
}

TEST(GossipCodecTest, RuleBreakersAreRejectedWithAReason) {
  struct Case {
    const char* name;
    std::string bytes;
  };
  const std::string long_id(kMaxGossipIdBytes + 1, 'i');
  const Case cases[] = {
      {"not an array", Pack([](auto& pk) { pk.pack(std::string("hello")); })},
      {"wrong arity", Pack([](auto& pk) { pk.pack_array(3); pk.pack(1); pk.pack(2); pk.pack(3); })},
      {"future version", Pack([](auto& pk) { PackHeader(pk, 2, "s", 0); pk.pack_array(0); })},
      {"empty sender", Pack([](auto& pk) { PackHeader(pk, 1, "", 0); pk.pack_array(0); })},
      {"long sender", Pack([&](auto& pk) { PackHeader(pk, 1, long_id, 0); pk.pack_array(0); })},
      {"unknown flag", Pack([](auto& pk) { PackHeader(pk, 1, "s", 4); pk.pack_array(0); })},
      {"updates not array", Pack([](auto& pk) { PackHeader(pk, 1, "s", 0); pk.pack_map(0); })},
      {"bad update kind", Pack([](auto& pk) {
         PackHeader(pk, 1, "s", 0);
         pk.pack_array(1);
         pk.pack_array(7);
         pk.pack(9); pk.pack(std::string("m")); pk.pack(std::string("")); pk.pack(1); pk.pack(0);
         pk.pack(std::string("")); pk.pack_nil();
       })},
      {"alive without address", Pack([](auto& pk) {
         PackHeader(pk, 1, "s", 0);
         pk.pack_array(1);
         pk.pack_array(7);
         pk.pack(1); pk.pack(std::string("m")); pk.pack(std::string("")); pk.pack(1); pk.pack(0);
         pk.pack(std::string("")); pk.pack_nil();
       })},
      {"load on a suspect", Pack([](auto& pk) {
         PackHeader(pk, 1, "s", 0);
         pk.pack_array(1);
         pk.pack_array(7);
         pk.pack(2); pk.pack(std::string("m")); pk.pack(std::string("")); pk.pack(1); pk.pack(0);
         pk.pack(std::string("x")); pk.pack_array(0);
       })},
      {"negative incarnation", Pack([](auto& pk) {
         PackHeader(pk, 1, "s", 0);
         pk.pack_array(1);
         pk.pack_array(7);
         pk.pack(2); pk.pack(std::string("m")); pk.pack(std::string("")); pk.pack(-1); pk.pack(0);
         pk.pack(std::string("x")); pk.pack_nil();
       })},
      {"slots beyond int32", Pack([](auto& pk) {
         PackHeader(pk, 1, "s", 0);
         pk.pack_array(1);
         pk.pack_array(7);
         pk.pack(1); pk.pack(std::string("m")); pk.pack(std::string("a:1")); pk.pack(1); pk.pack(0);
         pk.pack(std::string("")); pk.pack_array(8);
         pk.pack(uint64_t{1} << 40); pk.pack(0); pk.pack(0); pk.pack_array(0); pk.pack_map(0); pk.pack_map(0);
         pk.pack(0); pk.pack(0);
       })},
  };
  for (const Case& c : cases) {
    Result<GossipPacket> r = DecodeGossipPacket(c.bytes);
    EXPECT_FALSE(r.ok()) << c.name;
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty()) << c.name;
    }
  }
}

TEST(GossipCodecTest, OnlyGossipTypesAreGossip) {
  EXPECT_TRUE(IsGossipMessage(PeerMessageType::kGossipPing));
  EXPECT_TRUE(IsGossipMessage(PeerMessageType::kGossipUpdate));
  EXPECT_FALSE(IsGossipMessage(static_cast<PeerMessageType>(0)));
  EXPECT_FALSE(IsGossipMessage(static_cast<PeerMessageType>(16)));
}

}  // namespace
}  // namespace magpie
