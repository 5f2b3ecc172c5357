// The --json shapes scripts depend on: every field present, times as ISO-8601 UTC strings,
// null for what has not happened, attempts as an array of objects.
#include <gtest/gtest.h>

#include "node/task_json.h"
#include "tools/task_text.h"

namespace magpie {
namespace {

using json = Json;

constexpr int64_t kMay1Noon = 1714564800000;  // 2024-05-01T12:00:00.000Z

Task FinishedTaskWithTwoAttempts() {
  Task t;
  t.id = "g1-7";
  t.seq = 7;
  t.spec.name = "build";
  t.spec.command = {"make", "-j2"};
  t.spec.after = {"g1-5"};
  t.spec.labels = {{"gpu", "1"}};
  t.spec.env = {{"CC", "clang"}};
  t.spec.timeout_ms = 30000;
  t.state = TaskState::kSucceeded;
  t.submitted_ms = kMay1Noon;
  t.started_ms = kMay1Noon + 1500;
  t.finished_ms = kMay1Noon + 9250;

  Attempt lost;
  lost.number = 1;
  lost.node = "n1";
  lost.started_ms = kMay1Noon + 1500;
  lost.ended_ms = kMay1Noon + 4000;
  lost.exit_code = -1;
  lost.signal = 9;
  lost.outcome = Outcome::kLost;
  lost.reason = "node restarted";
  Attempt ok;
  ok.number = 2;
  ok.node = "n2";
  ok.started_ms = kMay1Noon + 5000;
  ok.ended_ms = kMay1Noon + 9250;
  ok.exit_code = 0;
  ok.outcome = Outcome::kSucceeded;
  ok.stolen_from = "n1";
  t.attempts = {lost, ok};
  t.stdout_tail = "done\n";
  return t;
}

TEST(CliTaskJsonTest, IsoTimesAreUtcWithMillisecondsAndEmptyForUnset) {
  EXPECT_EQ(FormatIsoUtc(kMay1Noon), "2024-05-01T12:00:00.000Z");
  EXPECT_EQ(FormatIsoUtc(kMay1Noon + 1234), "2024-05-01T12:00:01.234Z");
  EXPECT_EQ(FormatIsoUtc(0), "");
  EXPECT_TRUE(TimeToJson(0).is_null());
  EXPECT_EQ(TimeToJson(kMay1Noon), "2024-05-01T12:00:00.000Z");
}

TEST(CliTaskJsonTest, TaskHasEveryFieldAndAttemptsAsAnArrayOfObjects) {
  json j = TaskToJson(FinishedTaskWithTwoAttempts());
  for (const char* field : {"id",
                            "name",
                            "state",
                            "command",
                            "env",
                            "cwd",
                            "priority",
                            "after",
                            "labels",
                            "slots",
                            "timeout_ms",
                            "max_attempts",
                            "backoff_ms",
                            "idempotency_key",
                            "attempts",
                            "failed_attempts",
                            "lost_attempts",
                            "submitted_at",
                            "started_at",
                            "finished_at",
                            "not_before",
                            "stdout_tail",
                            "stderr_tail",
                            "blocked_by",
                            "end_reason"}) {
    EXPECT_TRUE(j.contains(field)) << field;
  }
  EXPECT_EQ(j["id"], "g1-7");
  EXPECT_EQ(j["state"], "succeeded");
  EXPECT_EQ(j["command"], json::array({"make", "-j2"}));
  EXPECT_EQ(j["after"], json::array({"g1-5"}));
  EXPECT_EQ(j["labels"], json({{"gpu", "1"}}));
  EXPECT_EQ(j["timeout_ms"], 30000);
  EXPECT_EQ(j["submitted_at"], "2024-05-01T12:00:00.000Z");
  EXPECT_EQ(j["finished_at"], "2024-05-01T12:00:09.250Z");
  EXPECT_EQ(j["stdout_tail"], "done\n");

  ASSERT_TRUE(j["attempts"].is_array());
  ASSERT_EQ(j["attempts"].size(), 2u);
  const json& first = j["attempts"][0];
  EXPECT_EQ(first["number"], 1);
  EXPECT_EQ(first["node"], "n1");
  EXPECT_EQ(first["outcome"], "lost");
  EXPECT_TRUE(first["exit_code"].is_null());  // killed: no exit code
  EXPECT_EQ(first["signal"], 9);
  EXPECT_EQ(first["reason"], "node restarted");
  EXPECT_TRUE(first["stolen_from"].is_null());
  EXPECT_TRUE(first["restarted_from"].is_null());
  const json& second = j["attempts"][1];
  EXPECT_EQ(second["exit_code"], 0);
  EXPECT_TRUE(second["signal"].is_null());
  EXPECT_EQ(second["stolen_from"], "n1");
  EXPECT_EQ(second["started_at"], "2024-05-01T12:00:05.000Z");
  EXPECT_EQ(second["ended_at"], "2024-05-01T12:00:09.250Z");
}

TEST(CliTaskJsonTest, WhatHasNotHappenedIsNull) {
  Task t;
  t.id = "g1-1";
  t.spec.command = {"@noop"};
  t.state = TaskState::kPending;
  t.submitted_ms = kMay1Noon;
  Attempt running;
  running.number = 1;
  running.node = "n1";
  running.started_ms = kMay1Noon + 10;
  t.attempts = {running};
  json j = TaskToJson(t);
  EXPECT_TRUE(j["started_at"].is_null());
  EXPECT_TRUE(j["finished_at"].is_null());
  EXPECT_TRUE(j["not_before"].is_null());
  EXPECT_TRUE(j["timeout_ms"].is_null());
  EXPECT_TRUE(j["blocked_by"].is_null());
  EXPECT_TRUE(j["end_reason"].is_null());
  EXPECT_TRUE(j["idempotency_key"].is_null());
  EXPECT_EQ(j["attempts"][0]["outcome"], "running");
  EXPECT_TRUE(j["attempts"][0]["ended_at"].is_null());
  EXPECT_TRUE(j["attempts"][0]["exit_code"].is_null());
  EXPECT_EQ(TaskToJson(Task{})["attempts"], json::array());
}

TEST(CliTaskJsonTest, BlockedTaskNamesItsBlocker) {
  Task t;
  t.id = "g1-4";
  t.state = TaskState::kBlocked;
  t.blocked_by = "g1-3";
  t.end_reason = "upstream g1-3 failed";
  json j = TaskToJson(t);
  EXPECT_EQ(j["state"], "blocked");
  EXPECT_EQ(j["blocked_by"], "g1-3");
  EXPECT_EQ(j["end_reason"], "upstream g1-3 failed");
}

TEST(CliTaskJsonTest, ListIsAnArrayAndInvalidUtf8OutputDoesNotThrow) {
  Task t = FinishedTaskWithTwoAttempts();
  t.stdout_tail = std::string("bad \xff\xfe bytes");
  json list = TasksToJson({t, t});
  ASSERT_TRUE(list.is_array());
  EXPECT_EQ(list.size(), 2u);
  std::string text;
  ASSERT_NO_THROW(text = DumpJson(list));
  EXPECT_NE(text.find("bad "), std::string::npos);
  EXPECT_TRUE(json::parse(text).is_array());
}

TEST(CliTaskJsonTest, MemberHasEveryField) {
  MemberInfo m;
  m.id = "n1";
  m.address = "127.0.0.1:7400";
  m.state = "alive";
  m.incarnation = 3;
  m.slots = 4;
  m.running = 2;
  m.ready = 7;
  m.labels = {{"gpu", "1"}};
  m.age_ms = 120;
  m.stolen = 5;
  m.given = 1;
  json j = MembersToJson({m});
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j[0], json({{"id", "n1"},
                        {"address", "127.0.0.1:7400"},
                        {"state", "alive"},
                        {"incarnation", 3},
                        {"slots", 4},
                        {"running", 2},
                        {"ready", 7},
                        {"labels", {{"gpu", "1"}}},
                        {"age_ms", 120},
                        {"stolen", 5},
                        {"given", 1}}));
}

// The value on the "key:" line of `magpie status` output, or "" if there is none.
std::string ValueOf(const std::string& text, const std::string& key) {
  size_t at = text.find("\n" + key + ":");
  if (text.compare(0, key.size() + 1, key + ":") == 0)
    at = 0;
  else if (at == std::string::npos)
    return "";
  else
    ++at;
  size_t end = text.find('\n', at);
  std::string line = text.substr(at + key.size() + 1, end - at - key.size() - 1);
  return line.substr(line.find_first_not_of(' '));
}

TEST(CliTaskTextTest, StatusShowsKeyValueLinesAndAttempts) {
  std::string text = RenderTaskDetails(FinishedTaskWithTwoAttempts(), kMay1Noon + 60000);
  EXPECT_EQ(ValueOf(text, "id"), "g1-7") << text;
  EXPECT_EQ(ValueOf(text, "state"), "succeeded") << text;
  EXPECT_EQ(ValueOf(text, "command"), "make -j2") << text;
  EXPECT_EQ(ValueOf(text, "submitted"), "2024-05-01T12:00:00.000Z (1m ago)") << text;
  EXPECT_EQ(ValueOf(text, "timeout"), "30s") << text;
  EXPECT_NE(text.find("#1  node n1  lost"), std::string::npos) << text;
  EXPECT_NE(text.find("stolen from n1"), std::string::npos) << text;
  EXPECT_NE(text.find("stdout (tail):\n  done\n"), std::string::npos) << text;
}

TEST(CliTaskTextTest, TablesAlignColumns) {
  EXPECT_EQ(RenderTable({{"ID", "STATE"}, {"g1-10", "ok"}, {"g1-7", "failed"}}),
            "ID     STATE\n"
            "g1-10  ok\n"
            "g1-7   failed\n");
  EXPECT_EQ(FormatCommand({"sh", "-c", "echo 'hi' there"}), "sh -c 'echo '\\''hi'\\'' there'");
  EXPECT_EQ(FormatCommand({"ls", ""}), "ls ''");
}

}  // namespace
}  // namespace magpie
