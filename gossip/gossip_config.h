// Knobs of the membership protocol. The defaults are hashicorp/memberlist's DefaultLANConfig
// (SWIM + Lifeguard), with each reason stated; the few additions (reconnect, join retry,
// reap times, queue bounds) say where they come from. docs/gossip.md has the figures these
// defaults give.
#ifndef MAGPIE_GOSSIP_GOSSIP_CONFIG_H_
#define MAGPIE_GOSSIP_GOSSIP_CONFIG_H_

#include <cstddef>

#include "base/time.h"

namespace magpie {

struct GossipConfig {
  // --- Failure detection (SWIM) ---
  // One member is probed per interval. A failure is first noticed within about one
  // interval; a full round over N members takes N intervals. memberlist LAN: 1 s.
  Duration probe_interval = Duration::Seconds(1);
  // How long to wait for a direct ack before asking others to probe. Well above a LAN round
  // trip, and short enough that indirect probes still have half the interval.
  Duration probe_timeout = Duration::Millis(500);
  // How many members to ask for an indirect probe. Three independent paths make a lost
  // packet or one bad link very unlikely to look like a dead node.
  int indirect_checks = 3;
  // Minimum suspicion timeout = suspicion_mult * max(1, log10 N) * probe_interval: long
  // enough for the accused to hear of it and refute, growing slowly with the cluster.
  int suspicion_mult = 4;
  // Lifeguard: a suspicion starts at max = this * minimum and shrinks towards the minimum
  // as independent confirmations arrive (suspicion.h). For 10k nodes: 120 s at most.
  int suspicion_max_timeout_mult = 6;
  // Lifeguard local health: an unhealthy node (missed nacks, having to refute) scales its
  // probe interval and timeout by up to this factor instead of accusing others.
  int awareness_max = 8;

  // --- Dissemination ---
  // Each update is sent retransmit_mult * ceil(log10(N + 1)) times by every node that
  // learns it (the λ·log N of SWIM; broadcast_queue.h explains the choice).
  int retransmit_mult = 4;
  // Besides riding on probes, pending updates go to gossip_nodes random members every
  // gossip_interval. This is what keeps load fresh: at these values an update reaches
  // 1,000 nodes in about 2 s (docs/gossip.md).
  Duration gossip_interval = Duration::Millis(200);
  int gossip_nodes = 3;
  // Dead members still get gossip this long, so one declared dead by mistake hears of it
  // and refutes. memberlist: same as the push-pull interval.
  Duration gossip_to_dead_time = Duration::Seconds(30);
  // A full state exchange with one random live member (anti-entropy). Scaled up above 32
  // members as memberlist does, so the cluster-wide cost stays bounded.
  Duration push_pull_interval = Duration::Seconds(30);

  // --- Joining, healing, forgetting ---
  // Until some seed answers, Join's push-pull is retried this often.
  Duration join_retry_interval = Duration::Seconds(2);
  // Every interval, a push-pull with one random dead member (or, when alone, the seeds), so
  // that two sides of a healed partition find each other again. From Serf's reconnect.
  Duration reconnect_interval = Duration::Seconds(30);
  // Dead and left members stay listed (and are reported by Members) this long, then are
  // forgotten. Must exceed the replica-group replacement delay that reads them.
  Duration reap_dead_after = Duration::Seconds(15 * 60);
  Duration reap_left_after = Duration::Seconds(5 * 60);

  // --- Bounds (every queue has one; overflow is counted in GossipCounters) ---
  // Bytes of piggybacked updates per message. TCP needs no MTU limit, but a probe must stay
  // small and quick to decode; ~20-40 updates fit.
  size_t max_piggyback_bytes = 4096;
  // Updates waiting to be gossiped: at most one per member, so this bounds cluster size
  // before updates are dropped.
  size_t max_queued_broadcasts = 16384;
  // Messages not yet taken by the driver, events not yet taken, indirect probes we are
  // doing for others at once.
  size_t max_outbox_messages = 4096;
  size_t max_events = 65536;
  size_t max_relays = 1024;
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_GOSSIP_CONFIG_H_
