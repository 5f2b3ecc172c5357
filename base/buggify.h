// Deliberate faults in the product code, after FoundationDB's BUGGIFY: each switch breaks
// one promise on purpose so the simulator's checkers can prove they catch it. Every build
// has the sites, as FoundationDB's does, so magpie-sim runs the very code magpie-node runs;
// only magpie-sim's --buggify (and the tests) ever turns a switch on: magpie-node has no
// way to, and an off switch costs one predictable branch on a bool.
#ifndef MAGPIE_BASE_BUGGIFY_H_
#define MAGPIE_BASE_BUGGIFY_H_

namespace magpie {

struct BuggifySwitches {
  bool ack_before_durable = false;      // answer a submit before its entry is synced
  bool grant_running_task = false;      // grant a new attempt while the current one runs
  bool forget_lost_on_recover = false;  // after a restart, leave dead attempts "running"
  // Replica groups (DESIGN §4).
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
  // Raft (node/raft): a follower's (or candidate's) appends and votes are answered without
  // an fsync, so a crash can take back what a leader or candidate already counted.
  bool raft_ack_before_durable = false;
  // Raft: an entry of an earlier term is committed once a majority holds it (the Figure 8
  // case of the Raft paper, §5.4.2), not only under an entry of the leader's own term.
  bool raft_commit_old_term = false;
  // Stealing, victim side: the answer to a thief leaves when the Grants are proposed, not
  // once they commit.
  bool steal_answer_before_commit = false;
  // Leases, holder side: a holder whose lease runs out counts it as renewed, keeps its
  // attempt running and keeps moving its watchdog's deadline.
  bool outlive_lease = false;
  // Fencing: a restarted node runs again the attempts its earlier life held, under their
  // old numbers, instead of reporting them lost so that they run under new ones.
  bool rerun_after_restart = false;
  // DAG order: an upstream that is running counts as done for its downstreams.
  bool after_running_is_enough = false;
  // DAG order across groups: an upstream in another group counts as done at once.
  bool foreign_upstream_met_at_once = false;
  // The table is a function of the log: an end applied live is stamped with the applying
  // node's clock, a replayed one with the entry's time.
  bool apply_reads_clock = false;
  // Gossip: a member once declared dead stays dead, though it comes back at a higher
  // incarnation.
  bool dead_stays_dead = false;
  // Schedules: only a group's home node fires its schedules; another leader does not.
  bool only_home_fires = false;
  // The driver's contract: a thief that does not ask now leaves its next look where it was,
  // in the past, so NextDeadline stays there and a real driver would spin.
  bool thief_forgets_backoff = false;
  // The safety net: a leader that has begun handing its group over still grants and
  // acknowledges lease renewals (the old CanGrant); a node whose watchdog died goes on
  // running tasks.
  bool grant_during_transfer = false;
  bool ignore_dead_watchdog = false;
  // The driver loop starts an attempt whose lease ran out while its Ready was held (a
  // read-only stall, a slow write).
  bool start_after_lease = false;
  // A holder remembers only its last 64 lease renewals, whatever the number of groups.
  bool forget_renewals_past_64 = false;
};

// Every switch by the name --buggify takes.
struct BuggifySwitchName {
  const char* name;
  bool BuggifySwitches::*on;
};
inline constexpr BuggifySwitchName kBuggifySwitchNames[] = {
    {"ack_before_durable", &BuggifySwitches::ack_before_durable},
    {"grant_running_task", &BuggifySwitches::grant_running_task},
    {"forget_lost_on_recover", &BuggifySwitches::forget_lost_on_recover},
    {"regrant_without_lease_wait", &BuggifySwitches::regrant_without_lease_wait},
    {"ack_before_quorum", &BuggifySwitches::ack_before_quorum},
    {"accept_stale_finish", &BuggifySwitches::accept_stale_finish},
    {"fire_twice", &BuggifySwitches::fire_twice},
    {"start_before_commit", &BuggifySwitches::start_before_commit},
    {"overfill_slots", &BuggifySwitches::overfill_slots},
    {"raft_ack_before_durable", &BuggifySwitches::raft_ack_before_durable},
    {"raft_commit_old_term", &BuggifySwitches::raft_commit_old_term},
    {"steal_answer_before_commit", &BuggifySwitches::steal_answer_before_commit},
    {"outlive_lease", &BuggifySwitches::outlive_lease},
    {"rerun_after_restart", &BuggifySwitches::rerun_after_restart},
    {"after_running_is_enough", &BuggifySwitches::after_running_is_enough},
    {"foreign_upstream_met_at_once", &BuggifySwitches::foreign_upstream_met_at_once},
    {"apply_reads_clock", &BuggifySwitches::apply_reads_clock},
    {"dead_stays_dead", &BuggifySwitches::dead_stays_dead},
    {"only_home_fires", &BuggifySwitches::only_home_fires},
    {"thief_forgets_backoff", &BuggifySwitches::thief_forgets_backoff},
    {"grant_during_transfer", &BuggifySwitches::grant_during_transfer},
    {"ignore_dead_watchdog", &BuggifySwitches::ignore_dead_watchdog},
    {"start_after_lease", &BuggifySwitches::start_after_lease},
    {"forget_renewals_past_64", &BuggifySwitches::forget_renewals_past_64},
};

// The process's switches, all off. Only the simulator (single-threaded) and tests set them,
// before a run.
inline BuggifySwitches buggify_switches;
inline BuggifySwitches& Buggify() { return buggify_switches; }
#define MAGPIE_BUGGIFY_ON(name) (::magpie::buggify_switches.name)

}  // namespace magpie

#endif  // MAGPIE_BASE_BUGGIFY_H_
