// How `magpie logs` reads a whole output piece by piece (node/logs_reader.h LogsCursor):
// it asks from where the last piece ended, pins the attempt it started on, waits while
// following a running attempt, moves on to a retry only when asked to, and never lets a
// copy that kept only the last bytes pass for the whole. Sizes as people read them too.
#include "node/logs_reader.h"

#include <gtest/gtest.h>

#include "node/byte_size.h"

namespace magpie {
namespace {

using Step = LogsCursor::Step;

LogsReply Piece(uint32_t attempt, uint64_t offset, const std::string& text, uint64_t size, bool ended) {
  LogsReply r;
  r.attempt = attempt;
  r.last_attempt = attempt;
  r.offset = offset;
  r.text = text;
  r.size = size;
  r.ended = ended;
  r.node = "n2";
  r.node_address = "127.0.0.1:7402";
  return r;
}

TEST(LogsCursorTest, AsksFromWhereEachPieceEndedUntilTheWholeIsRead) {
  LogsReadOptions o;
  o.id = "g1-1";
  LogsCursor c(o);
  EXPECT_EQ(c.NextRequest().offset, 0u);
  EXPECT_EQ(c.NextRequest().attempt, 0u);
  auto a = c.Apply(Piece(2, 0, "abc", 6, true));
  EXPECT_EQ(a.step, Step::kMore);
  EXPECT_EQ(a.text, "abc");
  EXPECT_EQ(c.NextRequest().offset, 3u);
  EXPECT_EQ(c.NextRequest().attempt, 2u) << "later pieces come from the attempt the first came from";
  auto b = c.Apply(Piece(2, 3, "def", 6, true));
  EXPECT_EQ(b.step, Step::kDone);
  EXPECT_TRUE(c.status().ok());
}

TEST(LogsCursorTest, ARunningAttemptIsPrintedSoFarOrFollowed) {
  LogsReadOptions o;
  o.id = "g1-1";
  LogsCursor once(o);
  EXPECT_EQ(once.Apply(Piece(1, 0, "ab", 2, false)).step, Step::kDone);
  EXPECT_TRUE(once.status().ok());

  o.follow = true;
  LogsCursor follow(o);
  EXPECT_EQ(follow.Apply(Piece(1, 0, "ab", 2, false)).step, Step::kWait);
  EXPECT_EQ(follow.Apply(Piece(1, 2, "", 2, false)).step, Step::kWait);
  EXPECT_EQ(follow.Apply(Piece(1, 2, "cd", 4, true)).step, Step::kDone);
  EXPECT_TRUE(follow.status().ok());
}

TEST(LogsCursorTest, FollowingRetriesMovesToEachNewAttemptUntilTheTaskEnds) {
  LogsReadOptions o;
  o.id = "g1-1";
  o.follow = true;
  o.all_attempts = true;
  LogsCursor c(o);
  EXPECT_EQ(c.Apply(Piece(1, 0, "first\n", 6, true)).step, Step::kWait);
  EXPECT_EQ(c.NextRequest().attempt, 0u);
  EXPECT_EQ(c.NextRequest().offset, 0u);
  // The latest is still attempt 1 while the retry backs off: nothing is printed twice.
  auto same = c.Apply(Piece(1, 0, "first\n", 6, true));
  EXPECT_EQ(same.step, Step::kWait);
  EXPECT_EQ(same.text, "");
  auto next = c.Apply(Piece(2, 0, "second\n", 7, true));
  EXPECT_EQ(next.text, "second\n");
  EXPECT_NE(next.note.find("attempt 2"), std::string::npos);
  EXPECT_EQ(next.step, Step::kWait);
  LogsReply end = Piece(2, 0, "second\n", 7, true);
  end.task_ended = true;
  EXPECT_EQ(c.Apply(end).step, Step::kDone);
  EXPECT_TRUE(c.status().ok());
}

TEST(LogsCursorTest, OnlyTheLastBytesKeptIsNeverPassedOffAsTheWhole) {
  LogsReadOptions o;
  o.id = "g1-1";
  LogsCursor c(o);
  LogsReply r = Piece(1, 4 * 1048576, std::string(1024, 'x'), 5 * 1048576 + 1048576 / 5, true);
  r.kept_from = 4 * 1048576;
  c.Apply(r);
  ASSERT_FALSE(c.status().ok());
  EXPECT_EQ(c.status().code(), Status::Code::kUnavailable);
  const std::string m = c.status().message();
  EXPECT_NE(m.find("only the last 1.2 MiB of 5.2 MiB"), std::string::npos) << m;
  EXPECT_NE(m.find("127.0.0.1:7402"), std::string::npos) << m;
}

TEST(LogsCursorTest, ATaskThatHasNotStartedHasNoOutputUnlessFollowed) {
  LogsReadOptions o;
  o.id = "g1-1";
  LogsCursor c(o);
  LogsReply none;
  EXPECT_EQ(c.Apply(none).step, Step::kDone);
  EXPECT_EQ(c.status().code(), Status::Code::kFailedPrecondition);
  o.follow = true;
  LogsCursor f(o);
  EXPECT_EQ(f.Apply(none).step, Step::kWait);
  none.task_ended = true;  // cancelled before it ran
  EXPECT_EQ(f.Apply(none).step, Step::kDone);
  EXPECT_FALSE(f.status().ok());
}

TEST(LogsCursorTest, AnOutputThatEndsShortOfItsSizeIsAnError) {
  LogsReadOptions o;
  o.id = "g1-1";
  LogsCursor c(o);
  EXPECT_EQ(c.Apply(Piece(1, 0, "", 10, true)).step, Step::kDone);
  EXPECT_FALSE(c.status().ok());
}

TEST(ByteSizeTest, ParsesWhatPeopleType) {
  struct Case {
    const char* text;
    int64_t bytes;
  };
  for (const Case& c : {Case{"0", 0}, Case{"1048576", 1048576}, Case{"512B", 512}, Case{"64KiB", 65536},
                        Case{"8MiB", 8 << 20}, Case{"8m", 8 << 20}, Case{"1GiB", 1 << 30},
                        Case{"1.5MiB", 1572864}, Case{"2MB", 2000000}, Case{"3 kb", 3000}}) {
    auto v = ParseByteSize(c.text);
    ASSERT_TRUE(v.ok()) << c.text << ": " << v.status().ToString();
    EXPECT_EQ(*v, c.bytes) << c.text;
  }
  for (const char* bad : {"", "MiB", "-1", "1.2.3", "5 parsecs", "1e9"}) {
    EXPECT_FALSE(ParseByteSize(bad).ok()) << bad;
  }
}

TEST(ByteSizeTest, FormatsForPeople) {
  EXPECT_EQ(FormatByteSize(0), "0 B");
  EXPECT_EQ(FormatByteSize(512), "512 B");
  EXPECT_EQ(FormatByteSize(1048576), "1 MiB");
  EXPECT_EQ(FormatByteSize(5 * 1048576 + 1048576 / 5), "5.2 MiB");
  EXPECT_EQ(FormatByteSize(64 * 1024), "64 KiB");
}

}  // namespace
}  // namespace magpie
