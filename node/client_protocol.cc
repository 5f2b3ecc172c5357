#include "node/client_protocol.h"

#include <tuple>

namespace magpie {

namespace {

// Bounds on what one frame may make the decoder allocate, far above any honest request
// and far below what would hurt a node.
msgpack::unpack_limit FrameLimit() {
  return msgpack::unpack_limit(/*array=*/1 << 20, /*map=*/1 << 20, /*str=*/kMaxClientFrameBytes,
                               /*bin=*/kMaxClientFrameBytes, /*ext=*/1 << 16, /*depth=*/64);
}

}  // namespace

const char* RequestTypeName(RequestType t) {
  switch (t) {
    case RequestType::kSubmit: return "submit";
    case RequestType::kStatus: return "status";
    case RequestType::kList: return "list";
    case RequestType::kWait: return "wait";
    case RequestType::kLogs: return "logs";
    case RequestType::kCancel: return "cancel";
    case RequestType::kRestart: return "restart";
    case RequestType::kMembers: return "members";
    case RequestType::kWatch: return "watch";
    case RequestType::kProgress: return "progress";
    case RequestType::kSchedule: return "schedule";
  }
  return "unknown";
}

Result<msgpack::object_handle> UnpackLimited(std::string_view bytes) {
  if (bytes.size() > kMaxClientFrameBytes) {
    return Status::InvalidArgument("message of " + std::to_string(bytes.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(kMaxClientFrameBytes));
  }
  try {
    size_t offset = 0;
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, FrameLimit());
    if (offset != bytes.size()) {
      return Status::InvalidArgument("trailing bytes after the message");
    }
    return oh;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("malformed message: ") + e.what());
  }
}

std::string EncodeRequest(const RequestFrame& frame) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(5);
  pk.pack(std::string_view(kClientMagic));
  pk.pack(kClientProtocolVersion);
  pk.pack(static_cast<uint8_t>(frame.type));
  pk.pack(frame.request_id);
  pk.pack_bin(static_cast<uint32_t>(frame.body.size()));
  pk.pack_bin_body(frame.body.data(), static_cast<uint32_t>(frame.body.size()));
  return std::string(buf.data(), buf.size());
}

Result<RequestFrame> DecodeRequest(std::string_view bytes) {
  auto oh = UnpackLimited(bytes);
  if (!oh.ok()) return oh.status();
  const msgpack::object& o = oh->get();
  try {
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 5) {
      return Status::InvalidArgument("not a magpie request frame (expected a 5-element array)");
    }
    const msgpack::object* f = o.via.array.ptr;
    if (f[0].type != msgpack::type::STR || f[0].as<std::string>() != kClientMagic) {
      return Status::InvalidArgument("not a magpie request frame (bad magic)");
    }
    uint32_t version = f[1].as<uint32_t>();
    if (version != kClientProtocolVersion) {
      return Status::InvalidArgument("client protocol version " + std::to_string(version) +
                                     " is not supported; this node speaks version " +
                                     std::to_string(kClientProtocolVersion) +
                                     " (upgrade the magpie CLI or the node)");
    }
    uint32_t type = f[2].as<uint32_t>();
    if (type != static_cast<uint32_t>(RequestType::kWatch) &&
        (type < static_cast<uint32_t>(RequestType::kSubmit) ||
        type > static_cast<uint32_t>(RequestType::kSchedule))) {
      return Status::InvalidArgument("unknown request type " + std::to_string(type));
    }
    RequestFrame frame;
    frame.type = static_cast<RequestType>(type);
    frame.request_id = f[3].as<uint64_t>();
    if (f[4].type != msgpack::type::BIN) {
      return Status::InvalidArgument("request body must be binary");
    }
    frame.body.assign(f[4].via.bin.ptr, f[4].via.bin.size);
    return frame;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("malformed request frame: ") + e.what());
  }
}

std::string EncodeReply(const ReplyFrame& frame) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_array(6);
  pk.pack(std::string_view(kClientMagic));
  pk.pack(kClientProtocolVersion);
  pk.pack(frame.request_id);
  pk.pack(static_cast<int32_t>(frame.status.code()));
  pk.pack(frame.status.message());
  pk.pack_bin(static_cast<uint32_t>(frame.body.size()));
  pk.pack_bin_body(frame.body.data(), static_cast<uint32_t>(frame.body.size()));
  return std::string(buf.data(), buf.size());
}

Result<ReplyFrame> DecodeReply(std::string_view bytes) {
  auto oh = UnpackLimited(bytes);
  if (!oh.ok()) return oh.status();
  const msgpack::object& o = oh->get();
  try {
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 6) {
      return Status::InvalidArgument("not a magpie reply frame");
    }
    const msgpack::object* f = o.via.array.ptr;
    if (f[0].type != msgpack::type::STR || f[0].as<std::string>() != kClientMagic) {
      return Status::InvalidArgument("not a magpie reply frame (bad magic)");
    }
    uint32_t version = f[1].as<uint32_t>();
    if (version != kClientProtocolVersion) {
      return Status::InvalidArgument("node speaks client protocol version " +
                                     std::to_string(version) + ", this client speaks " +
                                     std::to_string(kClientProtocolVersion));
    }
    ReplyFrame frame;
    frame.request_id = f[2].as<uint64_t>();
    int32_t code = f[3].as<int32_t>();
    std::string error = f[4].as<std::string>();
    if (code < 0 || code > static_cast<int32_t>(Status::Code::kFailedPrecondition)) {
      return Status::InvalidArgument("reply carries unknown status code " + std::to_string(code));
    }
    if (code != 0) frame.status = Status::FromCode(static_cast<Status::Code>(code), error);
    if (f[5].type != msgpack::type::BIN) return Status::InvalidArgument("reply body must be binary");
    frame.body.assign(f[5].via.bin.ptr, f[5].via.bin.size);
    return frame;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("malformed reply frame: ") + e.what());
  }
}

}  // namespace magpie
