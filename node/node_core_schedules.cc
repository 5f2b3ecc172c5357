// Schedules (docs/schedules.md): a schedule is a record in its group's task table; only the
// group's leader fires it, and only while it may grant (a quorum in reach), through one
// committed Fire entry per slot. The table refuses a second Fire for a decided slot, so a
// slot fires once whichever leader proposed it, however often.
#include <climits>

#include "base/buggify.h"
#include "node/node_core.h"
#include "node/schedule_plan.h"

namespace magpie {

void NodeCore::FireSchedules(Instant now, Replica& r) {
  if (r.table.schedule_ids().empty() || !CanGrant(r, now)) return;
  // The deliberate bug: schedules stop when their group's leadership leaves its home node.
  if (MAGPIE_BUGGIFY_ON(only_home_fires) && r.group != options_.group_id) return;
  const int64_t now_ms = now.unix_millis();
  const uint64_t term = r.raft.term();
  for (const std::string& id : r.table.schedule_ids()) {
    const Task* s = r.table.Find(id);
    if (s == nullptr || s->paused) continue;
    auto in_flight = r.fires_proposed.find(id);
    if (in_flight != r.fires_proposed.end() && in_flight->second.first == term &&
        !MAGPIE_BUGGIFY_ON(fire_twice)) {
      continue;
    }
    for (const PlannedFire& f : PlanFirings(*s, s->last_slot_ms, now_ms)) {
      FireEntry e;
      e.schedule_id = id;
      e.slot_ms = f.slot_ms;
      e.skipped_before = f.skipped_before;
      e.run = f.run;
      e.at_ms = now_ms;
      if (f.run) {
        e.seq = r.next_seq++;
        e.task_id = r.group + "-" + std::to_string(e.seq);
      }
      if (!Propose(r, EntryType::kFire, EncodePayload(e)).ok()) break;
      r.fires_proposed[id] = {term, f.slot_ms};
    }
  }
}

Instant NodeCore::NextScheduleDeadline(const Replica& r) const {
  Instant next = Instant::Never();
  if (MAGPIE_BUGGIFY_ON(only_home_fires) && r.group != options_.group_id) return next;
  for (const std::string& id : r.table.schedule_ids()) {
    const Task* s = r.table.Find(id);
    if (s == nullptr || s->paused || r.fires_proposed.count(id) != 0) continue;
    const int64_t slot = NextSlot(*s, s->last_slot_ms);
    if (slot < INT64_MAX / 1000) next = std::min(next, Instant::FromMicros(slot * 1000));
  }
  return next;
}

void NodeCore::HandleSchedule(Instant now, Replica& r, const ReplyTo& from, const std::string& body) {
  constexpr RequestType kType = RequestType::kSchedule;
  auto req = UnpackBody<ScheduleRequest>(body);
  if (!req.ok()) return ReplyError(from, kType, req.status());
  const Task* s = r.table.Find(req->id);
  if (s == nullptr) {
    // A name: the schedules of this group are few, so look among them.
    for (const std::string& id : r.table.schedule_ids()) {
      const Task* c = r.table.Find(id);
      if (c != nullptr && c->spec.name == req->id) s = c;
    }
  }
  if (s == nullptr || !s->spec.is_schedule()) {
    return ReplyError(from, kType, Status::NotFound("no schedule '" + req->id + "' in group " + r.group));
  }
  if (s->state != TaskState::kScheduled) {
    return ReplyError(from, kType, Status::FailedPrecondition("schedule " + s->id + " was removed"));
  }
  Result<uint64_t> idx = Status::InvalidArgument("unknown schedule action '" + req->action +
                                                 "' (pause, resume, rm)");
  if (req->action == "pause" || req->action == "resume") {
    const bool pause = req->action == "pause";
    if (s->paused == pause) {
      return ReplyError(from, kType, Status::FailedPrecondition("schedule " + s->id + " is already " +
                                                                (pause ? "paused" : "running")));
    }
    idx = Propose(r, EntryType::kSchedulePause,
                  EncodePayload(SchedulePauseEntry{s->id, pause, now.unix_millis()}));
  } else if (req->action == "rm") {
    idx = Propose(r, EntryType::kCancel, EncodePayload(CancelEntry{s->id, now.unix_millis()}));
  }
  if (!idx.ok()) return ReplyError(from, kType, idx.status());
  r.pending[*idx] = Proposed<PendingReply>{r.raft.term(), PendingReply{from, kType, {s->id}, {}}};
}

}  // namespace magpie
