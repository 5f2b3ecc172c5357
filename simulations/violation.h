// A broken promise, said precisely: which promise, when in true time, and what happened.
#ifndef MAGPIE_SIMULATIONS_VIOLATION_H_
#define MAGPIE_SIMULATIONS_VIOLATION_H_

#include <string>

#include "simulations/sim_time.h"

namespace magpie {

// The promise names printed in reports (DESIGN §1, plus the simulator's own contracts).
inline constexpr const char* kNoAckedTaskLost = "no-acknowledged-task-lost";  // §1.1
inline constexpr const char* kOneAttempt = "one-attempt-at-a-time";          // §1.2
inline constexpr const char* kFencing = "fencing-numbers-increase";           // §1.2, §1.3
inline constexpr const char* kOneOutcome = "one-outcome";                     // §1.3
inline constexpr const char* kAfterHonoured = "after-is-honoured";            // §3: DAG order
inline constexpr const char* kLiveness = "liveness-after-heal";               // §1.1, §1.4
inline constexpr const char* kReplayConsistency = "replay-consistency";      // §4: table = f(log)
inline constexpr const char* kStartAfterGrant = "start-after-grant";  // §3: assigned, then running
inline constexpr const char* kSlotsBound = "slots-bound";  // §3: never more running than slots
inline constexpr const char* kLogMatching = "log-matching";  // §4: replicas apply one log
inline constexpr const char* kNoFalseDeath = "no-false-death";            // §5: gossip
inline constexpr const char* kMembershipAgreement = "membership-agreement";  // §5: after heal
inline constexpr const char* kNodeContract = "node-contract";  // a node broke (recovery, storage)
inline constexpr const char* kWorldBounds = "simulation-bounds";  // a run outgrew its bounds

struct Violation {
  SimTime at;
  std::string promise;
  std::string detail;

  std::string ToString() const { return "VIOLATION [" + promise + "] at t=" + at.ToString() + ": " + detail; }
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_VIOLATION_H_
