// Pipeline files are checked before anything is sent: each bad file is refused with a
// message that names the problem and, where it can, the line.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "node/pipeline_file.h"

namespace magpie {
namespace {

struct RefusedCase {
  const char* what;
  const char* yaml;
  const char* message_contains;  // every '|'-separated part must appear
};

std::vector<std::string> Parts(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t bar = s.find('|', start);
    out.push_back(s.substr(start, bar - start));
    if (bar == std::string::npos) return out;
    start = bar + 1;
  }
}

TEST(CliPipelineFileTest, RefusesBadFilesWithTheReasonAndLine) {
  const RefusedCase cases[] = {
      {"unknown after name",
       "tasks:\n"
       "  - name: a\n"
       "    command: [\"true\"]\n"
       "  - name: b\n"
       "    command: [\"true\"]\n"
       "    after: [a, nope]\n",
       "line 4:|'nope'|not a task in this pipeline"},
      {"duplicate name",
       "tasks:\n"
       "  - name: a\n"
       "    command: [\"true\"]\n"
       "  - name: a\n"
       "    command: [\"false\"]\n",
       "line 4:|'a' is used twice|first at line 2"},
      {"three-cycle is named",
       "tasks:\n"
       "  - {name: a, command: [\"true\"], after: [c]}\n"
       "  - {name: b, command: [\"true\"], after: [a]}\n"
       "  - {name: c, command: [\"true\"], after: [b]}\n",
       "cycle in 'after': a -> c -> b -> a"},
      {"self-dependency is a cycle", "tasks:\n  - {name: a, command: [x], after: [a]}\n",
       "cycle in 'after': a -> a"},
      {"priority of the wrong type",
       "tasks:\n"
       "  - name: a\n"
       "    command: [\"true\"]\n"
       "    priority: high\n",
       "line 4:|task 'a'|priority must be an integer between 0 and 100|'high'"},
      {"priority out of range", "tasks:\n  - {name: a, command: [x], priority: 101}\n",
       "priority must be between 0 and 100"},
      {"fractional slots", "tasks:\n  - {name: a, command: [x], slots: 1.5}\n",
       "slots must be an integer"},
      {"unknown field", "tasks:\n  - name: a\n    command: [x]\n    prioroty: 5\n",
       "line 4:|unknown field 'prioroty'"},
      {"missing command", "tasks:\n  - name: a\n", "line 2:|task 'a': has no command"},
      {"empty command list", "tasks:\n  - {name: a, command: []}\n", "command is an empty list"},
      {"nested command", "tasks:\n  - {name: a, command: [[x]]}\n",
       "command must be a list of strings"},
      {"missing name", "tasks:\n  - command: [x]\n", "task 1: has no name"},
      {"bad duration", "tasks:\n  - {name: a, command: [x], timeout: soon}\n",
       "timeout: invalid duration 'soon'"},
      {"negative retries", "tasks:\n  - {name: a, command: [x], retries: -1}\n",
       "retries must be between 0 and 99"},
      {"env not a map", "tasks:\n  - {name: a, command: [x], env: [A]}\n", "env must be a map"},
      {"bad builtin", "tasks:\n  - {name: a, command: \"@sleep\"}\n", "@sleep takes one argument"},
      {"no tasks key", "jobs:\n  - {name: a}\n", "unknown top-level field 'jobs'"},
      {"empty tasks", "tasks: []\n", "'tasks' is empty"},
      {"not yaml", "tasks: [\n", "not valid YAML"},
      {"scalar document", "hello\n", "a pipeline file is a map"},
      {"map key disagrees with name", "tasks:\n  a: {name: b, command: [x]}\n",
       "differs from its key"},
  };
  for (const auto& c : cases) {
    auto got = ParsePipelineYaml(c.yaml);
    ASSERT_FALSE(got.ok()) << c.what << ": accepted";
    EXPECT_EQ(got.status().code(), Status::Code::kInvalidArgument) << c.what;
    for (const std::string& part : Parts(c.message_contains)) {
      EXPECT_NE(got.status().message().find(part), std::string::npos)
          << c.what << ": '" << got.status().message() << "' lacks '" << part << "'";
    }
  }
}

TEST(CliPipelineFileTest, DiamondWithIndependentBranchParsesInFileOrder) {
  auto got = ParsePipelineYaml(
      "tasks:\n"
      "  - name: fetch\n"
      "    command: [curl, -o, data.csv, https://example.com/data.csv]\n"
      "  - name: left\n"
      "    command: [python3, left.py]\n"
      "    after: [fetch]\n"
      "    priority: 80\n"
      "    env: {MODE: fast, N: 4}\n"
      "    labels: {gpu: 1}\n"
      "    slots: 2\n"
      "    timeout: 5m\n"
      "    retries: 0\n"
      "    backoff: 500ms\n"
      "  - name: right\n"
      "    command: [python3, right.py]\n"
      "    after: fetch\n"
      "  - name: join\n"
      "    command: [python3, join.py]\n"
      "    after: [left, right, left]\n"
      "  - name: lint\n"
      "    command: [\"@noop\"]\n");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const auto& t = got->tasks;
  ASSERT_EQ(t.size(), 5u);
  EXPECT_FALSE(got->dry_run);
  EXPECT_EQ(t[0].name, "fetch");
  EXPECT_EQ(t[0].command.size(), 4u);
  EXPECT_EQ(t[0].priority, 50);
  EXPECT_EQ(t[0].max_attempts, 3);
  EXPECT_EQ(t[1].after, std::vector<std::string>{"fetch"});
  EXPECT_EQ(t[1].priority, 80);
  EXPECT_EQ(t[1].env.at("N"), "4");
  EXPECT_EQ(t[1].labels.at("gpu"), "1");
  EXPECT_EQ(t[1].slots, 2);
  EXPECT_EQ(t[1].timeout_ms, 300000);
  EXPECT_EQ(t[1].max_attempts, 1);
  EXPECT_EQ(t[1].backoff_ms, 500);
  EXPECT_EQ(t[2].after, std::vector<std::string>{"fetch"});  // a single name is a list of one
  EXPECT_EQ(t[3].after, (std::vector<std::string>{"left", "right", "left"}));
  EXPECT_TRUE(t[4].after.empty());

  std::vector<size_t> order = TopologicalOrder(t);
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2, 3, 4}));
}

TEST(CliPipelineFileTest, StringCommandRunsThroughShButBuiltinsAreSplit) {
  auto got = ParsePipelineYaml(
      "tasks:\n"
      "  - {name: a, command: \"make -j2 && echo done > out.txt\"}\n"
      "  - {name: b, command: \"@sleep 0.5\"}\n");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->tasks[0].command,
            (std::vector<std::string>{"sh", "-c", "make -j2 && echo done > out.txt"}));
  EXPECT_EQ(got->tasks[1].command, (std::vector<std::string>{"@sleep", "0.5"}));
}

TEST(CliPipelineFileTest, MapFormTakesNamesFromKeys) {
  auto got = ParsePipelineYaml(
      "tasks:\n"
      "  second:\n"
      "    command: [\"true\"]\n"
      "    after: [first]\n"
      "  first:\n"
      "    command: [\"true\"]\n");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->tasks.size(), 2u);
  EXPECT_EQ(got->tasks[0].name, "second");
  EXPECT_EQ(got->tasks[1].name, "first");
  // The plan puts `first` before `second` though the file does not.
  EXPECT_EQ(TopologicalOrder(got->tasks), (std::vector<size_t>{1, 0}));
}

TEST(CliPipelineFileTest, CwdDefaultsToTheContextAndRelativeIsTakenFromTheFileDir) {
  PipelineContext context;
  context.default_cwd = "/home/user/work";
  context.base_dir = "/srv/pipelines";
  auto got = ParsePipelineYaml(
      "tasks:\n"
      "  - {name: a, command: [x]}\n"
      "  - {name: b, command: [x], cwd: data/../out}\n"
      "  - {name: c, command: [x], cwd: /tmp}\n",
      context);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->tasks[0].cwd, "/home/user/work");
  EXPECT_EQ(got->tasks[1].cwd, "/srv/pipelines/out");
  EXPECT_EQ(got->tasks[2].cwd, "/tmp");
}

TEST(CliPipelineFileTest, FileErrorsNameThePathAndLine) {
  std::string path = ::testing::TempDir() + "cli_pipeline_file_test.yaml";
  {
    std::ofstream out(path);
    out << "tasks:\n  - name: a\n    command: [x]\n    slots: 0\n";
  }
  auto got = ParsePipelineFile(path);
  std::remove(path.c_str());
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find(path + ":4:"), std::string::npos) << got.status().message();

  auto missing = ParsePipelineFile("/nonexistent/pipeline.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/pipeline.yaml"), std::string::npos);
}

TEST(CliPipelineFileTest, GraphCheckWorksOnSpecsAndLongChainsDoNotRecurse) {
  std::vector<TaskSpec> chain(5000);
  for (size_t i = 0; i < chain.size(); ++i) {
    chain[i].name = "t" + std::to_string(i);
    chain[i].command = {"@noop"};
    if (i > 0) chain[i].after = {"t" + std::to_string(i - 1)};
  }
  EXPECT_TRUE(CheckPipelineGraph(chain).ok());
  EXPECT_EQ(TopologicalOrder(chain).size(), chain.size());
  chain[0].after = {"t4999"};
  Status cycle = CheckPipelineGraph(chain);
  ASSERT_FALSE(cycle.ok());
  EXPECT_NE(cycle.message().find("t0 -> t4999 -> t4998"), std::string::npos);
}

}  // namespace
}  // namespace magpie
