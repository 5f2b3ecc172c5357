// SWIM membership with the Lifeguard refinements, and load gossip, as a deterministic
// sans-IO core (DESIGN §2, §5). Reference: hashicorp/memberlist, rewritten as deadlines.
//
// The core never reads a clock, sleeps, or touches a socket. Time comes in as `now`;
// randomness from a Prng seeded by the caller; messages go out through TakeMessages.
//
// Driver loop (NodeCore later embeds this and forwards to it):
//   Membership m(config, id, address, stored_incarnation + 1, seed, logger);
//   m.SetLocalLoad(load);                 // any time; gossiped at most once per probe interval
//   m.Join(now, seed_addresses);          // once, first
//   loop:
//     on a peer message of a kGossip* type:  m.Step(now, message);
//     when now >= m.NextDeadline():          m.Tick(now);
//     after either: send every m.TakeMessages() (each has from/to filled);
//                   act on m.TakeEvents();
//                   persist m.incarnation() if it changed (no sync needed: see below).
//   on SIGTERM: m.Leave(now); keep the loop turning until m.leave_done() or ~2 s pass.
//
// Persistence: only the incarnation. A restart must join with a higher one than any it
// used, or its "alive" is ignored as old news until someone tells it that it is dead and
// it refutes (which works, but takes a probe round). Persisting it lazily is fine: a node
// that comes back with a stale incarnation refutes whatever others say about it.
//
// Delivery: messages may be lost, duplicated, delayed or reordered; the protocol tolerates
// all of it. A message is addressed to a peer's listen address; replies go to
// PeerMessage::from, so the transport must deliver `from` as the sender set it.
#ifndef MAGPIE_GOSSIP_MEMBERSHIP_H_
#define MAGPIE_GOSSIP_MEMBERSHIP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "base/prng.h"
#include "base/time.h"
#include "gossip/awareness.h"
#include "gossip/broadcast_queue.h"
#include "gossip/gossip_codec.h"
#include "gossip/gossip_config.h"
#include "gossip/id_index.h"
#include "gossip/member.h"
#include "gossip/member_load.h"
#include "gossip/peer_message.h"
#include "gossip/suspicion.h"

namespace magpie {

// Monotonic counters, for /metrics and tests.
struct GossipCounters {
  uint64_t probes = 0;              // direct probes started
  uint64_t probe_failures = 0;      // probes that got no ack by their deadline
  uint64_t indirect_probes = 0;     // ping-reqs sent (k per probe whose ping timed out)
  uint64_t nacks_received = 0;      // Lifeguard nacks from members we asked
  uint64_t suspicions = 0;          // members this node marked suspect
  uint64_t suspicions_refuted = 0;  // suspects that came back alive: false suspicions
  uint64_t deaths_declared = 0;     // suspicions that ran out here
  uint64_t refutations = 0;         // accusations about this node it refuted
  uint64_t syncs = 0;               // push-pull exchanges started (join, periodic, reconnect)
  uint64_t corrections = 0;         // messages telling a sender of stale news what we know
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;   // accepted (decoded) messages
  uint64_t dropped_messages = 0;    // inbound: malformed, oversized, not gossip, before Join,
                                    // or a ping meant for another node id
  uint64_t dropped_outbound = 0;    // outbox full: the driver is not taking messages
  uint64_t dropped_broadcasts = 0;  // broadcast queue full
  uint64_t dropped_events = 0;      // event queue full: the driver is not taking events
  uint64_t dropped_relays = 0;      // too many indirect probes for others at once
  uint64_t truncated_syncs = 0;     // full state larger than a message: the tail was cut
};

class Membership {
 public:
  // self_id: stable node id; self_address: HOST:PORT peers reach this node at.
  // incarnation: the stored incarnation + 1 (0 on first start). seed: for the Prng (probe
  // order, indirect probers, gossip targets, timer stagger; magpie-sim derives it from its
  // run seed). logger: named after the node.
  Membership(GossipConfig config, std::string self_id, std::string self_address, uint64_t incarnation,
             uint64_t seed, std::shared_ptr<spdlog::logger> logger);
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Starts the protocol and asks every seed address for its full state; any one answering
  // is enough. Retried every join_retry_interval until one answers. No seeds (or only our
  // own address): a cluster of one, which others may join. REQUIRES: called once, before
  // Tick; Step before Join drops the message.
  void Join(Instant now, const std::vector<std::string>& seed_addresses);

  // Graceful leave: gossips "left" at a higher incarnation, stops probing, keeps answering
  // probes and gossiping so the news spreads. The caller stops when leave_done().
  void Leave(Instant now);

  // Runs every timer that is due: probe steps, suspicion timeouts, gossip, push-pull, load.
  void Tick(Instant now);

  // A message from a peer. Only kGossip* types are handled; anything else, and anything
  // malformed or oversized, is dropped and counted. Never throws, never aborts.
  void Step(Instant now, const PeerMessage& message);

  // This node's load. Gossiped on the next Tick if it changed and at least probe_interval
  // has passed since the last time it was; otherwise at that point. A change between no
  // ready work and some goes out on the next Tick regardless. See docs/gossip.md.
  void SetLocalLoad(const MemberLoad& load);

  // Messages to send, in order, each with from (self_address) and to filled.
  std::vector<PeerMessage> TakeMessages();
  bool HasMessages() const { return !outbox_.empty(); }

  // Membership changes since the last call, in the order they were seen.
  std::vector<MemberEvent> TakeEvents();
  bool HasEvents() const { return !events_.empty(); }

  // When Tick is next needed. Instant::Never() before Join.
  Instant NextDeadline() const;

  // Every known member, self included, in id order.
  std::vector<MemberView> Members(Instant now) const;
  std::optional<MemberView> Find(const std::string& id, Instant now) const;
  // Members (self included) that are alive or suspect.
  size_t NumLive() const;

  // For thieves, at any cluster size and without copying the member list: the alive
  // members (never self), and those among them whose gossiped load shows ready work,
  // each indexable 0..n-1 in a deterministic order. REQUIRES: i below the count.
  size_t NumAliveOthers() const { return alive_.size(); }
  MemberView AliveOther(size_t i, Instant now) const;
  size_t NumAliveWithWork() const { return with_work_.size(); }
  MemberView AliveWithWork(size_t i, Instant now) const;
  // The address of the alive member whose gossip says it leads `group`, or "" if none
  // does. Self is not asked (the caller knows what it leads).
  std::string LeaderHintAddress(const std::string& group) const;

  const std::string& id() const { return self_id_; }
  const std::string& address() const { return self_address_; }
  // Current incarnation: persist it when it changes (refutations raise it).
  uint64_t incarnation() const { return incarnation_; }
  // Lifeguard local health score, 0 (healthy) .. awareness_max - 1.
  int health_score() const { return awareness_.score(); }
  // In a cluster: a seed answered Join, someone else found us first, or there were no seeds.
  bool joined() const { return joined_; }
  bool leaving() const { return leaving_; }
  // After Leave: the "left" update has been sent as often as any update is (or there is
  // nobody left to tell), so the process may exit.
  bool leave_done() const;
  const GossipCounters& counters() const { return counters_; }
  const GossipConfig& config() const { return config_; }

 private:
  struct Member {
    std::string id;
    std::string address;
    MemberState state = MemberState::kAlive;
    uint64_t incarnation = 0;
    uint64_t load_version = 0;
    MemberLoad load;
    Instant state_since;
    Instant last_heard;
  };
  // The probe in flight: a ping, then ping-reqs after probe_timeout, then a verdict.
  struct Probe {
    bool active = false;
    uint64_t seq = 0;
    std::string target;
    Instant indirect_at;  // send ping-reqs if no ack by then
    Instant deadline;     // suspect the target if no ack by then
    bool indirect_sent = false;
    int expected_nacks = 0;
    int nacks = 0;
  };
  // A ping we send on behalf of another member's ping-req.
  struct Relay {
    std::string requester_address;
    uint64_t requester_seq = 0;
    bool want_nack = false;
    Instant nack_at;
  };

  // Probing (membership_probe.cc).
  void ProbeTick(Instant now);
  void StartProbe(Instant now);
  void SendIndirectProbes(Instant now);
  void FinishProbe(Instant now, bool acked);
  void NextProbeRound(Instant now);
  void HandlePing(Instant now, const PeerMessage& msg, const GossipPacket& p);
  void HandlePingReq(Instant now, const PeerMessage& msg, const GossipPacket& p);
  void HandleAck(Instant now, const GossipPacket& p);
  void HandleNack(const GossipPacket& p);
  void RelayTick(Instant now);

  // State changes (membership_state.cc).
  void ApplyUpdate(Instant now, const GossipUpdate& u);
  // True if we hold newer news of u's member than u: a higher incarnation, or a newer load.
  bool IsStale(const GossipUpdate& u) const;
  // What we know of a member (or of ourselves), as one update.
  GossipUpdate FactAbout(const Member& m) const;
  GossipUpdate SelfFact() const;
  void HandleAlive(Instant now, const GossipUpdate& u);
  void HandleSuspect(Instant now, const GossipUpdate& u);
  void HandleDead(Instant now, const GossipUpdate& u);
  void Refute(Instant now, uint64_t accused_incarnation);
  void SuspicionTick(Instant now);
  void MergeState(Instant now, const GossipPacket& p);
  std::vector<std::string> EncodeFullState();
  void Reap(Instant now);

  // Output and helpers (membership.cc). Packets are built with these; Send fills sender_id.
  static GossipPacket ProbePacket(uint64_t seq, std::string target_id = {}, std::string target_address = {},
                                  bool want_nack = false);
  static GossipPacket SyncPacket(bool join);
  void Send(const std::string& to, PeerMessageType type, GossipPacket packet,
            std::vector<std::string> updates = {});
  std::vector<std::string> Piggyback(size_t budget);
  void Broadcast(const GossipUpdate& u);
  void BroadcastSelfAlive();
  GossipUpdate SelfAlive() const;
  void Emit(Instant now, MemberEventType type, const Member& m);
  void GossipTick(Instant now);
  void SyncWith(const std::string& address, bool join);
  void Reconnect();
  // Up to k distinct random members passing `ok` (never self).
  std::vector<const Member*> RandomMembers(size_t k, const std::function<bool(const Member&)>& ok);
  Member* FindMember(const std::string& id);
  MemberView ViewOf(const Member& m, Instant now) const;
  int TransmitLimit() const;

  const GossipConfig config_;
  const std::string self_id_;
  const std::string self_address_;
  std::shared_ptr<spdlog::logger> log_;
  Prng prng_;

  uint64_t incarnation_;
  MemberLoad local_load_;
  uint64_t load_version_ = 0;
  bool load_dirty_ = false;
  // The change is news thieves wait for (ready work appeared or ran out): it goes out now,
  // past the probe_interval limit, and with gossip of its own.
  bool load_news_ = false;
  Instant next_news_at_;  // news goes out at most every gossip_interval / 4
  Instant next_load_at_;

  bool started_ = false;
  bool joined_ = false;
  bool leaving_ = false;
  std::vector<std::string> seeds_;

  std::map<std::string, Member> members_;  // by id; self is not in it
  // Kept in step with members_ by Emit, which every change of state or load goes through.
  IdIndex alive_;      // ids of members in state alive
  IdIndex with_work_;  // ... of those, the ones with load.ready > 0
  std::vector<std::string> probe_order_;   // ids of members, shuffled each round
  size_t probe_index_ = 0;
  Probe probe_;
  uint64_t next_seq_ = 1;
  std::map<uint64_t, Relay> relays_;  // by our seq; deadlines ascend with seq
  std::map<std::string, Suspicion> suspicions_;
  Awareness awareness_;
  BroadcastQueue broadcasts_;

  Instant next_probe_at_ = Instant::Never();
  Instant next_gossip_at_ = Instant::Never();
  Instant next_push_pull_at_ = Instant::Never();
  Instant next_reconnect_at_ = Instant::Never();
  Instant next_join_at_ = Instant::Never();
  Instant last_now_;

  std::vector<PeerMessage> outbox_;
  std::vector<MemberEvent> events_;
  GossipCounters counters_;
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_MEMBERSHIP_H_
