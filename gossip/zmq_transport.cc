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
    dropped_ += lru->second.pending.size();
    pending_ -= lru->second.pending.size();
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
    if (!options_.curve_secret.empty()) {
      s->set(zmq::sockopt::curve_serverkey, options_.curve_server_public);
      s->set(zmq::sockopt::curve_publickey, options_.curve_public);
      s->set(zmq::sockopt::curve_secretkey, options_.curve_secret);
      // A peer that accepts but never finishes the handshake is retried, not waited on.
      s->set(zmq::sockopt::handshake_ivl, 5000);
    }
    s->connect("tcp://" + address);
    Peer& p = peers_[address];
    p.socket = std::move(s);
    p.created = std::chrono::steady_clock::now();
    return &p;
  } catch (const zmq::error_t& e) {
    log_->warn("cannot connect to peer {}: {}", address, e.what());
    return nullptr;
  }
}

namespace {
// How long, and how many, messages wait for a new peer's first connection.
constexpr auto kFirstConnectWait = std::chrono::seconds(2);
constexpr size_t kMaxPendingPerPeer = 64;
}  // namespace

bool ZmqTransport::TrySend(Peer& p, const std::string& bytes) {
  try {
    if (p.socket->send(zmq::buffer(bytes), zmq::send_flags::dontwait)) {
      p.connected = true;
      ++sent_;
      return true;
    }
  } catch (const zmq::error_t& e) {
    log_->debug("send failed: {}", e.what());
  }
  return false;
}

void ZmqTransport::Send(const PeerMessage& message) {
  Peer* p = PeerFor(message.to);
  if (p == nullptr) {
    ++dropped_;
    return;
  }
  p->last_used = ++clock_;
  std::string bytes = EncodePeerFrame(message);
  if (p->pending.empty() && TrySend(*p, bytes)) return;
  const bool young = !p->connected && std::chrono::steady_clock::now() - p->created < kFirstConnectWait;
  if (young && p->pending.size() < kMaxPendingPerPeer) {
    p->pending.push_back(std::move(bytes));
    ++pending_;
    return;
  }
  ++dropped_;
}

void ZmqTransport::Flush() {
  if (pending_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  for (auto& [address, p] : peers_) {
    while (!p.pending.empty() && TrySend(p, p.pending.front())) {
      p.pending.pop_front();
      --pending_;
    }
    if (!p.pending.empty() && now - p.created >= kFirstConnectWait) {
      dropped_ += p.pending.size();
      pending_ -= p.pending.size();
      p.pending.clear();
    }
  }
}

}  // namespace magpie
