// Names resolved across groups: the most recent task of a name wins wherever it lives, and a
// lookup that could not hear from every group says which, instead of "not found".
#include "node/name_lookup.h"

#include <gtest/gtest.h>

#include "node/task.h"

namespace magpie {
namespace {

NameLookups::Lookup LookupOf(std::vector<std::string> names, std::set<std::string> groups, Instant deadline) {
  NameLookups::Lookup l;
  l.names = std::move(names);
  l.waiting = std::move(groups);
  l.deadline = deadline;
  return l;
}

TEST(NameLookups, TheMostRecentTaskOfANameWinsAcrossGroups) {
  NameLookups lookups;
  const Instant t0 = Instant::FromMicros(1'000'000);
  uint64_t seq = lookups.Begin(LookupOf({"part-3", "merge"}, {"aaaaaaaa", "bbbbbbbb"}, t0 + Duration::Seconds(5)));
  lookups.OnAnswer(NameAnswer{seq, "aaaaaaaa", true, {{"part-3", "aaaaaaaa-7", 2000}, {"merge", "aaaaaaaa-9", 3000}}});
  EXPECT_TRUE(lookups.TakeDone(t0).empty());  // bbbbbbbb has not answered
  lookups.OnAnswer(NameAnswer{seq, "bbbbbbbb", true, {{"part-3", "bbbbbbbb-2", 2500}}});
  auto done = lookups.TakeDone(t0);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].found.at("part-3").id, "bbbbbbbb-2");
  EXPECT_EQ(done[0].found.at("merge").id, "aaaaaaaa-9");
  EXPECT_TRUE(done[0].missed.empty());
  EXPECT_EQ(lookups.size(), 0u);
}

TEST(NameLookups, SameSubmitTimeIsDecidedByTheGreaterIdOnEveryNode) {
  NameHit a{"x", "aaaaaaaa-5", 100};
  NameHit b{"x", "bbbbbbbb-1", 100};
  EXPECT_TRUE(MoreRecent(b, a));
  EXPECT_FALSE(MoreRecent(a, b));
}

TEST(NameLookups, AGroupThatDoesNotAnswerIsNamedInTheErrorNotCalledUnreachable) {
  NameLookups lookups;
  const Instant t0 = Instant::FromMicros(1'000'000);
  uint64_t seq = lookups.Begin(LookupOf({"fetch"}, {"aaaaaaaa", "bbbbbbbb"}, t0 + Duration::Seconds(5)));
  lookups.OnAnswer(NameAnswer{seq, "aaaaaaaa", true, {}});
  EXPECT_EQ(lookups.NextDeadline(), t0 + Duration::Seconds(5));
  auto done = lookups.TakeDone(t0 + Duration::Seconds(5));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].missed, std::set<std::string>{"bbbbbbbb"});
  Status s = NameLookups::NotFoundError("fetch", done[0]);
  EXPECT_EQ(s.code(), Status::Code::kUnavailable);
  EXPECT_NE(s.message().find("bbbbbbbb"), std::string::npos);
  done[0].missed.clear();
  EXPECT_EQ(NameLookups::NotFoundError("fetch", done[0]).code(), Status::Code::kNotFound);
}

TEST(NameLookups, AnswersForOtherLookupsGroupsOrNamesAreIgnored) {
  NameLookups lookups;
  const Instant t0 = Instant::FromMicros(1'000'000);
  uint64_t seq = lookups.Begin(LookupOf({"a"}, {"aaaaaaaa"}, t0 + Duration::Seconds(5)));
  lookups.OnAnswer(NameAnswer{seq + 1, "aaaaaaaa", true, {{"a", "aaaaaaaa-1", 1}}});
  lookups.OnAnswer(NameAnswer{seq, "cccccccc", true, {{"a", "cccccccc-1", 9}}});
  EXPECT_TRUE(lookups.TakeDone(t0).empty());
  lookups.OnAnswer(NameAnswer{seq, "aaaaaaaa", false, {{"b", "aaaaaaaa-2", 1}}});
  auto done = lookups.TakeDone(t0);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_TRUE(done[0].found.empty());
  EXPECT_EQ(done[0].missed, std::set<std::string>{"aaaaaaaa"});
}

TEST(TaskIds, NoNameMayTakeTheFormOfAnId) {
  EXPECT_TRUE(HasTaskIdForm("3fa4b2c1-17"));
  EXPECT_FALSE(HasTaskIdForm("part-16"));
  EXPECT_FALSE(HasTaskIdForm("prog-3"));
  EXPECT_FALSE(HasTaskIdForm("3FA4B2C1-17"));
  EXPECT_FALSE(HasTaskIdForm("3fa4b2c1-"));
  EXPECT_FALSE(HasTaskIdForm("3fa4b2c1-1x"));
  EXPECT_FALSE(HasTaskIdForm("a3fa4b2c1-17"));
  TaskSpec spec;
  spec.command = {"true"};
  spec.name = "part-16";
  EXPECT_EQ(ValidateSpec(spec), "");
  spec.name = "3fa4b2c1-17";
  EXPECT_NE(ValidateSpec(spec).find("form of a task id"), std::string::npos);
}

}  // namespace
}  // namespace magpie
