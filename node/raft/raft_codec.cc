// msgpack encoding of Raft messages and records. Every decoder runs under unpack limits and
// a try block: msgpack signals bad input by throwing, and nothing may escape this file.
#include <msgpack.hpp>

#include "node/raft/raft_messages.h"

namespace magpie {

namespace {

// Field counts after the common header [kind, group, from, from_address, to, term].
constexpr uint32_t kHeaderFields = 6;

uint32_t BodyFields(RaftMessageType t) {
  switch (t) {
    case RaftMessageType::kPreVote:
    case RaftMessageType::kVote: return 3;
    case RaftMessageType::kPreVoteResponse:
    case RaftMessageType::kVoteResponse: return 1;
    case RaftMessageType::kAppend: return 5;
    case RaftMessageType::kAppendResponse: return 5;
    case RaftMessageType::kHeartbeat: return 2;
    case RaftMessageType::kHeartbeatResponse: return 1;
    case RaftMessageType::kInstallSnapshot: return 7;
    case RaftMessageType::kInstallSnapshotResponse: return 5;
    case RaftMessageType::kTimeoutNow: return 0;
  }
  return 0;
}

// Far above anything honest, far below what would hurt: a message is at most the peer
// message bound; a stored record at most 64 MiB.
constexpr size_t kMaxRecordBytes = 64 << 20;

msgpack::unpack_limit Limit(size_t max_bytes) {
  return msgpack::unpack_limit(/*array=*/1 << 20, /*map=*/16, /*str=*/max_bytes,
                               /*bin=*/max_bytes, /*ext=*/16, /*depth=*/8);
}

Result<msgpack::object_handle> Unpack(std::string_view bytes, size_t max_bytes) {
  if (bytes.size() > max_bytes) {
    return Status::InvalidArgument("raft record of " + std::to_string(bytes.size()) +
                                   " bytes exceeds the limit of " + std::to_string(max_bytes));
  }
  try {
    size_t offset = 0;
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, Limit(max_bytes));
    if (offset != bytes.size()) return Status::InvalidArgument("trailing bytes after raft record");
    return oh;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("malformed raft record: ") + e.what());
  }
}

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackBytes(Packer& pk, const std::string& s) {
  pk.pack_bin(static_cast<uint32_t>(s.size()));
  pk.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackEntry(Packer& pk, const Entry& e) {
  pk.pack_array(4);
  pk.pack(e.index);
  pk.pack(e.term);
  pk.pack(static_cast<uint8_t>(e.type));
  PackBytes(pk, e.payload);
}

void PackMembers(Packer& pk, const RaftMembership& m) {
  pk.pack_array(static_cast<uint32_t>(m.members.size()));
  for (const auto& r : m.members) {
    pk.pack_array(4);
    pk.pack(r.id);
    pk.pack(r.address);
    pk.pack(r.voter);
    pk.pack(r.catching_up);
  }
}

// The readers throw msgpack::type_error on a wrong type; the callers catch it.
const msgpack::object* Array(const msgpack::object& o, uint32_t size) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != size) throw msgpack::type_error();
  return o.via.array.ptr;
}

Entry ReadEntry(const msgpack::object& o) {
  const msgpack::object* f = Array(o, 4);
  Entry e;
  e.index = f[0].as<uint64_t>();
  e.term = f[1].as<uint64_t>();
  e.type = static_cast<EntryType>(f[2].as<uint8_t>());
  e.payload = f[3].as<std::string>();  // bin, or str as EncodeEntry (node/log_entry.h) writes it
  return e;
}

RaftMembership ReadMembers(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY) throw msgpack::type_error();
  RaftMembership m;
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const msgpack::object* f = Array(o.via.array.ptr[i], 4);
    RaftMember r;
    r.id = f[0].as<std::string>();
    r.address = f[1].as<std::string>();
    r.voter = f[2].as<bool>();
    r.catching_up = f[3].as<bool>();
    if (r.id.empty()) throw msgpack::type_error();
    m.members.push_back(std::move(r));
  }
  m.Sort();
  for (size_t i = 1; i < m.members.size(); ++i) {
    if (m.members[i].id == m.members[i - 1].id) throw msgpack::type_error();  // duplicate id
  }
  return m;
}

// The sender's last log term (or the snapshot's) is above the term it speaks in: no honest
// member sends that, and believing it would leave a log newer than its term on disk.
Status NewerThanTerm(const RaftMessage& m) {
  return Status::InvalidArgument(std::string("raft ") + RaftMessageTypeName(m.type) + " names log term " +
                                 std::to_string(m.log_term) + ", above its term " + std::to_string(m.term));
}

template <typename Fn>
auto Guarded(const char* what, Fn fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("malformed ") + what + ": " + e.what());
  }
}

}  // namespace

const char* RaftMessageTypeName(RaftMessageType type) {
  switch (type) {
    case RaftMessageType::kPreVote: return "PreVote";
    case RaftMessageType::kPreVoteResponse: return "PreVoteResponse";
    case RaftMessageType::kVote: return "Vote";
    case RaftMessageType::kVoteResponse: return "VoteResponse";
    case RaftMessageType::kAppend: return "Append";
    case RaftMessageType::kAppendResponse: return "AppendResponse";
    case RaftMessageType::kHeartbeat: return "Heartbeat";
    case RaftMessageType::kHeartbeatResponse: return "HeartbeatResponse";
    case RaftMessageType::kInstallSnapshot: return "InstallSnapshot";
    case RaftMessageType::kInstallSnapshotResponse: return "InstallSnapshotResponse";
    case RaftMessageType::kTimeoutNow: return "TimeoutNow";
  }
  return "unknown";
}

bool IsRaftPeerMessageType(PeerMessageType type) {
  auto v = static_cast<uint8_t>(type);
  return v >= kFirstRaftMessageType && v <= kLastRaftMessageType;
}

std::string EncodeRaftMessage(const RaftMessage& m) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_array(kHeaderFields + BodyFields(m.type));
  pk.pack(static_cast<uint8_t>(m.type));
  pk.pack(m.group_id);
  pk.pack(m.from);
  pk.pack(m.from_address);
  pk.pack(m.to);
  pk.pack(m.term);
  switch (m.type) {
    case RaftMessageType::kPreVote:
    case RaftMessageType::kVote:
      pk.pack(m.index);
      pk.pack(m.log_term);
      pk.pack(m.transfer);
      break;
    case RaftMessageType::kPreVoteResponse:
    case RaftMessageType::kVoteResponse:
      pk.pack(m.reject);
      break;
    case RaftMessageType::kAppend:
      pk.pack(m.index);
      pk.pack(m.log_term);
      pk.pack(m.commit);
      pk.pack(m.echo_us);
      pk.pack_array(static_cast<uint32_t>(m.entries.size()));
      for (const auto& e : m.entries) PackEntry(pk, e);
      break;
    case RaftMessageType::kAppendResponse:
      pk.pack(m.index);
      pk.pack(m.reject);
      pk.pack(m.reject_hint);
      pk.pack(m.log_term);
      pk.pack(m.echo_us);
      break;
    case RaftMessageType::kHeartbeat:
      pk.pack(m.commit);
      pk.pack(m.echo_us);
      break;
    case RaftMessageType::kHeartbeatResponse:
      pk.pack(m.echo_us);
      break;
    case RaftMessageType::kInstallSnapshot:
      pk.pack(m.index);
      pk.pack(m.log_term);
      PackMembers(pk, m.members);
      pk.pack(m.offset);
      pk.pack(m.total_bytes);
      PackBytes(pk, m.data);
      pk.pack(m.echo_us);
      break;
    case RaftMessageType::kInstallSnapshotResponse:
      pk.pack(m.index);
      pk.pack(m.offset);
      pk.pack(m.done);
      pk.pack(m.reject);
      pk.pack(m.echo_us);
      break;
    case RaftMessageType::kTimeoutNow:
      break;
  }
  return std::string(buf.data(), buf.size());
}

Result<RaftMessage> DecodeRaftMessage(std::string_view bytes) {
  auto oh = Unpack(bytes, kMaxPeerMessageBytes);
  if (!oh.ok()) return oh.status();
  return Guarded("raft message", [&]() -> Result<RaftMessage> {
    const msgpack::object& o = oh->get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size < kHeaderFields) {
      return Status::InvalidArgument("not a raft message (expected an array)");
    }
    const msgpack::object* f = o.via.array.ptr;
    uint8_t kind = f[0].as<uint8_t>();
    if (kind < kFirstRaftMessageType || kind > kLastRaftMessageType) {
      return Status::InvalidArgument("unknown raft message type " + std::to_string(kind));
    }
    RaftMessage m;
    m.type = static_cast<RaftMessageType>(kind);
    if (o.via.array.size != kHeaderFields + BodyFields(m.type)) {
      return Status::InvalidArgument(std::string("raft ") + RaftMessageTypeName(m.type) +
                                     " has " + std::to_string(o.via.array.size) + " fields");
    }
    m.group_id = f[1].as<std::string>();
    m.from = f[2].as<std::string>();
    m.from_address = f[3].as<std::string>();
    m.to = f[4].as<std::string>();
    m.term = f[5].as<uint64_t>();
    const msgpack::object* b = f + kHeaderFields;
    switch (m.type) {
      case RaftMessageType::kPreVote:
      case RaftMessageType::kVote:
        m.index = b[0].as<uint64_t>();
        m.log_term = b[1].as<uint64_t>();
        m.transfer = b[2].as<bool>();
        if (m.log_term > m.term) return NewerThanTerm(m);
        break;
      case RaftMessageType::kPreVoteResponse:
      case RaftMessageType::kVoteResponse:
        m.reject = b[0].as<bool>();
        break;
      case RaftMessageType::kAppend: {
        m.index = b[0].as<uint64_t>();
        m.log_term = b[1].as<uint64_t>();
        m.commit = b[2].as<uint64_t>();
        m.echo_us = b[3].as<int64_t>();
        if (b[4].type != msgpack::type::ARRAY) throw msgpack::type_error();
        m.entries.reserve(b[4].via.array.size);
        for (uint32_t i = 0; i < b[4].via.array.size; ++i) {
          m.entries.push_back(ReadEntry(b[4].via.array.ptr[i]));
          // Entries of one append are consecutive after index and never older in term.
          if (m.entries.back().index != m.index + 1 + i) {
            return Status::InvalidArgument("raft Append entries are not consecutive");
          }
        }
        // A leader's log holds nothing of a later term than its own, and terms never fall
        // along a log: a follower that stored such entries could not restart (its log would
        // be newer than its term).
        if (m.log_term > m.term) return NewerThanTerm(m);
        for (size_t i = 0; i < m.entries.size(); ++i) {
          const uint64_t before = i == 0 ? m.log_term : m.entries[i - 1].term;
          if (m.entries[i].term < before || m.entries[i].term > m.term) {
            return Status::InvalidArgument("raft Append entry " + std::to_string(m.entries[i].index) +
                                           " has term " + std::to_string(m.entries[i].term) +
                                           ", outside [" + std::to_string(before) + ", " +
                                           std::to_string(m.term) + "]");
          }
        }
        break;
      }
      case RaftMessageType::kAppendResponse:
        m.index = b[0].as<uint64_t>();
        m.reject = b[1].as<bool>();
        m.reject_hint = b[2].as<uint64_t>();
        m.log_term = b[3].as<uint64_t>();
        m.echo_us = b[4].as<int64_t>();
        break;
      case RaftMessageType::kHeartbeat:
        m.commit = b[0].as<uint64_t>();
        m.echo_us = b[1].as<int64_t>();
        break;
      case RaftMessageType::kHeartbeatResponse:
        m.echo_us = b[0].as<int64_t>();
        break;
      case RaftMessageType::kInstallSnapshot:
        m.index = b[0].as<uint64_t>();
        m.log_term = b[1].as<uint64_t>();
        m.members = ReadMembers(b[2]);
        m.offset = b[3].as<uint64_t>();
        m.total_bytes = b[4].as<uint64_t>();
        m.data = b[5].as<std::string>();
        m.echo_us = b[6].as<int64_t>();
        if (m.offset > m.total_bytes || m.data.size() > m.total_bytes - m.offset) {
          return Status::InvalidArgument("raft InstallSnapshot chunk lies outside the snapshot");
        }
        if (m.log_term > m.term) return NewerThanTerm(m);
        break;
      case RaftMessageType::kInstallSnapshotResponse:
        m.index = b[0].as<uint64_t>();
        m.offset = b[1].as<uint64_t>();
        m.done = b[2].as<bool>();
        m.reject = b[3].as<bool>();
        m.echo_us = b[4].as<int64_t>();
        break;
      case RaftMessageType::kTimeoutNow:
        break;
    }
    return m;
  });
}

std::string EncodeRaftEntry(const Entry& e) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  PackEntry(pk, e);
  return std::string(buf.data(), buf.size());
}

Result<Entry> DecodeRaftEntry(std::string_view bytes) {
  auto oh = Unpack(bytes, kMaxRecordBytes);
  if (!oh.ok()) return oh.status();
  return Guarded("raft log entry", [&]() -> Result<Entry> { return ReadEntry(oh->get()); });
}

std::string EncodeConfigChange(const RaftConfigChange& c) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_array(3);
  pk.pack(static_cast<uint8_t>(c.kind));
  RaftMembership one;
  one.members.push_back(c.member);
  PackMembers(pk, one);
  PackMembers(pk, c.after);
  return std::string(buf.data(), buf.size());
}

Result<RaftConfigChange> DecodeConfigChange(std::string_view bytes) {
  auto oh = Unpack(bytes, kMaxRecordBytes);
  if (!oh.ok()) return oh.status();
  return Guarded("membership change", [&]() -> Result<RaftConfigChange> {
    const msgpack::object* f = Array(oh->get(), 3);
    RaftConfigChange c;
    uint8_t kind = f[0].as<uint8_t>();
    if (kind < static_cast<uint8_t>(RaftChangeKind::kAddLearner) ||
        kind > static_cast<uint8_t>(RaftChangeKind::kRemove)) {
      return Status::InvalidArgument("unknown membership change kind " + std::to_string(kind));
    }
    c.kind = static_cast<RaftChangeKind>(kind);
    RaftMembership one = ReadMembers(f[1]);
    if (one.members.size() != 1) throw msgpack::type_error();
    c.member = one.members[0];
    c.after = ReadMembers(f[2]);
    return c;
  });
}

std::string EncodeHardState(const RaftHardState& hs) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_array(3);
  pk.pack(hs.term);
  pk.pack(hs.vote);
  pk.pack(hs.commit);
  return std::string(buf.data(), buf.size());
}

Result<RaftHardState> DecodeHardState(std::string_view bytes) {
  auto oh = Unpack(bytes, kMaxRecordBytes);
  if (!oh.ok()) return oh.status();
  return Guarded("raft hard state", [&]() -> Result<RaftHardState> {
    const msgpack::object* f = Array(oh->get(), 3);
    RaftHardState hs;
    hs.term = f[0].as<uint64_t>();
    hs.vote = f[1].as<std::string>();
    hs.commit = f[2].as<uint64_t>();
    return hs;
  });
}

std::string EncodeSnapshotMeta(const RaftSnapshotMeta& m) {
  msgpack::sbuffer buf;
  Packer pk(buf);
  pk.pack_array(3);
  pk.pack(m.index);
  pk.pack(m.term);
  PackMembers(pk, m.members);
  return std::string(buf.data(), buf.size());
}

Result<RaftSnapshotMeta> DecodeSnapshotMeta(std::string_view bytes) {
  auto oh = Unpack(bytes, kMaxRecordBytes);
  if (!oh.ok()) return oh.status();
  return Guarded("raft snapshot metadata", [&]() -> Result<RaftSnapshotMeta> {
    const msgpack::object* f = Array(oh->get(), 3);
    RaftSnapshotMeta m;
    m.index = f[0].as<uint64_t>();
    m.term = f[1].as<uint64_t>();
    m.members = ReadMembers(f[2]);
    return m;
  });
}

}  // namespace magpie
