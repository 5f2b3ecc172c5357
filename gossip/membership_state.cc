// Membership state changes, after memberlist's aliveNode / suspectNode / deadNode /
// mergeState. The rules, in order of strength for one member:
//   - a higher incarnation wins; only the member itself raises its incarnation;
//   - at one incarnation: left, dead > suspect > alive (alive needs a higher incarnation to
//     undo a suspicion or a death), and a higher load_version refreshes an alive member's load;
//   - news about ourselves at our incarnation or above that says anything but "alive as we
//     are" is refuted by raising our incarnation past it and gossiping "alive".
// Every accepted change is re-gossiped (keyed by member, so a newer fact replaces an older).
#include <algorithm>
#include <utility>

#include "base/buggify.h"
#include "gossip/cluster_scale.h"
#include "gossip/membership.h"

namespace magpie {

void Membership::ApplyUpdate(Instant now, const GossipUpdate& u) {
  switch (u.kind) {
    case UpdateKind::kAlive: HandleAlive(now, u); break;
    case UpdateKind::kSuspect: HandleSuspect(now, u); break;
    case UpdateKind::kDead:
    case UpdateKind::kLeft: HandleDead(now, u); break;
  }
}

void Membership::HandleAlive(Instant now, const GossipUpdate& u) {
  if (u.id == self_id_) {
    if (leaving_) return;
    // Someone holds a newer (or different) "alive" for us than we have: a previous life of
    // this node whose incarnation we did not persist. Outbid it.
    const bool newer = u.incarnation > incarnation_ ||
                       (u.incarnation == incarnation_ &&
                        (u.load_version > load_version_ ||
                         (u.load_version == load_version_ && u.address != self_address_)));
    if (newer) Refute(now, u.incarnation);
    return;
  }
  auto it = members_.find(u.id);
  if (it == members_.end()) {
    Member m;
    m.id = u.id;
    m.address = u.address;
    m.incarnation = u.incarnation;
    m.load_version = u.load_version;
    m.load = u.load;
    m.state_since = now;
    m.last_heard = now;
    const Member& added = members_.emplace(u.id, std::move(m)).first->second;
    // A random place in this round's order (memberlist): appending would leave every new
    // member for last and stretch the detection bound.
    probe_order_.push_back(u.id);
    std::swap(probe_order_.back(), probe_order_[prng_.Below(probe_order_.size())]);
    log_->info("gossip: {} joined at {} (incarnation {})", u.id, u.address, u.incarnation);
    Emit(now, MemberEventType::kJoined, added);
    Broadcast(u);
    return;
  }
  Member& m = it->second;
  if (u.incarnation < m.incarnation) return;
  if (u.incarnation == m.incarnation) {
    if (m.state == MemberState::kDead || m.state == MemberState::kLeft) return;
    if (u.load_version < m.load_version) return;
    m.last_heard = now;
    if (u.load_version == m.load_version) return;
    if (u.address != m.address) {
      log_->warn("gossip: conflicting address for {}: {} and {} at one incarnation; keeping {}", u.id, m.address,
                 u.address, m.address);
      return;
    }
    m.load_version = u.load_version;
    if (m.load != u.load) {
      m.load = u.load;
      Emit(now, MemberEventType::kUpdated, m);
    }
    Broadcast(u);
    return;
  }
  // A newer incarnation: it is alive, whatever we thought (the deliberate bug keeps a dead
  // member dead).
  if (MAGPIE_BUGGIFY_ON(dead_stays_dead) && m.state == MemberState::kDead) return;
  const MemberState old = m.state;
  const bool changed = m.address != u.address || m.load != u.load;
  m.address = u.address;
  m.incarnation = u.incarnation;
  m.load_version = u.load_version;
  m.load = u.load;
  m.last_heard = now;
  suspicions_.erase(u.id);
  if (old != MemberState::kAlive) {
    m.state = MemberState::kAlive;
    m.state_since = now;
  }
  if (old == MemberState::kDead || old == MemberState::kLeft) {
    log_->info("gossip: {} is back at {} (incarnation {})", u.id, u.address, u.incarnation);
    Emit(now, MemberEventType::kJoined, m);
  } else if (old == MemberState::kSuspect) {
    ++counters_.suspicions_refuted;
    log_->info("gossip: {} refuted its suspicion (incarnation {})", u.id, u.incarnation);
    Emit(now, MemberEventType::kAlive, m);
  } else if (changed) {
    Emit(now, MemberEventType::kUpdated, m);
  }
  Broadcast(u);
}

void Membership::HandleSuspect(Instant now, const GossipUpdate& u) {
  if (u.id == self_id_) {
    if (!leaving_ && u.incarnation >= incarnation_) Refute(now, u.incarnation);
    return;
  }
  Member* m = FindMember(u.id);
  if (m == nullptr || u.incarnation < m->incarnation) return;
  auto s = suspicions_.find(u.id);
  if (s != suspicions_.end() && u.incarnation == m->incarnation) {
    // Already suspect: maybe an independent confirmation, which shortens the timeout and
    // is worth passing on so others' timers shrink too.
    if (s->second.Confirm(u.from)) Broadcast(u);
    return;
  }
  // A suspicion at a newer incarnation means the member refuted the one we hold (we have
  // not heard its "alive" yet): start over from the new one. memberlist confirms the old
  // timer instead, and declares the member dead at an incarnation it already outgrew.
  const bool newer_suspicion = s != suspicions_.end();
  if (m->state != MemberState::kAlive && !newer_suspicion) return;
  m->incarnation = u.incarnation;
  if (!newer_suspicion) {
    m->state = MemberState::kSuspect;
    m->state_since = now;
  }
  // memberlist: aim for k = suspicion_mult - 2 confirmations, which brings the timeout to
  // its minimum about two probe intervals short of the nominal one; with fewer than k other
  // members to confirm, expect none.
  const uint64_t n = members_.size() + 1;
  int k = config_.suspicion_mult - 2;
  if (n < static_cast<uint64_t>(k) + 2) k = 0;
  const Duration min = SuspicionTimeout(config_.suspicion_mult, n, config_.probe_interval);
  const Duration max = min * config_.suspicion_max_timeout_mult;
  suspicions_.insert_or_assign(u.id, Suspicion(u.from, k, min, max, now));
  ++counters_.suspicions;
  log_->info("gossip: {} is suspect (accused by {}, incarnation {})", u.id, u.from, u.incarnation);
  if (!newer_suspicion) Emit(now, MemberEventType::kSuspect, *m);
  Broadcast(u);
}

void Membership::HandleDead(Instant now, const GossipUpdate& u) {
  if (u.id == self_id_) {
    if (!leaving_ && u.incarnation >= incarnation_) Refute(now, u.incarnation);
    return;
  }
  Member* m = FindMember(u.id);
  if (m == nullptr || u.incarnation < m->incarnation) return;
  suspicions_.erase(u.id);
  if (m->state == MemberState::kDead || m->state == MemberState::kLeft) return;
  const bool left = u.kind == UpdateKind::kLeft;
  m->incarnation = u.incarnation;
  m->state = left ? MemberState::kLeft : MemberState::kDead;
  m->state_since = now;
  log_->info("gossip: {} {} (incarnation {}, by {})", u.id, left ? "left" : "is dead", u.incarnation, u.from);
  Emit(now, left ? MemberEventType::kLeft : MemberEventType::kDead, *m);
  Broadcast(u);
}

void Membership::Refute(Instant now, uint64_t accused_incarnation) {
  incarnation_ = std::max(incarnation_ + 1, accused_incarnation + 1);
  // Lifeguard: being accused is a sign our own responses are slow; probe more gently.
  awareness_.ApplyDelta(1);
  ++counters_.refutations;
  log_->warn("gossip: refuting a suspicion of this node; incarnation now {}", incarnation_);
  BroadcastSelfAlive();
}

void Membership::SuspicionTick(Instant now) {
  std::vector<std::string> expired;
  for (const auto& [id, s] : suspicions_) {
    if (now >= s.Deadline()) expired.push_back(id);
  }
  for (const std::string& id : expired) {
    Member* m = FindMember(id);
    if (m == nullptr || m->state != MemberState::kSuspect) {
      suspicions_.erase(id);
      continue;
    }
    ++counters_.deaths_declared;
    log_->info("gossip: suspicion of {} ran out ({} confirmations); declaring it dead", id,
               suspicions_.at(id).confirmations());
    HandleDead(now, GossipUpdate{UpdateKind::kDead, id, "", m->incarnation, 0, self_id_, {}});
  }
}

void Membership::MergeState(Instant now, const GossipPacket& p) {
  for (const GossipUpdate& u : p.updates) {
    switch (u.kind) {
      case UpdateKind::kAlive:
        HandleAlive(now, u);
        break;
      case UpdateKind::kSuspect:
      case UpdateKind::kDead: {
        // memberlist: another node's "dead" becomes our "suspect", so a stale or one-sided
        // view cannot kill a member outright; the member gets its chance to refute.
        GossipUpdate s = u;
        s.kind = UpdateKind::kSuspect;
        s.from = p.sender_id;
        HandleSuspect(now, s);
        break;
      }
      case UpdateKind::kLeft:
        HandleDead(now, u);
        break;
    }
  }
}

bool Membership::IsStale(const GossipUpdate& u) const {
  // Older by incarnation, or an older load of an alive member at the same incarnation.
  if (u.id == self_id_) {
    return u.incarnation < incarnation_ ||
           (u.incarnation == incarnation_ && u.kind == UpdateKind::kAlive && u.load_version < load_version_);
  }
  auto it = members_.find(u.id);
  if (it == members_.end()) return false;
  const Member& m = it->second;
  return u.incarnation < m.incarnation || (u.incarnation == m.incarnation && u.kind == UpdateKind::kAlive &&
                                           m.state == MemberState::kAlive && u.load_version < m.load_version);
}

GossipUpdate Membership::SelfFact() const {
  if (!leaving_) return SelfAlive();
  return GossipUpdate{UpdateKind::kLeft, self_id_, self_address_, incarnation_, load_version_, self_id_, {}};
}

GossipUpdate Membership::FactAbout(const Member& m) const {
  GossipUpdate u{UpdateKind::kAlive, m.id, m.address, m.incarnation, m.load_version, self_id_, {}};
  switch (m.state) {
    case MemberState::kAlive:
      u.load = m.load;
      u.from.clear();
      break;
    case MemberState::kSuspect: u.kind = UpdateKind::kSuspect; break;
    case MemberState::kDead: u.kind = UpdateKind::kDead; break;
    case MemberState::kLeft: u.kind = UpdateKind::kLeft; break;
  }
  return u;
}

std::vector<std::string> Membership::EncodeFullState() {
  // Room for the packet around the updates; the rest of a peer message is ours.
  constexpr size_t kBudget = kMaxGossipPayloadBytes - 64 * 1024;
  std::vector<std::string> out;
  out.reserve(members_.size() + 1);
  out.push_back(EncodeGossipUpdate(SelfFact()));
  size_t used = out.back().size();
  for (const auto& [id, m] : members_) {
    GossipUpdate u = FactAbout(m);
    std::string bytes = EncodeGossipUpdate(u);
    if (used + bytes.size() > kBudget) {
      ++counters_.truncated_syncs;
      break;
    }
    used += bytes.size();
    out.push_back(std::move(bytes));
  }
  return out;
}

void Membership::Reap(Instant now) {
  for (auto it = members_.begin(); it != members_.end();) {
    const Member& m = it->second;
    const bool gone = (m.state == MemberState::kDead && now - m.state_since >= config_.reap_dead_after) ||
                      (m.state == MemberState::kLeft && now - m.state_since >= config_.reap_left_after);
    if (!gone) {
      ++it;
      continue;
    }
    log_->info("gossip: forgetting {} ({} for {} s)", m.id, MemberStateName(m.state), (now - m.state_since).millis() / 1000);
    Emit(now, MemberEventType::kReaped, m);
    suspicions_.erase(m.id);
    it = members_.erase(it);
  }
}

}  // namespace magpie
