// Updates waiting to be gossiped, each sent a limited number of times (memberlist
// queue.go, TransmitLimitedQueue).
//
// Why retransmit_mult * ceil(log10(N + 1)) transmissions: in infection-style gossip an
// update sent λ·log N times by every node that holds it reaches all N nodes with
// probability about 1 - N^-(λ-2) (SWIM §4.1, after Demers et al.). memberlist's log10 with
// λ = 4 gives 4 sends up to 9 nodes, 8 up to 99, 12 up to 999 — with each node gossiping to
// 3 members every 200 ms on top of its probes, that is ample fan-out, and the byte cost per
// update grows only with the number of digits of N. docs/gossip.md has the measured rounds.
//
// Each update is keyed by the member it is about: a newer update about the same member
// replaces the older one, so the queue holds at most one entry per member and a stale
// "suspect" never outlives the "alive" that refuted it.
#ifndef MAGPIE_GOSSIP_BROADCAST_QUEUE_H_
#define MAGPIE_GOSSIP_BROADCAST_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace magpie {

class BroadcastQueue {
 public:
  // REQUIRES: max_entries >= 1.
  explicit BroadcastQueue(size_t max_entries);

  // Queues one encoded update about member `key`, replacing any pending update about it.
  // When the queue is full the entry sent most often is dropped (and counted).
  void Push(const std::string& key, std::string bytes);

  // Appends pending updates to *out, least-transmitted and then newest first, skipping any
  // that do not fit, until their total size would exceed budget_bytes. Each one taken
  // counts one transmission and leaves the queue after transmit_limit of them.
  // Returns the bytes taken.
  size_t Take(size_t budget_bytes, int transmit_limit, std::vector<std::string>* out);

  bool Contains(const std::string& key) const { return by_key_.count(key) > 0; }
  size_t size() const { return by_key_.size(); }
  bool empty() const { return by_key_.empty(); }
  uint64_t dropped() const { return dropped_; }

 private:
  // Order of sending: fewest transmissions first, then the most recently queued.
  struct Order {
    int transmits;
    uint64_t neg_id;  // UINT64_MAX - id, so newer ids sort first
    auto operator<=>(const Order&) const = default;
  };
  struct Entry {
    std::string key;
    std::string bytes;
  };

  size_t max_entries_;
  uint64_t next_id_ = 1;
  uint64_t dropped_ = 0;
  std::map<Order, Entry> queue_;
  std::map<std::string, Order> by_key_;
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_BROADCAST_QUEUE_H_
