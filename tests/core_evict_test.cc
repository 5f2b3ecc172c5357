// Ended task records leave memory (docs/DESIGN.md, "Ended tasks live on disk"): a table
// that evicts them and reads them back from its store must decide every entry exactly as a
// table that keeps everything, whenever it evicts. Checked by applying the same random
// entries to both, and by reloading from the store mid-way as a restarted node does.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "node/log_entry.h"
#include "node/stored_task_records.h"
#include "node/task_table.h"
#include "storage/memory_storage.h"
#include "tests/core_harness.h"

namespace magpie {
namespace {

// The store as NodeCore's is: what TakeDirty handed out, written before EvictEnded.
class MapRecordStore : public TaskRecordStore {
 public:
  std::optional<Task> Read(const std::string& id) const override {
    ++reads;
    auto it = records.find(id);
    if (it == records.end()) return std::nullopt;
    auto t = DecodePayload<Task>(it->second);
    EXPECT_TRUE(t.ok());
    return std::move(*t);
  }
  void ForEachId(const std::function<bool(const std::string& id)>& visit) const override {
    for (const auto& [id, bytes] : records) {
      if (!visit(id)) return;
    }
  }
  void Persist(TaskTable& table) {
    TakeDirty(table);
    Write();
  }
  // A compaction puts the dirty records in the Ready's batch at once; the batch is written
  // later (after an fsync, in a simulated node), with other calls in between.
  void TakeDirty(TaskTable& table) {
    for (const auto& id : table.TakeDirty()) {
      if (const Task* t = table.Find(id)) batch[id] = EncodePayload(*t);
    }
  }
  void Write() {
    for (auto& [id, bytes] : batch) records[id] = std::move(bytes);
    batch.clear();
  }

  std::map<std::string, std::string> batch;
  std::map<std::string, std::string> records;
  mutable size_t reads = 0;
};

std::string Encoded(const TaskTable& table, uint64_t after_seq = 0) {
  std::string out;
  table.ForEachBySeq(after_seq, [&](const Task& t) {
    out += EncodePayload(t);
    return true;
  });
  return out;
}

class EvictionDifferential : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override { evicting_->SetRecordStore(&store_); }

  // Applies the entry to both tables; they must agree on it.
  void Apply(EntryType type, std::string payload) {
    Entry e;
    e.index = ++index_;
    e.term = 1;
    e.type = type;
    e.payload = std::move(payload);
    ApplyResult a = plain_.Apply(e);
    ApplyResult b = evicting_->Apply(e);
    ASSERT_EQ(a.accepted, b.accepted) << "entry " << e.index << ": " << a.reason << " / " << b.reason;
    ASSERT_EQ(a.reason, b.reason);
    plain_.TakeEnded();
    evicting_->TakeEnded();
    plain_.TakeAttemptsToStop();
    evicting_->TakeAttemptsToStop();
  }

  std::string AnyId() { return ids_.empty() ? "g-999999" : ids_[rng_() % ids_.size()]; }

  void Step() {
    now_ += 1 + rng_() % 50;
    const uint32_t op = rng_() % 100;
    if (op < 30 || ids_.empty()) {
      const std::string id = "g-" + std::to_string(++seq_);
      TaskSpec spec = Spec({"true"});
      if (rng_() % 4 == 0) spec.after.push_back(AnyId());
      if (rng_() % 8 == 0) spec.after.push_back(AnyId());
      if (rng_() % 5 == 0) spec.name = "n" + std::to_string(rng_() % 20);
      if (rng_() % 6 == 0) spec.idempotency_key = "k" + std::to_string(rng_() % 50);
      if (rng_() % 6 == 0) spec.cache_key = "c" + std::to_string(rng_() % 5);
      spec.max_attempts = 1 + rng_() % 3;
      ids_.push_back(id);
      Apply(EntryType::kSubmit, EncodePayload(SubmitEntry{id, seq_, spec, now_}));
    } else if (op < 55) {
      const std::string id = AnyId();
      const Task* t = plain_.Find(id);
      uint32_t attempt = (t == nullptr || t->attempts.empty() ? 0 : t->attempts.back().number) + 1;
      if (rng_() % 10 == 0) attempt = 1;  // sometimes stale
      Apply(EntryType::kGrant, EncodePayload(GrantEntry{id, attempt, "n1", "", now_}));
    } else if (op < 85) {
      const std::string id = AnyId();
      const Task* t = plain_.Find(id);
      uint32_t attempt = t == nullptr || t->attempts.empty() ? 1 : t->attempts.back().number;
      if (rng_() % 10 == 0) attempt += 1;  // sometimes not the current one
      static constexpr Outcome kOutcomes[] = {Outcome::kSucceeded, Outcome::kSucceeded,
                                              Outcome::kFailed, Outcome::kLost};
      const Outcome o = kOutcomes[rng_() % 4];
      FinishEntry f{id, attempt, o, o == Outcome::kSucceeded ? 0 : 1, 0, now_, "", "out", ""};
      Apply(EntryType::kFinish, EncodePayload(f));
    } else if (op < 90) {
      Apply(EntryType::kCancel, EncodePayload(CancelEntry{AnyId(), now_}));
    } else if (op < 96) {
      Apply(EntryType::kRestart, EncodePayload(RestartEntry{AnyId(), now_}));
    } else {
      const std::string id = AnyId();
      const Task* t = plain_.Find(id);
      uint32_t attempt = t == nullptr || t->attempts.empty() ? 1 : t->attempts.back().number;
      Apply(EntryType::kProgress, EncodePayload(ProgressEntry{id, attempt, 50, "half", now_}));
    }
  }

  // What a node does after a compaction's batch is written.
  void PersistAndEvict() {
    if (writing_) {
      store_.Write();
      evicting_->EvictEnded();
      writing_ = false;
    }
    plain_.TakeDirty();
    store_.Persist(*evicting_);
    evicting_->EvictEnded();
  }

  // A restart: a new table loaded from the store alone (everything was persisted first).
  void Reload() {
    PersistAndEvict();
    auto reloaded = std::make_unique<TaskTable>();
    reloaded->SetRecordStore(&store_);
    for (const auto& [id, bytes] : store_.records) {
      auto t = DecodePayload<Task>(bytes);
      ASSERT_TRUE(t.ok());
      reloaded->Load(std::move(*t), /*in_store=*/true);
    }
    reloaded->FinishLoad();
    evicting_ = std::move(reloaded);
  }

  void ExpectSame() {
    ASSERT_EQ(plain_.size(), evicting_->size());
    ASSERT_EQ(plain_.max_seq(), evicting_->max_seq());
    ASSERT_EQ(plain_.Unfinished(), evicting_->Unfinished());
    ASSERT_EQ(plain_.ready_count(), evicting_->ready_count());
    for (int s = 0; s <= static_cast<int>(TaskState::kScheduled); ++s) {
      ASSERT_EQ(plain_.CountInState(static_cast<TaskState>(s)),
                evicting_->CountInState(static_cast<TaskState>(s)));
    }
    for (int n = 0; n < 20; ++n) {
      const Task* a = plain_.FindByName("n" + std::to_string(n));
      const Task* b = evicting_->FindByName("n" + std::to_string(n));
      ASSERT_EQ(a == nullptr, b == nullptr);
      if (a != nullptr) {
        ASSERT_EQ(a->id, b->id);
      }
    }
    ASSERT_EQ(Encoded(plain_), Encoded(*evicting_));
    // A listing page from the middle, in the same order.
    ASSERT_EQ(Encoded(plain_, seq_ / 2), Encoded(*evicting_, seq_ / 2));
  }

  std::mt19937 rng_{GetParam()};
  TaskTable plain_;
  MapRecordStore store_;
  std::unique_ptr<TaskTable> evicting_ = std::make_unique<TaskTable>();
  std::vector<std::string> ids_;
  uint64_t index_ = 0;
  uint64_t seq_ = 0;
  int64_t now_ = 1000;
  bool writing_ = false;  // a batch from TakeDirty is not yet in the store
};

TEST_P(EvictionDifferential, EvictingTableDecidesEveryEntryAsTheTableThatKeepsAll) {
  size_t max_evicted = 0;
  for (int i = 0; i < 4000; ++i) {
    ASSERT_NO_FATAL_FAILURE(Step());
    if (rng_() % 7 == 0) PersistAndEvict();
    if (rng_() % 11 == 0 && !writing_) {
      // A compaction whose batch is written a few steps later (an fsync in flight).
      plain_.TakeDirty();
      store_.TakeDirty(*evicting_);
      writing_ = true;
    } else if (writing_ && rng_() % 4 == 0) {
      store_.Write();
      evicting_->EvictEnded();
      writing_ = false;
    } else if (!writing_ && rng_() % 3 == 0) {
      // An Advance after a Ready without a compaction: nothing new was written.
      evicting_->EvictEnded();
    }
    // A tick, at any time, fsync in flight or not.
    if (rng_() % 2 == 0) evicting_->EvictReadBack();
    if (i == 2000) {
      ASSERT_NO_FATAL_FAILURE(Reload());
    }
    max_evicted = std::max(max_evicted, evicting_->size() - evicting_->resident());
    if (i % 500 == 499) {
      ASSERT_NO_FATAL_FAILURE(ExpectSame());
    }
  }
  PersistAndEvict();
  // Once everything is written, only the tasks not ended are in memory.
  EXPECT_EQ(evicting_->resident(), plain_.Unfinished());
  ASSERT_NO_FATAL_FAILURE(ExpectSame());
  // It did evict, and read records back: otherwise this compared two in-memory tables.
  EXPECT_GT(max_evicted, plain_.size() / 4);
  EXPECT_GT(store_.reads, 100u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, EvictionDifferential, ::testing::Values(1u, 2u, 3u, 4u, 5u, 6u));

TEST(EvictEnded, OnlyCleanEndedRecordsLeaveAndAnEvictedOneIsFoundAgain) {
  MapRecordStore store;
  TaskTable table;
  table.SetRecordStore(&store);
  uint64_t index = 0;
  auto apply = [&](EntryType type, std::string payload) {
    Entry e;
    e.index = ++index;
    e.term = 1;
    e.type = type;
    e.payload = std::move(payload);
    return table.Apply(e);
  };
  for (int i = 1; i <= 3; ++i) {
    const std::string id = "g-" + std::to_string(i);
    ASSERT_TRUE(apply(EntryType::kSubmit, EncodePayload(SubmitEntry{id, uint64_t(i), Spec({"true"}), 10})).accepted);
  }
  ASSERT_TRUE(apply(EntryType::kGrant, EncodePayload(GrantEntry{"g-1", 1, "n1", "", 20})).accepted);
  ASSERT_TRUE(apply(EntryType::kFinish, EncodePayload(FinishEntry{"g-1", 1, Outcome::kSucceeded, 0, 0, 30, "", "hi", ""})).accepted);
  ASSERT_TRUE(apply(EntryType::kGrant, EncodePayload(GrantEntry{"g-2", 1, "n1", "", 20})).accepted);

  // Not yet written: nothing may leave.
  EXPECT_EQ(table.EvictEnded(), 0u);
  EXPECT_EQ(table.resident(), 3u);
  store.Persist(table);
  // g-1 ended and is written; g-2 runs and g-3 is ready: they stay.
  EXPECT_EQ(table.EvictEnded(), 1u);
  EXPECT_EQ(table.resident(), 2u);
  EXPECT_EQ(table.size(), 3u);
  EXPECT_EQ(table.CountInState(TaskState::kSucceeded), 1u);

  // Read back on demand, and a stale finish for it is refused as before.
  size_t reads = store.reads;
  const Task* t = table.Find("g-1");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->stdout_tail, "hi");
  EXPECT_EQ(store.reads, reads + 1);
  EXPECT_FALSE(apply(EntryType::kFinish, EncodePayload(FinishEntry{"g-1", 1, Outcome::kFailed, 1, 0, 40, "", "", ""})).accepted);
  // Changed (its history took the refusal) and not yet written again: it stays.
  EXPECT_EQ(table.EvictEnded(), 0u);
  store.Persist(table);
  table.EvictEnded();
  EXPECT_EQ(table.resident(), 2u);
  // The refusal is in the record read back.
  EXPECT_NE(table.Find("g-1")->history.back().detail.find("refused"), std::string::npos);
  EXPECT_EQ(table.Find("g-404"), nullptr);
  EXPECT_EQ(table.max_seq(), 3u);
}

TEST(StoredTaskRecords, ReadsOnlyItsOwnGroupsRecords) {
  // Every group's records share one column: a table must never take another group's
  // record for one of its own (found by the simulator: a lookup of a foreign id on the
  // home group's table read back a running task of another group).
  MemoryStorage storage;
  WriteBatch batch;
  for (const char* id : {"a-1", "a-2", "ab-1", "b-1"}) {
    Task t;
    t.id = id;
    t.state = TaskState::kSucceeded;
    batch.Put(Column::kTasks, id, EncodePayload(t));
  }
  ASSERT_TRUE(storage.Write(batch, true).ok());
  StoredTaskRecords a(&storage, "a");
  ASSERT_TRUE(a.Read("a-2").has_value());
  EXPECT_FALSE(a.Read("b-1").has_value());
  EXPECT_FALSE(a.Read("ab-1").has_value());
  EXPECT_FALSE(a.Read("a-3").has_value());
  std::vector<std::string> seen;
  a.ForEachId([&](const std::string& id) {
    seen.push_back(id);
    return true;
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"a-1", "a-2"}));
}

TEST(EvictEnded, AWaitIsAnsweredWithRecordsThatLeftMemoryAsStored) {
  // The tasks a Wait names end over several batches; by the time the last one ends, the
  // first ones were written and left memory. The answer carries every record whole,
  // copied from disk, and brings none of them back into memory.
  CoreHarness h(/*slots=*/2, {}, /*compact_every=*/4);
  std::vector<TaskSpec> specs;
  for (int i = 0; i < 12; ++i) specs.push_back(Spec({"sleep", "1"}, "t" + std::to_string(i)));
  auto ids = h.Submit(specs);
  ASSERT_EQ(ids.size(), 12u);
  const uint64_t wait_id = 9999;
  h.core().Request(h.now(), ReplyTo{"client", wait_id},
                   RequestFrame{RequestType::kWait, wait_id, PackBody(WaitRequest{ids, 60000})});
  h.Drain();
  for (int round = 0; round < 20; ++round) {
    std::vector<std::string> running;
    for (const auto& [id, sp] : h.running()) running.push_back(id);
    if (running.empty()) break;
    for (const auto& id : running) h.Exit(id, 0);
    h.Advance(Duration::Millis(10));  // a tick: records read back leave again
  }
  const ReplyFrame* reply = nullptr;
  for (const auto& r : h.replies()) {
    if (r.to.request_id == wait_id) reply = &r.frame;
  }
  ASSERT_NE(reply, nullptr) << "the wait was not answered";
  ASSERT_TRUE(reply->status.ok()) << reply->status.ToString();
  auto wr = UnpackBody<WaitReply>(reply->body);
  ASSERT_TRUE(wr.ok()) << wr.status().ToString();
  EXPECT_TRUE(wr->all_ended);
  ASSERT_EQ(wr->tasks.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(wr->tasks[i].id, ids[i]);
    EXPECT_EQ(wr->tasks[i].spec.name, "t" + std::to_string(i));
    EXPECT_EQ(wr->tasks[i].state, TaskState::kSucceeded);
    ASSERT_EQ(wr->tasks[i].attempts.size(), 1u);
    EXPECT_EQ(wr->tasks[i].stdout_tail, "out");
  }
  const TaskTable& table = h.core().tasks();
  EXPECT_LT(table.resident(), table.size()) << "records that had left memory were brought back";
}

}  // namespace
}  // namespace magpie
