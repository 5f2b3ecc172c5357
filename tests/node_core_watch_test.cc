// Events out (docs/events.md): the event ring's cursors and gaps, and kWatch as a long poll
// in the core, driven the way a driver would.
#include <spdlog/sinks/null_sink.h>

#include "node/event_ring.h"
#include "tests/core_harness.h"

namespace magpie {
namespace {

WatchEvent Event(const std::string& task, uint64_t index, TaskState after) {
  WatchEvent e;
  e.group = "g1";
  e.task_id = task;
  e.event.index = index;
  e.event.kind = "grant";
  e.event.state_after = after;
  return e;
}

TEST(EventRing, CursorsCountUpAndAReaderBehindTheDroppedEventsGetsAGapFromTheOldest) {
  EventRing ring(3);
  ring.Activate(1);
  const uint64_t base = ring.head();
  for (uint64_t i = 1; i <= 5; ++i) ring.Append(Event("g1-" + std::to_string(i), i, TaskState::kRunning));
  EXPECT_EQ(ring.head(), base + 5);
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.oldest(), base + 3);

  // Up to date reader: nothing lost.
  EventRing::Batch b = ring.Read(base + 3, WatchFilter{}, 100);
  EXPECT_FALSE(b.gap);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].task_id, "g1-4");
  EXPECT_EQ(b.events[0].cursor, base + 4);
  EXPECT_EQ(b.next_cursor, base + 5);

  // A reader at base+1 missed event 2, which was dropped: a gap, then 3, 4, 5.
  b = ring.Read(base + 1, WatchFilter{}, 100);
  EXPECT_TRUE(b.gap);
  ASSERT_EQ(b.events.size(), 3u);
  EXPECT_EQ(b.events[0].task_id, "g1-3");
  EXPECT_TRUE(ring.Resolve(base + 1, false).gap);
  EXPECT_FALSE(ring.Resolve(base + 2, false).gap) << "base+2 has seen all it could miss";

  // max bounds a read; next_cursor stops at the last event given.
  b = ring.Read(base + 2, WatchFilter{}, 1);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.next_cursor, base + 3);
}

TEST(EventRing, CursorsOfAnotherLifeOrPastTheHeadAreGapsAndZeroMeansNowOrOldest) {
  EventRing before(10);
  before.Activate(1);
  before.Append(Event("g1-1", 1, TaskState::kReady));
  const uint64_t old_cursor = before.head();

  EventRing ring(10);
  ring.Activate(2);  // the node restarted: a new life, a new ring
  ring.Append(Event("g1-2", 7, TaskState::kReady));
  ring.Append(Event("g1-2", 8, TaskState::kRunning));

  EventRing::Position p = ring.Resolve(old_cursor, false);
  EXPECT_TRUE(p.gap) << "a cursor of the previous life names nothing here";
  EXPECT_EQ(p.after, ring.oldest() - 1) << "and the new life's events all follow it";
  p = ring.Resolve(ring.head() + 10, false);
  EXPECT_TRUE(p.gap);
  EXPECT_EQ(p.after, ring.head());
  p = ring.Resolve(0, false);
  EXPECT_FALSE(p.gap);
  EXPECT_EQ(p.after, ring.head()) << "0 is from now on";
  p = ring.Resolve(0, true);
  EXPECT_EQ(ring.Read(p.after, WatchFilter{}, 10).events.size(), 2u) << "0 + from_oldest replays";
}

TEST(EventRing, AFilterSkipsEventsButItsNextCursorMovesPastThem) {
  EventRing ring(10);
  ring.Activate(1);
  const uint64_t base = ring.head();
  ring.Append(Event("g1-1", 1, TaskState::kRunning));
  ring.Append(Event("g1-2", 2, TaskState::kSucceeded));
  ring.Append(Event("g1-1", 3, TaskState::kFailed));
  WatchFilter f;
  f.state = TaskState::kSucceeded;
  EventRing::Batch b = ring.Read(base, f, 10);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].task_id, "g1-2");
  EXPECT_EQ(b.next_cursor, base + 3);
  WatchFilter by_task;
  by_task.task_id = "g1-1";
  b = ring.Read(base, by_task, 10);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[1].event.index, 3u);
}

// A watch sent to the harness's core without waiting for its answer; Take finds it later.
struct Watch {
  CoreHarness& h;
  uint64_t id;
  Watch(CoreHarness& harness, WatchRequest req, uint64_t request_id) : h(harness), id(request_id) {
    h.core().Request(h.now(), ReplyTo{"watcher", id},
                     RequestFrame{RequestType::kWatch, id, PackBody(req)});
    h.Drain();
  }
  // The reply, if the core has sent it.
  std::optional<WatchReply> Take() {
    for (auto it = h.replies().begin(); it != h.replies().end(); ++it) {
      if (it->to.request_id != id) continue;
      EXPECT_TRUE(it->frame.status.ok()) << it->frame.status.ToString();
      auto r = UnpackBody<WatchReply>(it->frame.body);
      h.replies().erase(it);
      EXPECT_TRUE(r.ok());
      return r.ok() ? std::optional<WatchReply>(*r) : std::nullopt;
    }
    return std::nullopt;
  }
};

WatchRequest After(uint64_t cursor, int64_t timeout_ms = 30000, std::string state = "") {
  WatchRequest r;
  r.cursor = cursor;
  r.timeout_ms = timeout_ms;
  r.state = std::move(state);
  return r;
}

// The states a task passed through, as a watcher from `cursor` sees them, polling until
// nothing more comes (each poll is answered at once while events are waiting).
std::vector<std::string> Drain(CoreHarness& h, uint64_t* cursor, uint64_t* request_id,
                               const std::string& state = "") {
  std::vector<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    Watch w(h, After(*cursor, 0, state), ++*request_id);
    auto r = w.Take();
    if (!r) {
      ADD_FAILURE() << "a watch with timeout 0 must be answered at once";
      break;
    }
    EXPECT_FALSE(r->gap);
    *cursor = r->next_cursor;
    if (r->events.empty()) break;
    for (const auto& e : r->events) {
      seen.push_back(e.task_id + " " + e.event.kind + ":" + TaskStateName(e.event.state_after));
    }
  }
  return seen;
}

TEST(NodeCoreWatch, AWatchFromNowIsAnsweredAtOnceThenHeldUntilAnEntryNamingATaskIsApplied) {
  CoreHarness h;
  Watch start(h, After(0), 1);
  auto first = start.Take();
  ASSERT_TRUE(first) << "cursor 0 is answered at once";
  EXPECT_TRUE(first->events.empty());
  EXPECT_EQ(first->node_id, "00000000000000aa");

  Watch held(h, After(first->next_cursor), 2);
  EXPECT_FALSE(held.Take()) << "no event yet: the watch is held";
  h.Advance(Duration::Seconds(1));
  EXPECT_FALSE(held.Take()) << "ticks before the timeout change nothing";

  TaskSpec s = Spec({"sleep", "5"}, "job");
  s.submitted_by = "bob@h";
  const std::string id = h.Submit(s);
  auto r = held.Take();
  ASSERT_TRUE(r) << "the Submit's apply answers the held watch";
  ASSERT_GE(r->events.size(), 1u);
  const WatchEvent& e = r->events[0];
  EXPECT_EQ(e.task_id, id);
  EXPECT_EQ(e.task_name, "job");
  EXPECT_EQ(e.group, "g1");
  EXPECT_EQ(e.event.kind, "submit");
  EXPECT_EQ(e.event.detail, "by bob@h");
  EXPECT_EQ(e.event.index, h.Get(id).history[0].index);
  EXPECT_GT(e.cursor, first->next_cursor);
  EXPECT_EQ(r->next_cursor, r->events.back().cursor);
}

TEST(NodeCoreWatch, AHeldWatchIsAnsweredEmptyAtItsTimeoutMeasuredWithNow) {
  CoreHarness h;
  Watch start(h, After(0), 1);
  const uint64_t cursor = start.Take()->next_cursor;
  Watch held(h, After(cursor, 2000), 2);
  EXPECT_LE(h.core().NextDeadline(), h.now() + Duration::Millis(2000)) << "the core asks to be ticked by then";
  h.Advance(Duration::Millis(1999));
  EXPECT_FALSE(held.Take());
  h.Advance(Duration::Millis(2));
  auto r = held.Take();
  ASSERT_TRUE(r) << "answered at the timeout";
  EXPECT_TRUE(r->events.empty());
  EXPECT_FALSE(r->gap);
  EXPECT_EQ(r->next_cursor, cursor);
}

TEST(NodeCoreWatch, EachTasksEventsArriveOnceInLogOrderAndTheStateFilterKeepsOnlyItsState) {
  CoreHarness h;
  Watch start(h, After(0), 1);
  uint64_t all = start.Take()->next_cursor;
  uint64_t only_succeeded = all;
  uint64_t request_id = 100;
  TaskSpec ok = Spec({"true"}, "ok");
  TaskSpec bad = Spec({"false"}, "bad");
  bad.max_attempts = 1;
  const std::string a = h.Submit(ok);
  const std::string b = h.Submit(bad);
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf(a), TaskState::kSucceeded);
  ASSERT_EQ(h.StateOf(b), TaskState::kFailed);

  std::vector<std::string> seen = Drain(h, &all, &request_id);
  std::vector<std::string> of_a, of_b;
  for (const auto& s : seen) (s.rfind(a + " ", 0) == 0 ? of_a : of_b).push_back(s.substr(s.find(' ') + 1));
  EXPECT_EQ(of_a, (std::vector<std::string>{"submit:ready", "grant:assigned", "start:running", "finish:succeeded"}));
  EXPECT_EQ(of_b, (std::vector<std::string>{"submit:ready", "grant:assigned", "start:running", "finish:failed"}));
  EXPECT_TRUE(Drain(h, &all, &request_id).empty()) << "nothing is reported twice";

  EXPECT_EQ(Drain(h, &only_succeeded, &request_id, "succeeded"),
            std::vector<std::string>{a + " finish:succeeded"});
  EXPECT_EQ(only_succeeded, all) << "the filter's skips are behind its cursor too";

  Watch bad_state(h, After(0, 0, "done"), ++request_id);
  bool refused = false;
  for (const auto& r : h.replies()) {
    if (r.to.request_id == request_id) refused = r.frame.status.code() == Status::Code::kInvalidArgument;
  }
  EXPECT_TRUE(refused) << "an unknown state is refused with InvalidArgument";
}

TEST(NodeCoreWatch, ADownstreamBlockedByAFailureIsReportedWithTheIndexOfTheFinishThatBlockedIt) {
  CoreHarness h;
  Watch start(h, After(0), 1);
  uint64_t cursor = start.Take()->next_cursor;
  uint64_t request_id = 100;
  TaskSpec up = Spec({"false"}, "up");
  up.max_attempts = 1;
  auto ids = h.Submit({up, Spec({"true"}, "down", {"up"}), Spec({"true"}, "further", {"down"})});
  ASSERT_EQ(ids.size(), 3u);
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf("further"), TaskState::kBlocked);

  Watch blocked(h, After(cursor, 0, "blocked"), ++request_id);
  auto r = blocked.Take();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->events.size(), 2u) << "both downstream tasks, though no entry names them";
  const uint64_t finish_index = h.Get("up").history.back().index;
  for (const WatchEvent& e : r->events) {
    EXPECT_EQ(e.event.kind, "blocked");
    EXPECT_EQ(e.event.index, finish_index) << "the entry that blocked " << e.task_id;
    EXPECT_EQ(e.event.detail, "blocked by " + h.Get(e.task_id).blocked_by);
  }
  EXPECT_EQ(r->events[0].task_id, ids[1]);
  EXPECT_EQ(r->events[1].task_id, ids[2]);

  // Waits still hear of those ends: a Wait on the blocked task is answered.
  ReplyFrame w = h.Call(RequestType::kWait, PackBody(WaitRequest{{ids[2]}, 1000}));
  ASSERT_TRUE(w.status.ok());
  EXPECT_TRUE(UnpackBody<WaitReply>(w.body)->all_ended);
}

TEST(NodeCoreWatch, AWaitOnADownstreamIsAnsweredWhenItIsBlockedWhileTheNodeIsWatched) {
  CoreHarness h;
  Watch start(h, After(0), 1001);  // the ring is on: ends pass through it to the waiters
  ASSERT_TRUE(start.Take());
  TaskSpec up = Spec({"sleep", "9"}, "up");
  up.max_attempts = 1;
  auto ids = h.Submit({up, Spec({"true"}, "down", {"up"})});
  ASSERT_EQ(ids.size(), 2u);
  h.core().Request(h.now(), ReplyTo{"waiter", 50},
                   RequestFrame{RequestType::kWait, 50, PackBody(WaitRequest{{ids[1]}, 30000})});
  h.Drain();
  h.Exit(ids[0], 1);
  bool answered = false;
  for (const auto& rep : h.replies()) {
    if (rep.to.request_id != 50) continue;
    auto w = UnpackBody<WaitReply>(rep.frame.body);
    answered = rep.frame.status.ok() && w.ok() && w->all_ended;
  }
  EXPECT_TRUE(answered) << "the held wait must hear that its task was blocked";
}

TEST(NodeCoreWatch, AStoppingNodeAnswersHeldWatchesAtOnce) {
  CoreHarness h;
  Watch start(h, After(0), 1);
  Watch held(h, After(start.Take()->next_cursor), 2);
  EXPECT_FALSE(held.Take());
  h.core().Stop(h.now());
  h.Drain();
  auto r = held.Take();
  ASSERT_TRUE(r) << "a watch must not outlive the node's stop";
  EXPECT_TRUE(r->events.empty());
}

// A core of our own (the harness fixes its options): a small ring, few watchers, and a
// restart whose replay a watch can see.
struct OwnCore {
  CoreOptions o;
  MemoryStorage* storage;
  Instant now = Instant::FromMicros(1'700'000'000'000'000);
  std::unique_ptr<NodeCore> core;
  std::vector<ClientReply> replies;

  OwnCore(MemoryStorage* s, size_t ring, size_t watchers) : storage(s) {
    o.node_id = "00000000000000aa";
    o.group_id = "g1";
    o.client_address = "127.0.0.1:7400";
    o.max_watch_events = ring;
    o.max_watchers = watchers;
    auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
    core = std::make_unique<NodeCore>(o, logger);
    EXPECT_TRUE(core->Recover(storage, now).ok());
  }
  void Drain() {
    for (int i = 0; i < 100 && core->HasReady(); ++i) {
      Ready rd = core->TakeReady();
      ASSERT_TRUE(storage->Write(rd.writes, rd.sync).ok());
      for (auto& r : rd.replies) replies.push_back(std::move(r));
      core->Advance(now);
    }
  }
  ReplyFrame Call(uint64_t id, RequestType type, const std::string& body) {
    core->Request(now, ReplyTo{"c", id}, RequestFrame{type, id, body});
    Drain();
    for (auto it = replies.begin(); it != replies.end(); ++it) {
      if (it->to.request_id == id) {
        ReplyFrame f = it->frame;
        replies.erase(it);
        return f;
      }
    }
    return ReplyFrame{id, Status::NotFound("no reply (held)"), {}};
  }
  // Every event the node holds (a watch from the oldest, answered at once).
  WatchReply Oldest(uint64_t id) {
    WatchRequest req;
    req.from_oldest = true;
    req.timeout_ms = 0;
    ReplyFrame f = Call(id, RequestType::kWatch, PackBody(req));
    EXPECT_TRUE(f.status.ok()) << f.status.ToString();
    auto r = UnpackBody<WatchReply>(f.body);
    return r.ok() ? *r : WatchReply{};
  }
};

TEST(NodeCoreWatch, TheReplayOfTheLogAtRecoveryIsNotReportedAgainButNewEntriesAre) {
  MemoryStorage storage;
  {
    OwnCore first(&storage, 100, 10);
    first.Drain();
    first.Oldest(1);  // someone watches this life
    first.Call(2, RequestType::kSubmit, PackBody(SubmitRequest{{Spec({"sleep", "9"}, "a")}, false}));
    EXPECT_GE(first.Oldest(3).events.size(), 1u) << "the submit was reported in the first life";
  }
  // The restarted node is watched before its first Ready: the replay of the log happens
  // while its ring is active.
  OwnCore second(&storage, 100, 10);
  second.core->Request(second.now, ReplyTo{"c", 1},
                       RequestFrame{RequestType::kWatch, 1, PackBody(After(0, 0))});
  second.Drain();
  ASSERT_TRUE(second.core->replayed());
  ASSERT_NE(second.core->LookupTask("a"), nullptr) << "the replay rebuilt the task";
  for (const auto& e : second.Oldest(2).events) {
    EXPECT_NE(e.event.kind, "submit") << "the replayed submit of " << e.task_id << " was reported again";
  }
  second.Call(3, RequestType::kSubmit, PackBody(SubmitRequest{{Spec({"sleep", "9"}, "b")}, false}));
  bool saw_b = false;
  for (const auto& e : second.Oldest(4).events) saw_b = saw_b || (e.task_name == "b" && e.event.kind == "submit");
  EXPECT_TRUE(saw_b) << "entries applied in this life are reported";
}

TEST(NodeCoreWatch, WatchesPastTheLimitAreRefusedBusyAndADroppedCursorIsAGap) {
  MemoryStorage storage;
  OwnCore c(&storage, /*ring=*/2, /*watchers=*/1);
  c.Drain();
  ReplyFrame f = c.Call(1, RequestType::kWatch, PackBody(After(0)));
  const uint64_t cursor = UnpackBody<WatchReply>(f.body)->next_cursor;
  f = c.Call(2, RequestType::kWatch, PackBody(After(cursor)));
  EXPECT_EQ(f.status.code(), Status::Code::kNotFound) << "held, not answered";
  f = c.Call(3, RequestType::kWatch, PackBody(After(cursor)));
  EXPECT_EQ(f.status.code(), Status::Code::kBusy) << "one watch is the limit here";

  // Four events (submit, grant, start, cancel; the held watch's answer takes the first),
  // ring of two.
  c.Call(4, RequestType::kSubmit, PackBody(SubmitRequest{{Spec({"sleep", "9"}, "a")}, false}));
  ASSERT_EQ(c.core->LookupTask("a")->state, TaskState::kRunning);
  c.Call(5, RequestType::kCancel, PackBody(CancelRequest{"a"}));
  f = c.Call(6, RequestType::kWatch, PackBody(After(cursor, 0)));
  ASSERT_TRUE(f.status.ok()) << f.status.ToString();
  WatchReply r = *UnpackBody<WatchReply>(f.body);
  EXPECT_TRUE(r.gap) << "the submit's event left the ring of two";
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].event.kind, "start");
  EXPECT_EQ(r.events[1].event.kind, "cancel");
}

}  // namespace
}  // namespace magpie
