// A set of member ids that can also hand out a uniformly random one in O(1): what a thief
// needs at 1,000 members, where copying the member list on every ask dominated the cost.
// Order is deterministic (it follows the sequence of inserts and erases), so magpie-sim
// replays stay exact.
#ifndef MAGPIE_GOSSIP_ID_INDEX_H_
#define MAGPIE_GOSSIP_ID_INDEX_H_

#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

namespace magpie {

class IdIndex {
 public:
  bool Contains(const std::string& id) const { return position_.count(id) != 0; }
  size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }
  // REQUIRES: i < size().
  const std::string& at(size_t i) const { return ids_[i]; }

  void Insert(const std::string& id) {
    if (Contains(id)) return;
    position_.emplace(id, ids_.size());
    ids_.push_back(id);
  }

  // Moves the last id into the erased one's place.
  void Erase(const std::string& id) {
    auto it = position_.find(id);
    if (it == position_.end()) return;
    const size_t i = it->second;
    position_.erase(it);
    if (i + 1 != ids_.size()) {
      ids_[i] = std::move(ids_.back());
      position_[ids_[i]] = i;
    }
    ids_.pop_back();
  }

  void Set(const std::string& id, bool present) { present ? Insert(id) : Erase(id); }

 private:
  std::vector<std::string> ids_;
  std::unordered_map<std::string, size_t> position_;
};

}  // namespace magpie

#endif  // MAGPIE_GOSSIP_ID_INDEX_H_
