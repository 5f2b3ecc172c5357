#include "node/driver_loop.h"

#include <algorithm>
#include <utility>

#include "base/buggify.h"

namespace magpie {

DriverLoop::DriverLoop(NodeCore* core, DriverIo* io, std::shared_ptr<spdlog::logger> log,
                       DriverLoopOptions options)
    : core_(core), io_(io), log_(std::move(log)), options_(std::move(options)) {}

void DriverLoop::Turn(Instant now) {
  if (stalled_) {
    RetryStalledWrite(now);
    return;
  }
  if (writing_) return;  // the core waits for its write, as the real node's thread would
  CheckWatchdog(now);
  FeedExecutorEvents(now);
  now = std::max(now, io_->Now());  // the tick judges leases by the clock as it is now
  core_->Tick(now);
  Flush(now);
}

void DriverLoop::CheckWatchdog(Instant now) {
  if (!failure_.ok() || io_->WatchdogAlive() || MAGPIE_BUGGIFY_ON(ignore_dead_watchdog)) return;
  // Without its watchdog nothing kills this node's processes at their leases' end if the
  // node is paused or dies; another node may then run a second attempt beside them. The
  // node stops, ending its attempts as lost, and a restart brings a new watchdog
  // (docs/DESIGN.md "A node without its watchdog stops").
  failure_ = Status::Unavailable(
      "the watchdog died: this node will not run tasks unguarded, so it stops (its "
      "attempts run again elsewhere); start it again to serve");
  log_->critical("{}", failure_.message());
  if (!stop_requested_) Stop(now, "the watchdog died");
}

void DriverLoop::FeedExecutorEvents(Instant now) {
  std::vector<ExecutorEvent> events = io_->TakeExecutorEvents(now);
  if (events.empty()) return;
  now = std::max(now, io_->Now());
  for (const ExecutorEvent& ev : events) core_->OnExecutorEvent(now, ev);
}

void DriverLoop::Flush(Instant now) {
  for (int turn = 0; turn < options_.max_ready_per_turn && !stalled_ && !writing_ && core_->HasReady();
       ++turn) {
    Ready rd = core_->TakeReady();
    io_->OnReadyTaken(now, rd);
    if (rd.messages_before_write > 0) {
      // Raft leaders' appends: their followers write while we do.
      const auto early_end = rd.messages.begin() + static_cast<ptrdiff_t>(rd.messages_before_write);
      for (auto it = rd.messages.begin(); it != early_end; ++it) io_->Send(std::move(*it));
      rd.messages.erase(rd.messages.begin(), early_end);
      rd.messages_before_write = 0;
    }
    if (!rd.writes.empty() || rd.sync) {
      bool pending = false;
      Status s = io_->Write(rd.writes, rd.sync, &pending);
      if (!s.ok()) {
        Stall(now, std::move(rd), s);
        return;
      }
      if (pending) {
        writing_ = std::move(rd);
        return;
      }
    }
    Deliver(now, rd);
  }
}

void DriverLoop::WriteDone(Instant now) {
  if (!writing_) return;
  Ready rd = std::move(*writing_);
  writing_.reset();
  Deliver(now, rd);
  Flush(now);
}

void DriverLoop::Deliver(Instant now, Ready& rd) {
  for (auto& m : rd.messages) io_->Send(std::move(m));
  for (const auto& r : rd.replies) io_->Reply(r.to, r.frame);
  for (const auto& k : rd.kills) io_->Kill(k);
  for (const auto& e : rd.extends) io_->Extend(e);
  std::vector<ExecutorEvent> not_started;
  if (!rd.starts.empty()) {
    // A start carried out after its lease ran out could run beside the attempt its leader
    // granted since (a Ready held through a read-only stall, or behind a slow write): such
    // an attempt is never started; it ends lost and runs again. One that still has lease
    // left starts: the watchdog ends it at its deadline.
    const Instant clock = std::max(now, io_->Now());
    for (const auto& sp : rd.starts) {
      if (LeaseRanOut(rd, sp, clock)) {
        ExecutorEvent ev;
        ev.kind = ExecutorEvent::Kind::kNotStarted;
        ev.task_id = sp.task_id;
        ev.attempt = sp.attempt;
        ev.error = "not started: its lease ran out before this node could start it (its disk "
                   "was read-only or slow)";
        not_started.push_back(std::move(ev));
        continue;
      }
      io_->Start(now, sp);
    }
  }
  core_->Advance(now);
  for (const ExecutorEvent& ev : not_started) core_->OnExecutorEvent(std::max(now, io_->Now()), ev);
  // Built-ins finish at once, and a start can fail at once: feed them back in this turn,
  // so they batch with the rest.
  FeedExecutorEvents(now);
}

bool DriverLoop::LeaseRanOut(const Ready& rd, const StartProcess& sp, Instant clock) {
  if (MAGPIE_BUGGIFY_ON(start_after_lease)) return false;
  Instant deadline = sp.kill_deadline;
  if (deadline == Instant::Never()) return false;
  for (const auto& e : rd.extends) {
    if (e.task_id == sp.task_id && e.attempt == sp.attempt) deadline = std::max(deadline, e.kill_deadline);
  }
  return clock >= deadline;
}

void DriverLoop::Stall(Instant now, Ready rd, const Status& why) {
  // Going on could acknowledge what is not stored. Hold this batch and everything it would
  // send; try again every options_.disk_retry (the disk may fill up and empty again).
  stall_reason_ = why;
  stalled_since_ = now;
  next_disk_retry_ = now + options_.disk_retry;
  next_stall_log_ = now + options_.stall_log_every;
  log_->critical("read-only: the disk refused a write ({}); this node grants and "
                 "acknowledges nothing until a retry succeeds (every second); nothing "
                 "acknowledged is lost",
                 why.ToString());
  stalled_ = std::move(rd);
}

void DriverLoop::RetryStalledWrite(Instant now) {
  if (!stalled_ || now < next_disk_retry_) return;
  next_disk_retry_ = now + options_.disk_retry;
  Status s = io_->ResumeDisk();
  bool pending = false;
  if (s.ok()) s = io_->Write(stalled_->writes, stalled_->sync, &pending);
  if (!s.ok()) {
    stall_reason_ = s;
    if (now >= next_stall_log_) {
      next_stall_log_ = now + options_.stall_log_every;
      log_->error("still read-only after {} s: {}", (now - stalled_since_).millis() / 1000, s.ToString());
    }
    return;
  }
  log_->warn("the disk takes writes again after {} s read-only; serving",
             (now - stalled_since_).millis() / 1000);
  Ready rd = std::move(*stalled_);
  stalled_.reset();
  if (pending) {
    writing_ = std::move(rd);
    return;
  }
  Deliver(now, rd);
  Flush(now);
}

void DriverLoop::Stop(Instant now, const std::string& why) {
  if (stop_requested_) return;
  stop_requested_ = true;
  if (stalled_) {
    log_->warn("{}: stopping while read-only: the refused write is dropped; nothing it held "
               "was acknowledged",
               why);
    stopped_while_stalled_ = true;
    return;
  }
  log_->info("{}: stopping; running attempts end as lost and run again later", why);
  stop_deadline_ = now + options_.stop_grace;
  core_->Stop(now);
}

bool DriverLoop::Done(Instant now) const {
  if (stopped_while_stalled_) return true;
  if (!stop_requested_ || writing_ || core_->HasReady()) return false;
  return core_->stopped() || now >= stop_deadline_;
}

Status DriverLoop::ReadOnlyError() const {
  return Status::Unavailable("node " + options_.address + " is read-only: its disk refused a write (" +
                             stall_reason_.ToString() +
                             "); it takes no requests until a retry succeeds; use another node");
}

Instant DriverLoop::NextDeadline() const {
  if (stalled_) return next_disk_retry_;
  if (writing_) return Instant::Never();
  return std::min(core_->NextDeadline(), stop_deadline_);
}

}  // namespace magpie
