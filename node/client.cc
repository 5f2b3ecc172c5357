#include "node/client.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace magpie {

namespace {

// Replies larger than this cannot be valid frames; zmq drops the connection instead of
// allocating for them.
constexpr int64_t kMaxReplyBytes = static_cast<int64_t>(kMaxClientFrameBytes) + 4096;
// Bounds on queued messages: far above what the benchmark keeps in flight, and small enough
// that a stalled node cannot make a client buffer without limit.
constexpr int kSendHighWater = 100000;
constexpr int kReceiveHighWater = 100000;
// How fast to retry a refused connection. Only matters for long-lived clients (the bench):
// a CLI call reports the first refusal.
constexpr int kReconnectIntervalMs = 100;
constexpr int kReconnectIntervalMaxMs = 1000;
// A frame from a ROUTER may carry an empty delimiter before the payload; anything with more
// parts than this is not a reply.
constexpr int kMaxReplyParts = 4;
constexpr const char* kMonitorEndpoint = "inproc://magpie-client-monitor";
// A CurveZMQ handshake takes one round trip and a little arithmetic; a node that has not
// finished one in this long is not going to.
constexpr int kHandshakeTimeoutMs = 5000;

// "5 s", "1.5 s", "250 ms": how long we waited, in the words of the error message.
std::string DescribeTimeout(std::chrono::milliseconds t) {
  int64_t ms = t.count();
  if (ms < 1000) return std::to_string(ms) + " ms";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string StripScheme(const std::string& host_port) {
  const std::string scheme = "tcp://";
  if (host_port.compare(0, scheme.size(), scheme) == 0) return host_port.substr(scheme.size());
  return host_port;
}

std::chrono::milliseconds Remaining(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return std::max(left, std::chrono::milliseconds(0));
}

}  // namespace

Status Client::ValidateAddress(const std::string& given) {
  const std::string host_port = StripScheme(given);
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("invalid node address '" + given + "': " + why +
                                   " (expected HOST:PORT, e.g. 127.0.0.1:7400)");
  };
  size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) return bad("no port");
  std::string host = host_port.substr(0, colon);
  std::string port = host_port.substr(colon + 1);
  if (host.empty()) return bad("no host");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad("an IPv6 host must be in brackets");
  } else if (host.find(':') != std::string::npos) {
    return bad("an IPv6 host must be in brackets, like [::1]:7400");
  } else if (host.find_first_of(" /\t") != std::string::npos) {
    return bad("the host contains a space or '/'");
  }
  if (!AllDigits(port) || port.size() > 5) return bad("the port is not a number");
  int p = std::stoi(port);
  if (p < 1 || p > 65535) return bad("the port must be between 1 and 65535");
  return Status::Ok();
}

Result<std::unique_ptr<Client>> Client::Connect(const std::string& given,
                                                const ClientSecurity& security) {
  Status valid = ValidateAddress(given);
  if (!valid.ok()) return valid;
  const std::string address = StripScheme(given);
  try {
    auto context = std::make_unique<zmq::context_t>(1);
    auto socket = std::make_unique<zmq::socket_t>(*context, zmq::socket_type::dealer);
    socket->set(zmq::sockopt::linger, 0);  // never hang at exit on unsent requests
    // Queue requests only on a finished connection, so "no connection yet" is visible as a
    // send that would block rather than as a request silently parked in a buffer.
    socket->set(zmq::sockopt::immediate, true);
    socket->set(zmq::sockopt::sndhwm, kSendHighWater);
    socket->set(zmq::sockopt::rcvhwm, kReceiveHighWater);
    socket->set(zmq::sockopt::maxmsgsize, kMaxReplyBytes);
    socket->set(zmq::sockopt::reconnect_ivl, kReconnectIntervalMs);
    socket->set(zmq::sockopt::reconnect_ivl_max, kReconnectIntervalMaxMs);
    if (address.front() == '[') socket->set(zmq::sockopt::ipv6, true);
    if (security.curve) {
      socket->set(zmq::sockopt::curve_serverkey, security.curve->server_public);
      socket->set(zmq::sockopt::curve_publickey, security.curve->public_key);
      socket->set(zmq::sockopt::curve_secretkey, security.curve->secret_key);
    }
    // A node that accepts the connection but never finishes the handshake is given up on.
    socket->set(zmq::sockopt::handshake_ivl, kHandshakeTimeoutMs);

    // The monitor must be listening before connect(), or the first events are dropped.
    const int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED | ZMQ_EVENT_DISCONNECTED |
                       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    if (zmq_socket_monitor(socket->handle(), kMonitorEndpoint, events) != 0) {
      throw zmq::error_t();
    }
    auto monitor = std::make_unique<zmq::socket_t>(*context, zmq::socket_type::pair);
    monitor->set(zmq::sockopt::linger, 0);
    monitor->connect(kMonitorEndpoint);

    socket->connect("tcp://" + address);
    return std::unique_ptr<Client>(new Client(address, security, std::move(context),
                                              std::move(socket), std::move(monitor)));
  } catch (const zmq::error_t& e) {
    return Status::InvalidArgument("cannot set up a connection to node " + address + ": " +
                                   e.what());
  }
}

Client::Client(std::string address, ClientSecurity security,
               std::unique_ptr<zmq::context_t> context, std::unique_ptr<zmq::socket_t> socket,
               std::unique_ptr<zmq::socket_t> monitor)
    : address_(std::move(address)),
      security_(std::move(security)),
      context_(std::move(context)),
      socket_(std::move(socket)),
      monitor_(std::move(monitor)) {}

Client::~Client() {
  try {
    zmq_socket_monitor(socket_->handle(), nullptr, 0);
    monitor_->close();
    socket_->close();
  } catch (const zmq::error_t&) {
    // Closing cannot usefully fail; the context's destructor releases what is left.
  }
}

Status Client::NoAnswer(std::chrono::milliseconds timeout) const {
  if (security_.curve) {
    // A handshake the node refuses without a word looks exactly like this.
    return Status::Unavailable("no answer from node " + address_ + " within " +
                               DescribeTimeout(timeout) +
                               ": is a node running there, and does it use the same cluster key (" +
                               security_.key_source + ")?");
  }
  return Status::Unavailable("no answer from node " + address_ + " within " +
                             DescribeTimeout(timeout) + "; is magpie-node running there?");
}

Status Client::HandshakeRefused() const {
  const std::string key = security_.key_source.empty() ? "" : " (" + security_.key_source + ")";
  if (handshake_failure_ == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    return Status::Unavailable("node " + address_ + " refused this client's key" + key +
                               ": the key is not of its cluster, or not in its --allow-keys");
  }
  if (handshake_failure_ == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
      handshake_failure_value_ == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
    if (security_.curve) {
      return Status::Unavailable("node " + address_ +
                                 " does not use a cluster key (it was started with --insecure); "
                                 "talk to it with magpie --insecure");
    }
    return Status::Unavailable("node " + address_ +
                               " requires the cluster key and this client was given --insecure: "
                               "leave --insecure out (see 'magpie --help' for where the key is "
                               "looked for)");
  }
  // Usually the node hung up without a word (libzmq's "no detail"): all we know is that
  // the handshake did not match.
  if (!security_.curve) {
    return Status::Unavailable("node " + address_ +
                               " closed the handshake: it probably requires the cluster key "
                               "(it was not started with --insecure); leave --insecure out");
  }
  return Status::Unavailable("no answer from node " + address_ +
                             ": it closed the encrypted handshake; does it use the same cluster "
                             "key" + key + "? (a node started with --insecure does this too)");
}

Status Client::CannotConnect() const {
  return Status::Unavailable("cannot connect to node " + address_ +
                             " (connection refused or host unreachable); is magpie-node "
                             "running there?");
}

Status Client::ConnectionLost() const {
  // Also what a listener that is not a magpie node looks like: it accepts, then hangs up.
  return Status::Unavailable("node " + address_ +
                             " closed the connection without answering; is magpie-node "
                             "running there?");
}

void Client::DrainMonitor() {
  for (int i = 0; i < 1000; ++i) {  // bounded: events are few, this only empties the queue
    zmq::message_t event;
    if (!monitor_->recv(event, zmq::recv_flags::dontwait)) return;
    uint16_t id = 0;
    uint32_t value = 0;
    if (event.size() >= sizeof(id) + sizeof(value)) {
      std::memcpy(&id, event.data(), sizeof(id));
      std::memcpy(&value, static_cast<const char*>(event.data()) + sizeof(id), sizeof(value));
    }
    // The second part names the endpoint; we have only one.
    while (event.more()) {
      zmq::message_t part;
      if (!monitor_->recv(part, zmq::recv_flags::dontwait)) break;
      if (!part.more()) break;
    }
    switch (id) {
      case ZMQ_EVENT_CONNECTED:
        connected_ = true;
        connect_failed_ = false;
        break;
      case ZMQ_EVENT_CONNECT_RETRIED:
        if (!connected_) connect_failed_ = true;
        break;
      case ZMQ_EVENT_DISCONNECTED:
        connected_ = false;
        connection_lost_ = true;
        break;
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        handshake_failure_ = 0;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        handshake_failure_ = id;
        handshake_failure_value_ = value;
        break;
      default:
        break;
    }
  }
}

Status Client::SendUntil(RequestType type, const std::string& body, uint64_t* request_id,
                         Clock::time_point deadline, std::chrono::milliseconds timeout) {
  RequestFrame frame;
  frame.type = type;
  frame.request_id = next_request_id_++;
  frame.body = body;
  const std::string bytes = EncodeRequest(frame);
  if (bytes.size() > kMaxClientFrameBytes) {
    return Status::InvalidArgument("request of " + std::to_string(bytes.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(kMaxClientFrameBytes));
  }
  try {
    DrainMonitor();
    while (true) {
      if (socket_->send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
        *request_id = frame.request_id;
        return Status::Ok();
      }
      // Would block: with ZMQ_IMMEDIATE that means no connection yet (TCP, or the
      // handshake after it), or a full queue.
      DrainMonitor();
      if (handshake_failure_ != 0) return HandshakeRefused();
      if (connect_failed_) return CannotConnect();
      auto left = Remaining(deadline);
      if (left.count() == 0) return NoAnswer(timeout);
      std::vector<zmq::pollitem_t> items = {{socket_->handle(), 0, ZMQ_POLLOUT, 0},
                                            {monitor_->handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, left);
    }
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("sending to node " + address_ + " failed: " + e.what());
  }
}

Result<ReplyFrame> Client::ReceiveUntil(Clock::time_point deadline,
                                        std::chrono::milliseconds timeout) {
  try {
    while (true) {
      std::vector<zmq::message_t> parts;
      zmq::message_t part;
      if (socket_->recv(part, zmq::recv_flags::dontwait)) {
        bool more = part.more();
        parts.push_back(std::move(part));
        while (more) {
          zmq::message_t next;
          // The rest of a multipart message is already here once its first part is.
          if (!socket_->recv(next, zmq::recv_flags::none)) break;
          more = next.more();
          parts.push_back(std::move(next));
        }
        if (parts.size() > static_cast<size_t>(kMaxReplyParts)) {
          return Status::InvalidArgument("node " + address_ + " sent a reply of " +
                                         std::to_string(parts.size()) + " parts; expected one");
        }
        // The payload is the last part; an empty delimiter may precede it.
        const zmq::message_t& payload = parts.back();
        auto reply =
            DecodeReply(std::string_view(static_cast<const char*>(payload.data()), payload.size()));
        if (!reply.ok()) {
          return Status::InvalidArgument("unreadable reply from node " + address_ + ": " +
                                         reply.status().message());
        }
        return reply;
      }
      DrainMonitor();
      if (connection_lost_) {
        connection_lost_ = false;
        return ConnectionLost();
      }
      auto left = Remaining(deadline);
      if (left.count() == 0) return NoAnswer(timeout);
      std::vector<zmq::pollitem_t> items = {{socket_->handle(), 0, ZMQ_POLLIN, 0},
                                            {monitor_->handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, left);
    }
  } catch (const zmq::error_t& e) {
    return Status::Unavailable("receiving from node " + address_ + " failed: " + e.what());
  }
}

Result<ReplyFrame> Client::Call(RequestType type, const std::string& body,
                                std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  uint64_t id = 0;
  Status sent = SendUntil(type, body, &id, deadline, timeout);
  if (!sent.ok()) return sent;
  // A drop seen before the request went out does not concern it: with ZMQ_IMMEDIATE it
  // left on a connection that was up.
  connection_lost_ = false;
  // Bounded by the deadline; each turn either returns or consumes one stale reply.
  while (true) {
    auto reply = ReceiveUntil(deadline, timeout);
    if (!reply.ok()) return reply.status();
    if (reply->request_id == id) return reply;
    // A reply to an earlier call that gave up waiting: skip it.
  }
}

template <typename Reply>
Result<Reply> Client::CallTyped(RequestType type, const std::string& body,
                                std::chrono::milliseconds timeout) {
  auto reply = Call(type, body, timeout);
  if (!reply.ok()) return reply.status();
  if (!reply->status.ok()) return reply->status;
  auto decoded = UnpackBody<Reply>(reply->body);
  if (!decoded.ok()) {
    return Status::InvalidArgument(std::string("unreadable ") + RequestTypeName(type) +
                                   " reply from node " + address_ + ": " +
                                   decoded.status().message());
  }
  return decoded;
}

Result<SubmitReply> Client::Submit(const SubmitRequest& req, std::chrono::milliseconds timeout) {
  return CallTyped<SubmitReply>(RequestType::kSubmit, PackBody(req), timeout);
}

Result<StatusReply> Client::GetStatus(const std::string& id_or_name,
                                      std::chrono::milliseconds timeout) {
  StatusRequest req;
  req.id = id_or_name;
  return CallTyped<StatusReply>(RequestType::kStatus, PackBody(req), timeout);
}

Result<ListReply> Client::List(const ListRequest& req, std::chrono::milliseconds timeout) {
  return CallTyped<ListReply>(RequestType::kList, PackBody(req), timeout);
}

Result<WaitReply> Client::Wait(const WaitRequest& req, std::chrono::milliseconds timeout) {
  auto total = timeout + std::chrono::milliseconds(std::max<int64_t>(req.timeout_ms, 0));
  return CallTyped<WaitReply>(RequestType::kWait, PackBody(req), total);
}

Result<LogsReply> Client::Logs(const LogsRequest& req, std::chrono::milliseconds timeout) {
  return CallTyped<LogsReply>(RequestType::kLogs, PackBody(req), timeout);
}

Result<StatusReply> Client::Cancel(const std::string& id, std::chrono::milliseconds timeout) {
  CancelRequest req;
  req.id = id;
  return CallTyped<StatusReply>(RequestType::kCancel, PackBody(req), timeout);
}

Result<StatusReply> Client::Restart(const std::string& id, std::chrono::milliseconds timeout) {
  RestartRequest req;
  req.id = id;
  return CallTyped<StatusReply>(RequestType::kRestart, PackBody(req), timeout);
}

Result<StatusReply> Client::Progress(const ProgressRequest& req, std::chrono::milliseconds timeout) {
  return CallTyped<StatusReply>(RequestType::kProgress, PackBody(req), timeout);
}

Result<StatusReply> Client::ChangeSchedule(const ScheduleRequest& req, std::chrono::milliseconds timeout) {
  return CallTyped<StatusReply>(RequestType::kSchedule, PackBody(req), timeout);
}

Result<MembersReply> Client::Members(std::chrono::milliseconds timeout) {
  return CallTyped<MembersReply>(RequestType::kMembers, PackBody(MembersRequest{}), timeout);
}

Result<WatchReply> Client::Watch(const WatchRequest& req, std::chrono::milliseconds timeout) {
  auto total = timeout + std::chrono::milliseconds(std::max<int64_t>(req.timeout_ms, 0));
  return CallTyped<WatchReply>(RequestType::kWatch, PackBody(req), total);
}

Status Client::Send(RequestType type, const std::string& body, uint64_t* request_id,
                    std::chrono::milliseconds timeout) {
  return SendUntil(type, body, request_id, Clock::now() + timeout, timeout);
}

Result<ReplyFrame> Client::Receive(std::chrono::milliseconds timeout) {
  return ReceiveUntil(Clock::now() + timeout, timeout);
}

}  // namespace magpie
