// NodeCore's events out (docs/events.md): every committed entry that names a task, as this
// node applies it, goes into a bounded ring (node/event_ring.h); kWatch requests read it as
// a long poll, held here until an event arrives or their timeout passes (measured with the
// `now` the driver passes in, like every other deadline of the core).
#include <algorithm>

#include "node/node_core.h"

namespace magpie {

namespace {

// The task a committed entry names, for entries the table refused (ApplyResult::task is
// then null, but the task's history records the refusal). "" when it names none.
std::string TaskIdOfEntry(const Entry& e) {
  switch (e.type) {
    case EntryType::kSubmit:
      if (auto s = DecodePayload<SubmitEntry>(e.payload); s.ok()) return s->id;
      break;
    case EntryType::kGrant:
      if (auto g = DecodePayload<GrantEntry>(e.payload); g.ok()) return g->task_id;
      break;
    case EntryType::kFinish:
      if (auto f = DecodePayload<FinishEntry>(e.payload); f.ok()) return f->task_id;
      break;
    case EntryType::kCancel:
      if (auto c = DecodePayload<CancelEntry>(e.payload); c.ok()) return c->task_id;
      break;
    case EntryType::kRestart:
      if (auto r = DecodePayload<RestartEntry>(e.payload); r.ok()) return r->task_id;
      break;
    default:
      break;
  }
  return "";
}

}  // namespace

void NodeCore::RecordWatchEvent(Replica& r, const Entry& e, const ApplyResult& res) {
  if (!events_.active()) return;  // nobody has watched this node yet
  // Tasks this entry ended: kept for AnswerWaiters (TakeEndedTasks), and those it ended
  // without naming them reported below.
  std::vector<std::string> ended = r.table.TakeEnded();
  ended_by_apply_.insert(ended_by_apply_.end(), ended.begin(), ended.end());
  // The replay of the log at recovery re-applies what an earlier life of this node applied
  // (and reported): those are not news, and the ring of that life is gone anyway.
  if (auto it = replay_to_.find(r.group); it != replay_to_.end() && e.index <= it->second) return;
  if (e.type == EntryType::kStarted) {
    // One entry for many tasks: each start its task's history recorded is an event.
    if (auto st = DecodePayload<StartedEntry>(e.payload); st.ok()) {
      for (const auto& s : st->starts) {
        const Task* t = r.table.Find(s.task_id);
        if (t != nullptr && !t->history.empty() && t->history.back().index == e.index) {
          events_.Append(WatchEvent{0, r.group, t->id, t->spec.name, t->history.back()});
        }
      }
    }
    return;
  }
  const Task* t = res.task;
  const std::string named = t != nullptr ? t->id : TaskIdOfEntry(e);
  if (t == nullptr) t = r.table.Find(named);
  // Only an entry the task's history recorded (a duplicate submit names another's id).
  if (t != nullptr && !t->history.empty() && t->history.back().index == e.index) {
    events_.Append(WatchEvent{0, r.group, t->id, t->spec.name, t->history.back()});
  }
  // Ends no entry names: downstream tasks blocked by a failure (or by an Upstream entry's
  // news of one in another group), and whatever else the table ends along with the named
  // task. They carry the index of the entry that ended them.
  for (const auto& id : ended) {
    const Task* d = r.table.Find(id);
    if (id == named || d == nullptr) continue;
    if (!d->history.empty() && d->history.back().index == e.index) {
      events_.Append(WatchEvent{0, r.group, d->id, d->spec.name, d->history.back()});
      continue;
    }
    TaskEvent ev;
    ev.index = e.index;
    ev.term = e.term;
    ev.at_ms = d->finished_ms;
    ev.kind = TaskStateName(d->state);
    ev.detail = d->state == TaskState::kBlocked ? "blocked by " + d->blocked_by : d->end_reason;
    ev.state_after = d->state;
    events_.Append(WatchEvent{0, r.group, d->id, d->spec.name, std::move(ev)});
  }
}

std::vector<std::string> NodeCore::TakeEndedTasks(Replica& r) {
  std::vector<std::string> ended = std::move(ended_by_apply_);
  ended_by_apply_.clear();
  for (auto& id : r.table.TakeEnded()) ended.push_back(std::move(id));
  return ended;
}

void NodeCore::HandleWatch(Instant now, const ReplyTo& from, const std::string& body) {
  constexpr RequestType kType = RequestType::kWatch;
  auto req = UnpackBody<WatchRequest>(body);
  if (!req.ok()) return ReplyError(from, kType, req.status());
  Watcher w;
  w.to = from;
  if (!req->state.empty()) {
    w.filter.state = ParseTaskState(req->state);
    if (!w.filter.state) {
      return ReplyError(from, kType,
                        Status::InvalidArgument("unknown state '" + req->state + "' (" +
                                                TaskStateNames() + ")"));
    }
  }
  w.filter.task_id = req->task_id;
  w.max = std::clamp<uint32_t>(req->max_events, 1, kMaxWatchEventsPerReply);
  events_.Activate(life_);
  const EventRing::Position pos = events_.Resolve(req->cursor, req->from_oldest);
  EventRing::Batch b = events_.Read(pos.after, w.filter, w.max);
  b.gap = b.gap || pos.gap;
  // "From now on" is answered at once, so the client knows where it starts before any event.
  const bool start_now = req->cursor == 0 && !req->from_oldest;
  if (!b.events.empty() || b.gap || start_now || req->timeout_ms <= 0 || stopping_) {
    return Reply(from, kType, WatchReply{std::move(b.events), b.next_cursor, b.gap, options_.node_id});
  }
  if (watchers_.size() >= options_.max_watchers) {
    return ReplyError(from, kType,
                      Status::Busy("node " + options_.node_id + " already holds " +
                                   std::to_string(watchers_.size()) +
                                   " watches, its limit: retry later or watch another node"));
  }
  w.after = b.next_cursor;
  w.deadline = now + Duration::Millis(std::min(req->timeout_ms, kMaxWatchTimeoutMs));
  watchers_.emplace(next_watcher_++, std::move(w));
}

void NodeCore::AnswerWatchers() {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    Watcher& w = it->second;
    EventRing::Batch b = events_.Read(w.after, w.filter, w.max);
    w.after = b.next_cursor;  // past what the filter skipped, so it is not read again
    if (b.events.empty() && !b.gap) {
      ++it;
      continue;
    }
    Reply(w.to, RequestType::kWatch, WatchReply{std::move(b.events), b.next_cursor, b.gap, options_.node_id});
    it = watchers_.erase(it);
  }
}

void NodeCore::ExpireWatchers(Instant now) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (it->second.deadline > now && !stopping_) {
      ++it;
      continue;
    }
    Reply(it->second.to, RequestType::kWatch, WatchReply{{}, it->second.after, false, options_.node_id});
    it = watchers_.erase(it);
  }
}

Instant NodeCore::NextWatchDeadline() const {
  Instant next = Instant::Never();
  for (const auto& [id, w] : watchers_) next = std::min(next, w.deadline);
  return next;
}

}  // namespace magpie
