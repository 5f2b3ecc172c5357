#include "gossip/peer_envelope.h"

#include <cstring>

#include <msgpack.hpp>

namespace magpie {

namespace {

msgpack::unpack_limit EnvelopeLimit() {
  return msgpack::unpack_limit(/*array=*/16, /*map=*/16, /*str=*/4096, /*bin=*/kMaxPeerMessageBytes,
                               /*ext=*/0, /*depth=*/4);
}

bool KnownType(uint32_t t) {
  return t >= static_cast<uint32_t>(PeerMessageType::kGossipPing) && t <= 255;
}

}  // namespace

std::string EncodePeerFrame(const PeerMessage& m) {
  msgpack::sbuffer buf(m.payload.size() + 64);
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(6);
  pk.pack(std::string_view(kPeerMagic));
  pk.pack(kPeerProtocolVersion);
  pk.pack(static_cast<uint8_t>(m.type));
  pk.pack(m.from);
  pk.pack(m.to);
  pk.pack_bin(static_cast<uint32_t>(m.payload.size()));
  pk.pack_bin_body(m.payload.data(), static_cast<uint32_t>(m.payload.size()));
  return std::string(buf.data(), buf.size());
}

bool IsPeerFrame(std::string_view bytes) {
  // fixarray(6), fixstr(11) "magpie-peer"
  const size_t n = std::strlen(kPeerMagic);
  return bytes.size() > n + 2 && static_cast<uint8_t>(bytes[0]) == 0x96 &&
         static_cast<uint8_t>(bytes[1]) == (0xa0 | n) && bytes.substr(2, n) == kPeerMagic;
}

Result<PeerMessage> DecodePeerFrame(std::string_view bytes) {
  if (bytes.size() > kMaxPeerMessageBytes + 4096) {
    return Status::InvalidArgument("peer frame of " + std::to_string(bytes.size()) +
                                   " bytes is over the limit");
  }
  try {
    size_t offset = 0;
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, EnvelopeLimit());
    if (offset != bytes.size()) return Status::InvalidArgument("trailing bytes after a peer frame");
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 6) {
      return Status::InvalidArgument("not a peer frame (expected a 6-element array)");
    }
    const msgpack::object* f = o.via.array.ptr;
    if (f[0].type != msgpack::type::STR || f[0].as<std::string>() != kPeerMagic) {
      return Status::InvalidArgument("not a peer frame (bad magic)");
    }
    uint32_t version = f[1].as<uint32_t>();
    if (version != kPeerProtocolVersion) {
      return Status::InvalidArgument("peer protocol version " + std::to_string(version) +
                                     " is not supported (this node speaks " +
                                     std::to_string(kPeerProtocolVersion) + ")");
    }
    uint32_t type = f[2].as<uint32_t>();
    if (!KnownType(type)) return Status::InvalidArgument("unknown peer message type " + std::to_string(type));
    if (f[5].type != msgpack::type::BIN) return Status::InvalidArgument("peer payload must be binary");
    PeerMessage m;
    m.type = static_cast<PeerMessageType>(type);
    m.from = f[3].as<std::string>();
    m.to = f[4].as<std::string>();
    m.payload.assign(f[5].via.bin.ptr, f[5].via.bin.size);
    return m;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("malformed peer frame: ") + e.what());
  }
}

}  // namespace magpie
