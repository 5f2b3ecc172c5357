// Which node-to-node links are cut. A partition is a set of blocked directed links, so one
// type covers every shape the fault model needs: a symmetric split of any sizes, a one-way
// cut, a bridge (one node sees both sides), one node isolated. Heal clears everything.
// Flapping is the fault injector applying and healing a shape in turn.
//
// Links between a client and a node are not covered: clients see the network's loss,
// duplication and delay instead (sim_network.h).
#ifndef MAGPIE_SIMULATIONS_PARTITION_H_
#define MAGPIE_SIMULATIONS_PARTITION_H_

#include <cstdint>
#include <string>
#include <vector>

namespace magpie {

class Partition {
 public:
  // magpie-sim runs up to 1,000 nodes (the gossip figures); one bit per directed link.
  static constexpr int kMaxNodes = 1000;

  // REQUIRES: 1 <= nodes <= kMaxNodes.
  explicit Partition(int nodes);

  // Cuts every link between side_a and the other nodes, both ways.
  void Split(const std::vector<int>& side_a);
  // Cuts messages from `from` to `to` only; the reverse direction still works.
  void OneWay(const std::vector<int>& from, const std::vector<int>& to);
  // Split into side_a and the rest, except that `bridge` still talks to everyone.
  void Bridge(const std::vector<int>& side_a, int bridge);
  // Cuts one node off from every other node, both ways.
  void Isolate(int node);
  void Heal();

  bool Blocks(int from, int to) const;
  bool active() const;
  int nodes() const { return nodes_; }
  // "{0,1}|{2,3,4}" style words for logs and the trace.
  const std::string& description() const { return description_; }

 private:
  void Cut(int from, int to) { blocked_[Word(from, to)] |= uint64_t{1} << (to % 64); }
  size_t Word(int from, int to) const { return static_cast<size_t>(from) * words_ + to / 64; }
  static std::string Set(const std::vector<int>& s);
  std::vector<int> Rest(const std::vector<int>& s) const;

  int nodes_;
  size_t words_;                   // 64-bit words per sender's row
  std::vector<uint64_t> blocked_;  // row `from` has bit `to` set when the link is cut
  std::string description_ = "healed";
};

}  // namespace magpie

#endif  // MAGPIE_SIMULATIONS_PARTITION_H_
