#include "simulations/partition.h"

#include <algorithm>

#include "base/check.h"

namespace magpie {

Partition::Partition(int nodes)
    : nodes_(nodes), words_((static_cast<size_t>(nodes) + 63) / 64), blocked_(nodes * words_, 0) {
  MAGPIE_CHECK(nodes >= 1 && nodes <= kMaxNodes, "partition over an unsupported node count");
}

std::string Partition::Set(const std::vector<int>& s) {
  std::string out = "{";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "}";
}

std::vector<int> Partition::Rest(const std::vector<int>& s) const {
  std::vector<int> rest;
  for (int n = 0; n < nodes_; ++n) {
    if (std::find(s.begin(), s.end(), n) == s.end()) rest.push_back(n);
  }
  return rest;
}

void Partition::Split(const std::vector<int>& side_a) {
  Heal();
  std::vector<int> side_b = Rest(side_a);
  for (int a : side_a) {
    for (int b : side_b) {
      Cut(a, b);
      Cut(b, a);
    }
  }
  description_ = "split " + Set(side_a) + "|" + Set(side_b);
}

void Partition::OneWay(const std::vector<int>& from, const std::vector<int>& to) {
  Heal();
  for (int a : from) {
    for (int b : to) {
      if (a != b) Cut(a, b);
    }
  }
  description_ = "one-way " + Set(from) + "->" + Set(to) + " cut";
}

void Partition::Bridge(const std::vector<int>& side_a, int bridge) {
  std::vector<int> a;
  for (int n : side_a) {
    if (n != bridge) a.push_back(n);
  }
  std::vector<int> b = Rest(a);
  b.erase(std::remove(b.begin(), b.end(), bridge), b.end());
  Heal();
  for (int x : a) {
    for (int y : b) {
      Cut(x, y);
      Cut(y, x);
    }
  }
  description_ = "bridge " + Set(a) + "|" + Set(b) + " via " + std::to_string(bridge);
}

void Partition::Isolate(int node) {
  Heal();
  for (int n = 0; n < nodes_; ++n) {
    if (n == node) continue;
    Cut(node, n);
    Cut(n, node);
  }
  description_ = "isolate " + std::to_string(node);
}

void Partition::Heal() {
  std::fill(blocked_.begin(), blocked_.end(), 0);
  description_ = "healed";
}

bool Partition::Blocks(int from, int to) const {
  if (from < 0 || to < 0 || from >= nodes_ || to >= nodes_) return false;
  return (blocked_[Word(from, to)] >> (to % 64)) & 1;
}

bool Partition::active() const {
  for (uint64_t b : blocked_) {
    if (b != 0) return true;
  }
  return false;
}

}  // namespace magpie
