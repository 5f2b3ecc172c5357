// Sends peer messages over ZeroMQ: one DEALER socket per peer, connected to the peer's
// listening ROUTER (where the envelope's magic separates peers from clients). Sending
// never blocks the core: a peer that is slow, unreachable or not yet connected gets its
// message dropped and counted, and the protocol above (SWIM, Raft) retries as it must.
// With Curve keys every connection is authenticated and encrypted: a peer that does not
// hold the cluster's keys never completes a handshake, so nothing is ever sent to it.
#ifndef MAGPIE_GOSSIP_ZMQ_TRANSPORT_H_
#define MAGPIE_GOSSIP_ZMQ_TRANSPORT_H_

#include <cstdint>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include <spdlog/logger.h>
#include <zmq.hpp>

#include "gossip/peer_message.h"

namespace magpie {

struct ZmqTransportOptions {
  size_t max_peers = 4096;  // sockets kept open; the least recently used one closes first
  int send_hwm = 10000;     // messages queued per peer before new ones are dropped
  // CurveZMQ (docs/security.md), Z85 keys: the server key every node listens with and this
  // member's client keypair. All empty: plain connections (--insecure).
  std::string curve_server_public;
  std::string curve_public;
  std::string curve_secret;
};

class ZmqTransport {
 public:
  // context must outlive the transport.
  ZmqTransport(zmq::context_t* context, ZmqTransportOptions options,
               std::shared_ptr<spdlog::logger> logger);
  ~ZmqTransport();
  ZmqTransport(const ZmqTransport&) = delete;
  ZmqTransport& operator=(const ZmqTransport&) = delete;

  void Send(const PeerMessage& message);
  // Retries what waits for a peer's first connection (call it every loop; cheap when
  // nothing waits). HasPending: something waits, so poll again within a few ms.
  void Flush();
  bool HasPending() const { return pending_ > 0; }

  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }

 private:
  struct Peer {
    std::unique_ptr<zmq::socket_t> socket;
    uint64_t last_used = 0;
    // ZMQ_IMMEDIATE refuses to queue for a peer not connected yet, so the first messages
    // to a new peer (a join, the first gossip to a newcomer) would be lost while the TCP
    // connection is made. They wait here instead, a few and briefly, until it is up.
    bool connected = false;
    std::chrono::steady_clock::time_point created;
    std::deque<std::string> pending;
  };
  bool TrySend(Peer& p, const std::string& bytes);
  Peer* PeerFor(const std::string& address);

  zmq::context_t* context_;
  ZmqTransportOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::map<std::string, Peer> peers_;
  uint64_t clock_ = 0;  // a use counter for LRU, not time
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
  size_t pending_ = 0;  // messages waiting in every peer's `pending`
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_ZMQ_TRANSPORT_H_
