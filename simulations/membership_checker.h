// The gossip promises (DESIGN §5), checked in every run:
//
//   no-false-death       a member is declared dead (its suspicion ran out at some node) only
//                        if the fault record shows it was disturbed within `window` before:
//                        down, paused, its identity gone, or a packet to or from it lost,
//                        cut, dropped at its inbox, or slower than half the probe timeout
//                        (fault_record.h). The window is the longest legitimate chain from
//                        a disturbance to a declaration, with room to spare: a failed probe
//                        (up to awareness_max probe intervals), then suspicions held and
//                        passed on (each at most the maximum suspicion timeout); see
//                        Window(). A declaration later than that, of a node nothing touched,
//                        is gossip killing a healthy node.
//   membership-agreement after the heal, within kAgreementBound, every live node lists
//                        exactly the live nodes as alive (nothing suspect, no stale
//                        identity), each at the incarnation that node itself holds — so all
//                        live nodes agree, and agree with the truth.
#ifndef MAGPIE_SIMULATIONS_MEMBERSHIP_CHECKER_H_
#define MAGPIE_SIMULATIONS_MEMBERSHIP_CHECKER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gossip/gossip_config.h"
#include "simulations/fault_record.h"
#include "simulations/sim_node.h"
#include "simulations/violation.h"

namespace magpie {

class MembershipChecker {
 public:
  // After the heal, gossip has this long to agree. A partition heals through Serf's
  // reconnect (every reconnect_interval, with probability dead/live per node) or the
  // 30 s of gossip still sent to dead members, so several reconnect intervals.
  static constexpr Duration kAgreementBound = Duration::Seconds(180);
  static constexpr size_t kMaxReported = 10;

  MembershipChecker(FaultRecord* record, GossipConfig config = GossipConfig{});

  // The longest legitimate time from a member's last disturbance to a declaration of its
  // death, in a cluster that has seen `ids` identities.
  Duration Window(size_t ids) const;

  // After each turn of a node: finds the deaths its gossip declared in that turn (the
  // counter of suspicions that ran out moved) and checks each.
  void OnTurnEnd(SimTime now, int index, const SimNode& node);
  // A node declared a member dead. Public so tests can forge one.
  void OnDeathDeclared(SimTime now, int declarer, const std::string& member, uint64_t incarnation);

  // Every live node's alive list against the truth; "" when all agree. Cheap enough to
  // call once a simulated second in a small world.
  std::string Disagreement(SimTime now, const std::vector<std::unique_ptr<SimNode>>& nodes) const;
  Violation AgreementViolation(SimTime now, const std::string& disagreement) const {
    return Violation{now, kMembershipAgreement, disagreement};
  }

  const std::vector<Violation>& violations() const { return violations_; }
  // Deaths declared, and those of a member whose node was up and running under that id
  // when declared (the gossip figures' "false deaths"), with the distinct (id, incarnation).
  uint64_t declarations() const { return declarations_; }
  uint64_t declarations_of_live() const { return declarations_of_live_; }
  const std::set<std::pair<std::string, uint64_t>>& live_declared() const { return live_declared_; }

 private:
  struct Seen {
    uint64_t life = 0;     // SimNode::incarnation(): counters start over with each boot
    uint64_t deaths = 0;   // GossipCounters::deaths_declared already looked at
    uint64_t overflowed = 0;
    std::set<std::pair<std::string, uint64_t>> reported;  // (member, incarnation) this life
  };

  FaultRecord* record_;
  GossipConfig config_;
  std::vector<Seen> seen_;  // by node index
  std::set<std::pair<std::string, uint64_t>> live_declared_;
  uint64_t declarations_ = 0;
  uint64_t declarations_of_live_ = 0;
  std::vector<Violation> violations_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_MEMBERSHIP_CHECKER_H_
