#include "simulations/sim_network.h"

#include <algorithm>

namespace magpie {

SimNetwork::SimNetwork(const NetworkOptions& options, Prng* prng, EventQueue* events,
                       TraceHash* trace)
    : options_(options), prng_(prng), events_(events), trace_(trace), partition_(options.nodes) {
  const size_t links = static_cast<size_t>(Endpoints()) * Endpoints();
  latency_us_.resize(links);
  last_arrival_.assign(links, SimTime::Zero());
  for (size_t i = 0; i < links; ++i) {
    latency_us_[i] = prng_->Between(options_.latency_min_us, options_.latency_max_us);
  }
}

SimTime SimNetwork::Arrival(SimTime now, int from, int to) {
  const size_t link = Link(from, to);
  int64_t delay_us = latency_us_[link];
  if (options_.reorder && options_.jitter_max_us > 0) {
    delay_us += prng_->Between(0, options_.jitter_max_us);
  }
  if (FaultsApply(from, to) && options_.tail_per_10k > 0 &&
      prng_->Chance(options_.tail_per_10k, 10000)) {
    delay_us += prng_->Between(1000, std::max<int64_t>(1000, options_.tail_max_us));
  }
  SimTime at = now + Duration::Micros(delay_us);
  if (!options_.reorder) at = std::max(at, last_arrival_[link]);
  last_arrival_[link] = std::max(last_arrival_[link], at);
  return at;
}

int SimNetwork::Send(SimTime now, Packet packet) {
  ++stats_.sent;
  const uint64_t size = packet.kind == Packet::Kind::kPeer ? packet.peer.payload.size()
                                                           : packet.bytes.size();
  trace_->Record(now, packet.from, TraceKind::kSend,
                 (static_cast<uint64_t>(packet.to) << 8) | static_cast<uint8_t>(packet.kind), size);
  if (packet.kind == Packet::Kind::kPeer && size > kMaxPeerMessageBytes) {
    ++stats_.oversized;
    return 0;
  }
  const bool hidden = hidden_node_ >= 0 && now >= hidden_from_ && now < hidden_until_ &&
                      IsNode(packet.from) && IsNode(packet.to) &&
                      (packet.from == hidden_node_ || packet.to == hidden_node_);
  if (hidden || partition_.Blocks(packet.from, packet.to)) {
    ++stats_.cut;
    if (record_ != nullptr && !hidden) record_->Disturbed(now, packet.from, packet.to);
    trace_->Record(now, packet.from, TraceKind::kDrop, static_cast<uint64_t>(packet.to), 1);
    return 0;
  }
  if (FaultsApply(packet.from, packet.to) && options_.drop_per_10k > 0 &&
      prng_->Chance(options_.drop_per_10k, 10000)) {
    ++stats_.lost;
    if (record_ != nullptr) record_->Disturbed(now, packet.from, packet.to);
    trace_->Record(now, packet.from, TraceKind::kDrop, static_cast<uint64_t>(packet.to), 2);
    return 0;
  }
  int copies = 1;
  if (FaultsApply(packet.from, packet.to) && options_.dup_per_10k > 0 &&
      prng_->Chance(options_.dup_per_10k, 10000)) {
    copies = 2;
    ++stats_.duplicated;
  }
  packet.sent = now;
  int sent = 0;
  for (int c = 0; c < copies; ++c) {
    if (in_flight_.size() >= kMaxInFlight) {
      ++stats_.overflowed;
      if (record_ != nullptr) record_->Disturbed(now, packet.from, packet.to);
      break;
    }
    const uint64_t id = next_id_++;
    const SimTime at = Arrival(now, packet.from, packet.to);
    if (record_ != nullptr) record_->Delayed(now, packet.from, packet.to, at - now);
    if (!events_->Push(at, EventKind::kDeliver, packet.to, id)) break;
    Packet copy = c + 1 < copies ? packet : std::move(packet);
    copy.id = id;
    in_flight_.emplace(id, std::move(copy));
    ++sent;
  }
  return sent;
}

std::optional<Packet> SimNetwork::Take(SimTime now, uint64_t id) {
  auto it = in_flight_.find(id);
  if (it == in_flight_.end()) return std::nullopt;
  Packet p = std::move(it->second);
  in_flight_.erase(it);
  if (partition_.Blocks(p.from, p.to)) {
    ++stats_.cut;
    if (record_ != nullptr) record_->Disturbed(now, p.from, p.to);
    trace_->Record(now, p.to, TraceKind::kDrop, static_cast<uint64_t>(p.from), 3);
    return std::nullopt;
  }
  ++stats_.delivered;
  trace_->Record(now, p.to, TraceKind::kDeliver, static_cast<uint64_t>(p.from), p.id);
  return p;
}

void SimNetwork::Calm() {
  options_.drop_per_10k = 0;
  options_.dup_per_10k = 0;
  options_.tail_per_10k = 0;
  partition_.Heal();
}

}  // namespace magpie
