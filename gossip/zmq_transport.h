// Sends peer messages over ZeroMQ: one DEALER socket per peer, connected to the peer's
// listening ROUTER (where the envelope's magic separates peers from clients). Sending
// never blocks the core: a peer that is slow, unreachable or not yet connected gets its
// message dropped and counted, and the protocol above (SWIM, Raft) retries as it must.
#ifndef MAGPIE_GOSSIP_ZMQ_TRANSPORT_H_
#define MAGPIE_GOSSIP_ZMQ_TRANSPORT_H_

#include <cstdint>
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

  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }

 private:
  struct Peer {
    std::unique_ptr<zmq::socket_t> socket;
    uint64_t last_used = 0;
  };
  Peer* PeerFor(const std::string& address);

  zmq::context_t* context_;
  ZmqTransportOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  std::map<std::string, Peer> peers_;
  uint64_t clock_ = 0;  // a use counter for LRU, not time
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_ZMQ_TRANSPORT_H_
