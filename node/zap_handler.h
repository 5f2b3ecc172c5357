// Who may finish a CurveZMQ handshake with this node, and a record of who was refused.
//
// Two sockets, both serviced by the driver's loop (never by the core):
//   - the ZAP handler (ZeroMQ's authentication protocol, RFC 27): a REP socket on
//     inproc://zeromq.zap.01 that libzmq asks about every client that proved it holds a
//     secret key for the public key it presents. It allows the cluster's member key and the
//     keys of the --allow-keys file (re-read when the file changes), and refuses the rest.
//   - a monitor of the listening socket, which sees every failed handshake: a refusal
//     above, and the ones ZAP never hears of, because a client without the cluster key
//     cannot even encrypt its first message to our server key.
// Refusals are counted and logged at warn, at most one line every few seconds.
#ifndef MAGPIE_NODE_ZAP_HANDLER_H_
#define MAGPIE_NODE_ZAP_HANDLER_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "base/status.h"

namespace magpie {

struct ZapOptions {
  std::string member_public_key;  // Z85: the key every member derives from the cluster key
  std::string allow_keys_file;    // optional: more Z85 public keys, one a line
};

class ZapHandler {
 public:
  // Binds the ZAP endpoint of `context` and reads the allow-list file.
  // REQUIRES: no CURVE server socket of `context` has bound yet: until a ZAP handler
  // exists, libzmq lets any client key through. `context` must outlive the handler.
  static Result<std::unique_ptr<ZapHandler>> Start(zmq::context_t* context, ZapOptions options,
                                                   std::shared_ptr<spdlog::logger> logger);
  ~ZapHandler();
  ZapHandler(const ZapHandler&) = delete;
  ZapHandler& operator=(const ZapHandler&) = delete;

  // Watches `server`'s handshakes. REQUIRES: before `server` binds, so no event is missed.
  Status Watch(zmq::socket_t* server);

  // The sockets to poll for input; call Service when either has some (or every turn).
  void AppendPollItems(std::vector<zmq::pollitem_t>* items);
  // Answers pending ZAP requests, reads handshake events, re-reads the allow-list file if
  // it changed. Never blocks; bounded work per call.
  void Service();

  uint64_t allowed() const { return allowed_; }
  uint64_t refused() const { return refused_; }

 private:
  ZapHandler(zmq::context_t* context, ZapOptions options, std::shared_ptr<spdlog::logger> logger);
  Status LoadAllowList();
  void AnswerRequests();
  void ReadEvents();
  void MaybeReloadAllowList();
  // Counts one refused handshake and logs it, or folds it into the next line.
  void Refused(const std::string& address, const std::string& why);

  zmq::context_t* context_;
  ZapOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  zmq::socket_t zap_;
  std::unique_ptr<zmq::socket_t> monitor_;
  std::set<std::string> allow_;  // Z85 public keys from the file
  std::filesystem::file_time_type allow_mtime_{};
  std::chrono::steady_clock::time_point next_reload_check_{};

  // Peer addresses of accepted connections by file descriptor (from ZMQ_EVENT_ACCEPTED),
  // so a failed handshake's log line can say who it was. Bounded: cleared when large.
  std::map<int, std::string> peers_;
  // A handshake failed; the next ZMQ_EVENT_DISCONNECTED is that connection (libzmq emits
  // the two back to back on the one I/O thread). Empty: none pending.
  std::string failure_pending_;
  // The address the last refused ZAP request came from: its handshake failure follows.
  std::string last_zap_refused_address_;

  uint64_t allowed_ = 0;
  uint64_t refused_ = 0;
  uint64_t unlogged_ = 0;  // refusals since the last warn line
  std::string last_unlogged_address_;  // the latest of them, for the next line
  std::string last_unlogged_why_;
  std::chrono::steady_clock::time_point next_log_{};
  std::string monitor_endpoint_;
};

}  // namespace magpie

#endif  // MAGPIE_NODE_ZAP_HANDLER_H_
