// The `magpie` command line end to end against a fake node: what each command sends, what
// it prints, and its exit status (DESIGN §7).
#include "tools/cli_app.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "tests/cli_fake_node.h"

namespace magpie {
namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

CliRun RunMagpie(std::vector<std::string> args) {
  // The fake node speaks plain ZeroMQ, as a node started with --insecure does.
  args.insert(args.begin(), {"magpie", "--insecure"});
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  CliRun r;
  r.exit_code = RunCli(static_cast<int>(argv.size()), argv.data());
  r.out = ::testing::internal::GetCapturedStdout();
  r.err = ::testing::internal::GetCapturedStderr();
  return r;
}

Task MakeTask(const std::string& id, TaskState state) {
  Task t;
  t.id = id;
  t.spec.name = "task-" + id;
  t.spec.command = {"true"};
  t.state = state;
  t.submitted_ms = 1714564800000;
  return t;
}

// A fake node that remembers what it was asked and answers from a small task table.
class RecordingNode {
 public:
  RecordingNode() : node_([this](const RequestFrame& req) { return Handle(req); }) {}
  std::string address() const { return node_.address(); }

  std::vector<Task> tasks;  // what status/list/wait answer from; set before running
  int list_page_size = 1000;

  std::vector<RequestFrame> Requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::vector<ReplyFrame> Handle(const RequestFrame& req) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }
    switch (req.type) {
      case RequestType::kSubmit: {
        auto sub = UnpackBody<SubmitRequest>(req.body);
        SubmitReply reply;
        for (size_t i = 0; i < sub->tasks.size(); ++i) {
          reply.ids.push_back("g1-" + std::to_string(i + 1));
          reply.existing.push_back(false);
        }
        return {FakeNode::Answer(req, reply)};
      }
      case RequestType::kStatus: {
        auto s = UnpackBody<StatusRequest>(req.body);
        for (const Task& t : tasks) {
          if (t.id == s->id) return {FakeNode::Answer(req, StatusReply{t})};
        }
        return {FakeNode::Answer(req, StatusReply{},
                                 Status::NotFound("task " + s->id + " does not exist"))};
      }
      case RequestType::kList: {
        auto l = UnpackBody<ListRequest>(req.body);
        ListReply reply;
        bool started = l->after_id.empty();
        for (const Task& t : tasks) {
          if (!started) {
            started = t.id == l->after_id;
            continue;
          }
          if (static_cast<int>(reply.tasks.size()) == std::min<int>(list_page_size, l->limit)) {
            reply.truncated = true;
            break;
          }
          reply.tasks.push_back(t);
        }
        return {FakeNode::Answer(req, reply)};
      }
      case RequestType::kWait: {
        // As a node does: the tasks asked for, in the order asked.
        auto w = UnpackBody<WaitRequest>(req.body);
        WaitReply reply;
        for (const auto& id : w->ids) {
          for (const Task& t : tasks) {
            if (t.id == id) reply.tasks.push_back(t);
          }
        }
        reply.all_ended = true;
        for (const Task& t : reply.tasks) reply.all_ended = reply.all_ended && IsEnded(t.state);
        return {FakeNode::Answer(req, reply)};
      }
      case RequestType::kMembers: {
        MembersReply reply;
        reply.members.resize(2);
        reply.members[0].id = "n1";
        reply.members[0].state = "alive";
        reply.members[1].id = "n2";
        reply.members[1].state = "suspect";
        return {FakeNode::Answer(req, reply)};
      }
      default:
        return {FakeNode::Answer(req, StatusReply{}, Status::InvalidArgument("not faked"))};
    }
  }

  std::mutex mu_;
  std::vector<RequestFrame> requests_;
  FakeNode node_;  // last: its thread must stop before the members above go
};

TEST(CliAppTest, UsageErrorsExitTwoWithOneLineOnStderr) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"submit"},
      {"submit", "--bogus", "--", "ls"},
      {"submit", "--priority", "101", "--", "ls"},
      {"submit", "--timeout", "soon", "--", "ls"},
      {"submit", "--env", "=x", "--", "ls"},
      {"submit", "-f", "/nonexistent.yaml"},
      {"status"},
      {"list", "--state", "done"},
      {"--node", "nohost", "status", "x"},
      {"--call-timeout", "0", "status", "x"},
      {"status", "--", "x", "y"},
      {"frobnicate"},
  };
  for (const auto& args : cases) {
    CliRun r = RunMagpie(args);
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.err;
    EXPECT_EQ(r.err.rfind("magpie: ", 0), 0u) << cmd << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << cmd << ": more than one line: " << r.err;
    EXPECT_EQ(r.out, "") << cmd;
  }
}

TEST(CliAppTest, HelpExitsZero) {
  EXPECT_EQ(RunMagpie({"--help"}).exit_code, 0);
  EXPECT_EQ(RunMagpie({"submit", "--help"}).exit_code, 0);
}

TEST(CliAppTest, UnreachableNodeExitsThree) {
  // Port 1 (tcpmux) is unused on any machine this runs on; the connection is refused.
  CliRun r = RunMagpie({"--node", "127.0.0.1:1", "status", "g1-1"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
}

TEST(CliAppTest, SubmitSendsTheCommandAfterDashDashVerbatimAndPrintsTheId) {
  RecordingNode node;
  CliRun r =
      RunMagpie({"--node", node.address(), "submit", "--name",    "build",  "--after",
                 "g1-5",   "--after",      "lint",   "--retries", "4",      "--timeout",
                 "2m",     "--label",      "gpu=1",  "--env",     "A=1",    "--slots",
                 "2",      "--priority",   "70",     "--backoff", "250ms",  "--idempotency-key",
                 "k1",     "--",           "make",   "--help",    "--node", "x"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "g1-1\n");
  auto reqs = node.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  auto sub = UnpackBody<SubmitRequest>(reqs[0].body);
  ASSERT_TRUE(sub.ok());
  ASSERT_EQ(sub->tasks.size(), 1u);
  const TaskSpec& s = sub->tasks[0];
  EXPECT_EQ(s.command, (std::vector<std::string>{"make", "--help", "--node", "x"}));
  EXPECT_EQ(s.name, "build");
  EXPECT_EQ(s.after, (std::vector<std::string>{"g1-5", "lint"}));
  EXPECT_EQ(s.max_attempts, 5);
  EXPECT_EQ(s.timeout_ms, 120000);
  EXPECT_EQ(s.labels.at("gpu"), "1");
  EXPECT_EQ(s.env.at("A"), "1");
  EXPECT_EQ(s.slots, 2);
  EXPECT_EQ(s.priority, 70);
  EXPECT_EQ(s.backoff_ms, 250);
  EXPECT_EQ(s.idempotency_key, "k1");
  EXPECT_EQ(s.cwd, std::filesystem::current_path().string());
  EXPECT_FALSE(sub->dry_run);
}

TEST(CliAppTest, DryRunSendsNothing) {
  RecordingNode node;
  CliRun r = RunMagpie({"--node", node.address(), "submit", "--dry-run", "--", "ls"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("nothing submitted"), std::string::npos);
  EXPECT_TRUE(node.Requests().empty());
}

TEST(CliAppTest, PipelinePrintsNameThenIdPerTask) {
  RecordingNode node;
  std::string path = ::testing::TempDir() + "cli_app_test_pipeline.yaml";
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(
        "tasks:\n  - {name: first, command: [\"true\"]}\n"
        "  - {name: second, command: \"echo hi\", after: [first]}\n",
        f);
    std::fclose(f);
  }
  CliRun r = RunMagpie({"--node", node.address(), "submit", "-f", path});
  std::remove(path.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "first   g1-1\nsecond  g1-2\n");
}

TEST(CliAppTest, StatusJsonIsTheTaskAndUnknownIdExitsTwo) {
  RecordingNode node;
  node.tasks = {MakeTask("g1-1", TaskState::kFailed)};
  CliRun r = RunMagpie({"--node", node.address(), "status", "g1-1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["id"], "g1-1");
  EXPECT_EQ(j["state"], "failed");
  EXPECT_TRUE(j["attempts"].is_array());

  CliRun missing = RunMagpie({"--node", node.address(), "status", "no-such-task-42", "--json"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err, "magpie: task no-such-task-42 does not exist\n");
}

TEST(CliAppTest, ListPagesThroughTheNodeAndHonoursLimit) {
  RecordingNode node;
  for (int i = 1; i <= 5; ++i)
    node.tasks.push_back(MakeTask("g1-" + std::to_string(i), TaskState::kReady));
  node.list_page_size = 2;
  CliRun all = RunMagpie({"--node", node.address(), "list", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  auto j = nlohmann::json::parse(all.out);
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j.size(), 5u);
  EXPECT_EQ(j[4]["id"], "g1-5");

  CliRun limited = RunMagpie({"--node", node.address(), "list", "--limit", "3", "--json"});
  ASSERT_EQ(limited.exit_code, 0) << limited.err;
  EXPECT_EQ(nlohmann::json::parse(limited.out).size(), 3u);

  CliRun table = RunMagpie({"--node", node.address(), "list"});
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_EQ(table.out.rfind("ID    NAME       STATE  PRI  ATTEMPTS  AGE", 0), 0u) << table.out;
}

TEST(CliAppTest, WaitExitsOneWhenAnyTaskDidNotSucceed) {
  RecordingNode node;
  node.tasks = {MakeTask("g1-1", TaskState::kSucceeded), MakeTask("g1-2", TaskState::kBlocked)};
  CliRun r = RunMagpie({"--node", node.address(), "wait", "g1-1", "g1-2"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("blocked"), std::string::npos);

  node.tasks[1].state = TaskState::kSucceeded;
  EXPECT_EQ(RunMagpie({"--node", node.address(), "wait", "g1-1", "g1-2"}).exit_code, 0);
}

TEST(CliAppTest, WaitExitsTwoWhenItsTimeoutRunsOut) {
  RecordingNode node;
  node.tasks = {MakeTask("g1-1", TaskState::kRunning)};
  CliRun r = RunMagpie({"--node", node.address(), "wait", "g1-1", "--timeout", "100ms", "--json"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("1 of 1 tasks have not ended"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)[0]["state"], "running");
}

TEST(CliAppTest, WaitAsksEachReplicaGroupForItsOwnTasks) {
  // A node answers a Wait for one group; ids from three groups are three calls, and the
  // answer lists every task in the order given. (A name is a call of its own: only the
  // node that resolves it learns its group.)
  RecordingNode node;
  node.tasks = {MakeTask("0000000a-1", TaskState::kSucceeded), MakeTask("0000000b-7", TaskState::kSucceeded),
                MakeTask("0000000a-2", TaskState::kSucceeded), MakeTask("0000000c-3", TaskState::kFailed)};
  CliRun r = RunMagpie({"--node", node.address(), "wait", "0000000b-7", "0000000a-1", "0000000c-3", "0000000a-2", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // gc-3 failed
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 4u) << r.out;
  EXPECT_EQ(j[0]["id"], "0000000b-7");
  EXPECT_EQ(j[1]["id"], "0000000a-1");
  EXPECT_EQ(j[2]["id"], "0000000c-3");
  EXPECT_EQ(j[3]["id"], "0000000a-2");
  std::vector<std::vector<std::string>> asked;
  for (const auto& req : node.Requests()) {
    if (req.type == RequestType::kWait) asked.push_back(UnpackBody<WaitRequest>(req.body)->ids);
  }
  const std::vector<std::vector<std::string>> want = {{"0000000b-7"}, {"0000000a-1", "0000000a-2"}, {"0000000c-3"}};
  EXPECT_EQ(asked, want);
}

TEST(CliAppTest, MembersJsonIsAnArray) {
  RecordingNode node;
  CliRun r = RunMagpie({"--node", node.address(), "members", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j[0]["state"], "alive");
  EXPECT_EQ(j[1]["id"], "n2");
}

}  // namespace
}  // namespace magpie
