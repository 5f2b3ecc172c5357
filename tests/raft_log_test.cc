// The pure parts, from tables: RaftLog's term lookups, conflict search, durability and
// storage round trip; Progress's flow control; the quorum arithmetic.
#include <gtest/gtest.h>

#include "node/raft/raft_log.h"
#include "node/raft/raft_messages.h"
#include "node/raft/raft_progress.h"
#include "storage/memory_storage.h"

namespace magpie {
namespace {

// A log holding entries with the given terms at indexes 1, 2, ...
void Fill(RaftLog& log, const std::vector<uint64_t>& terms) {
  for (uint64_t t : terms) log.Append(Entry{0, t, EntryType::kNoop, ""});
}

TEST(RaftLog, FindConflictByTermSkipsAWholeDivergentTerm) {
  struct Case {
    std::vector<uint64_t> terms;
    uint64_t index, term, want;
  };
  const std::vector<Case> cases = {
      {{1, 3, 3, 3, 5, 5, 5, 5, 5}, 9, 2, 1},  // etcd's example: probe at 1 next
      {{1, 3, 3, 3, 5, 5, 5, 5, 5}, 9, 3, 4},
      {{1, 3, 3, 3, 5, 5, 5, 5, 5}, 9, 5, 9},
      {{1, 3, 3, 3, 5, 5, 5, 5, 5}, 6, 4, 4},
      {{1, 3, 3, 3, 5, 5, 5, 5, 5}, 20, 9, 9},  // past the end: from the last entry
      {{2, 2, 2}, 3, 1, 0},                     // nothing old enough: before the log
      {{}, 5, 5, 0},
  };
  for (const auto& c : cases) {
    RaftLog log("g");
    Fill(log, c.terms);
    EXPECT_EQ(log.FindConflictByTerm(c.index, c.term), c.want) << c.index << "/" << c.term;
  }
}

TEST(RaftLog, FindConflictNamesTheFirstNewOrDifferentEntry) {
  struct Case {
    std::vector<Entry> incoming;
    uint64_t want;
  };
  auto e = [](uint64_t i, uint64_t t) { return Entry{i, t, EntryType::kNoop, ""}; };
  const std::vector<Case> cases = {
      {{}, 0},
      {{e(1, 1), e(2, 2), e(3, 3)}, 0},
      {{e(2, 2), e(3, 3), e(4, 4)}, 4},
      {{e(3, 3), e(4, 4), e(5, 4)}, 4},
      {{e(2, 1), e(3, 4)}, 2},
      {{e(3, 2)}, 3},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    RaftLog log("g");
    Fill(log, {1, 2, 3});
    EXPECT_EQ(log.FindConflict(cases[i].incoming), cases[i].want) << "case " << i;
  }
}

TEST(RaftLog, IsUpToDateComparesLastTermThenLength) {
  RaftLog log("g");
  Fill(log, {1, 2, 2});
  struct Case {
    uint64_t index, term;
    bool want;
  } cases[] = {{3, 2, true}, {2, 2, false}, {4, 2, true}, {1, 3, true}, {9, 1, false}};
  for (const auto& c : cases) EXPECT_EQ(log.IsUpToDate(c.index, c.term), c.want) << c.index << "/" << c.term;
}

TEST(RaftLog, ATruncatedSuffixIsDeletedFromStorageInTheSameBatchAsItsReplacement) {
  MemoryStorage storage;
  RaftLog log("g");
  Fill(log, {1, 1, 1, 1});
  WriteBatch b1;
  auto written = log.WriteTo(&b1);
  ASSERT_TRUE(written.has_value());
  ASSERT_TRUE(storage.Write(b1, true).ok());
  log.StableTo(*written);
  EXPECT_EQ(log.durable_index(), 4u);
  log.TruncateAndAppend({Entry{3, 2, EntryType::kSubmit, "new"}});
  EXPECT_EQ(log.last_index(), 3u);
  EXPECT_EQ(log.durable_index(), 2u) << "the replaced entries are no longer durable";
  WriteBatch b2;
  written = log.WriteTo(&b2);
  ASSERT_TRUE(storage.Write(b2, true).ok());
  log.StableTo(*written);
  RaftLog loaded("g");
  ASSERT_TRUE(loaded.Load(storage, 0, 0).ok());
  EXPECT_EQ(loaded.last_index(), 3u);
  EXPECT_EQ(loaded.At(3).payload, "new");
  EXPECT_EQ(loaded.Term(3), std::optional<uint64_t>(2));
}

TEST(RaftLog, StableToIgnoresAnEntryOverwrittenSinceItsBatchWasMade) {
  RaftLog log("g");
  Fill(log, {1, 1});
  WriteBatch b;
  auto written = log.WriteTo(&b);  // (2, 1) goes to storage...
  log.TruncateAndAppend({Entry{2, 2, EntryType::kNoop, ""}});  // ...and is replaced meanwhile
  log.StableTo(*written);
  EXPECT_EQ(log.durable_index(), 0u);
}

TEST(RaftLog, CommittedEntriesAreHandedOutOnlyOnceDurableAndBounded) {
  RaftLog log("g");
  Fill(log, {1, 1, 1, 1, 1});
  log.CommitTo(5);
  EXPECT_TRUE(log.TakeCommitted(10).empty()) << "nothing is durable yet";
  WriteBatch b;
  log.StableTo(*log.WriteTo(&b));
  EXPECT_EQ(log.TakeCommitted(2).size(), 2u);
  EXPECT_EQ(log.TakeCommitted(10).size(), 3u);
  EXPECT_FALSE(log.HasCommittedToHand());
  log.AppliedTo(5);
  log.CompactTo(3);
  EXPECT_EQ(log.snapshot_index(), 3u);
  EXPECT_EQ(log.Term(3), std::optional<uint64_t>(1));
  EXPECT_FALSE(log.Term(2).has_value());
  EXPECT_EQ(log.first_index(), 4u);
}

TEST(RaftLog, LoadRefusesAGapInTheStoredLog) {
  MemoryStorage storage;
  RaftLog log("g");
  WriteBatch b;
  b.Put(Column::kLog, log.LogKey(1), EncodeRaftEntry(Entry{1, 1, EntryType::kNoop, ""}));
  b.Put(Column::kLog, log.LogKey(3), EncodeRaftEntry(Entry{3, 1, EntryType::kNoop, ""}));
  ASSERT_TRUE(storage.Write(b, true).ok());
  Status s = log.Load(storage, 0, 0);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_NE(s.message().find("gap"), std::string::npos) << s.message();
}

TEST(RaftProgress, RejectionsMoveNextBackOnlyWhenTheyAnswerTheLatestSend) {
  struct Case {
    ProgressState state;
    uint64_t match, next, rejected, hint;
    bool want_ok;
    uint64_t want_next;
  };
  const std::vector<Case> cases = {
      {ProgressState::kReplicate, 5, 10, 5, 5, false, 10},  // at or below match: old news
      {ProgressState::kReplicate, 5, 10, 9, 9, true, 6},    // back to just after match
      {ProgressState::kProbe, 0, 10, 5, 5, false, 10},      // not the probe just sent
      {ProgressState::kProbe, 0, 10, 9, 6, true, 7},        // follower hints 6
      {ProgressState::kProbe, 0, 10, 9, 20, true, 9},       // a hint past rejected is capped
      {ProgressState::kProbe, 3, 10, 9, 3, true, 4},        // never below match + 1
      // A hint below match: the follower lost what it acknowledged (its replica was made
      // anew); match falls with it, or the same probe would be refused forever.
      {ProgressState::kProbe, 3, 10, 9, 1, true, 2},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    Progress pr(4);
    pr.state = c.state;
    pr.match = c.match;
    pr.next = c.next;
    EXPECT_EQ(pr.MaybeDecrTo(c.rejected, c.hint), c.want_ok) << "case " << i;
    EXPECT_EQ(pr.next, c.want_next) << "case " << i;
  }
}

TEST(RaftProgress, ReplicateStateBoundsTheWindowAndAcksFreeIt) {
  Progress pr(3);
  pr.match = 10;
  pr.BecomeReplicate();
  EXPECT_EQ(pr.next, 11u);
  for (uint64_t last : {12, 14, 16}) {
    ASSERT_FALSE(pr.IsPaused());
    pr.SentEntries(last, 2);
  }
  EXPECT_TRUE(pr.IsPaused());
  EXPECT_EQ(pr.next, 17u);
  EXPECT_TRUE(pr.MaybeUpdate(14));
  pr.inflight.FreeUpTo(14);
  EXPECT_FALSE(pr.IsPaused());
  EXPECT_EQ(pr.inflight.size(), 1u);
}

TEST(RaftProgress, QuorumValuesAreTheMajoritysLowest) {
  EXPECT_EQ(QuorumValue({5}, 1), 5u);
  EXPECT_EQ(QuorumValue({5, 3, 9}, 2), 5u);
  EXPECT_EQ(QuorumValue({1, 2, 3, 4, 5}, 3), 3u);
  EXPECT_EQ(QuorumValue({7, 7, 0, 0}, 3), 0u);
  EXPECT_EQ(QuorumInstant({Instant::FromMicros(30), Instant::FromMicros(10), Instant::FromMicros(20)}, 2),
            Instant::FromMicros(20));
}

}  // namespace
}  // namespace magpie
