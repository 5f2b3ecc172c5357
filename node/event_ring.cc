#include "node/event_ring.h"

#include <algorithm>

#include "base/check.h"

namespace magpie {

namespace {

constexpr int kLifeShift = 40;

}  // namespace

bool WatchFilter::Matches(const WatchEvent& e) const {
  if (state && e.event.state_after != *state) return false;
  if (!task_id.empty() && e.task_id != task_id) return false;
  return true;
}

EventRing::EventRing(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

void EventRing::Activate(uint64_t life) {
  MAGPIE_CHECK(life >= 1, "a ring's life starts at 1");
  if (base_ == 0) base_ = life << kLifeShift;
}

void EventRing::Append(WatchEvent event) {
  MAGPIE_CHECK(active(), "Append to an inactive event ring");
  event.cursor = base_ + ++appended_;
  events_.push_back(std::move(event));
  if (events_.size() > capacity_) events_.pop_front();
}

EventRing::Position EventRing::Resolve(uint64_t cursor, bool from_oldest) const {
  if (cursor == 0) return {from_oldest ? oldest() - 1 : head(), false};
  if ((cursor >> kLifeShift) != (base_ >> kLifeShift) || cursor < oldest() - 1) {
    return {oldest() - 1, true};
  }
  if (cursor > head()) return {head(), true};
  return {cursor, false};
}

EventRing::Batch EventRing::Read(uint64_t after, const WatchFilter& filter, size_t max) const {
  Batch b;
  if (after < oldest() - 1) {
    b.gap = true;
    after = oldest() - 1;
  }
  after = std::min(after, head());
  b.next_cursor = after;
  for (size_t i = after + 1 - oldest(); i < events_.size() && b.events.size() < max; ++i) {
    const WatchEvent& e = events_[i];
    b.next_cursor = e.cursor;
    if (filter.Matches(e)) b.events.push_back(e);
  }
  return b;
}

}  // namespace magpie
