// The simulated network: every message between nodes (PeerMessage) and between clients
// and nodes (encoded client frames) passes through here. Each directed link has its own
// base latency; on top of it the fault model adds a long tail, loss, duplication and
// reordering, and node-to-node links can be cut by a Partition. Without reordering a link
// is FIFO, like a TCP connection (a delayed message holds up the ones behind it).
//
// A packet is checked against the partition when sent and again when it arrives, so a cut
// also swallows what was already on the wire. Messages to a crashed node are dropped by
// the world at delivery (connection refused).
#ifndef MAGPIE_SIMULATIONS_SIM_NETWORK_H_
#define MAGPIE_SIMULATIONS_SIM_NETWORK_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/prng.h"
#include "gossip/peer_message.h"
#include "simulations/event_queue.h"
#include "simulations/fault_record.h"
#include "simulations/partition.h"
#include "simulations/sim_time.h"
#include "simulations/trace_hash.h"

namespace magpie {

struct NetworkOptions {
  int nodes = 1;    // endpoints 0 .. nodes-1
  int clients = 0;  // endpoints nodes .. nodes+clients-1
  // Each directed link's base latency is drawn once from [min, max].
  int64_t latency_min_us = 50;
  int64_t latency_max_us = 500;
  // Probabilities are per 10,000 packets (integer ratios: the same on every platform).
  uint32_t tail_per_10k = 0;  // a packet is held up by up to tail_max_us
  int64_t tail_max_us = 0;
  uint32_t drop_per_10k = 0;
  uint32_t dup_per_10k = 0;
  bool reorder = false;      // packets on one link may overtake each other
  int64_t jitter_max_us = 0; // with reorder: extra delay drawn per packet
  bool client_link_faults = true;  // loss, duplication and tails also hit client links
};

struct Packet {
  enum class Kind : uint8_t { kPeer = 0, kRequest = 1, kReply = 2 };
  uint64_t id = 0;
  Kind kind = Kind::kPeer;
  int from = -1;
  int to = -1;
  SimTime sent;
  PeerMessage peer;   // kPeer
  std::string bytes;  // kRequest, kReply: an encoded client frame
};

struct NetworkStats {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t lost = 0;          // dropped by the loss fault
  uint64_t cut = 0;           // dropped by a partition
  uint64_t duplicated = 0;
  uint64_t oversized = 0;     // over kMaxPeerMessageBytes: the transport refuses them
  uint64_t overflowed = 0;    // more than kMaxInFlight on the wire
};

class SimNetwork {
 public:
  static constexpr size_t kMaxInFlight = 1 << 20;

  // prng, events and trace must outlive the network.
  SimNetwork(const NetworkOptions& options, Prng* prng, EventQueue* events, TraceHash* trace);
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Puts a packet on the wire (0, 1 or 2 copies, each a kDeliver event). Returns the
  // number of copies.
  int Send(SimTime now, Packet packet);
  // At a kDeliver event: the packet, unless a partition cut its link meanwhile.
  std::optional<Packet> Take(SimTime now, uint64_t id);

  // After the safety phase: no more loss, duplication or tails; partitions healed.
  void Calm();
  // The gossip figures' loss phase: every packet lost with this probability.
  void set_drop_per_10k(uint32_t drop) { options_.drop_per_10k = drop; }
  // Where lost, cut and slow packets are written down (the membership checker reads it).
  // Optional; must outlive the network.
  void set_fault_record(FaultRecord* record) { record_ = record; }
  // --buggify hidden_partition: cut `node` off from every other node during [from, until)
  // and tell the fault record nothing, so that the membership checker must see a healthy
  // node declared dead (it proves the checker can fail).
  void HideCut(int node, SimTime from, SimTime until) {
    hidden_node_ = node;
    hidden_from_ = from;
    hidden_until_ = until;
  }

  Partition& partition() { return partition_; }
  const Partition& partition() const { return partition_; }
  const NetworkOptions& options() const { return options_; }
  const NetworkStats& stats() const { return stats_; }
  size_t in_flight() const { return in_flight_.size(); }
  bool IsNode(int endpoint) const { return endpoint >= 0 && endpoint < options_.nodes; }

 private:
  int Endpoints() const { return options_.nodes + options_.clients; }
  size_t Link(int from, int to) const { return static_cast<size_t>(from) * Endpoints() + to; }
  bool FaultsApply(int from, int to) const {
    return options_.client_link_faults || (IsNode(from) && IsNode(to));
  }
  SimTime Arrival(SimTime now, int from, int to);

  NetworkOptions options_;
  Prng* prng_;
  EventQueue* events_;
  TraceHash* trace_;
  Partition partition_;
  FaultRecord* record_ = nullptr;
  int hidden_node_ = -1;
  SimTime hidden_from_, hidden_until_;
  std::vector<int64_t> latency_us_;    // by Link()
  std::vector<SimTime> last_arrival_;  // by Link(): FIFO order when !reorder
  std::map<uint64_t, Packet> in_flight_;
  uint64_t next_id_ = 1;
  NetworkStats stats_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_SIM_NETWORK_H_
