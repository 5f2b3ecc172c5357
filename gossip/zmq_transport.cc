#include "gossip/zmq_transport.h"

#include "gossip/peer_envelope.h"

namespace magpie {

ZmqTransport::ZmqTransport(zmq::context_t* context, ZmqTransportOptions options,
                           std::shared_ptr<spdlog::logger> logger)
    : context_(context), options_(options), log_(std::move(logger)) {}

ZmqTransport::~ZmqTransport() {
  // A short linger, so a graceful leave's last messages still go out.
  for (auto& [addr, p] : peers_) {
    try {
      p.socket->set(zmq::sockopt::linger, 200);
    } catch (const zmq::error_t&) {
    }
    p.socket->close();
  }
}

ZmqTransport::Peer* ZmqTransport::PeerFor(const std::string& address) {
  auto it = peers_.find(address);
  if (it != peers_.end()) return &it->second;
  if (peers_.size() >= options_.max_peers) {
    auto lru = peers_.begin();
    for (auto i = peers_.begin(); i != peers_.end(); ++i) {
      if (i->second.last_used < lru->second.last_used) lru = i;
    }
    lru->second.socket->close();
    peers_.erase(lru);
  }
  try {
    auto s = std::make_unique<zmq::socket_t>(*context_, zmq::socket_type::dealer);
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::sndhwm, options_.send_hwm);
    // Queue nothing for a peer we are not connected to: a dead peer's messages are
    // dropped at once instead of piling up until it returns with stale news.
    s->set(zmq::sockopt::immediate, 1);
    s->set(zmq::sockopt::reconnect_ivl, 100);
    s->set(zmq::sockopt::reconnect_ivl_max, 2000);
    s->connect("tcp://" + address);
    Peer& p = peers_[address];
    p.socket = std::move(s);
    return &p;
  } catch (const zmq::error_t& e) {
    log_->warn("cannot connect to peer {}: {}", address, e.what());
    return nullptr;
  }
}

void ZmqTransport::Send(const PeerMessage& message) {
  Peer* p = PeerFor(message.to);
  if (p == nullptr) {
    ++dropped_;
    return;
  }
  p->last_used = ++clock_;
  std::string bytes = EncodePeerFrame(message);
  try {
    auto r = p->socket->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    if (r) {
      ++sent_;
    } else {
      ++dropped_;
    }
  } catch (const zmq::error_t& e) {
    ++dropped_;
    log_->debug("send to {} failed: {}", message.to, e.what());
  }
}

}  // namespace magpie
