// Membership: construction, the public entry points, output, and small helpers. Probing
// lives in membership_probe.cc, state changes in membership_state.cc.
#include "gossip/membership.h"

#include <algorithm>
#include <utility>

#include "base/check.h"
#include "gossip/cluster_scale.h"

namespace magpie {

const char* MemberStateName(MemberState state) {
  switch (state) {
    case MemberState::kAlive: return "alive";
    case MemberState::kSuspect: return "suspect";
    case MemberState::kDead: return "dead";
    case MemberState::kLeft: return "left";
  }
  return "unknown";
}

const char* MemberEventTypeName(MemberEventType type) {
  switch (type) {
    case MemberEventType::kJoined: return "joined";
    case MemberEventType::kUpdated: return "updated";
    case MemberEventType::kSuspect: return "suspect";
    case MemberEventType::kAlive: return "alive";
    case MemberEventType::kDead: return "dead";
    case MemberEventType::kLeft: return "left";
    case MemberEventType::kReaped: return "reaped";
  }
  return "unknown";
}

Membership::Membership(GossipConfig config, std::string self_id, std::string self_address,
                       uint64_t incarnation, uint64_t seed, std::shared_ptr<spdlog::logger> logger)
    : config_(std::move(config)),
      self_id_(std::move(self_id)),
      self_address_(std::move(self_address)),
      log_(std::move(logger)),
      prng_(seed),
      incarnation_(incarnation),
      awareness_(config_.awareness_max),
      broadcasts_(config_.max_queued_broadcasts) {
  MAGPIE_CHECK(!self_id_.empty() && self_id_.size() <= kMaxGossipIdBytes, "bad node id for gossip");
  MAGPIE_CHECK(!self_address_.empty() && self_address_.size() <= kMaxGossipAddressBytes, "bad gossip address");
  MAGPIE_CHECK(config_.probe_interval > Duration::Zero() && config_.gossip_interval > Duration::Zero() &&
                   config_.probe_timeout < config_.probe_interval,
               "gossip intervals must be positive, and the probe timeout below the probe interval");
}

void Membership::Join(Instant now, const std::vector<std::string>& seed_addresses) {
  MAGPIE_CHECK(!started_, "Join called twice");
  started_ = true;
  last_now_ = now;
  for (const std::string& s : seed_addresses) {
    if (s != self_address_ && std::find(seeds_.begin(), seeds_.end(), s) == seeds_.end()) seeds_.push_back(s);
  }
  // Random phases, so nodes started together do not probe and gossip in lockstep.
  auto stagger = [&](Duration d) { return Duration::Micros(prng_.Below(std::max<int64_t>(d.micros(), 1))); };
  next_probe_at_ = now + stagger(config_.probe_interval);
  next_gossip_at_ = now + stagger(config_.gossip_interval);
  next_push_pull_at_ = now + stagger(config_.push_pull_interval);
  next_reconnect_at_ = now + config_.reconnect_interval;
  BroadcastSelfAlive();
  load_dirty_ = false;
  next_load_at_ = now + config_.probe_interval;
  if (seeds_.empty()) {
    joined_ = true;
    log_->info("gossip: started a new cluster as {} at {} (incarnation {})", self_id_, self_address_, incarnation_);
    return;
  }
  log_->info("gossip: joining through {} seed(s) as {} at {} (incarnation {})", seeds_.size(), self_id_,
             self_address_, incarnation_);
  for (const std::string& s : seeds_) SyncWith(s, /*join=*/true);
  next_join_at_ = now + config_.join_retry_interval;
}

void Membership::Leave(Instant now) {
  if (!started_ || leaving_) return;
  last_now_ = std::max(last_now_, now);
  leaving_ = true;
  ++incarnation_;
  probe_.active = false;
  log_->info("gossip: leaving the cluster (incarnation {})", incarnation_);
  Broadcast(SelfFact());
  // Tell a few members at once rather than at the next gossip tick: the process may be
  // about to exit.
  for (const Member* m : RandomMembers(static_cast<size_t>(config_.gossip_nodes), [](const Member& x) {
         return x.state == MemberState::kAlive || x.state == MemberState::kSuspect;
       })) {
    Send(m->address, PeerMessageType::kGossipUpdate, GossipPacket{});
  }
}

void Membership::Tick(Instant now) {
  if (!started_) return;
  last_now_ = std::max(last_now_, now);
  // Joined once anyone answered, or someone found us first.
  if (!joined_ && NumLive() > 1) joined_ = true;
  if (!joined_ && now >= next_join_at_) {
    for (const std::string& s : seeds_) SyncWith(s, /*join=*/true);
    next_join_at_ = now + config_.join_retry_interval;
  }
  ProbeTick(now);
  RelayTick(now);
  SuspicionTick(now);
  // Load goes out before this tick's gossip so it rides on it.
  const bool news_due = load_news_ && now >= next_news_at_;
  if (load_dirty_ && !leaving_ && (now >= next_load_at_ || news_due)) {
    ++load_version_;
    BroadcastSelfAlive();
    load_dirty_ = false;
    next_load_at_ = now + config_.probe_interval;
    if (news_due) {
      next_gossip_at_ = now;
      next_news_at_ = now + config_.gossip_interval / 4;
    }
    load_news_ = false;
  }
  if (now >= next_gossip_at_) {
    GossipTick(now);
    next_gossip_at_ = now + config_.gossip_interval;
  }
  if (!leaving_ && now >= next_push_pull_at_) {
    auto peers = RandomMembers(1, [](const Member& m) { return m.state == MemberState::kAlive; });
    if (!peers.empty()) SyncWith(peers[0]->address, /*join=*/false);
    next_push_pull_at_ = now + PushPullScale(config_.push_pull_interval, NumLive());
  }
  if (!leaving_ && now >= next_reconnect_at_) {
    Reconnect();
    next_reconnect_at_ = now + config_.reconnect_interval;
  }
}

void Membership::Step(Instant now, const PeerMessage& message) {
  if (!started_ || !IsGossipMessage(message.type)) {
    ++counters_.dropped_messages;
    return;
  }
  last_now_ = std::max(last_now_, now);
  Result<GossipPacket> decoded = DecodeGossipPacket(message.payload);
  if (!decoded.ok()) {
    ++counters_.dropped_messages;
    log_->debug("gossip: dropped a message from {}: {}", message.from, decoded.status().ToString());
    return;
  }
  const GossipPacket& p = *decoded;
  if (p.sender_id == self_id_) {
    // Our own id from elsewhere: a misconfigured node sharing it, or a message looped back.
    ++counters_.dropped_messages;
    log_->debug("gossip: dropped a message from {} that carries this node's id", message.from);
    return;
  }
  ++counters_.messages_received;
  if (Member* sender = FindMember(p.sender_id)) sender->last_heard = now;

  switch (message.type) {
    case PeerMessageType::kGossipSync:
      MergeState(now, p);
      // Merged first, so the reply already carries any refutation it caused.
      Send(message.from, PeerMessageType::kGossipSyncReply, SyncPacket(p.join), EncodeFullState());
      return;
    case PeerMessageType::kGossipSyncReply:
      // Whatever is new to us is re-gossiped, even what a seed told us on join: the seed's
      // own gossip of a fact dies out at members that already knew it without passing it
      // on, so without these extra sources early joiners miss late ones until a push-pull.
      MergeState(now, p);
      if (!joined_) log_->info("gossip: joined through {}", message.from);
      joined_ = true;
      return;
    default:
      break;
  }
  // Piggybacked updates first: a ping that says we are suspect gets an ack that already
  // carries our refutation.
  //
  // Decision (not in memberlist): news older than what we hold is answered with what we
  // hold. Gossip of a refutation can die out before it reaches every member (each node
  // sends it only λ·log N times); a member left holding the old suspicion then declares a
  // member dead that refuted long ago (at 20% loss, 100 nodes: about one an hour). Such a
  // member keeps gossiping its stale suspicion, so answering stale news reaches exactly it.
  std::vector<std::string> corrections;
  size_t correction_bytes = 0;
  std::vector<std::string> corrected;
  for (const GossipUpdate& u : p.updates) {
    if (!IsStale(u)) {
      ApplyUpdate(now, u);
      continue;
    }
    if (correction_bytes >= config_.max_piggyback_bytes ||
        std::find(corrected.begin(), corrected.end(), u.id) != corrected.end()) {
      continue;
    }
    const Member* m = FindMember(u.id);
    corrections.push_back(EncodeGossipUpdate(m != nullptr ? FactAbout(*m) : SelfFact()));
    correction_bytes += corrections.back().size();
    corrected.push_back(u.id);
  }
  switch (message.type) {
    case PeerMessageType::kGossipPing: HandlePing(now, message, p); break;
    case PeerMessageType::kGossipPingReq: HandlePingReq(now, message, p); break;
    case PeerMessageType::kGossipAck: HandleAck(now, p); break;
    case PeerMessageType::kGossipNack: HandleNack(p); break;
    default: break;  // kGossipUpdate: the piggyback was all of it
  }
  if (!corrections.empty()) {
    ++counters_.corrections;
    Send(message.from, PeerMessageType::kGossipUpdate, GossipPacket{}, std::move(corrections));
  }
}

void Membership::SetLocalLoad(const MemberLoad& load) {
  if (load == local_load_) return;
  if ((load.ready > 0) != (local_load_.ready > 0)) load_news_ = true;
  local_load_ = load;
  load_dirty_ = true;
}

std::vector<PeerMessage> Membership::TakeMessages() {
  std::vector<PeerMessage> out;
  out.swap(outbox_);
  return out;
}

std::vector<MemberEvent> Membership::TakeEvents() {
  std::vector<MemberEvent> out;
  out.swap(events_);
  return out;
}

Instant Membership::NextDeadline() const {
  if (!started_) return Instant::Never();
  Instant d = next_gossip_at_;
  if (!joined_) d = std::min(d, next_join_at_);
  if (probe_.active) {
    d = std::min(d, probe_.indirect_sent ? probe_.deadline : probe_.indirect_at);
  } else if (!leaving_) {
    d = std::min(d, next_probe_at_);
  }
  for (const auto& [seq, r] : relays_) d = std::min(d, r.nack_at);
  for (const auto& [id, s] : suspicions_) d = std::min(d, s.Deadline());
  if (load_dirty_ && !leaving_) d = std::min(d, load_news_ ? std::min(next_load_at_, next_news_at_) : next_load_at_);
  if (!leaving_) d = std::min({d, next_push_pull_at_, next_reconnect_at_});
  return d;
}

MemberView Membership::ViewOf(const Member& m, Instant now) const {
  MemberView v;
  v.id = m.id;
  v.address = m.address;
  v.state = m.state;
  v.incarnation = m.incarnation;
  v.load = m.load;
  v.age_ms = std::max<int64_t>((now - m.last_heard).millis(), 0);
  v.state_age_ms = std::max<int64_t>((now - m.state_since).millis(), 0);
  return v;
}

std::vector<MemberView> Membership::Members(Instant now) const {
  std::vector<MemberView> out;
  out.reserve(members_.size() + 1);
  bool self_added = false;
  auto add_self = [&] {
    out.push_back(*Find(self_id_, now));
    self_added = true;
  };
  for (const auto& [id, m] : members_) {
    if (!self_added && self_id_ < id) add_self();
    out.push_back(ViewOf(m, now));
  }
  if (!self_added) add_self();
  return out;
}

std::optional<MemberView> Membership::Find(const std::string& id, Instant now) const {
  if (id == self_id_) {
    MemberView v;
    v.id = self_id_;
    v.address = self_address_;
    v.state = leaving_ ? MemberState::kLeft : MemberState::kAlive;
    v.incarnation = incarnation_;
    v.load = local_load_;
    v.is_self = true;
    return v;
  }
  auto it = members_.find(id);
  if (it == members_.end()) return std::nullopt;
  return ViewOf(it->second, now);
}

MemberView Membership::AliveOther(size_t i, Instant now) const {
  return ViewOf(members_.at(alive_.at(i)), now);
}

MemberView Membership::AliveWithWork(size_t i, Instant now) const {
  return ViewOf(members_.at(with_work_.at(i)), now);
}

std::string Membership::LeaderHintAddress(const std::string& group) const {
  for (const auto& [id, m] : members_) {
    if (m.state != MemberState::kAlive) continue;
    auto it = m.load.leader_hints.find(group);
    if (it != m.load.leader_hints.end() && it->second == m.id) return m.address;
  }
  return "";
}

size_t Membership::NumLive() const {
  size_t n = 1;
  for (const auto& [id, m] : members_) n += (m.state == MemberState::kAlive || m.state == MemberState::kSuspect);
  return n;
}

bool Membership::leave_done() const {
  return leaving_ && (!broadcasts_.Contains(self_id_) || NumLive() <= 1);
}

// --- Output ---

GossipPacket Membership::ProbePacket(uint64_t seq, std::string target_id, std::string target_address,
                                     bool want_nack) {
  GossipPacket p;
  p.seq = seq;
  p.target_id = std::move(target_id);
  p.target_address = std::move(target_address);
  p.want_nack = want_nack;
  return p;
}

GossipPacket Membership::SyncPacket(bool join) {
  GossipPacket p;
  p.join = join;
  return p;
}

void Membership::Send(const std::string& to, PeerMessageType type, GossipPacket packet,
                      std::vector<std::string> updates) {
  if (outbox_.size() >= config_.max_outbox_messages) {
    ++counters_.dropped_outbound;
    return;
  }
  packet.sender_id = self_id_;
  if (type != PeerMessageType::kGossipSync && type != PeerMessageType::kGossipSyncReply) {
    size_t used = 0;
    for (const std::string& u : updates) used += u.size();
    if (used < config_.max_piggyback_bytes) broadcasts_.Take(config_.max_piggyback_bytes - used, TransmitLimit(), &updates);
  }
  outbox_.push_back(PeerMessage{self_address_, to, type, EncodeGossipPacket(packet, updates)});
  ++counters_.messages_sent;
}

void Membership::Broadcast(const GossipUpdate& u) {
  broadcasts_.Push(u.id, EncodeGossipUpdate(u));
  counters_.dropped_broadcasts = broadcasts_.dropped();
}

GossipUpdate Membership::SelfAlive() const {
  return GossipUpdate{UpdateKind::kAlive, self_id_, self_address_, incarnation_, load_version_, "", local_load_};
}

void Membership::BroadcastSelfAlive() {
  GossipUpdate u = SelfAlive();
  std::string bytes = EncodeGossipUpdate(u);
  if (bytes.size() > config_.max_piggyback_bytes) {
    log_->warn("gossip: this node's load is {} bytes, more than max_piggyback_bytes ({}); it will spread "
               "only by push-pull (fewer labels or leader hints would fix it)",
               bytes.size(), config_.max_piggyback_bytes);
  }
  broadcasts_.Push(self_id_, std::move(bytes));
  counters_.dropped_broadcasts = broadcasts_.dropped();
}

void Membership::Emit(Instant now, MemberEventType type, const Member& m) {
  const bool alive = type != MemberEventType::kReaped && m.state == MemberState::kAlive;
  alive_.Set(m.id, alive);
  with_work_.Set(m.id, alive && m.load.ready > 0);
  if (events_.size() >= config_.max_events) {
    ++counters_.dropped_events;
    return;
  }
  events_.push_back(MemberEvent{type, m.id, m.address, m.incarnation, now});
}

void Membership::GossipTick(Instant now) {
  if (broadcasts_.empty()) return;
  auto targets = RandomMembers(static_cast<size_t>(config_.gossip_nodes), [&](const Member& m) {
    return m.state == MemberState::kAlive || m.state == MemberState::kSuspect ||
           (m.state == MemberState::kDead && now - m.state_since < config_.gossip_to_dead_time);
  });
  for (const Member* t : targets) {
    if (broadcasts_.empty()) break;
    Send(t->address, PeerMessageType::kGossipUpdate, GossipPacket{});
  }
}

void Membership::Reconnect() {
  // Heal partitions: two sides that hold each other dead never probe or gossip across, and
  // only a full-state exchange makes each side refute. Serf's rule: try one dead member
  // with probability dead / live, so the cluster-wide rate stays about one attempt per
  // dead member per interval, and a side that lost half the cluster tries every time.
  size_t dead = 0;
  for (const auto& [id, m] : members_) dead += m.state == MemberState::kDead;
  const size_t live = NumLive();
  if (dead > 0 && prng_.Chance(std::min(dead, live), live)) {
    auto pick = RandomMembers(1, [](const Member& m) { return m.state == MemberState::kDead; });
    if (!pick.empty()) SyncWith(pick[0]->address, /*join=*/false);
  }
  // Alone (everyone else dead or forgotten): back to the seeds.
  if (live == 1) {
    for (const std::string& s : seeds_) SyncWith(s, /*join=*/true);
  }
}

void Membership::SyncWith(const std::string& address, bool join) {
  ++counters_.syncs;
  Send(address, PeerMessageType::kGossipSync, SyncPacket(join), EncodeFullState());
}

std::vector<const Membership::Member*> Membership::RandomMembers(size_t k,
                                                                const std::function<bool(const Member&)>& ok) {
  // memberlist's kRandomNodes: random picks from the probe list, at most 3n of them, so the
  // cost is O(k) in a healthy cluster and bounded when few members qualify.
  std::vector<const Member*> out;
  const size_t n = probe_order_.size();
  for (size_t tries = 0; tries < 3 * n && out.size() < k; ++tries) {
    auto it = members_.find(probe_order_[prng_.Below(n)]);
    if (it == members_.end() || !ok(it->second)) continue;
    if (std::find(out.begin(), out.end(), &it->second) != out.end()) continue;
    out.push_back(&it->second);
  }
  return out;
}

Membership::Member* Membership::FindMember(const std::string& id) {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

int Membership::TransmitLimit() const {
  return RetransmitLimit(config_.retransmit_mult, members_.size() + 1);
}

}  // namespace magpie
