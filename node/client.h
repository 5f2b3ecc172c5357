// A blocking client for the node's client API (node/client_protocol.h), used by the `magpie`
// CLI, the benchmark and tests.
//
// One ZeroMQ DEALER socket connected to one node. Two ways to use it:
//   - Call() and the typed helpers (Submit, GetStatus, ...): send one request and wait for
//     the reply with the same request id. Replies to earlier requests that timed out are
//     stale and skipped.
//   - Send() / Receive(): many requests in flight at once (the benchmark). Receive returns
//     replies in whatever order they come; match them by request_id.
// Do not mix the two while Send() requests are in flight: Call() discards replies that are
// not its own.
//
// Nothing here throws: every zmq error becomes a Status. A node that cannot be reached is
// Status::Unavailable, reported as soon as the connection attempt fails rather than at the
// end of the timeout. A Client is not thread-safe; use one per thread.
//
// Security (docs/security.md): a node speaks CurveZMQ unless started with --insecure, and a
// client must then bring the cluster's keys (node/cluster_key.h makes them from a key file).
// A refused handshake is reported as Unavailable naming the key file, since to the user it
// looks like a node that does not answer.
#ifndef MAGPIE_NODE_CLIENT_H_
#define MAGPIE_NODE_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "base/status.h"
#include "node/client_protocol.h"

namespace magpie {

// A client's CurveZMQ credentials, all Z85 text (40 characters).
struct CurveClientKeys {
  std::string server_public;  // the node's server key: the handshake fails unless it matches
  std::string public_key;     // ours, which the node's ZAP handler must accept
  std::string secret_key;
};

struct ClientSecurity {
  // Empty: a plain connection, for a node started with --insecure.
  std::optional<CurveClientKeys> curve;
  // Where the keys came from ("the default /home/u/.config/magpie/cluster.key"), named in the
  // errors a refused handshake gives.
  std::string key_source;
};

class Client {
 public:
  // Long enough for a durable submit on a loaded node, short enough that a user who typed
  // the wrong address is not left waiting.
  static constexpr std::chrono::milliseconds kDefaultTimeout{5000};

  // host_port is "HOST:PORT" (an IPv6 host in brackets: "[::1]:7400"); a leading "tcp://"
  // is accepted. Returns InvalidArgument for a malformed address. Does not wait for the
  // connection: the first request does, so this succeeds even if no node runs there yet.
  static Result<std::unique_ptr<Client>> Connect(const std::string& host_port,
                                                 const ClientSecurity& security = {});

  // Checks the form of an address without connecting; the Status says what is wrong.
  static Status ValidateAddress(const std::string& host_port);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // "HOST:PORT", as given to Connect without any "tcp://".
  const std::string& address() const { return address_; }

  // Sends one request and waits up to `timeout` for its reply. The reply frame's own status
  // (the node's answer) is in ReplyFrame::status; the Result is an error only when no
  // readable reply came back (Unavailable, or InvalidArgument for an unreadable reply).
  Result<ReplyFrame> Call(RequestType type, const std::string& body,
                          std::chrono::milliseconds timeout);

  // Typed helpers: pack the request, Call, and unpack the reply body. A reply whose status
  // is not ok comes back as that status (NotFound for an unknown id, and so on).
  Result<SubmitReply> Submit(const SubmitRequest& req,
                             std::chrono::milliseconds timeout = kDefaultTimeout);
  // id_or_name: a task id, or a name (the most recent task of that name).
  Result<StatusReply> GetStatus(const std::string& id_or_name,
                                std::chrono::milliseconds timeout = kDefaultTimeout);
  Result<ListReply> List(const ListRequest& req,
                         std::chrono::milliseconds timeout = kDefaultTimeout);
  // The node holds a Wait for up to req.timeout_ms; `timeout` is the allowance on top of it.
  Result<WaitReply> Wait(const WaitRequest& req,
                         std::chrono::milliseconds timeout = kDefaultTimeout);
  Result<LogsReply> Logs(const LogsRequest& req,
                         std::chrono::milliseconds timeout = kDefaultTimeout);
  Result<StatusReply> Cancel(const std::string& id,
                             std::chrono::milliseconds timeout = kDefaultTimeout);
  Result<StatusReply> Restart(const std::string& id,
                              std::chrono::milliseconds timeout = kDefaultTimeout);
  Result<MembersReply> Members(std::chrono::milliseconds timeout = kDefaultTimeout);
  Result<StatusReply> Progress(const ProgressRequest& req,
                               std::chrono::milliseconds timeout = kDefaultTimeout);
  // Pauses, resumes or removes a schedule; the reply holds its record once committed.
  Result<StatusReply> ChangeSchedule(const ScheduleRequest& req,
                                     std::chrono::milliseconds timeout = kDefaultTimeout);
  // The node holds a Watch for up to req.timeout_ms; `timeout` is the allowance on top of it.
  Result<WatchReply> Watch(const WatchRequest& req,
                           std::chrono::milliseconds timeout = kDefaultTimeout);

  // Pipelined mode. Send queues one request and sets *request_id; it waits (up to
  // `timeout`) only while the connection is not up yet or the send queue is full.
  Status Send(RequestType type, const std::string& body, uint64_t* request_id,
              std::chrono::milliseconds timeout = kDefaultTimeout);
  // The next reply to any request, or Unavailable after `timeout` or when the connection
  // drops (requests in flight on a dropped connection get no reply).
  Result<ReplyFrame> Receive(std::chrono::milliseconds timeout);

 private:
  using Clock = std::chrono::steady_clock;

  Client(std::string address, ClientSecurity security, std::unique_ptr<zmq::context_t> context,
         std::unique_ptr<zmq::socket_t> socket, std::unique_ptr<zmq::socket_t> monitor);

  Status SendUntil(RequestType type, const std::string& body, uint64_t* request_id,
                   Clock::time_point deadline, std::chrono::milliseconds timeout);
  Result<ReplyFrame> ReceiveUntil(Clock::time_point deadline, std::chrono::milliseconds timeout);
  // Reads every pending connection event; updates connected_ and the failure flags.
  void DrainMonitor();
  Status NoAnswer(std::chrono::milliseconds timeout) const;
  Status CannotConnect() const;
  Status ConnectionLost() const;
  Status HandshakeRefused() const;
  template <typename Reply>
  Result<Reply> CallTyped(RequestType type, const std::string& body,
                          std::chrono::milliseconds timeout);

  const std::string address_;
  const ClientSecurity security_;
  // Declared in this order so the sockets close before their context does.
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<zmq::socket_t> monitor_;  // PAIR receiving the DEALER's socket events

  uint64_t next_request_id_ = 1;
  bool connected_ = false;
  // The last connection attempt failed and none has succeeded since: a request that cannot
  // be sent now fails at once instead of waiting out its timeout.
  bool connect_failed_ = false;
  // The connection dropped; requests in flight on it will get no reply. Reported once.
  bool connection_lost_ = false;
  // The last handshake failed (ZMQ_EVENT_HANDSHAKE_FAILED_*): its event and value, so the
  // error can say why (another cluster's key, a key the node does not allow, or a node
  // that does not speak CurveZMQ at all). 0: none since the last success.
  uint16_t handshake_failure_ = 0;
  uint32_t handshake_failure_value_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_CLIENT_H_
