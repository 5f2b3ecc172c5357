// The wire form of membership messages: the payload of a PeerMessage of a kGossip* type.
//
//   packet = [version, sender_id, seq, target_id, target_address, flags, [update...]]
//   update = [kind, id, address, incarnation, load_version, from, load | nil]
//   load   = [slots, running, ready, [band...], {label: value}, {group: leader}, stolen, given]
//
// msgpack arrays, positional, one layout for every message type (unused fields are empty):
// a few bytes more per probe buy one decoder and one set of bounds. Decoding never throws;
// anything malformed, oversized or out of bounds is a Status.
#ifndef MAGPIE_GOSSIP_GOSSIP_CODEC_H_
#define MAGPIE_GOSSIP_GOSSIP_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "gossip/member_load.h"
#include "gossip/peer_message.h"

namespace magpie {

inline constexpr uint32_t kGossipWireVersion = 1;

// Bounds a decoder enforces: far above anything an honest node sends, far below harm.
inline constexpr size_t kMaxGossipPayloadBytes = kMaxPeerMessageBytes;
inline constexpr size_t kMaxGossipIdBytes = 128;
inline constexpr size_t kMaxGossipAddressBytes = 256;
inline constexpr size_t kMaxGossipUpdates = 1 << 17;
inline constexpr size_t kMaxLoadBands = 64;
inline constexpr size_t kMaxLoadMapEntries = 256;   // labels, and leader hints, each
inline constexpr size_t kMaxLoadStringBytes = 256;  // each label or hint key and value

enum class UpdateKind : uint8_t {
  kAlive = 1,    // the member is up at this incarnation (and this is its load)
  kSuspect = 2,  // `from` could not reach it
  kDead = 3,     // its suspicion ran out
  kLeft = 4,     // it left gracefully
};
const char* UpdateKindName(UpdateKind kind);

// One membership fact, gossiped piggyback or carried in a full-state sync.
struct GossipUpdate {
  UpdateKind kind = UpdateKind::kAlive;
  std::string id;             // the member it is about
  std::string address;        // kAlive: where the member listens (HOST:PORT); else may be empty
  uint64_t incarnation = 0;   // the member's incarnation the fact is about
  uint64_t load_version = 0;  // kAlive: orders load updates within one incarnation
  std::string from;           // kSuspect/kDead/kLeft: who says so; kSuspect counts distinct ones
  MemberLoad load;            // kAlive only

  bool operator==(const GossipUpdate&) const = default;
};

struct GossipPacket {
  std::string sender_id;           // the sending node's id
  uint64_t seq = 0;                // ping, ping-req, ack, nack: the probe's sequence number
  std::string target_id;           // ping, ping-req: the member being probed
  std::string target_address;      // ping-req: where to reach it
  bool want_nack = false;          // ping-req: send a nack if the target stays silent
  bool join = false;               // sync, sync reply: the exchange is part of a Join
  std::vector<GossipUpdate> updates;  // piggyback; for sync messages, the full state

  bool operator==(const GossipPacket&) const = default;
};

// True for the message types this codec and Membership handle.
bool IsGossipMessage(PeerMessageType type);

std::string EncodeGossipUpdate(const GossipUpdate& update);
// A packet whose updates are already encoded (the broadcast queue keeps them that way);
// `header.updates` is ignored.
std::string EncodeGossipPacket(const GossipPacket& header, const std::vector<std::string>& encoded_updates);
std::string EncodeGossipPacket(const GossipPacket& packet);
Result<GossipPacket> DecodeGossipPacket(std::string_view payload);

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_GOSSIP_CODEC_H_
