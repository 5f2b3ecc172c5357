// What Membership reports about the cluster: a view of each member, and events when one
// changes. Plain values, copied out, so the caller never holds a reference into the core.
#ifndef MAGPIE_GOSSIP_MEMBER_H_
#define MAGPIE_GOSSIP_MEMBER_H_

#include <cstdint>
#include <string>

#include "base/time.h"
#include "gossip/member_load.h"

namespace magpie {

enum class MemberState : uint8_t {
  kAlive = 0,    // answering probes, or not yet found silent
  kSuspect = 1,  // a probe failed; declared dead unless it refutes before the timeout
  kDead = 2,     // the suspicion ran out (or a dead update arrived); reaped later
  kLeft = 3,     // it said goodbye (Leave); reaped later
};
// "alive", "suspect", "dead", "left": the words `magpie members` shows.
const char* MemberStateName(MemberState state);

struct MemberView {
  std::string id;
  std::string address;  // HOST:PORT it listens on for peers
  MemberState state = MemberState::kAlive;
  uint64_t incarnation = 0;
  MemberLoad load;       // as of the latest alive update heard (own load for self)
  int64_t age_ms = 0;    // since we last heard from it or about it (0 for self)
  int64_t state_age_ms = 0;  // since it entered its current state, as seen here
  bool is_self = false;
};

enum class MemberEventType : uint8_t {
  kJoined = 0,   // first heard of, or back from dead/left with a higher incarnation
  kUpdated = 1,  // an alive member's load or address changed
  kSuspect = 2,  // became suspect
  kAlive = 3,    // a suspect refuted the suspicion: alive again
  kDead = 4,     // declared dead
  kLeft = 5,     // left gracefully
  kReaped = 6,   // dead or left long enough that it is forgotten
};
const char* MemberEventTypeName(MemberEventType type);

struct MemberEvent {
  MemberEventType type = MemberEventType::kJoined;
  std::string id;
  std::string address;
  uint64_t incarnation = 0;
  Instant at;  // the `now` at which this node saw it
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_MEMBER_H_
