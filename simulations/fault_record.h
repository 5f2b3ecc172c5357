// The true record, per node, of every fault that could make a healthy node look dead to
// gossip: its life ended (crash), it stopped (pause), or a packet to or from it was lost,
// cut by a partition, dropped at its full inbox, or delayed past half the probe timeout.
// The membership checker holds gossip to it: a member declared dead must have been
// disturbed recently (membership_checker.h says how recently).
//
// Written by the world and the network as the faults happen; it reads nothing back, so it
// cannot change a run (or its trace).
#ifndef MAGPIE_SIMULATIONS_FAULT_RECORD_H_
#define MAGPIE_SIMULATIONS_FAULT_RECORD_H_

#include <map>
#include <string>
#include <vector>

#include "base/time.h"
#include "simulations/sim_time.h"

namespace magpie {

class FaultRecord {
 public:
  // A packet slower than this disturbs both ends. Half the probe timeout: a ping and its
  // ack that are each faster come back within the timeout, so a probe of a node whose
  // packets are all faster cannot fail.
  explicit FaultRecord(int nodes, Duration slow_packet);

  // Life and death of a node. Every node is down until its first boot.
  void Booted(SimTime at, int node, const std::string& id);
  void Crashed(SimTime at, int node);
  void Paused(SimTime at, int node);
  void Resumed(SimTime at, int node);
  // A packet between two endpoints was lost, cut, or dropped at the receiver. Endpoints
  // that are not nodes (clients) are ignored.
  void Disturbed(SimTime at, int from, int to);
  // A packet took `delay` from send to arrival (FIFO hold-ups included).
  void Delayed(SimTime at, int from, int to, Duration delay) {
    if (delay > slow_packet_) Disturbed(at, from, to);
  }

  // The node that runs (or ran) under this gossip id; -1 if none ever did.
  int NodeOf(const std::string& id) const;
  // When the life `id` names was last disturbed: SimTime::Never() if it is disturbed now
  // (down, paused, or the id is gone: its disk was wiped and the node has a new one).
  SimTime LastDisturbed(const std::string& id) const;
  // Distinct gossip ids ever booted: an upper bound on any member list's size.
  size_t ids() const { return node_of_.size(); }
  Duration slow_packet() const { return slow_packet_; }

 private:
  struct Node {
    std::string id;  // the current identity (the last boot's)
    bool up = false;
    bool paused = false;
    SimTime last;    // the last disturbance that ended (a boot ends being down)
  };
  void Note(SimTime at, int node);

  Duration slow_packet_;
  std::vector<Node> nodes_;
  std::map<std::string, int> node_of_;
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_FAULT_RECORD_H_
