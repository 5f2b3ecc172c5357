// libFuzzer target: arbitrary bytes as the payload of a gossip message (gossip/gossip_codec.h).
// Asserts: the decoder never crashes or throws; an error says what is wrong; a packet that
// decodes is within the codec's bounds, and re-encodes to bytes that decode to an equal
// packet (and encode to the same bytes again).
#include "gossip/gossip_codec.h"
#include "tests/fuzz/fuzz_util.h"

using namespace magpie;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = DecodeGossipPacket(fuzz::AsView(data, size));
  if (!p.ok()) {
    FUZZ_CHECK(!p.status().message().empty(), "an error must say what is wrong");
    return 0;
  }
  FUZZ_CHECK(!p->sender_id.empty() && p->sender_id.size() <= kMaxGossipIdBytes);
  FUZZ_CHECK(p->updates.size() <= kMaxGossipUpdates);
  for (const GossipUpdate& u : p->updates) {
    FUZZ_CHECK(!u.id.empty() && u.id.size() <= kMaxGossipIdBytes);
    FUZZ_CHECK(u.kind >= UpdateKind::kAlive && u.kind <= UpdateKind::kLeft);
    FUZZ_CHECK(u.kind != UpdateKind::kAlive || !u.address.empty());
    FUZZ_CHECK(u.load.ready_by_band.size() <= kMaxLoadBands);
    FUZZ_CHECK(u.load.labels.size() <= kMaxLoadMapEntries && u.load.leader_hints.size() <= kMaxLoadMapEntries);
  }
  const std::string again = EncodeGossipPacket(*p);
  auto back = DecodeGossipPacket(again);
  FUZZ_CHECK(back.ok(), back.status().ToString());
  FUZZ_CHECK(*back == *p, "round trip changed the packet");
  FUZZ_CHECK(EncodeGossipPacket(*back) == again);
  // The broadcast queue's path: updates encoded one by one give the same packet.
  std::vector<std::string> encoded;
  for (const GossipUpdate& u : p->updates) encoded.push_back(EncodeGossipUpdate(u));
  FUZZ_CHECK(EncodeGossipPacket(*p, encoded) == again);
  return 0;
}
