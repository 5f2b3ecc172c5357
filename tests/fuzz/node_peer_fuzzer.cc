// libFuzzer target: "a node never crashes on what arrives from the network". A real NodeCore
// (over MemoryStorage, driven as the node driver drives it: core_world.h) is fed a sequence
// of records — peer messages of any type and payload (gossip, Raft, stealing, leases,
// finishes, forwarding, upstream queries), client request frames, and clock moves. The
// seeds are real traffic to this node recorded in a three-node cluster (corpus_writer.cc).
//
// Asserts: nothing crashes (MAGPIE_CHECK, ASan, UBSan); every message the node sends decodes
// with its kind's decoder and every reply it gives decodes as a reply frame, so its peers
// and clients can read what it says; and after a crash it recovers from what it wrote.
#include "gossip/gossip_codec.h"
#include "gossip/peer_envelope.h"
#include "node/client_protocol.h"
#include "node/name_lookup.h"
#include "node/raft/raft_messages.h"
#include "node/steal_messages.h"
#include "tests/fuzz/core_world.h"
#include "tests/fuzz/fuzz_util.h"

using namespace magpie;

namespace {

template <typename T>
void MustUnpack(const std::string& payload, const char* what) {
  auto v = UnpackBody<T>(payload);
  FUZZ_CHECK(v.ok(), std::string(what) + ": " + v.status().ToString());
}

// What the node says must be readable by whoever it says it to.
void CheckOutgoing(const PeerMessage& m) {
  auto frame = DecodePeerFrame(EncodePeerFrame(m));
  FUZZ_CHECK(frame.ok(), frame.status().ToString());
  if (IsGossipMessage(m.type)) {
    auto p = DecodeGossipPacket(m.payload);
    FUZZ_CHECK(p.ok(), "gossip: " + p.status().ToString());
  } else if (IsRaftPeerMessageType(m.type)) {
    auto r = DecodeRaftMessage(m.payload);
    FUZZ_CHECK(r.ok(), "raft: " + r.status().ToString());
  } else if (m.type == kStealRequestType) {
    MustUnpack<StealRequest>(m.payload, "steal request");
  } else if (m.type == kStealReplyType) {
    MustUnpack<StealReply>(m.payload, "steal reply");
  } else if (m.type == kLeaseRenewType) {
    MustUnpack<LeaseRenew>(m.payload, "lease renew");
  } else if (m.type == kLeaseRenewAckType) {
    MustUnpack<LeaseRenewAck>(m.payload, "lease renew ack");
  } else if (m.type == kFinishReportType) {
    MustUnpack<FinishReport>(m.payload, "finish report");
  } else if (m.type == kFinishAckType) {
    MustUnpack<FinishAck>(m.payload, "finish ack");
  } else if (m.type == kForwardRequestType) {
    MustUnpack<ForwardRequest>(m.payload, "forward request");
  } else if (m.type == kForwardReplyType) {
    MustUnpack<ForwardReply>(m.payload, "forward reply");
  } else if (m.type == kUpstreamQueryType) {
    MustUnpack<UpstreamQuery>(m.payload, "upstream query");
  } else if (m.type == kUpstreamAnswerType) {
    MustUnpack<UpstreamAnswer>(m.payload, "upstream answer");
  } else if (m.type == kNameQueryType) {
    MustUnpack<NameQuery>(m.payload, "name query");
  } else if (m.type == kNameAnswerType) {
    MustUnpack<NameAnswer>(m.payload, "name answer");
  } else if (m.type == kTakeBackType) {
    MustUnpack<TakeBack>(m.payload, "take back");
  } else {
    fuzz::Fail("the node sent a message of an unknown type", std::to_string(static_cast<int>(m.type)));
  }
}

void CheckReply(const ClientReply& r) {
  auto back = DecodeReply(EncodeReply(r.frame));
  FUZZ_CHECK(back.ok(), "reply: " + back.status().ToString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MemoryStorage storage;
  fuzz::CoreWorld world(fuzz::TargetOptions(), &storage, Instant::FromMicros(fuzz::kStartMicros));
  world.on_message = CheckOutgoing;
  world.on_reply = CheckReply;
  Status s = world.Boot();
  FUZZ_CHECK(s.ok(), s.ToString());

  fuzz::Records records(fuzz::AsView(data, size));
  uint8_t kind = 0;
  std::string_view body;
  uint64_t request_id = 0;
  for (int n = 0; n < 512 && records.Next(&kind, &body); ++n) {
    if (kind == fuzz::kTimeRecord) {
      int64_t ms = 10;
      if (body.size() >= 2) ms = static_cast<uint8_t>(body[0]) | (static_cast<uint8_t>(body[1]) << 8);
      world.AdvanceTo(world.now() + Duration::Millis(ms));
      continue;
    }
    if (kind == fuzz::kClientRecord) {
      auto frame = DecodeRequest(body);
      if (frame.ok()) world.core().Request(world.now(), ReplyTo{"client", ++request_id}, *frame);
    } else {
      PeerMessage m;
      m.from = (kind & fuzz::kFromPeerB) ? fuzz::kPeerBAddress : fuzz::kPeerAAddress;
      m.to = fuzz::kTargetAddress;
      m.type = static_cast<PeerMessageType>(kind & 0x7f);
      m.payload = std::string(body);
      world.core().Step(world.now(), m);
    }
    world.AdvanceTo(world.now());
  }

  // The process dies; what the network made it write must bring it back.
  storage.Crash();
  s = world.Boot();
  FUZZ_CHECK(s.ok(), "recovery after a crash: " + s.ToString());
  world.AdvanceTo(world.now() + Duration::Seconds(1));
  return 0;
}
