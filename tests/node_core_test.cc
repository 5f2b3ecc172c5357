// NodeCore scenarios on MemoryStorage with a scripted executor: each test names the
// promise it proves.
#include "tests/core_harness.h"

namespace magpie {
namespace {

TEST(NodeCore, SubmitIsAnsweredOnlyAfterItsEntryIsSynced) {
  CoreHarness h;
  uint64_t synced = h.storage().synced_writes();
  h.core().Request(h.now(), ReplyTo{"c", 1},
                   RequestFrame{RequestType::kSubmit, 1,
                                PackBody(SubmitRequest{{Spec({"sleep", "1"})}, false})});
  ASSERT_TRUE(h.core().HasReady());
  Ready rd = h.core().TakeReady();
  EXPECT_TRUE(rd.sync);
  EXPECT_TRUE(rd.replies.empty()) << "a submit must not be acknowledged before it is durable";
  ASSERT_TRUE(h.storage().Write(rd.writes, rd.sync).ok());
  h.core().Advance(h.now());
  Ready next = h.core().TakeReady();
  ASSERT_EQ(next.replies.size(), 1u);
  EXPECT_TRUE(next.replies[0].frame.status.ok());
  EXPECT_GT(h.storage().synced_writes(), synced);
}

// A submit of many tasks is one proposal: when the group's bound on uncommitted work is
// reached partway through a request, the whole request is refused, and nothing of it
// commits unanswered. Before, the tasks ahead of the refusal committed with no reply.
TEST(NodeCore, ASubmitIsTakenWholeOrRefusedWhole) {
  CoreHarness h;
  const std::string big(250 * 1024, 'x');  // under the 256 KiB bound on one task spec
  auto task = [&](const std::string& key) {
    TaskSpec s = Spec({"echo", big});
    s.idempotency_key = key;
    return s;
  };
  // Four requests of 60 tasks (each under the 16 MiB bound on a request), 59 MiB proposed
  // and not yet committed (the driver has not run); the group's bound is 64 MiB. The fifth
  // request crosses it partway.
  for (uint64_t r = 0; r < 4; ++r) {
    std::vector<TaskSpec> specs;
    for (int i = 0; i < 60; ++i) specs.push_back(task("a" + std::to_string(r) + "-" + std::to_string(i)));
    h.core().Request(h.now(), ReplyTo{"c", 1000 + r},
                     RequestFrame{RequestType::kSubmit, 1000 + r, PackBody(SubmitRequest{specs, false})});
  }
  std::vector<TaskSpec> second;
  for (int i = 0; i < 40; ++i) second.push_back(task("b" + std::to_string(i)));
  h.core().Request(h.now(), ReplyTo{"c", 2000},
                   RequestFrame{RequestType::kSubmit, 2000, PackBody(SubmitRequest{second, false})});
  h.Drain();
  ASSERT_EQ(h.replies().size(), 5u);
  for (const ClientReply& r : h.replies()) {
    if (r.to.request_id == 2000) {
      EXPECT_EQ(r.frame.status.code(), Status::Code::kBusy) << r.frame.status.ToString();
    } else {
      EXPECT_TRUE(r.frame.status.ok()) << r.frame.status.ToString();
    }
  }
  EXPECT_EQ(h.core().tasks().size(), 240u) << "a refused submit left tasks behind";
  // The retry, once the first request committed, gets fresh ids for every task.
  ReplyFrame f = h.Call(RequestType::kSubmit, PackBody(SubmitRequest{second, false}));
  ASSERT_TRUE(f.status.ok()) << f.status.ToString();
  auto reply = UnpackBody<SubmitReply>(f.body);
  ASSERT_TRUE(reply.ok());
  ASSERT_EQ(reply->ids.size(), 40u);
  for (bool existing : reply->existing) EXPECT_FALSE(existing);
  EXPECT_EQ(h.core().tasks().size(), 280u);
}

// The watchdog kills an attempt at the last deadline it was given when its node could not
// renew the lease in time (paused, cut off): the attempt is lost, not a failure of the
// task. A SIGKILL from anyone else before that deadline is the task's own failure.
TEST(NodeCore, AKillAtTheLeaseDeadlineIsALostAttemptNotAFailure) {
  CoreHarness h;
  TaskSpec s = Spec({"sleep", "60"});
  s.max_attempts = 2;
  const std::string late = h.Submit(s);
  const std::string early = h.Submit(s);
  ASSERT_EQ(h.running().count(late), 1u);
  ASSERT_EQ(h.running().count(early), 1u);
  const Instant deadline = h.running()[late].kill_deadline;
  ASSERT_NE(deadline, Instant::Never());
  h.core().OnExecutorEvent(deadline + Duration::Millis(1),
                           ExecutorEvent{ExecutorEvent::Kind::kExited, late, 1, -1, 9, "", "", ""});
  h.core().OnExecutorEvent(h.now() + Duration::Seconds(1),
                           ExecutorEvent{ExecutorEvent::Kind::kExited, early, 1, -1, 9, "", "", ""});
  h.running().clear();
  for (int i = 0; i < 80; ++i) h.Advance(Duration::Millis(100));  // past the late end, too
  ASSERT_GE(h.Get(late).attempts.size(), 1u);
  EXPECT_EQ(h.Get(late).attempts[0].outcome, Outcome::kLost) << h.Get(late).attempts[0].reason;
  EXPECT_EQ(h.Get(early).attempts[0].outcome, Outcome::kFailed);
}

TEST(NodeCore, DiamondWithFailingArmBlocksOnlyItsDownstream) {
  CoreHarness h;
  auto ids = h.Submit({Spec({"true"}, "a"), Spec({"true"}, "b", {"a"}),
                       Spec({"false"}, "c", {"a"}), Spec({"true"}, "d", {"b", "c"}),
                       Spec({"true"}, "e")});
  ASSERT_EQ(ids.size(), 5u);
  for (int i = 0; i < 10; ++i) {
    h.RunQuickProcesses();
    h.Advance(Duration::Seconds(10));  // past every backoff
  }
  EXPECT_EQ(h.StateOf("a"), TaskState::kSucceeded);
  EXPECT_EQ(h.StateOf("b"), TaskState::kSucceeded);
  EXPECT_EQ(h.StateOf("c"), TaskState::kFailed);
  EXPECT_EQ(h.StateOf("d"), TaskState::kBlocked);
  EXPECT_EQ(h.Get("d").blocked_by, ids[2]);
  EXPECT_EQ(h.StateOf("e"), TaskState::kSucceeded);
  EXPECT_EQ(h.Get("c").attempts.size(), 3u) << "default max_attempts is 3";
}

TEST(NodeCore, FailedAttemptWaitsOutExponentialBackoff) {
  CoreHarness h;
  TaskSpec s = Spec({"false"});
  s.backoff_ms = 1000;
  s.max_attempts = 3;
  std::string id = h.Submit(s);
  h.RunQuickProcesses();
  EXPECT_EQ(h.Get(id).attempts.size(), 1u);
  h.Advance(Duration::Millis(900));
  h.RunQuickProcesses();
  EXPECT_EQ(h.Get(id).attempts.size(), 1u) << "retried before the 1 s backoff";
  h.Advance(Duration::Millis(200));
  h.RunQuickProcesses();
  EXPECT_EQ(h.Get(id).attempts.size(), 2u);
  h.Advance(Duration::Millis(1900));
  h.RunQuickProcesses();
  EXPECT_EQ(h.Get(id).attempts.size(), 2u) << "second backoff should be 2 s";
  h.Advance(Duration::Millis(200));
  h.RunQuickProcesses();
  EXPECT_EQ(h.Get(id).attempts.size(), 3u);
  EXPECT_EQ(h.StateOf(id), TaskState::kFailed);
}

TEST(NodeCore, HigherPriorityRunsFirstAndSlotsBoundConcurrency) {
  CoreHarness h(/*slots=*/1);
  TaskSpec blocker = Spec({"sleep", "5"});
  std::string b = h.Submit(blocker);
  TaskSpec low = Spec({"true"}, "low");
  low.priority = 10;
  TaskSpec high = Spec({"true"}, "high");
  high.priority = 90;
  h.Submit(low);
  h.Submit(high);
  EXPECT_EQ(h.running().size(), 1u);
  h.Exit(b, 0);
  ASSERT_EQ(h.running().size(), 1u);
  EXPECT_EQ(h.running().begin()->second.spec.name, "high");
}

TEST(NodeCore, ATaskSubmittedToAnIdleNodeStartsWithItsSubmitsReply) {
  // The Grant is proposed right behind the Submit and commits with it: the attempt starts
  // in the Ready that answers the submit, one commit instead of two.
  CoreHarness h(/*slots=*/2);
  std::string id = h.Submit(Spec({"sleep", "5"}));
  ASSERT_EQ(h.running().count(id), 1u);
  EXPECT_EQ(h.ReadyOfStart(id), h.ReadyOfReply(h.last_request_id()));
  EXPECT_EQ(h.Get(id).attempts.size(), 1u);
  EXPECT_EQ(h.StateOf(id), TaskState::kRunning);
  // With a slot left, the next one too.
  std::string second = h.Submit(Spec({"sleep", "5"}));
  ASSERT_EQ(h.running().count(second), 1u);
  EXPECT_EQ(h.ReadyOfStart(second), h.ReadyOfReply(h.last_request_id()));
}

TEST(NodeCore, GrantBehindSubmitKeepsPriorityOrderAndSlots) {
  CoreHarness h(/*slots=*/1);
  TaskSpec low = Spec({"true"}, "low");
  low.priority = 10;
  TaskSpec high = Spec({"sleep", "5"}, "high");
  high.priority = 90;
  auto ids = h.Submit({low, high});
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_EQ(h.running().size(), 1u);
  EXPECT_EQ(h.running().begin()->second.spec.name, "high");
  EXPECT_EQ(h.StateOf(ids[0]), TaskState::kReady);
  // A node with tasks waiting schedules among them as before: nothing jumps the queue.
  TaskSpec mid = Spec({"true"}, "mid");
  mid.priority = 50;
  std::string m = h.Submit(mid);
  EXPECT_EQ(h.StateOf(m), TaskState::kReady);
  h.Exit(ids[1], 0);
  ASSERT_EQ(h.running().size(), 1u);
  EXPECT_EQ(h.running().begin()->second.spec.name, "mid");
}

TEST(NodeCore, TasksThatMayNotBeReadyOnSubmitAreNotGrantedAhead) {
  CoreHarness h(/*slots=*/4, {{"gpu", "0"}});
  std::string up = h.Submit(Spec({"sleep", "5"}, "up"));
  std::string down = h.Submit(Spec({"true"}, "down", {"up"}));
  EXPECT_EQ(h.StateOf(down), TaskState::kPending);
  TaskSpec gpu = Spec({"true"}, "gpu");
  gpu.labels["gpu"] = "1";
  std::string g = h.Submit(gpu);
  EXPECT_EQ(h.StateOf(g), TaskState::kReady);
  EXPECT_TRUE(h.Get(g).attempts.empty());
  h.Exit(up, 0);
  h.RunQuickProcesses();
  EXPECT_EQ(h.StateOf(down), TaskState::kSucceeded);
}

TEST(NodeCore, ARetryWaitsForAnUpstreamRestartedWhileItsAttemptRanAndIsBlockedWithIt) {
  // Seed 40068 of an R=3 swarm: c ran on a's first run; a was restarted meanwhile; c's
  // attempt failed and its retry was granted while a's new run had not succeeded (it was
  // then cancelled). The retry waits for the new run, as a task submitted now would.
  CoreHarness h(/*slots=*/4);
  TaskSpec c = Spec({"sleep", "9"}, "c", {"a"});
  c.max_attempts = 3;
  auto ids = h.Submit({Spec({"true"}, "a"), c});
  ASSERT_EQ(ids.size(), 2u);
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf(ids[1]), TaskState::kRunning);
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{ids[0]})).status.ok());
  ASSERT_EQ(h.StateOf(ids[0]), TaskState::kRunning);  // its new run, not finished
  h.Exit(ids[1], 1);  // c's attempt fails; it has attempts left
  EXPECT_EQ(h.StateOf(ids[1]), TaskState::kPending) << "the retry must wait for a's new run";
  h.Advance(Duration::Seconds(5));  // past the backoff
  EXPECT_EQ(h.running().count(ids[1]), 0u);
  CancelRequest cancel;
  cancel.id = ids[0];
  ASSERT_TRUE(h.Call(RequestType::kCancel, PackBody(cancel)).status.ok());
  EXPECT_EQ(h.StateOf(ids[1]), TaskState::kBlocked);
  // The same with a lost attempt, and an upstream that succeeds again: it runs after.
  auto more = h.Submit({Spec({"true"}, "a2"), Spec({"sleep", "9"}, "c2", {"a2"})});
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf(more[1]), TaskState::kRunning);
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{more[0]})).status.ok());
  h.CrashAndRestart();  // c2's attempt is lost; so is a2's new run
  h.Advance(Duration::Millis(10));
  EXPECT_NE(h.StateOf(more[1]), TaskState::kRunning);
  EXPECT_EQ(h.running().count(more[1]), 0u) << "c2 ran before a2 succeeded again";
  h.RunQuickProcesses();  // a2 succeeds again
  h.Advance(Duration::Millis(10));
  EXPECT_EQ(h.StateOf(more[0]), TaskState::kSucceeded);
  EXPECT_EQ(h.running().count(more[1]), 1u);
}

TEST(NodeCore, TimeoutKillsTheAttemptAndCountsAsFailure) {
  CoreHarness h;
  TaskSpec s = Spec({"sleep", "100"});
  s.timeout_ms = 500;
  s.max_attempts = 1;
  std::string id = h.Submit(s);
  h.Advance(Duration::Millis(400));
  EXPECT_TRUE(h.kills().empty());
  h.Advance(Duration::Millis(200));
  ASSERT_EQ(h.kills().size(), 1u);
  EXPECT_EQ(h.kills()[0].why, Outcome::kTimedOut);
  EXPECT_EQ(h.StateOf(id), TaskState::kFailed);
  EXPECT_EQ(h.Get(id).attempts[0].outcome, Outcome::kTimedOut);
}

TEST(NodeCore, CancelKillsRunningAttemptAndBlocksDownstream) {
  CoreHarness h;
  auto ids = h.Submit({Spec({"sleep", "100"}, "up"), Spec({"true"}, "down", {"up"})});
  ReplyFrame f = h.Call(RequestType::kCancel, PackBody(CancelRequest{ids[0]}));
  ASSERT_TRUE(f.status.ok()) << f.status.ToString();
  EXPECT_EQ(UnpackBody<StatusReply>(f.body)->task.state, TaskState::kCancelled);
  ASSERT_EQ(h.kills().size(), 1u);
  EXPECT_EQ(h.StateOf(ids[1]), TaskState::kBlocked);
  EXPECT_EQ(h.Get(ids[0]).attempts[0].outcome, Outcome::kCancelled);
  ReplyFrame again = h.Call(RequestType::kCancel, PackBody(CancelRequest{ids[0]}));
  EXPECT_EQ(again.status.code(), Status::Code::kFailedPrecondition);
}

TEST(NodeCore, RestartOfFailedTaskRecordsOriginAndUnblocksDownstream) {
  CoreHarness h;
  TaskSpec up = Spec({"false"}, "up");
  up.max_attempts = 1;
  auto ids = h.Submit({up, Spec({"true"}, "down", {"up"})});
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf(ids[0]), TaskState::kFailed);
  ASSERT_EQ(h.StateOf(ids[1]), TaskState::kBlocked);
  ReplyFrame f = h.Call(RequestType::kRestart, PackBody(RestartRequest{ids[0]}));
  ASSERT_TRUE(f.status.ok()) << f.status.ToString();
  EXPECT_EQ(h.StateOf(ids[1]), TaskState::kPending);
  ASSERT_EQ(h.Get(ids[0]).attempts.size(), 2u);
  EXPECT_EQ(h.Get(ids[0]).attempts[1].restarted_from, 1u);
  h.Exit(ids[0], 0);
  h.RunQuickProcesses();
  EXPECT_EQ(h.StateOf(ids[1]), TaskState::kSucceeded);
}

// Found by magpie-sim (K3): restarting a succeeded upstream must make a downstream that
// has not started wait for the new run too, and not release it early later.
TEST(NodeCore, RestartOfSucceededUpstreamKeepsPendingDownstreamWaiting) {
  CoreHarness h;
  auto ids = h.Submit({Spec({"true"}, "a"), Spec({"sleep", "9"}, "c"),
                       Spec({"true"}, "b", {"a", "c"})});
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf("a"), TaskState::kSucceeded);
  ASSERT_EQ(h.StateOf("b"), TaskState::kPending);
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{ids[0]})).status.ok());
  h.RunQuickProcesses();  // a succeeds again; c still runs
  EXPECT_EQ(h.StateOf("a"), TaskState::kSucceeded);
  EXPECT_EQ(h.StateOf("b"), TaskState::kPending) << "b ran while c had not succeeded";
  h.Exit(ids[1], 0);
  h.RunQuickProcesses();
  EXPECT_EQ(h.StateOf("b"), TaskState::kSucceeded);
}

// Found by magpie-sim (seed 256): restarting a succeeded task whose own upstream has
// since been cancelled blocks it, and must block its not-yet-started downstream with it
// rather than leave that downstream waiting forever for a run that never comes.
TEST(NodeCore, RestartThatBlocksOnCancelledUpstreamBlocksDownstreamToo) {
  CoreHarness h;
  // d needs a label no node has, so it stays ready once a has succeeded.
  TaskSpec d = Spec({"true"}, "d", {"a"});
  d.labels["gpu"] = "none-here";
  auto ids = h.Submit({Spec({"true"}, "u"), Spec({"true"}, "a", {"u"}), d});
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf("a"), TaskState::kSucceeded);
  ASSERT_EQ(h.StateOf("d"), TaskState::kReady);
  // u cannot be cancelled once succeeded, so make it ended-not-succeeded by restarting it
  // and cancelling the new run before it starts.
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{ids[0]})).status.ok());
  ASSERT_TRUE(h.Call(RequestType::kCancel, PackBody(CancelRequest{ids[0]})).status.ok());
  ASSERT_EQ(h.StateOf("u"), TaskState::kCancelled);
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{ids[1]})).status.ok());
  EXPECT_EQ(h.StateOf("a"), TaskState::kBlocked);
  EXPECT_EQ(h.StateOf("d"), TaskState::kBlocked) << "d would wait forever for a";
}

TEST(NodeCore, CrashLosesNoAcknowledgedTaskAndRunsInterruptedOnesAgain) {
  CoreHarness h;
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(h.Submit(Spec({"sleep", "3"})));
  ASSERT_EQ(h.running().size(), 4u);
  h.CrashAndRestart();
  for (const auto& id : ids) ASSERT_NE(h.core().tasks().Find(id), nullptr) << id << " lost";
  EXPECT_EQ(h.running().size(), 4u) << "interrupted attempts should start again";
  for (int i = 0; i < 10 && !h.running().empty(); ++i) {
    auto running = h.running();
    for (const auto& [id, sp] : running) h.Exit(id, 0);
  }
  int second = 0;
  for (const auto& id : ids) {
    EXPECT_EQ(h.StateOf(id), TaskState::kSucceeded);
    if (h.Get(id).attempts.size() == 2) {
      ++second;
      EXPECT_EQ(h.Get(id).attempts[0].outcome, Outcome::kLost);
    }
  }
  EXPECT_EQ(second, 4);
}

TEST(NodeCore, RecoveryAfterCompactionRebuildsTheSameTable) {
  CoreHarness h(/*slots=*/64, {}, /*compact_every=*/100);
  std::vector<TaskSpec> specs;
  for (int i = 0; i < 300; ++i) specs.push_back(Spec({"true"}));
  auto ids = h.Submit(specs);
  h.RunQuickProcesses();
  size_t log_entries = 0;
  ASSERT_TRUE(h.storage().Scan(Column::kLog, "", "", [&](std::string_view, std::string_view) {
    ++log_entries;
    return true;
  }).ok());
  EXPECT_LT(log_entries, 300u) << "900 entries were applied; compaction should have removed most";
  h.CrashAndRestart();
  for (const auto& id : ids) EXPECT_EQ(h.StateOf(id), TaskState::kSucceeded);
  std::string more = h.Submit(Spec({"true"}));
  EXPECT_EQ(more, "g1-301") << "sequence numbers continue after recovery";
}

TEST(NodeCore, IdempotencyKeyGivesTheSameIdAndOneTask) {
  CoreHarness h;
  TaskSpec s = Spec({"sleep", "1"});
  s.idempotency_key = "k1";
  std::string a = h.Submit(s);
  std::string b = h.Submit(s);
  EXPECT_EQ(a, b);
  EXPECT_EQ(h.core().tasks().size(), 1u);
}

TEST(NodeCore, LabelsKeepTasksOffNodesWithoutThem) {
  CoreHarness h(4, {{"gpu", "0"}});
  TaskSpec s = Spec({"true"});
  s.labels["gpu"] = "1";
  std::string id = h.Submit(s);
  EXPECT_TRUE(h.running().empty());
  EXPECT_EQ(h.StateOf(id), TaskState::kReady);
}

TEST(NodeCore, BadRequestsGetClearErrorsAndChangeNothing) {
  CoreHarness h;
  std::string ok = h.Submit(Spec({"sleep", "1"}));
  struct Case {
    RequestType type;
    std::string body;
    Status::Code want;
  };
  std::vector<Case> cases = {
      {RequestType::kSubmit, "\xc1garbage", Status::Code::kInvalidArgument},
      {RequestType::kSubmit, PackBody(SubmitRequest{{Spec({})}, false}), Status::Code::kInvalidArgument},
      {RequestType::kSubmit, PackBody(SubmitRequest{{Spec({"true"}, "x", {"nope"})}, false}),
       Status::Code::kNotFound},
      {RequestType::kSubmit,
       PackBody(SubmitRequest{{Spec({"true"}, "a", {"b"}), Spec({"true"}, "b", {"a"})}, false}),
       Status::Code::kInvalidArgument},
      {RequestType::kSubmit, PackBody(SubmitRequest{{Spec({"@sleep", "soon"})}, false}),
       Status::Code::kInvalidArgument},
      {RequestType::kStatus, PackBody(StatusRequest{"g1-999"}), Status::Code::kNotFound},
      {RequestType::kList, PackBody(ListRequest{"weird", 0, 10, ""}), Status::Code::kInvalidArgument},
      {RequestType::kRestart, PackBody(RestartRequest{ok}), Status::Code::kFailedPrecondition},
  };
  for (const auto& c : cases) {
    ReplyFrame f = h.Call(c.type, c.body);
    EXPECT_EQ(f.status.code(), c.want) << RequestTypeName(c.type) << ": " << f.status.ToString();
    EXPECT_FALSE(f.status.message().empty());
  }
  EXPECT_EQ(h.core().tasks().size(), 1u);
  EXPECT_EQ(h.StateOf(ok), TaskState::kRunning);
}

TEST(NodeCore, WaitAnswersWhenEveryTaskHasEnded) {
  CoreHarness h;
  std::string id = h.Submit(Spec({"sleep", "1"}));
  uint64_t rid = 77;
  h.core().Request(h.now(), ReplyTo{"w", rid},
                   RequestFrame{RequestType::kWait, rid, PackBody(WaitRequest{{id}, 5000})});
  h.Drain();
  for (const auto& r : h.replies()) EXPECT_NE(r.to.request_id, rid) << "answered too early";
  h.Exit(id, 0);
  bool answered = false;
  for (const auto& r : h.replies()) {
    if (r.to.request_id != rid) continue;
    answered = true;
    auto w = UnpackBody<WaitReply>(r.frame.body);
    EXPECT_TRUE(w->all_ended);
    EXPECT_EQ(w->tasks[0].state, TaskState::kSucceeded);
  }
  EXPECT_TRUE(answered);
}

TEST(NodeCore, GracefulStopEndsRunningAttemptsAsLost) {
  CoreHarness h;
  std::string id = h.Submit(Spec({"sleep", "100"}));
  h.core().Stop(h.now());
  h.Drain();
  EXPECT_EQ(h.core().running_local(), 0u);
  EXPECT_EQ(h.Get(id).attempts[0].outcome, Outcome::kLost);
  EXPECT_EQ(h.StateOf(id), TaskState::kReady);
}

TEST(TaskTable, StaleFinishIsRejectedAndCounted) {
  TaskTable table;
  auto entry = [](uint64_t index, EntryType type, std::string payload) {
    Entry e;
    e.index = index;
    e.term = 1;
    e.type = type;
    e.payload = std::move(payload);
    return e;
  };
  SubmitEntry s{"g-1", 1, Spec({"true"}), 1000};
  ASSERT_TRUE(table.Apply(entry(1, EntryType::kSubmit, EncodePayload(s))).accepted);
  ASSERT_TRUE(table.Apply(entry(2, EntryType::kGrant, EncodePayload(GrantEntry{"g-1", 1, "n1", "", 1001}))).accepted);
  FinishEntry stale{"g-1", 2, Outcome::kSucceeded, 0, 0, 1002, "exit 0", "", ""};
  ApplyResult r = table.Apply(entry(3, EntryType::kFinish, EncodePayload(stale)));
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(table.stale_finishes(), 1u);
  EXPECT_EQ(table.Find("g-1")->state, TaskState::kAssigned);
  FinishEntry good{"g-1", 1, Outcome::kSucceeded, 0, 0, 1003, "exit 0", "", ""};
  EXPECT_TRUE(table.Apply(entry(4, EntryType::kFinish, EncodePayload(good))).accepted);
  EXPECT_FALSE(table.Apply(entry(5, EntryType::kFinish, EncodePayload(good))).accepted)
      << "an outcome is decided once";
  EXPECT_EQ(table.Find("g-1")->state, TaskState::kSucceeded);
}

// Cross-group `after` (DESIGN §4): a task waits on another group's task until its own
// group commits that task's outcome (an Upstream entry), and is blocked if it failed.
TEST(TaskTable, ForeignUpstreamWaitsForItsCommittedOutcome) {
  TaskTable table;
  uint64_t index = 0;
  auto apply = [&](EntryType type, std::string payload) {
    Entry e;
    e.index = ++index;
    e.term = 1;
    e.type = type;
    e.payload = std::move(payload);
    return table.Apply(e);
  };
  ASSERT_TRUE(apply(EntryType::kSubmit, EncodePayload(SubmitEntry{"g1-1", 1, Spec({"true"}, "", {"g2-5"}), 1000})).accepted);
  ASSERT_TRUE(apply(EntryType::kSubmit, EncodePayload(SubmitEntry{"g1-2", 2, Spec({"true"}, "", {"g2-6", "g1-1"}), 1000})).accepted);
  EXPECT_EQ(table.Find("g1-1")->state, TaskState::kPending);
  auto waits = table.ForeignWaits();
  EXPECT_EQ(waits, (std::vector<std::string>{"g2-5", "g2-6"}));

  EXPECT_TRUE(apply(EntryType::kUpstream, EncodePayload(UpstreamEntry{"g2-5", true, TaskState::kSucceeded, 2000})).accepted);
  EXPECT_EQ(table.Find("g1-1")->state, TaskState::kReady);
  EXPECT_EQ(table.Find("g1-1")->met_upstreams, std::vector<std::string>{"g2-5"});
  EXPECT_FALSE(apply(EntryType::kUpstream, EncodePayload(UpstreamEntry{"g2-5", true, TaskState::kSucceeded, 2000})).accepted)
      << "an outcome is committed once";

  EXPECT_TRUE(apply(EntryType::kUpstream, EncodePayload(UpstreamEntry{"g2-6", true, TaskState::kFailed, 2500})).accepted);
  EXPECT_EQ(table.Find("g1-2")->state, TaskState::kBlocked);
  EXPECT_EQ(table.Find("g1-2")->blocked_by, "g2-6");
  EXPECT_TRUE(table.ForeignWaits().empty());

  // What was learned survives a reload from the records (snapshots, recovery).
  TaskTable reloaded;
  reloaded.Load(*table.Find("g1-1"));
  reloaded.Load(*table.Find("g1-2"));
  reloaded.FinishLoad();
  EXPECT_EQ(reloaded.Find("g1-1")->state, TaskState::kReady);
  EXPECT_TRUE(reloaded.ForeignWaits().empty());
}

// A restarted task learns its upstreams' outcomes in other groups again, as it would judge
// those of its own group by their state now: the success that released its first run
// says nothing about an upstream restarted (and perhaps cancelled) since.
TEST(TaskTable, ARestartedTaskWaitsAgainForItsForeignUpstream) {
  TaskTable table;
  uint64_t index = 0;
  auto apply = [&](EntryType type, std::string payload) {
    Entry e;
    e.index = ++index;
    e.term = 1;
    e.type = type;
    e.payload = std::move(payload);
    return table.Apply(e);
  };
  ASSERT_TRUE(apply(EntryType::kSubmit, EncodePayload(SubmitEntry{"g1-1", 1, Spec({"true"}, "", {"g2-5"}), 1000})).accepted);
  ASSERT_TRUE(apply(EntryType::kUpstream, EncodePayload(UpstreamEntry{"g2-5", true, TaskState::kSucceeded, 2000})).accepted);
  ASSERT_TRUE(apply(EntryType::kGrant, EncodePayload(GrantEntry{"g1-1", 1, "n1", "", 2001})).accepted);
  FinishEntry done{"g1-1", 1, Outcome::kSucceeded, 0, 0, 2002, "exit 0", "", ""};
  ASSERT_TRUE(apply(EntryType::kFinish, EncodePayload(done)).accepted);

  ASSERT_TRUE(apply(EntryType::kRestart, EncodePayload(RestartEntry{"g1-1", 3000})).accepted);
  EXPECT_EQ(table.Find("g1-1")->state, TaskState::kPending);
  EXPECT_EQ(table.ForeignWaits(), std::vector<std::string>{"g2-5"});
  // The upstream was cancelled meanwhile: the new run is blocked, not released.
  ASSERT_TRUE(apply(EntryType::kUpstream, EncodePayload(UpstreamEntry{"g2-5", true, TaskState::kCancelled, 2500})).accepted);
  EXPECT_EQ(table.Find("g1-1")->state, TaskState::kBlocked);
  EXPECT_EQ(table.Find("g1-1")->blocked_by, "g2-5");
}

// Two cores wired together (messages held on a wire until delivered), for what only a
// group of more than one voter shows.
struct TwoCores {
  struct Peer {
    CoreOptions o;
    MemoryStorage storage;
    std::unique_ptr<NodeCore> core;
    std::vector<StartProcess> starts;
    std::vector<ClientReply> replies;
  };
  Instant now = Instant::FromMicros(1'700'000'000'000'000);
  Peer peers[2];
  std::vector<PeerMessage> wire;

  TwoCores() {
    const char* ids[2] = {"aaaaaaaa00000001", "bbbbbbbb00000002"};
    const char* addrs[2] = {"10.0.0.1:7400", "10.0.0.2:7400"};
    for (int i = 0; i < 2; ++i) {
      Peer& p = peers[i];
      p.o.node_id = ids[i];
      p.o.group_id = std::string(ids[i]).substr(0, 8);
      p.o.client_address = addrs[i];
      p.o.join = {addrs[1 - i]};
      p.o.seed = 7 + i;
      p.o.stealing = false;
      p.o.replication = 2;
      auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
      p.core = std::make_unique<NodeCore>(p.o, logger);
      EXPECT_TRUE(p.core->Recover(&p.storage, now).ok());
    }
  }
  Peer& a() { return peers[0]; }
  const std::string& group() { return peers[0].o.group_id; }
  void Drain(Peer& p) {
    for (int k = 0; k < 100 && p.core->HasReady(); ++k) {
      Ready rd = p.core->TakeReady();
      ASSERT_TRUE(p.storage.Write(rd.writes, rd.sync).ok());
      for (auto& m : rd.messages) wire.push_back(std::move(m));
      for (auto& sp : rd.starts) p.starts.push_back(std::move(sp));
      for (auto& r : rd.replies) p.replies.push_back(std::move(r));
      p.core->Advance(now);
    }
  }
  void Deliver() {
    auto msgs = std::move(wire);
    wire.clear();
    for (auto& m : msgs) {
      for (auto& p : peers) {
        if (m.to == p.o.client_address) p.core->Step(now, m);
      }
    }
  }
  void Step(Duration d) {
    now = now + d;
    for (auto& p : peers) {
      p.core->Tick(now);
      Drain(p);
    }
    Deliver();
    for (auto& p : peers) Drain(p);
  }
  // Until A's home group has both nodes as voters and A serves it.
  void FormGroup() {
    for (int i = 0; i < 3000; ++i) {
      const Replica* r = a().core->replica(group());
      if (r != nullptr && r->serving && r->raft.members().VoterCount() == 2) return;
      Step(Duration::Millis(10));
    }
    ADD_FAILURE() << "the group did not grow to two voters";
  }
  void Submit(uint64_t request_id, const TaskSpec& spec) {
    a().core->Request(now, ReplyTo{"client", request_id},
                      RequestFrame{RequestType::kSubmit, request_id, PackBody(SubmitRequest{{spec}, false})});
    Drain(a());
  }
};

// A Finish the leader proposed waits for the follower's ack. Until it commits,
// NextDeadline must not stay in the past: a real driver polls with a zero timeout while
// it does (a busy loop found by magpie-sim --seed 1 at --replication 3).
TEST(NodeCoreGroups, AFinishAwaitingItsQuorumDoesNotPinNextDeadlineToThePast) {
  TwoCores c;
  c.FormGroup();
  ASSERT_EQ(c.a().core->replica(c.group())->raft.members().VoterCount(), 2u);
  TaskSpec spec;
  spec.command = {"sleep", "100"};
  c.Submit(1, spec);
  for (int i = 0; i < 300 && c.a().starts.empty(); ++i) c.Step(Duration::Millis(10));
  ASSERT_EQ(c.a().starts.size(), 1u);
  // The process ends; A proposes the Finish. Nothing reaches B yet, so it cannot commit.
  const StartProcess sp = c.a().starts.front();
  c.now = c.now + Duration::Millis(1);
  c.a().core->OnExecutorEvent(c.now, ExecutorEvent{ExecutorEvent::Kind::kExited, sp.task_id, sp.attempt, 0, 0, "", "", ""});
  c.Drain(c.a());
  c.a().core->Tick(c.now);
  c.Drain(c.a());
  EXPECT_GT(c.a().core->NextDeadline(), c.now)
      << "NextDeadline stays in the past while the Finish waits for its quorum";
  // Delivered, it commits and the task ends.
  for (int i = 0; i < 100; ++i) c.Step(Duration::Millis(10));
  const Task* t = c.a().core->replica(c.group())->table.Find(sp.task_id);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->state, TaskState::kSucceeded);
}

// A retried submit whose tasks match (by idempotency key) only proposals still in flight
// must not be answered with their ids before they commit: a leader change can still lose
// them (magpie-sim --seed 1 at --replication 3: "acknowledged before it was committed").
TEST(NodeCoreGroups, ARetriedSubmitIsNotAcknowledgedBeforeTheFirstCopyCommits) {
  TwoCores c;
  c.FormGroup();
  TaskSpec spec;
  spec.command = {"sleep", "100"};
  spec.idempotency_key = "k1";
  c.Submit(1, spec);  // proposed; the follower has not answered
  c.Submit(2, spec);  // the client's retry
  for (const auto& r : c.a().replies) {
    EXPECT_FALSE(r.frame.status.ok())
        << "request " << r.to.request_id << " was answered with ids before its Submit committed";
  }
  for (int i = 0; i < 100; ++i) c.Step(Duration::Millis(10));
  bool first_ok = false;
  for (const auto& r : c.a().replies) first_ok = first_ok || (r.to.request_id == 1 && r.frame.status.ok());
  EXPECT_TRUE(first_ok) << "the first copy was answered once committed";
  EXPECT_EQ(c.a().core->replica(c.group())->table.size(), 1u);
}

// A Grant proposed behind its Submit holds the task's slots before the task has a record.
// A leadership lost before both commit gives back exactly those slots (seed 102 of an R=3
// swarm: a 3-slot task's Grant gave back 1, and the node never had a free slot again).
TEST(NodeCoreGroups, ALeadershipLostBeforeAGrantBehindItsSubmitCommitsGivesItsSlotsBack) {
  TwoCores c;
  c.FormGroup();
  TaskSpec spec;
  spec.command = {"sleep", "100"};
  spec.slots = 3;
  c.Submit(1, spec);
  EXPECT_EQ(c.a().core->used_slots(), 3) << "the Grant behind the Submit holds the slots";
  // Nothing reaches B any more: A steps down without either entry committing.
  for (int i = 0; i < 300 && c.a().core->replica(c.group())->raft.is_leader(); ++i) {
    c.now = c.now + Duration::Millis(10);
    c.a().core->Tick(c.now);
    c.Drain(c.a());
    c.wire.clear();
  }
  ASSERT_FALSE(c.a().core->replica(c.group())->raft.is_leader());
  EXPECT_EQ(c.a().core->used_slots(), 0);
  EXPECT_TRUE(c.a().starts.empty());
}

}  // namespace
}  // namespace magpie

namespace magpie {
namespace {

TEST(NodeCore, RetriedDownstreamWaitsForEveryRestartedUpstreamLiveAndAfterRecovery) {
  // Seed 955 of the fourth R=3 swarm: c ran on a and b; a was restarted while c ran; c's
  // attempt was lost, so c was ready again; then b was restarted. c must wait for both
  // reruns, on the live table as on one recovered from storage.
  CoreHarness h(/*slots=*/4);
  TaskSpec c = Spec({"sleep", "9"}, "c", {"a", "b"});
  c.slots = 4;  // so a's rerun, holding a slot, keeps c's retry from starting at once
  auto ids = h.Submit({Spec({"true"}, "a"), Spec({"true"}, "b"), c});
  ASSERT_EQ(ids.size(), 3u);
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf(ids[2]), TaskState::kRunning);
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{ids[0]})).status.ok());
  ASSERT_EQ(h.StateOf(ids[2]), TaskState::kRunning);  // started on the old a: left running
  h.CrashAndRestart();  // c's attempt is lost; a's rerun is lost too
  h.Advance(Duration::Millis(10));
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{ids[1]})).status.ok());
  h.Advance(Duration::Millis(10));
  ASSERT_EQ(h.StateOf(ids[2]), TaskState::kPending);
  ASSERT_EQ(h.running().count(ids[0]), 1u);
  ASSERT_EQ(h.running().count(ids[1]), 1u);
  h.Exit(ids[0], 0);  // a succeeds again; b is still running
  h.Advance(Duration::Millis(10));
  EXPECT_EQ(h.StateOf(ids[2]), TaskState::kPending) << "c must wait for b's rerun too";
  EXPECT_EQ(h.running().count(ids[2]), 0u);
  h.CrashAndRestart();  // the recovered table agrees
  h.Advance(Duration::Millis(10));
  EXPECT_EQ(h.StateOf(ids[2]), TaskState::kPending);
  h.Advance(Duration::Seconds(2));
  h.RunQuickProcesses();
  EXPECT_EQ(h.StateOf(ids[1]), TaskState::kSucceeded);
  EXPECT_EQ(h.StateOf(ids[2]), TaskState::kRunning);
}

}  // namespace
}  // namespace magpie

namespace magpie {
namespace {

TaskSpec By(std::string who, std::vector<std::string> cmd = {"sleep", "1"}) {
  TaskSpec s = Spec(std::move(cmd));
  s.submitted_by = std::move(who);
  return s;
}

ReplyFrame SubmitFrame(CoreHarness& h, std::vector<TaskSpec> specs) {
  return h.Call(RequestType::kSubmit, PackBody(SubmitRequest{std::move(specs), false}));
}

TEST(NodeCoreLimits, SubmitPastTheNodesQueueLimitIsRefusedAndAcceptedOnceTasksFinish) {
  CoreHarness h(/*slots=*/1);
  h.SetLimits(/*max_queued=*/5, /*max_per_submitter=*/0);
  h.CrashAndRestart();
  auto first = h.Submit({By("a"), By("a"), By("a")});
  ASSERT_EQ(first.size(), 3u);
  ReplyFrame refused = SubmitFrame(h, {By("b"), By("b"), By("b")});
  ASSERT_EQ(refused.status.code(), Status::Code::kBusy) << refused.status.ToString();
  EXPECT_NE(refused.status.message().find("--max-queued"), std::string::npos) << refused.status.ToString();
  EXPECT_NE(refused.status.message().find("3 unfinished"), std::string::npos) << refused.status.ToString();
  // Nothing of the refused request was stored.
  EXPECT_EQ(h.core().tasks().size(), 3u);
  // The count survives a restart (rebuilt from the stored records), and falls as tasks end.
  h.CrashAndRestart();
  EXPECT_EQ(SubmitFrame(h, {By("b"), By("b"), By("b")}).status.code(), Status::Code::kBusy);
  for (int i = 0; i < 10 && h.core().tasks().Unfinished() > 0; ++i) {
    std::vector<std::string> ids;
    for (const auto& [id, sp] : h.running()) ids.push_back(id);
    for (const auto& id : ids) h.Exit(id, 0);
    h.Advance(Duration::Millis(10));
  }
  ASSERT_EQ(h.core().tasks().Unfinished(), 0u);
  EXPECT_EQ(h.Submit({By("b"), By("b"), By("b")}).size(), 3u);
}

TEST(NodeCoreLimits, OneSubmitterPastItsLimitIsRefusedWhileOthersAreServed) {
  CoreHarness h;
  h.SetLimits(/*max_queued=*/0, /*max_per_submitter=*/4);
  h.CrashAndRestart();
  EXPECT_EQ(h.Submit({By("alice"), By("alice"), By("alice"), By("alice")}).size(), 4u);
  ReplyFrame refused = SubmitFrame(h, {By("alice")});
  ASSERT_EQ(refused.status.code(), Status::Code::kBusy);
  EXPECT_NE(refused.status.message().find("'alice' has 4 unfinished"), std::string::npos)
      << refused.status.ToString();
  EXPECT_EQ(h.Submit({By("bob"), By("bob")}).size(), 2u);
  // A request mixing submitters is refused whole if one of them is over.
  EXPECT_EQ(SubmitFrame(h, {By("carol"), By("alice")}).status.code(), Status::Code::kBusy);
  EXPECT_EQ(h.core().tasks().UnfinishedOf("alice"), 4u);
  EXPECT_EQ(h.core().tasks().UnfinishedOf("bob"), 2u);
  EXPECT_EQ(h.core().tasks().UnfinishedOf("carol"), 0u);
}

// Found while writing node_peer_fuzzer: a peer posing as the leader of a new group could stop
// the node with one message, a committed entry or a snapshot that did not decode.
RaftMessage FromStrangeLeader(RaftMessageType type, const std::string& group) {
  RaftMessage m;
  m.type = type;
  m.group_id = group;
  m.from = "00000000000000bb";
  m.from_address = "127.0.0.1:7401";
  m.to = "00000000000000aa";
  m.term = 2;
  return m;
}

void StepRaftMessage(CoreHarness& h, const RaftMessage& m) {
  h.core().Step(h.now(), PeerMessage{m.from_address, "127.0.0.1:7400", ToPeerMessageType(m.type),
                                     EncodeRaftMessage(m)});
  h.Advance(Duration::Millis(10));
}

TEST(NodeCorePeers, AnAppendWhoseEntriesWouldNotDecodeIsDroppedNotApplied) {
  CoreHarness h;
  RaftMessage m = FromStrangeLeader(RaftMessageType::kAppend, "g9");
  m.commit = 1;
  m.entries = {Entry{1, 2, EntryType::kSubmit, "not a submit"}};
  StepRaftMessage(h, m);
  EXPECT_EQ(h.core().replica("g9"), nullptr);
  EXPECT_TRUE(h.core().replica("g1") != nullptr) << "the node goes on";
}

TEST(NodeCorePeers, ASnapshotWhoseDataWouldNotDecodeIsRefusedNotInstalled) {
  CoreHarness h;
  RaftMessage m = FromStrangeLeader(RaftMessageType::kInstallSnapshot, "g8");
  m.index = 5;
  m.log_term = 1;
  m.members.members = {RaftMember{"00000000000000aa", "127.0.0.1:7400", true, false},
                       RaftMember{"00000000000000bb", "127.0.0.1:7401", true, false}};
  m.data = "not a snapshot";
  m.total_bytes = m.data.size();
  StepRaftMessage(h, m);
  const Replica* r = h.core().replica("g8");
  if (r != nullptr) {
    EXPECT_EQ(r->raft.applied_index(), 0u);
    EXPECT_EQ(r->table.size(), 0u);
  }
  // The same snapshot with data that decodes is installed.
  m.data = EncodePayload(std::vector<Task>{});
  m.total_bytes = m.data.size();
  StepRaftMessage(h, m);
  ASSERT_NE(h.core().replica("g8"), nullptr);
  EXPECT_EQ(h.core().replica("g8")->raft.applied_index(), 5u);
}

}  // namespace
}  // namespace magpie

namespace magpie {
namespace {

TaskSpec Cached(std::vector<std::string> cmd, std::string key) {
  TaskSpec s = Spec(std::move(cmd));
  s.cache_key = std::move(key);
  return s;
}

TEST(NodeCoreCache, SecondSubmissionWithTheSameKeyIsACacheHitAndRunsNothing) {
  CoreHarness h;
  const std::string first = h.Submit(Cached({"true"}, "k1"));
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf(first), TaskState::kSucceeded);
  const size_t starts = h.starts().size();
  const std::string second = h.Submit(Cached({"true"}, "k1"));
  h.Advance(Duration::Millis(10));
  EXPECT_EQ(h.starts().size(), starts) << "a cache hit must not run";
  const Task& t = h.Get(second);
  EXPECT_EQ(t.state, TaskState::kSucceeded);
  EXPECT_EQ(t.cached_from, first);
  EXPECT_TRUE(t.attempts.empty());
  EXPECT_EQ(t.stdout_tail, h.Get(first).stdout_tail);
  EXPECT_NE(t.end_reason.find("cache hit"), std::string::npos);
  // Another key, and no key, run.
  const std::string other = h.Submit(Cached({"true"}, "k2"));
  const std::string none = h.Submit(Spec({"true"}));
  h.RunQuickProcesses();
  EXPECT_TRUE(h.Get(other).cached_from.empty());
  EXPECT_EQ(h.Get(other).attempts.size(), 1u);
  EXPECT_EQ(h.Get(none).attempts.size(), 1u);
  // The cache survives a restart: the recovered table finds the same source.
  h.CrashAndRestart();
  const std::string third = h.Submit(Cached({"true"}, "k1"));
  h.Advance(Duration::Millis(10));
  EXPECT_EQ(h.Get(third).cached_from, first);
  EXPECT_EQ(h.Get(second).cached_from, first);
}

TEST(NodeCoreCache, FailedRestartedExpiredOrDependentRunsAreNotServedFromTheCache) {
  CoreHarness h;
  const std::string failed = h.Submit(Cached({"false"}, "f"));
  h.RunQuickProcesses();
  h.Advance(Duration::Seconds(5));
  h.RunQuickProcesses();
  h.Advance(Duration::Seconds(10));
  h.RunQuickProcesses();
  ASSERT_EQ(h.StateOf(failed), TaskState::kFailed);
  const std::string after_failure = h.Submit(Cached({"true"}, "f"));
  h.RunQuickProcesses();
  EXPECT_TRUE(h.Get(after_failure).cached_from.empty()) << "a failed run is no cache source";
  EXPECT_EQ(h.StateOf(after_failure), TaskState::kSucceeded);

  // A task with `after` is not served from the cache (its inputs come from upstreams).
  TaskSpec dependent = Cached({"true"}, "f");
  dependent.after = {after_failure};
  const std::string dep = h.Submit(dependent);
  h.RunQuickProcesses();
  EXPECT_TRUE(h.Get(dep).cached_from.empty());

  // A restarted source serves no hits until it succeeds again.
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{after_failure})).status.ok());
  ASSERT_TRUE(h.Call(RequestType::kRestart, PackBody(RestartRequest{dep})).status.ok());
  const std::string while_rerunning = h.Submit(Cached({"sleep", "1"}, "f"));
  EXPECT_TRUE(h.Get(while_rerunning).cached_from.empty());

  // Past the time to live, a run no longer serves.
  CoreHarness g;
  const std::string old = g.Submit(Cached({"true"}, "t"));
  g.RunQuickProcesses();
  g.Advance(Duration::Seconds(25 * 3600));
  const std::string late = g.Submit(Cached({"true"}, "t"));
  g.RunQuickProcesses();
  EXPECT_TRUE(g.Get(late).cached_from.empty());
  EXPECT_EQ(g.Get(late).attempts.size(), 1u);
  (void)old;
}

}  // namespace
}  // namespace magpie

namespace magpie {
namespace {

TEST(NodeCoreHistory, EveryCommittedEntryThatNamedTheTaskIsInItsHistoryAndSurvivesRecovery) {
  CoreHarness h;
  TaskSpec s = Spec({"sleep", "9"});
  s.backoff_ms = 10;
  s.submitted_by = "alice@h";
  const std::string id = h.Submit(s);
  ASSERT_EQ(h.running().count(id), 1u);
  h.Exit(id, 1);  // attempt 1 fails: retried after the backoff
  h.Advance(Duration::Millis(20));
  ASSERT_EQ(h.running().count(id), 1u);
  h.CrashAndRestart();  // attempt 2 is lost with the node
  h.Advance(Duration::Millis(20));
  ASSERT_EQ(h.running().count(id), 1u);
  h.Exit(id, 0);
  ASSERT_EQ(h.StateOf(id), TaskState::kSucceeded);
  const Task& t = h.Get(id);
  std::vector<std::string> seen;
  for (const TaskEvent& e : t.history) {
    seen.push_back(e.kind + (e.attempt ? std::to_string(e.attempt) : "") + ":" + TaskStateName(e.state_after));
  }
  const std::vector<std::string> want = {"submit:ready",  "grant1:assigned", "start1:running",
                                         "finish1:ready", "grant2:assigned", "start2:running",
                                         "finish2:ready", "grant3:assigned", "start3:running",
                                         "finish3:succeeded"};
  EXPECT_EQ(seen, want);
  ASSERT_EQ(t.history.size(), 10u);
  EXPECT_EQ(t.history[0].detail, "by alice@h");
  EXPECT_NE(t.history[3].detail.find("failed"), std::string::npos) << t.history[3].detail;
  EXPECT_NE(t.history[6].detail.find("lost"), std::string::npos) << t.history[6].detail;
  EXPECT_EQ(t.history[1].node, "00000000000000aa");
  for (size_t i = 1; i < t.history.size(); ++i) EXPECT_GT(t.history[i].index, t.history[i - 1].index);
  // The records carry it: a recovered node tells the same story.
  const std::vector<TaskEvent> before = t.history;
  h.CrashAndRestart();
  ASSERT_EQ(h.Get(id).history.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(h.Get(id).history[i].index, before[i].index);
    EXPECT_EQ(h.Get(id).history[i].kind, before[i].kind);
  }
}

}  // namespace
}  // namespace magpie

namespace magpie {
namespace {

TEST(NodeCoreStates, AGrantedTaskIsRunningOnlyOnceItsStartIsCommitted) {
  CoreHarness h;
  const std::string id = h.Submit(Spec({"sleep", "5"}));
  // The Grant and the Started entry have both committed by the time the loop settles.
  const Task& t = h.Get(id);
  EXPECT_EQ(t.state, TaskState::kRunning);
  ASSERT_EQ(t.attempts.size(), 1u);
  EXPECT_GT(t.attempts[0].granted_ms, 0);
  EXPECT_GT(t.attempts[0].started_ms, 0);
  EXPECT_EQ(t.started_ms, t.attempts[0].started_ms);
  bool start_event = false;
  for (const auto& e : t.history) start_event |= e.kind == "start" && e.state_after == TaskState::kRunning;
  EXPECT_TRUE(start_event) << "the start is in the task's history";
}

TEST(NodeCoreStates, AStartToldInItsFinishMarksTheAttemptStarted) {
  TaskTable table;
  Entry submit{1, 1, EntryType::kSubmit, EncodePayload(SubmitEntry{"g1-1", 1, Spec({"true"}), 1000})};
  ASSERT_TRUE(table.Apply(submit).accepted);
  GrantEntry g{"g1-1", 1, "n1", "", 1001, 1};
  ASSERT_TRUE(table.Apply(Entry{2, 1, EntryType::kGrant, EncodePayload(g)}).accepted);
  EXPECT_EQ(table.Find("g1-1")->state, TaskState::kAssigned);
  EXPECT_EQ(table.Find("g1-1")->attempts[0].started_ms, 0);
  FinishEntry f{"g1-1", 1, Outcome::kSucceeded, 0, 0, 1010, "exit 0", "", ""};
  f.started_ms = 1005;
  ASSERT_TRUE(table.Apply(Entry{3, 1, EntryType::kFinish, EncodePayload(f)}).accepted);
  EXPECT_EQ(table.Find("g1-1")->attempts[0].started_ms, 1005);
  EXPECT_EQ(table.Find("g1-1")->started_ms, 1005);
  // A start of an attempt that is not current is ignored.
  StartedEntry late{{{"g1-1", 1, 1020}}};
  table.Apply(Entry{4, 1, EntryType::kStarted, EncodePayload(late)});
  EXPECT_EQ(table.Find("g1-1")->attempts[0].started_ms, 1005);
  EXPECT_EQ(table.Find("g1-1")->state, TaskState::kSucceeded);
}

TEST(NodeCoreStates, AHandedBackAttemptDoesNotCountAsLost) {
  TaskTable table;
  ASSERT_TRUE(table.Apply(Entry{1, 1, EntryType::kSubmit, EncodePayload(SubmitEntry{"g1-1", 1, Spec({"true"}), 1000})}).accepted);
  for (uint32_t a = 1; a <= 12; ++a) {
    ASSERT_TRUE(table.Apply(Entry{2 * a, 1, EntryType::kGrant, EncodePayload(GrantEntry{"g1-1", a, "n2", "n1", 1000, 1})}).accepted);
    FinishEntry f{"g1-1", a, Outcome::kLost, -1, 0, 1001, "taken back", "", ""};
    f.handed_back = true;
    ASSERT_TRUE(table.Apply(Entry{2 * a + 1, 1, EntryType::kFinish, EncodePayload(f)}).accepted);
  }
  EXPECT_EQ(table.Find("g1-1")->state, TaskState::kReady);
  EXPECT_EQ(table.Find("g1-1")->lost_attempts, 0);
}

TEST(NodeCoreStates, StatusSaysWhyATaskDoesNotRun) {
  CoreHarness h(1);
  const std::string up = h.Submit(Spec({"sleep", "5"}, "up"));
  const std::string down = h.Submit(Spec({"true"}, "down", {"up"}));
  const std::string queued = h.Submit(Spec({"true"}, "queued"));
  auto reason = [&](const std::string& id) {
    ReplyFrame f = h.Call(RequestType::kStatus, PackBody(StatusRequest{id}));
    EXPECT_TRUE(f.status.ok()) << f.status.ToString();
    return UnpackBody<StatusReply>(f.body)->pending_reason;
  };
  EXPECT_EQ(reason(up), "");
  EXPECT_NE(reason(down).find("waiting on " + up + " (up), running"), std::string::npos) << reason(down);
  EXPECT_NE(reason(queued).find("slot"), std::string::npos) << reason(queued);
  TaskSpec gpu = Spec({"true"}, "gpu");
  gpu.labels["gpu"] = "1";
  const std::string needs = h.Submit(gpu);
  EXPECT_NE(reason(needs).find("no live node has label(s) gpu=1"), std::string::npos) << reason(needs);
}

TEST(NodeCoreNames, AStatusByNameResolvesThroughTheGroupsAndAnUnknownNameIsNotFound) {
  CoreHarness h;
  const std::string id = h.Submit(Spec({"sleep", "5"}, "part-3"));
  ReplyFrame f = h.Call(RequestType::kStatus, PackBody(StatusRequest{"part-3"}));
  ASSERT_TRUE(f.status.ok()) << f.status.ToString();
  EXPECT_EQ(UnpackBody<StatusReply>(f.body)->task.id, id);
  ReplyFrame missing = h.Call(RequestType::kStatus, PackBody(StatusRequest{"part-16"}));
  EXPECT_EQ(missing.status.code(), Status::Code::kNotFound) << missing.status.ToString();
  ReplyFrame w = h.Call(RequestType::kWait, PackBody(WaitRequest{{"prog-3"}, 0}));
  EXPECT_EQ(w.status.code(), Status::Code::kNotFound) << w.status.ToString();
}

}  // namespace
}  // namespace magpie
