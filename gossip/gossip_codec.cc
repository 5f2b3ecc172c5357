#include "gossip/gossip_codec.h"

#include <exception>
#include <limits>

#include <msgpack.hpp>

namespace magpie {

namespace {

constexpr uint32_t kPacketFields = 7;
constexpr uint32_t kUpdateFields = 7;
constexpr uint32_t kLoadFields = 8;
constexpr uint64_t kFlagWantNack = 1;
constexpr uint64_t kFlagJoin = 2;

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackMap(Packer& pk, const std::map<std::string, std::string>& m) {
  pk.pack_map(static_cast<uint32_t>(m.size()));
  for (const auto& [k, v] : m) {
    pk.pack(k);
    pk.pack(v);
  }
}

void PackUpdate(Packer& pk, const GossipUpdate& u) {
  pk.pack_array(kUpdateFields);
  pk.pack(static_cast<uint8_t>(u.kind));
  pk.pack(u.id);
  pk.pack(u.address);
  pk.pack(u.incarnation);
  pk.pack(u.load_version);
  pk.pack(u.from);
  if (u.kind != UpdateKind::kAlive) {
    pk.pack_nil();
    return;
  }
  const MemberLoad& l = u.load;
  pk.pack_array(kLoadFields);
  pk.pack(l.slots);
  pk.pack(l.running);
  pk.pack(l.ready);
  pk.pack_array(static_cast<uint32_t>(l.ready_by_band.size()));
  for (int32_t b : l.ready_by_band) pk.pack(b);
  PackMap(pk, l.labels);
  PackMap(pk, l.leader_hints);
  pk.pack(l.stolen);
  pk.pack(l.given);
}

// --- Decoding: every accessor checks type and bounds and reports what was wrong. ---

Status Bad(const std::string& what) { return Status::InvalidArgument("malformed gossip message: " + what); }

Status GetUint(const msgpack::object& o, uint64_t max, const char* what, uint64_t* out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER || o.via.u64 > max) return Bad(std::string(what) + " out of range");
  *out = o.via.u64;
  return Status::Ok();
}

template <typename Int>
Status GetInt(const msgpack::object& o, const char* what, Int* out) {
  constexpr int64_t kMin = std::numeric_limits<Int>::min();
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<Int>::max());
  if (o.type == msgpack::type::POSITIVE_INTEGER && o.via.u64 <= kMax) {
    *out = static_cast<Int>(o.via.u64);
  } else if (o.type == msgpack::type::NEGATIVE_INTEGER && o.via.i64 >= kMin) {
    *out = static_cast<Int>(o.via.i64);
  } else {
    return Bad(std::string(what) + " out of range");
  }
  return Status::Ok();
}

Status GetString(const msgpack::object& o, size_t max, const char* what, std::string* out) {
  if (o.type != msgpack::type::STR) return Bad(std::string(what) + " is not a string");
  if (o.via.str.size > max) return Bad(std::string(what) + " is longer than " + std::to_string(max) + " bytes");
  out->assign(o.via.str.ptr, o.via.str.size);
  return Status::Ok();
}

Status GetMap(const msgpack::object& o, const char* what, std::map<std::string, std::string>* out) {
  if (o.type != msgpack::type::MAP) return Bad(std::string(what) + " is not a map");
  if (o.via.map.size > kMaxLoadMapEntries) return Bad(std::string(what) + " has too many entries");
  for (uint32_t i = 0; i < o.via.map.size; ++i) {
    std::string k, v;
    Status s = GetString(o.via.map.ptr[i].key, kMaxLoadStringBytes, what, &k);
    if (s.ok()) s = GetString(o.via.map.ptr[i].val, kMaxLoadStringBytes, what, &v);
    if (!s.ok()) return s;
    (*out)[std::move(k)] = std::move(v);
  }
  return Status::Ok();
}

Status DecodeLoad(const msgpack::object& o, MemberLoad* l) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != kLoadFields) return Bad("load is not an 8-element array");
  const msgpack::object* f = o.via.array.ptr;
  Status s = GetInt(f[0], "slots", &l->slots);
  if (s.ok()) s = GetInt(f[1], "running", &l->running);
  if (s.ok()) s = GetInt(f[2], "ready", &l->ready);
  if (!s.ok()) return s;
  if (f[3].type != msgpack::type::ARRAY || f[3].via.array.size > kMaxLoadBands) return Bad("ready_by_band");
  l->ready_by_band.resize(f[3].via.array.size);
  for (uint32_t i = 0; i < f[3].via.array.size && s.ok(); ++i) {
    s = GetInt(f[3].via.array.ptr[i], "ready band", &l->ready_by_band[i]);
  }
  if (s.ok()) s = GetMap(f[4], "labels", &l->labels);
  if (s.ok()) s = GetMap(f[5], "leader hints", &l->leader_hints);
  if (s.ok()) s = GetInt(f[6], "stolen", &l->stolen);
  if (s.ok()) s = GetInt(f[7], "given", &l->given);
  return s;
}

Status DecodeUpdate(const msgpack::object& o, GossipUpdate* u) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != kUpdateFields) return Bad("update is not a 7-element array");
  const msgpack::object* f = o.via.array.ptr;
  uint64_t kind = 0;
  Status s = GetUint(f[0], static_cast<uint64_t>(UpdateKind::kLeft), "update kind", &kind);
  if (s.ok() && kind < static_cast<uint64_t>(UpdateKind::kAlive)) s = Bad("update kind out of range");
  if (s.ok()) s = GetString(f[1], kMaxGossipIdBytes, "member id", &u->id);
  if (s.ok() && u->id.empty()) s = Bad("empty member id");
  if (s.ok()) s = GetString(f[2], kMaxGossipAddressBytes, "member address", &u->address);
  if (s.ok()) s = GetUint(f[3], UINT64_MAX, "incarnation", &u->incarnation);
  if (s.ok()) s = GetUint(f[4], UINT64_MAX, "load version", &u->load_version);
  if (s.ok()) s = GetString(f[5], kMaxGossipIdBytes, "accuser id", &u->from);
  if (!s.ok()) return s;
  u->kind = static_cast<UpdateKind>(kind);
  if (u->kind == UpdateKind::kAlive) {
    if (u->address.empty()) return Bad("alive update without an address");
    return DecodeLoad(f[6], &u->load);
  }
  if (f[6].type != msgpack::type::NIL) return Bad("load on an update that is not alive");
  return Status::Ok();
}

msgpack::unpack_limit Limits() {
  return msgpack::unpack_limit(/*array=*/kMaxGossipUpdates, /*map=*/kMaxLoadMapEntries,
                               /*str=*/4096, /*bin=*/0, /*ext=*/0, /*depth=*/8);
}

}  // namespace

const char* UpdateKindName(UpdateKind kind) {
  switch (kind) {
    case UpdateKind::kAlive: return "alive";
    case UpdateKind::kSuspect: return "suspect";
    case UpdateKind::kDead: return "dead";
    case UpdateKind::kLeft: return "left";
  }
  return "unknown";
}

bool IsGossipMessage(PeerMessageType type) {
  const auto t = static_cast<uint8_t>(type);
  return t >= static_cast<uint8_t>(PeerMessageType::kGossipPing) &&
         t <= static_cast<uint8_t>(PeerMessageType::kGossipUpdate);
}

std::string EncodeGossipUpdate(const GossipUpdate& update) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  PackUpdate(pk, update);
  return std::string(buf.data(), buf.size());
}

std::string EncodeGossipPacket(const GossipPacket& header, const std::vector<std::string>& encoded_updates) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_array(kPacketFields);
  pk.pack(kGossipWireVersion);
  pk.pack(header.sender_id);
  pk.pack(header.seq);
  pk.pack(header.target_id);
  pk.pack(header.target_address);
  pk.pack((header.want_nack ? kFlagWantNack : 0) | (header.join ? kFlagJoin : 0));
  pk.pack_array(static_cast<uint32_t>(encoded_updates.size()));
  for (const std::string& u : encoded_updates) buf.write(u.data(), u.size());
  return std::string(buf.data(), buf.size());
}

std::string EncodeGossipPacket(const GossipPacket& packet) {
  std::vector<std::string> encoded;
  encoded.reserve(packet.updates.size());
  for (const GossipUpdate& u : packet.updates) encoded.push_back(EncodeGossipUpdate(u));
  return EncodeGossipPacket(packet, encoded);
}

Result<GossipPacket> DecodeGossipPacket(std::string_view payload) {
  if (payload.size() > kMaxGossipPayloadBytes) {
    return Status::InvalidArgument("gossip message of " + std::to_string(payload.size()) +
                                   " bytes exceeds the limit of " + std::to_string(kMaxGossipPayloadBytes));
  }
  try {
    size_t offset = 0;
    msgpack::object_handle oh = msgpack::unpack(payload.data(), payload.size(), offset, nullptr, nullptr, Limits());
    if (offset != payload.size()) return Bad("trailing bytes");
    const msgpack::object& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != kPacketFields) return Bad("not a 7-element array");
    const msgpack::object* f = o.via.array.ptr;
    uint64_t version = 0, flags = 0;
    GossipPacket p;
    Status s = GetUint(f[0], UINT32_MAX, "version", &version);
    if (s.ok() && version != kGossipWireVersion) {
      return Status::InvalidArgument("gossip wire version " + std::to_string(version) +
                                     " is not supported; this node speaks version " +
                                     std::to_string(kGossipWireVersion));
    }
    if (s.ok()) s = GetString(f[1], kMaxGossipIdBytes, "sender id", &p.sender_id);
    if (s.ok() && p.sender_id.empty()) s = Bad("empty sender id");
    if (s.ok()) s = GetUint(f[2], UINT64_MAX, "seq", &p.seq);
    if (s.ok()) s = GetString(f[3], kMaxGossipIdBytes, "target id", &p.target_id);
    if (s.ok()) s = GetString(f[4], kMaxGossipAddressBytes, "target address", &p.target_address);
    if (s.ok()) s = GetUint(f[5], kFlagWantNack | kFlagJoin, "flags", &flags);
    if (!s.ok()) return s;
    p.want_nack = (flags & kFlagWantNack) != 0;
    p.join = (flags & kFlagJoin) != 0;
    if (f[6].type != msgpack::type::ARRAY) return Bad("updates is not an array");
    p.updates.resize(f[6].via.array.size);
    for (uint32_t i = 0; i < f[6].via.array.size; ++i) {
      s = DecodeUpdate(f[6].via.array.ptr[i], &p.updates[i]);
      if (!s.ok()) return s;
    }
    return p;
  } catch (const std::exception& e) {
    return Bad(e.what());
  }
}

}  // namespace magpie
