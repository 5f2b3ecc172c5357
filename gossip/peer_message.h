// A message between nodes, as the core sees it: who it is for or from, what kind, and the
// msgpack payload its kind defines. The transport (ZeroMQ in production, in-memory queues
// in the simulator) moves these; it never looks inside the payload.
#ifndef MAGPIE_GOSSIP_PEER_MESSAGE_H_
#define MAGPIE_GOSSIP_PEER_MESSAGE_H_

#include <cstdint>
#include <string>

namespace magpie {

// Kinds of peer message. The numbers are on the wire: never reuse one.
enum class PeerMessageType : uint8_t {
  kGossipPing = 1,      // SWIM probe (payload: gossip/ codec)
  kGossipPingReq = 2,   // SWIM indirect probe request
  kGossipAck = 3,       // SWIM probe answer
  kGossipNack = 4,      // Lifeguard: an indirect prober could not reach the target
  kGossipSync = 5,      // push-pull full state exchange (request)
  kGossipSyncReply = 6, // push-pull full state exchange (answer)
  kGossipUpdate = 7,    // gossip round: piggybacked updates only, no answer expected
  // 16..63: replica groups (Raft); 64..79: work stealing; 80..: forwarded client requests.
};

struct PeerMessage {
  std::string from;  // sender's node address (HOST:PORT), set by the sender
  std::string to;    // receiver's node address
  PeerMessageType type = PeerMessageType::kGossipPing;
  std::string payload;
};

// Bound on one peer message; anything larger is dropped by the transport and counted.
inline constexpr size_t kMaxPeerMessageBytes = 4 * 1024 * 1024;

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_PEER_MESSAGE_H_
