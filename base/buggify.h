// Deliberate faults in the product code, after FoundationDB's BUGGIFY: each switch breaks
// one promise on purpose so the simulator's checkers can prove they catch it. They exist
// only in the simulator's build of the core (MAGPIE_BUGGIFY); in every other build each
// site is the constant false and compiles away.
#ifndef MAGPIE_BASE_BUGGIFY_H_
#define MAGPIE_BASE_BUGGIFY_H_

namespace magpie {

struct BuggifySwitches {
  bool ack_before_durable = false;      // answer a submit before its entry is synced
  bool grant_running_task = false;      // grant a new attempt while the current one runs
  bool forget_lost_on_recover = false;  // after a restart, leave dead attempts "running"
  // Replica groups (DESIGN §4): the three broken variants issue 5 names.
  bool regrant_without_lease_wait = false;  // a new leader re-grants at once
  bool ack_before_quorum = false;  // answer a submit once durable here, not on a quorum
  bool accept_stale_finish = false;  // a finish of an older attempt closes the current one
  // Schedules: a leader fires a slot again while its Fire is in flight, and the table does
  // not refuse a slot already decided.
  bool fire_twice = false;
  // States that tell the truth: a leader starts its own task when it proposes the Grant,
  // before it commits; and grants itself past its free slots.
  bool start_before_commit = false;
  bool overfill_slots = false;
  // The safety net: a leader that has begun handing its group over still grants and
  // acknowledges lease renewals (the old CanGrant); a node whose watchdog died goes on
  // running tasks.
  bool grant_during_transfer = false;
  bool ignore_dead_watchdog = false;
};

#ifdef MAGPIE_BUGGIFY
// The simulator is single-threaded and sets these before a run.
BuggifySwitches& Buggify();
#define MAGPIE_BUGGIFY_ON(name) (::magpie::Buggify().name)
#else
#define MAGPIE_BUGGIFY_ON(name) false
#endif

}  // namespace magpie

#endif  // MAGPIE_BASE_BUGGIFY_H_
