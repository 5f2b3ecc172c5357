#include "simulations/membership_checker.h"

#include <algorithm>

#include "gossip/cluster_scale.h"

namespace magpie {

MembershipChecker::MembershipChecker(FaultRecord* record, GossipConfig config)
    : record_(record), config_(std::move(config)) {}

Duration MembershipChecker::Window(size_t ids) const {
  const Duration max_suspicion =
      SuspicionTimeout(config_.suspicion_mult, std::max<uint64_t>(ids, 1), config_.probe_interval) *
      config_.suspicion_max_timeout_mult;
  // Three suspicions end to end (one held, passed on by push-pull or a reminder to a member
  // that missed the refutation, and once more), after a probe stretched by the worst local
  // health, twice. Clock drift beyond the bound (30 %) stays inside the factor three.
  return max_suspicion * 3 + config_.probe_interval * (2 * config_.awareness_max);
}

void MembershipChecker::OnTurnEnd(SimTime now, int index, const SimNode& node) {
  if (!node.up()) return;
  if (index >= static_cast<int>(seen_.size())) seen_.resize(index + 1);
  Seen& s = seen_[index];
  if (node.stats().inbox_overflowed != s.overflowed) {
    s.overflowed = node.stats().inbox_overflowed;
    record_->Disturbed(now, index, index);  // what reached its full inbox was dropped
  }
  if (s.life != node.incarnation()) {
    s.life = node.incarnation();
    s.deaths = 0;
    s.reported.clear();
  }
  const Membership& m = node.core().membership();
  const uint64_t deaths = m.counters().deaths_declared;
  if (deaths == s.deaths) return;
  s.deaths = deaths;
  // Only a Tick declares a death, and it stamps the member with this turn's `now`; a
  // member that became dead by gossip in this same turn is picked up too, which is
  // harmless: whoever declared it first was checked (or is a node that is down).
  const Instant local = node.clock().LocalAt(now);
  for (const auto& v : m.Members(local)) {
    if (v.is_self || v.state != MemberState::kDead || v.state_age_ms != 0) continue;
    if (!s.reported.insert({v.id, v.incarnation}).second) continue;
    OnDeathDeclared(now, index, v.id, v.incarnation);
  }
}

void MembershipChecker::OnDeathDeclared(SimTime now, int declarer, const std::string& member,
                                        uint64_t incarnation) {
  ++declarations_;
  const SimTime last = record_->LastDisturbed(member);
  if (last == SimTime::Never()) return;  // down, paused, or that identity is gone
  ++declarations_of_live_;
  live_declared_.insert({member, incarnation});
  const int node = record_->NodeOf(member);
  const Duration window = Window(record_->ids());
  if (node < 0 || now - last <= window) return;
  if (violations_.size() >= kMaxReported) return;
  violations_.push_back(Violation{
      now, kNoFalseDeath,
      "node " + std::to_string(declarer) + " declared member " + member + " (node " +
          std::to_string(node) + ", incarnation " + std::to_string(incarnation) +
          ") dead, but node " + std::to_string(node) + " has run under that id, undisturbed, since t=" +
          last.ToString() + ": no crash, pause, partition, loss, inbox overflow or packet slower than " +
          std::to_string(record_->slow_packet().millis()) + " ms touched it in the " +
          std::to_string(window.millis() / 1000) + " s before"});
}

std::string MembershipChecker::Disagreement(SimTime now,
                                            const std::vector<std::unique_ptr<SimNode>>& nodes) const {
  // The truth: every node that is up and running, at the incarnation it holds itself.
  std::map<std::string, std::pair<int, uint64_t>> live;  // id -> (node, incarnation)
  for (size_t j = 0; j < nodes.size(); ++j) {
    const SimNode& n = *nodes[j];
    if (n.up() && !n.paused()) {
      live[n.node_id()] = {static_cast<int>(j), n.core().membership().incarnation()};
    }
  }
  std::string out;
  size_t problems = 0;
  auto note = [&](const std::string& what) {
    if (problems++ < kMaxReported) out += (out.empty() ? "" : "; ") + what;
  };
  for (size_t i = 0; i < nodes.size(); ++i) {
    const SimNode& n = *nodes[i];
    if (!n.up() || n.paused()) continue;
    const std::string who = "node " + std::to_string(i);
    std::map<std::string, const MemberView*> listed;
    const auto views = n.core().membership().Members(n.clock().LocalAt(now));
    for (const auto& v : views) listed[v.id] = &v;
    for (const auto& [id, truth] : live) {
      auto it = listed.find(id);
      const std::string them = "node " + std::to_string(truth.first) + " (" + id + ")";
      if (it == listed.end()) {
        note(who + " does not list " + them);
      } else if (it->second->state != MemberState::kAlive) {
        note(who + " holds " + them + " " + MemberStateName(it->second->state) + " at incarnation " +
             std::to_string(it->second->incarnation) + "; it is up at " + std::to_string(truth.second));
      } else if (it->second->incarnation != truth.second) {
        note(who + " holds " + them + " alive at incarnation " + std::to_string(it->second->incarnation) +
             ", not " + std::to_string(truth.second));
      }
    }
    for (const auto& v : views) {
      if (v.state != MemberState::kAlive || live.count(v.id) != 0) continue;
      const int gone = record_->NodeOf(v.id);
      note(who + " lists " + v.id + " alive, which no running node is" +
           (gone >= 0 ? " (an identity node " + std::to_string(gone) + " had)" : std::string()));
    }
  }
  if (problems > kMaxReported) out += "; and " + std::to_string(problems - kMaxReported) + " more";
  return out;
}

}  // namespace magpie
