// The envelope a peer message travels in between real nodes: the msgpack array
// [magic, version, type, from, to, payload]. Clients and peers share a node's listening
// socket; the magic tells them apart before anything else is decoded.
#ifndef MAGPIE_GOSSIP_PEER_ENVELOPE_H_
#define MAGPIE_GOSSIP_PEER_ENVELOPE_H_

#include <string>
#include <string_view>

#include "base/status.h"
#include "gossip/peer_message.h"

namespace magpie {

inline constexpr const char* kPeerMagic = "magpie-peer";
inline constexpr uint32_t kPeerProtocolVersion = 1;

std::string EncodePeerFrame(const PeerMessage& message);
// Never throws; bytes that are not a well-formed envelope of this version give
// InvalidArgument saying what is wrong.
Result<PeerMessage> DecodePeerFrame(std::string_view bytes);
// A cheap look at the magic, to route a frame to the peer or the client decoder.
bool IsPeerFrame(std::string_view bytes);

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_PEER_ENVELOPE_H_
