// Taking back held work (DESIGN §6). A thief may hold stolen attempts ahead of a free slot;
// when a slot is free elsewhere and its group has nothing ready, the group's leader asks the
// holder to hand back what it has not started, so short tasks do not wait behind a long one
// on a busy node while other nodes idle.
#include <algorithm>

#include "node/node_core.h"
#include "node/scheduler.h"

namespace magpie {

namespace {
// Held this briefly, an attempt is about to start where it is: a holder behind short tasks
// reaches it sooner than a take-back and a second steal would move it (and the attempt may
// be starting as we speak, its start on its way).
constexpr int64_t kHeldAtLeastMs = 500;
// A take-back not answered (the holder may not have heard) is asked again after this.
constexpr Duration kTakeBackRetry = Duration::Seconds(1);
}  // namespace

void NodeCore::TakeBackHeld(Instant now, Replica& r, int32_t slots, const std::string& except_holder,
                            const std::map<std::string, std::string>& labels) {
  if (slots <= 0 || r.table.ready_count() != 0) return;
  const int64_t now_ms = now.unix_millis();
  std::vector<const Task*> held;
  for (const auto& id : r.table.running_ids()) {
    const Task* t = r.table.Find(id);
    if (t == nullptr || t->state != TaskState::kAssigned) continue;
    const Attempt& a = t->attempts.back();
    if (a.node == options_.node_id || a.node == except_holder || a.started_ms != 0) continue;
    if (now_ms - a.granted_ms < kHeldAtLeastMs || !LabelsMatch(labels, t->spec.labels)) continue;
    auto asked = r.taking_back.find(id);
    if (asked != r.taking_back.end() && now - asked->second < kTakeBackRetry) continue;
    held.push_back(t);
  }
  std::sort(held.begin(), held.end(), [](const Task* a, const Task* b) {
    if (a->spec.priority != b->spec.priority) return a->spec.priority > b->spec.priority;
    return a->seq < b->seq;
  });
  std::map<std::string, TakeBack> by_holder;
  for (const Task* t : held) {
    if (slots < t->spec.slots) continue;
    slots -= t->spec.slots;
    const Attempt& a = t->attempts.back();
    TakeBack& tb = by_holder[a.node];
    tb.group = r.group;
    tb.attempts.push_back(AttemptRef{t->id, a.number});
    r.taking_back[t->id] = now;
    if (slots <= 0) break;
  }
  for (auto& [holder, tb] : by_holder) {
    const std::string address = AddressOf(holder);
    if (address.empty()) continue;
    log_->debug("take-back: asking {} for {} held attempt(s) of group {}", address, tb.attempts.size(), r.group);
    SendPeer(address, kTakeBackType, tb);
  }
  // Forget asks whose attempts are no longer held (handed back, started, ended).
  for (auto it = r.taking_back.begin(); it != r.taking_back.end();) {
    const Task* t = r.table.Find(it->first);
    const bool still = t != nullptr && t->state == TaskState::kAssigned;
    it = still ? std::next(it) : r.taking_back.erase(it);
  }
}

void NodeCore::OnTakeBack(Instant now, const TakeBack& tb) {
  for (const auto& ref : tb.attempts) {
    auto it = local_.find(ref.task_id);
    if (it == local_.end() || it->second.attempt != ref.attempt || !it->second.held) continue;
    log_->info("handing back held {} attempt {}: a slot is free elsewhere", ref.task_id, ref.attempt);
    DropHeld(now, ref.task_id, Outcome::kLost, "held ahead and not started; taken back for a free slot elsewhere");
  }
}

}  // namespace magpie
