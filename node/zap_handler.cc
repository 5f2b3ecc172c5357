#include "node/zap_handler.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

#include <zmq_addon.hpp>

#include "node/key_files.h"

namespace magpie {

namespace {

constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";
// Bounds on one Service call: a flood of handshakes cannot starve the node's loop.
constexpr int kMaxRequestsPerCall = 256;
constexpr int kMaxEventsPerCall = 1024;
constexpr size_t kMaxPeersRemembered = 4096;
// At most one warn line this often; the ones in between are counted in the next.
constexpr auto kLogEvery = std::chrono::seconds(5);
constexpr auto kReloadCheckEvery = std::chrono::seconds(2);

std::string PeerAddress(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char host[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* in = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in->sin6_port));
  }
  return {};
}

std::string WhyProtocolFailed(uint32_t value) {
  switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "it does not hold this cluster's key (its handshake does not decrypt with our "
             "server key)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "it does not use CurveZMQ (an --insecure node or client?)";
    default: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "ZMTP protocol error 0x%x", value);
      return buf;
    }
  }
}

std::string DescribeAddress(const std::string& address) {
  return address.empty() ? "an address not known (it hung up at once)" : address;
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t* context, ZapOptions options,
                       std::shared_ptr<spdlog::logger> logger)
    : context_(context),
      options_(std::move(options)),
      log_(std::move(logger)),
      zap_(*context, zmq::socket_type::rep) {}

ZapHandler::~ZapHandler() {
  try {
    if (monitor_) monitor_->close();
    zap_.close();
  } catch (const zmq::error_t&) {
  }
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(zmq::context_t* context, ZapOptions options,
                                                      std::shared_ptr<spdlog::logger> logger) {
  try {
    std::unique_ptr<ZapHandler> h(new ZapHandler(context, std::move(options), std::move(logger)));
    h->zap_.set(zmq::sockopt::linger, 0);
    h->zap_.bind(kZapEndpoint);
    if (!h->options_.allow_keys_file.empty()) {
      Status s = h->LoadAllowList();
      if (!s.ok()) return s;
    }
    return h;
  } catch (const zmq::error_t& e) {
    return Status::Unavailable(std::string("cannot start the ZAP handler: ") + e.what());
  }
}

Status ZapHandler::LoadAllowList() {
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(options_.allow_keys_file, ec);
  auto keys = ReadAllowList(options_.allow_keys_file);
  if (!keys.ok()) return keys.status();
  allow_ = std::move(*keys);
  if (!ec) allow_mtime_ = mtime;
  log_->info("--allow-keys {}: {} more client key{} allowed", options_.allow_keys_file,
             allow_.size(), allow_.size() == 1 ? "" : "s");
  return Status::Ok();
}

void ZapHandler::MaybeReloadAllowList() {
  if (options_.allow_keys_file.empty()) return;
  auto now = std::chrono::steady_clock::now();
  if (now < next_reload_check_) return;
  next_reload_check_ = now + kReloadCheckEvery;
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(options_.allow_keys_file, ec);
  if (ec || mtime == allow_mtime_) return;
  Status s = LoadAllowList();
  if (!s.ok()) {
    allow_mtime_ = mtime;  // say it once per change, not every check
    log_->warn("--allow-keys changed but cannot be read, keeping the previous list: {}",
               s.ToString());
  }
}

Status ZapHandler::Watch(zmq::socket_t* server) {
  monitor_endpoint_ = "inproc://magpie-handshakes-" + std::to_string(reinterpret_cast<uintptr_t>(this));
  const int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
  if (zmq_socket_monitor(server->handle(), monitor_endpoint_.c_str(), events) != 0) {
    return Status::Unavailable(std::string("cannot watch handshakes: ") + zmq_strerror(zmq_errno()));
  }
  try {
    monitor_ = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::pair);
    monitor_->set(zmq::sockopt::linger, 0);
    monitor_->connect(monitor_endpoint_);
  } catch (const zmq::error_t& e) {
    return Status::Unavailable(std::string("cannot watch handshakes: ") + e.what());
  }
  return Status::Ok();
}

void ZapHandler::AppendPollItems(std::vector<zmq::pollitem_t>* items) {
  items->push_back({zap_.handle(), 0, ZMQ_POLLIN, 0});
  if (monitor_) items->push_back({monitor_->handle(), 0, ZMQ_POLLIN, 0});
}

void ZapHandler::Service() {
  AnswerRequests();
  ReadEvents();
  MaybeReloadAllowList();
  if (unlogged_ > 0 && std::chrono::steady_clock::now() >= next_log_) {
    log_->warn("refused {} more handshake{}, the last from {}: {} [refused so far: {}]", unlogged_,
               unlogged_ == 1 ? "" : "s", DescribeAddress(last_unlogged_address_),
               last_unlogged_why_, refused_);
    unlogged_ = 0;
    next_log_ = std::chrono::steady_clock::now() + kLogEvery;
  }
}

void ZapHandler::AnswerRequests() {
  for (int n = 0; n < kMaxRequestsPerCall; ++n) {
    std::vector<zmq::message_t> req;
    try {
      if (!zmq::recv_multipart(zap_, std::back_inserter(req), zmq::recv_flags::dontwait)) return;
    } catch (const zmq::error_t& e) {
      log_->warn("ZAP receive failed: {}", e.what());
      return;
    }
    // version, request id, domain, address, identity, mechanism, credentials...
    std::string status = "400";
    std::string text = "not a member of this cluster";
    std::string user;
    std::string address = req.size() > 3 ? req[3].to_string() : "";
    std::string key;
    if (req.size() >= 7 && req[0].to_string_view() == "1.0" && req[5].to_string_view() == "CURVE" &&
        req[6].size() == 32) {
      char z85[41] = {0};
      zmq_z85_encode(z85, static_cast<const uint8_t*>(req[6].data()), 32);
      key = z85;
      // The user id travels with every message of the connection ("User-Id"): the driver
      // takes peer frames only from "member".
      if (key == options_.member_public_key) {
        user = "member";
      } else if (allow_.count(key) != 0) {
        user = "client:" + key;
      }
      if (!user.empty()) {
        status = "200";
        text = "OK";
      }
    }
    if (status == "200") {
      ++allowed_;
    } else {
      ++refused_;
      Refused(address, key.empty() ? "not a CurveZMQ handshake"
                                   : "its key " + key +
                                         " is neither this cluster's member key nor in --allow-keys");
    }
    try {
      zap_.send(zmq::str_buffer("1.0"), zmq::send_flags::sndmore);
      zap_.send(zmq::buffer(req.size() > 1 ? req[1].to_string() : std::string()),
                zmq::send_flags::sndmore);
      zap_.send(zmq::buffer(status), zmq::send_flags::sndmore);
      zap_.send(zmq::buffer(text), zmq::send_flags::sndmore);
      zap_.send(zmq::buffer(user), zmq::send_flags::sndmore);
      zap_.send(zmq::str_buffer(""), zmq::send_flags::none);
    } catch (const zmq::error_t& e) {
      log_->warn("ZAP reply failed: {}", e.what());
      return;
    }
  }
}

void ZapHandler::ReadEvents() {
  if (!monitor_) return;
  for (int n = 0; n < kMaxEventsPerCall; ++n) {
    zmq::message_t event;
    zmq::message_t endpoint;
    try {
      if (!monitor_->recv(event, zmq::recv_flags::dontwait)) return;
      if (event.more()) (void)monitor_->recv(endpoint, zmq::recv_flags::none);
    } catch (const zmq::error_t&) {
      return;
    }
    uint16_t id = 0;
    uint32_t value = 0;
    if (event.size() < sizeof(id) + sizeof(value)) continue;
    std::memcpy(&id, event.data(), sizeof(id));
    std::memcpy(&value, static_cast<const char*>(event.data()) + sizeof(id), sizeof(value));
    switch (id) {
      case ZMQ_EVENT_ACCEPTED:
        // Best effort: a client refused at once may have hung up before we look.
        if (peers_.size() >= kMaxPeersRemembered) peers_.clear();
        peers_[static_cast<int>(value)] = PeerAddress(static_cast<int>(value));
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        break;  // the ZAP handler refused it, and counted and logged it then
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        if (!failure_pending_.empty()) Refused("", failure_pending_);
        ++refused_;
        failure_pending_ = id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                               ? WhyProtocolFailed(value)
                               : "the connection closed before the handshake finished";
        break;
      case ZMQ_EVENT_DISCONNECTED: {
        auto it = peers_.find(static_cast<int>(value));
        std::string address = it != peers_.end() ? it->second : "";
        if (it != peers_.end()) peers_.erase(it);
        if (!failure_pending_.empty()) {
          Refused(address, failure_pending_);
          failure_pending_.clear();
        }
        break;
      }
      default:
        break;
    }
  }
}

void ZapHandler::Refused(const std::string& address, const std::string& why) {
  auto now = std::chrono::steady_clock::now();
  if (now < next_log_) {
    ++unlogged_;
    last_unlogged_address_ = address;
    last_unlogged_why_ = why;
    return;
  }
  next_log_ = now + kLogEvery;
  std::string more = unlogged_ == 0 ? "" : ", and " + std::to_string(unlogged_) + " more before it";
  unlogged_ = 0;
  log_->warn("refused a handshake from {}: {} [refused so far: {}{}]", DescribeAddress(address),
             why, refused_, more);
}

}  // namespace magpie
