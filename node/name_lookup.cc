#include "node/name_lookup.h"

#include <algorithm>

#include "base/check.h"

namespace magpie {

bool MoreRecent(const NameHit& a, const NameHit& b) {
  if (a.submitted_ms != b.submitted_ms) return a.submitted_ms > b.submitted_ms;
  return a.id > b.id;
}

uint64_t NameLookups::Begin(Lookup lookup) {
  MAGPIE_CHECK(lookups_.size() < kMaxNameLookups, "too many name lookups");
  lookup.seq = next_seq_++;
  const uint64_t seq = lookup.seq;
  lookups_.emplace(seq, std::move(lookup));
  return seq;
}

void NameLookups::OnAnswer(const NameAnswer& answer) {
  auto it = lookups_.find(answer.seq);
  if (it == lookups_.end()) return;
  Lookup& l = it->second;
  if (l.waiting.erase(answer.group) == 0) return;
  if (!answer.holds_group) {
    l.missed.insert(answer.group);
    return;
  }
  for (const NameHit& hit : answer.hits) {
    if (std::find(l.names.begin(), l.names.end(), hit.name) == l.names.end()) continue;
    auto [f, fresh] = l.found.emplace(hit.name, hit);
    if (!fresh && MoreRecent(hit, f->second)) f->second = hit;
  }
}

std::vector<NameLookups::Lookup> NameLookups::TakeDone(Instant now) {
  std::vector<Lookup> done;
  for (auto it = lookups_.begin(); it != lookups_.end();) {
    if (it->second.waiting.empty() || it->second.deadline <= now) {
      Lookup l = std::move(it->second);
      l.missed.insert(l.waiting.begin(), l.waiting.end());
      l.waiting.clear();
      done.push_back(std::move(l));
      it = lookups_.erase(it);
    } else {
      ++it;
    }
  }
  return done;
}

Instant NameLookups::NextDeadline() const {
  Instant next = Instant::Never();
  for (const auto& [seq, l] : lookups_) next = std::min(next, l.deadline);
  return next;
}

Status NameLookups::NotFoundError(const std::string& name, const Lookup& lookup) {
  if (lookup.missed.empty()) {
    return Status::NotFound("no task with id or name '" + name + "'");
  }
  std::string groups;
  for (const auto& g : lookup.missed) groups += (groups.empty() ? "" : ", ") + g;
  return Status::Unavailable("no task named '" + name + "' in the groups that answered; group(s) " +
                             groups + " did not (their nodes may be down or cut off); retry");
}

}  // namespace magpie
