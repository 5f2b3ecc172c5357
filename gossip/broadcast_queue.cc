#include "gossip/broadcast_queue.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace magpie {

BroadcastQueue::BroadcastQueue(size_t max_entries) : max_entries_(std::max<size_t>(max_entries, 1)) {}

void BroadcastQueue::Push(const std::string& key, std::string bytes) {
  auto old = by_key_.find(key);
  if (old != by_key_.end()) {
    queue_.erase(old->second);
    by_key_.erase(old);
  }
  while (by_key_.size() >= max_entries_) {
    auto last = std::prev(queue_.end());
    by_key_.erase(last->second.key);
    queue_.erase(last);
    ++dropped_;
  }
  const Order order{0, UINT64_MAX - next_id_++};
  by_key_[key] = order;
  queue_.emplace(order, Entry{key, std::move(bytes)});
}

size_t BroadcastQueue::Take(size_t budget_bytes, int transmit_limit, std::vector<std::string>* out) {
  // The smallest update is a few dozen bytes; below that nothing more can fit.
  constexpr size_t kTooSmall = 16;
  size_t used = 0;
  std::vector<std::pair<Order, Entry>> reinsert;
  for (auto it = queue_.begin(); it != queue_.end() && budget_bytes - used >= kTooSmall;) {
    if (it->second.bytes.size() > budget_bytes - used) {
      ++it;
      continue;
    }
    used += it->second.bytes.size();
    out->push_back(it->second.bytes);
    Order next = it->first;
    ++next.transmits;
    Entry entry = std::move(it->second);
    by_key_.erase(entry.key);
    it = queue_.erase(it);
    // Put it back only after the walk, or we would meet it again further on.
    if (next.transmits < transmit_limit) reinsert.emplace_back(next, std::move(entry));
  }
  for (auto& [order, entry] : reinsert) {
    by_key_[entry.key] = order;
    queue_.emplace(order, std::move(entry));
  }
  MAGPIE_CHECK(queue_.size() == by_key_.size(), "broadcast queue index out of step");
  return used;
}

}  // namespace magpie
