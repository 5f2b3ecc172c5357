// `magpie submit`: one command from flags, or a pipeline file with -f.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <memory>

#include <pwd.h>
#include <unistd.h>

#include "base/sha256.h"
#include "node/byte_size.h"
#include "node/duration.h"
#include "node/pipeline_file.h"
#include "node/task_json.h"
#include "tools/commands.h"
#include "tools/task_text.h"

namespace magpie {

namespace {

// Who is submitting, for the node's per-submitter limit and the task record: MAGPIE_SUBMITTER
// if set, else USER@HOST.
std::string Submitter() {
  if (const char* s = std::getenv("MAGPIE_SUBMITTER"); s != nullptr && *s != '\0') return s;
  std::string user;
  if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) user = pw->pw_name;
  if (user.empty()) user = std::to_string(geteuid());
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return user + "@" + host;
}

struct SubmitFlags {
  std::string name;
  int priority = 50;
  std::vector<std::string> after;
  int retries = 0;
  std::string timeout;
  std::vector<std::string> labels;
  int slots = 1;
  std::vector<std::string> env;
  std::string cwd;
  std::string idempotency_key;
  std::string backoff;
  std::string cache_key;
  std::vector<std::string> inputs;
  std::string parent;
  std::string on_children;
  std::string output_keep;
  std::string file;
  bool dry_run = false;
  bool json = false;
  std::vector<std::string> command;  // words before any "--"

  // Flags that describe one command; meaningless with -f.
  std::vector<CLI::Option*> task_options;
  CLI::Option* retries_opt = nullptr;
  CLI::Option* cwd_opt = nullptr;
  CLI::Option* backoff_opt = nullptr;
};

// "K=V" into out[K] = V. With allow_inherit, a bare "K" takes K's value from our own
// environment, as `docker run -e K` does.
Status ParseAssignments(const std::vector<std::string>& items, const std::string& flag,
                        bool allow_inherit, std::map<std::string, std::string>* out) {
  for (const std::string& item : items) {
    size_t eq = item.find('=');
    std::string key = item.substr(0, eq);
    if (key.empty()) return Status::InvalidArgument(flag + " '" + item + "': expected K=V");
    if (eq == std::string::npos) {
      const char* value = allow_inherit ? std::getenv(key.c_str()) : nullptr;
      if (value == nullptr) {
        return Status::InvalidArgument(
            flag + " '" + item + "': expected K=V" +
            (allow_inherit ? " (or K, with K set in this shell's environment)" : ""));
      }
      (*out)[key] = value;
    } else {
      (*out)[key] = item.substr(eq + 1);
    }
  }
  return Status::Ok();
}

Result<std::string> CurrentDir() {
  std::error_code ec;
  auto dir = std::filesystem::current_path(ec);
  if (ec) return Status::InvalidArgument("cannot read the current directory: " + ec.message());
  return dir.string();
}

// `--cache-key auto`: a SHA-256 over the command, environment, working directory and the
// declared input files' names and contents, each length-prefixed so no two differ only in
// where one field ends. What the task reads but does not declare is not in the key.
Result<std::string> AutoCacheKey(const TaskSpec& spec, std::vector<std::string> inputs) {
  Sha256 h;
  auto field = [&h](std::string_view v) {
    h.Update(std::to_string(v.size()) + ":");
    h.Update(v);
  };
  field("magpie-cache-v1");
  field(std::to_string(spec.command.size()));
  for (const auto& a : spec.command) field(a);
  field(std::to_string(spec.env.size()));
  for (const auto& [k, v] : spec.env) {
    field(k);
    field(v);
  }
  field(spec.cwd);
  std::sort(inputs.begin(), inputs.end());
  inputs.erase(std::unique(inputs.begin(), inputs.end()), inputs.end());
  field(std::to_string(inputs.size()));
  for (const auto& path : inputs) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::InvalidArgument("--input " + path + ": cannot read it (a declared input must exist)");
    std::ostringstream bytes;
    bytes << in.rdbuf();
    field(path);
    field(Sha256Hex(bytes.str()));
  }
  return "auto:" + h.HexDigest();
}

Result<TaskSpec> SpecFromFlags(const SubmitFlags& f, std::vector<std::string> argv) {
  TaskSpec spec;
  spec.name = f.name;
  spec.command = std::move(argv);
  spec.priority = f.priority;
  spec.after = f.after;
  spec.slots = f.slots;
  spec.idempotency_key = f.idempotency_key;
  if (f.retries_opt->count() > 0) spec.max_attempts = f.retries + 1;
  if (!f.timeout.empty()) {
    auto ms = ParseDurationMs(f.timeout);
    if (!ms.ok()) return Status::InvalidArgument("--timeout: " + ms.status().message());
    spec.timeout_ms = *ms;
  }
  if (!f.output_keep.empty()) {
    auto bytes = ParseByteSize(f.output_keep);
    if (!bytes.ok()) return Status::InvalidArgument("--output-keep: " + bytes.status().message());
    spec.output_keep_bytes = *bytes;
  }
  if (f.backoff_opt->count() > 0) {
    auto ms = ParseDurationMs(f.backoff);
    if (!ms.ok()) return Status::InvalidArgument("--backoff: " + ms.status().message());
    spec.backoff_ms = *ms;
  }
  Status s = ParseAssignments(f.labels, "--label", /*allow_inherit=*/false, &spec.labels);
  if (!s.ok()) return s;
  s = ParseAssignments(f.env, "--env", /*allow_inherit=*/true, &spec.env);
  if (!s.ok()) return s;
  // The task runs where the user stands, as the command would if typed directly; relative
  // paths in it then mean what the user meant. An explicit empty --cwd leaves the choice
  // to the node (for tasks that may run on machines without this directory).
  auto here = CurrentDir();
  if (!here.ok()) return here.status();
  if (f.cwd_opt->count() == 0) {
    spec.cwd = *here;
  } else if (!f.cwd.empty()) {
    spec.cwd = (std::filesystem::path(*here) / f.cwd).lexically_normal().string();
  }
  if (!f.inputs.empty() && f.cache_key != "auto") {
    return Status::InvalidArgument("--input declares what --cache-key auto hashes; give --cache-key auto");
  }
  if (f.cache_key == "auto") {
    std::vector<std::string> inputs;
    for (const auto& in : f.inputs) inputs.push_back((std::filesystem::path(*here) / in).lexically_normal().string());
    auto key = AutoCacheKey(spec, std::move(inputs));
    if (!key.ok()) return key.status();
    spec.cache_key = *key;
  } else {
    spec.cache_key = f.cache_key;
  }
  // Like the command's words after --, the merge step runs through the shell only if asked
  // to; here it is one string, so the shell it is.
  if (!f.on_children.empty()) spec.on_children = {"/bin/sh", "-c", f.on_children};
  std::string invalid = ValidateSpec(spec);
  if (!invalid.empty()) return Status::InvalidArgument("invalid task: " + invalid);
  return spec;
}

int PrintPlan(const SubmitRequest& req, bool json) {
  std::vector<size_t> order = TopologicalOrder(req.tasks);
  if (json) {
    Json plan = Json::array();
    for (size_t i : order) {
      const TaskSpec& s = req.tasks[i];
      plan.push_back({{"name", s.name},
                      {"after", s.after},
                      {"command", s.command},
                      {"priority", s.priority},
                      {"cwd", s.cwd}});
    }
    std::cout << DumpJson(plan) << std::endl;
    return kExitOk;
  }
  std::cout << "dry run: " << req.tasks.size() << (req.tasks.size() == 1 ? " task" : " tasks")
            << " valid, nothing submitted; in an order they can run:\n";
  std::vector<std::vector<std::string>> rows = {{"#", "NAME", "AFTER", "COMMAND"}};
  int n = 0;
  for (size_t i : order) {
    const TaskSpec& s = req.tasks[i];
    std::string after;
    for (const auto& a : s.after) after += (after.empty() ? "" : ",") + a;
    rows.push_back({std::to_string(++n), s.name.empty() ? "-" : s.name, after.empty() ? "-" : after,
                    FormatCommand(s.command)});
  }
  std::cout << RenderTable(rows) << std::flush;
  return kExitOk;
}

int PrintSubmitted(const SubmitRequest& req, const SubmitReply& reply, bool pipeline, bool json) {
  if (json) {
    Json out = Json::array();
    for (size_t i = 0; i < reply.ids.size(); ++i) {
      out.push_back({{"name", req.tasks[i].name},
                     {"id", reply.ids[i]},
                     {"existing", i < reply.existing.size() && reply.existing[i]}});
    }
    std::cout << DumpJson(out) << std::endl;
    return kExitOk;
  }
  if (!pipeline) {
    std::cout << reply.ids[0] << std::endl;
    return kExitOk;
  }
  // "name id" per task: the id last, so `awk '{print $NF}'` gets it.
  std::vector<std::vector<std::string>> rows;
  for (size_t i = 0; i < reply.ids.size(); ++i) rows.push_back({req.tasks[i].name, reply.ids[i]});
  std::cout << RenderTable(rows) << std::flush;
  return kExitOk;
}

int RunSubmit(const SubmitFlags& f, const GlobalOptions& global) {
  std::vector<std::string> argv = f.command;
  argv.insert(argv.end(), global.command_after_separator.begin(),
              global.command_after_separator.end());
  SubmitRequest req;
  bool pipeline = !f.file.empty();
  if (pipeline) {
    if (!argv.empty()) return ReportUsage("give either -f FILE or a command after --, not both");
    for (CLI::Option* opt : f.task_options) {
      if (opt->count() > 0) {
        return ReportUsage(opt->get_name() +
                           " describes a single command; with -f, set it per task in the file");
      }
    }
    PipelineContext context;
    auto here = CurrentDir();
    if (!here.ok()) return ReportError(here.status());
    context.default_cwd = *here;
    auto parsed = ParsePipelineFile(f.file, context);
    if (!parsed.ok()) return ReportError(parsed.status());
    req = std::move(*parsed);
  } else {
    if (argv.empty()) {
      return ReportUsage(
          "submit needs a command: magpie submit [flags] -- CMD ARGS..., or -f pipeline.yaml");
    }
    auto spec = SpecFromFlags(f, std::move(argv));
    if (!spec.ok()) return ReportError(spec.status());
    req.tasks.push_back(std::move(*spec));
  }
  const std::string submitter = Submitter();
  for (auto& t : req.tasks) {
    if (t.submitted_by.empty()) t.submitted_by = submitter;
    if (!f.parent.empty()) t.parent = f.parent;
  }
  if (f.dry_run) return PrintPlan(req, f.json);

  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  auto reply = (*client)->Submit(req, global.call_timeout);
  if (!reply.ok()) return ReportError(reply.status());
  if (reply->ids.size() != req.tasks.size()) {
    return ReportError(Status::InvalidArgument("node answered with " +
                                               std::to_string(reply->ids.size()) + " ids for " +
                                               std::to_string(req.tasks.size()) + " tasks"));
  }
  return PrintSubmitted(req, *reply, pipeline, f.json);
}

void AddTaskFlags(CLI::App* sub, SubmitFlags* f) {
  auto& opts = f->task_options;
  opts.push_back(sub->add_option("--name", f->name, "Name, for --after and status by name"));
  opts.push_back(sub->add_option("--priority", f->priority, "0-100, higher runs first (default 50)")
                     ->check(CLI::Range(0, 100)));
  opts.push_back(
      sub->add_option("--after", f->after, "Run after this task id or name succeeds (repeatable)")
          ->allow_extra_args(false));
  f->retries_opt = sub->add_option("--retries", f->retries,
                                   "Retries after a failure; max attempts = R+1 (default 2)")
                       ->check(CLI::Range(0, 99));
  opts.push_back(f->retries_opt);
  opts.push_back(
      sub->add_option("--timeout", f->timeout,
                      "Kill an attempt after this long: 500ms, 30s, 5m, 1h (default none)"));
  opts.push_back(sub->add_option("--label", f->labels, "K=V the node must have (repeatable)")
                     ->allow_extra_args(false));
  opts.push_back(sub->add_option("--slots", f->slots, "Slots the task occupies (default 1)")
                     ->check(CLI::Range(1, 1024)));
  opts.push_back(
      sub->add_option("--env", f->env,
                      "K=V in the task's environment; bare K copies it from here (repeatable)")
          ->allow_extra_args(false));
  f->cwd_opt = sub->add_option(
      "--cwd", f->cwd, "Working directory (default: the current one; '' lets the node choose)");
  opts.push_back(f->cwd_opt);
  opts.push_back(sub->add_option("--idempotency-key", f->idempotency_key,
                                 "Submitting the same key again returns the first task's id"));
  opts.push_back(sub->add_option("--cache-key", f->cache_key,
                                 "auto or a string: a recent success with the same key is reused "
                                 "instead of running (docs/caching.md)"));
  opts.push_back(sub->add_option("--input", f->inputs,
                                 "A file the task reads, hashed into --cache-key auto (repeatable)")
                     ->allow_extra_args(false));
  f->backoff_opt = sub->add_option("--backoff", f->backoff,
                                   "Delay before the first retry, doubling after (default 1s)");
  opts.push_back(f->backoff_opt);
  opts.push_back(sub->add_option("--output-keep", f->output_keep,
                                 "Bytes of each output stream kept beyond the node that runs it, "
                                 "on the task group's replicas: 8MiB, 1GiB (default: the node's "
                                 "--output-keep-bytes, 1 MiB)"));
  opts.push_back(sub->add_option("--on-children", f->on_children,
                                 "Merge step (a shell command) this task runs once the children "
                                 "it submitted have all ended; MAGPIE_CHILDREN* describe them "
                                 "(docs/children.md)"));
}

}  // namespace

CommandRunner AddSubmitCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<SubmitFlags>();
  CLI::App* sub = app->add_subcommand(
      "submit", "Submit a task (prints its id) or a pipeline file (prints 'name id' lines)");
  sub->footer(
      "Forms: magpie submit [OPTIONS] -- CMD [ARGS...]\n"
      "       magpie submit -f PIPELINE.yaml [--dry-run]\n"
      "The task runs in the current directory unless --cwd says otherwise.");
  sub->fallthrough();
  AddTaskFlags(sub, f.get());
  sub->add_option("--parent", f->parent,
                  "Submit as a child of this running task (inside a task: $MAGPIE_TASK_ID); "
                  "with -f, every task of the file");
  sub->add_option("-f,--file", f->file,
                  "Submit the tasks of a pipeline YAML file (docs/pipelines.md)");
  sub->add_flag("--dry-run", f->dry_run, "Check and print the plan; submit nothing");
  sub->add_flag("--json", f->json, "Print [{name, id, existing}] as JSON");
  sub->add_option("command", f->command, "The command and its arguments (put them after --)");
  return [f, global] { return RunSubmit(*f, *global); };
}

namespace {

struct ScheduleFlags {
  SubmitFlags task;
  std::string cron;
  std::string every;
  int catch_up = 0;
  bool no_overlap = false;
  std::string target;  // pause, resume, rm: a schedule's id or name
  bool json = false;
};

int RunScheduleAdd(const ScheduleFlags& f, const GlobalOptions& global) {
  std::vector<std::string> argv = f.task.command;
  argv.insert(argv.end(), global.command_after_separator.begin(),
              global.command_after_separator.end());
  if (argv.empty()) return ReportUsage("schedule add needs a command: magpie schedule add --name N --every 30s -- CMD");
  if (f.cron.empty() == f.every.empty()) return ReportUsage("schedule add needs --cron EXPR or --every DURATION (one of them)");
  if (f.task.name.empty()) return ReportUsage("schedule add needs --name: schedules are paused, resumed and removed by name");
  auto spec = SpecFromFlags(f.task, std::move(argv));
  if (!spec.ok()) return ReportError(spec.status());
  spec->schedule.cron = f.cron;
  if (!f.every.empty()) {
    auto ms = ParseDurationMs(f.every);
    if (!ms.ok()) return ReportUsage("--every: " + ms.status().message());
    spec->schedule.every_ms = *ms;
  }
  spec->schedule.catch_up = f.catch_up;
  spec->schedule.no_overlap = f.no_overlap;
  spec->submitted_by = Submitter();
  if (std::string invalid = ValidateSpec(*spec); !invalid.empty()) return ReportUsage("invalid schedule: " + invalid);
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  SubmitRequest req;
  req.tasks.push_back(std::move(*spec));
  auto reply = (*client)->Submit(req, global.call_timeout);
  if (!reply.ok()) return ReportError(reply.status());
  std::cout << reply->ids.at(0) << std::endl;
  return kExitOk;
}

// Every schedule the node's groups hold (with up to R nodes, the whole cluster's).
Result<std::vector<Task>> ListSchedules(Client& client, const GlobalOptions& global, bool removed_too) {
  std::vector<Task> out;
  for (const char* state : {"scheduled", "cancelled"}) {
    if (std::string(state) == "cancelled" && !removed_too) break;
    ListRequest req;
    req.state = state;
    req.limit = 10000;
    auto reply = client.List(req, global.call_timeout);
    if (!reply.ok()) return reply.status();
    for (auto& t : reply->tasks) {
      if (t.spec.is_schedule()) out.push_back(std::move(t));
    }
  }
  return out;
}

int RunScheduleList(const ScheduleFlags& f, const GlobalOptions& global) {
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  auto schedules = ListSchedules(**client, global, false);
  if (!schedules.ok()) return ReportError(schedules.status());
  if (f.json) {
    std::cout << DumpJson(TasksToJson(*schedules)) << std::endl;
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "NAME", "WHEN", "STATE", "FIRED", "SKIPPED", "LAST RUN", "COMMAND"}};
  for (const Task& s : *schedules) {
    const ScheduleSpec& sc = s.spec.schedule;
    std::string when = sc.cron.empty() ? "every " + FormatDurationMs(sc.every_ms) : "cron " + sc.cron;
    if (sc.catch_up > 0) when += ", catch-up " + std::to_string(sc.catch_up);
    if (sc.no_overlap) when += ", no-overlap";
    rows.push_back({s.id, s.spec.name, when, s.paused ? "paused" : "active", std::to_string(s.fired),
                    std::to_string(s.skipped), s.last_fired.empty() ? "-" : s.last_fired,
                    FormatCommand(s.spec.command)});
  }
  std::cout << RenderTable(rows) << std::flush;
  return kExitOk;
}

int RunScheduleChange(const ScheduleFlags& f, const GlobalOptions& global, const std::string& action) {
  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  // A name is looked up among the schedules; an id goes straight to its group.
  std::string id = f.target;
  if (!HasTaskIdForm(id)) {
    auto schedules = ListSchedules(**client, global, false);
    if (!schedules.ok()) return ReportError(schedules.status());
    id.clear();
    for (const Task& s : *schedules) {
      if (s.spec.name == f.target) id = s.id;
    }
    if (id.empty()) return ReportUsage("no schedule named '" + f.target + "' (magpie schedule list)");
  }
  auto reply = (*client)->ChangeSchedule(ScheduleRequest{id, action}, global.call_timeout);
  if (!reply.ok()) return ReportError(reply.status());
  const Task& s = reply->task;
  std::cout << s.id << " " << (s.state == TaskState::kCancelled ? "removed" : s.paused ? "paused" : "active")
            << std::endl;
  return kExitOk;
}

}  // namespace

CommandRunner AddScheduleCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<ScheduleFlags>();
  CLI::App* sched = app->add_subcommand(
      "schedule", "Recurring tasks: add, list, pause, resume, rm (docs/schedules.md)");
  sched->require_subcommand(1);
  CLI::App* add = sched->add_subcommand("add", "Add a schedule (prints its id)");
  add->fallthrough();
  add->footer("Form: magpie schedule add --name N (--cron \"*/5 * * * *\" | --every 30s) [task flags] -- CMD...\n"
              "Cron is five fields in UTC. A slot fires once, by the leader of the schedule's group.");
  AddTaskFlags(add, &f->task);
  add->add_option("--cron", f->cron, "Five-field cron expression, UTC (minute hour day month weekday)");
  add->add_option("--every", f->every, "A fixed period from now: 30s, 5m, 1h (at least 1s)");
  add->add_option("--catch-up", f->catch_up,
                  "Slots missed while no quorum could fire them: run up to N of the latest late "
                  "(default 0: skip them)")
      ->check(CLI::Range(0, 1000));
  add->add_flag("--no-overlap", f->no_overlap, "Skip a slot while the previous run has not ended");
  add->add_option("command", f->task.command, "The command and its arguments (put them after --)");
  CLI::App* list = sched->add_subcommand("list", "The schedules, with what they fired and skipped");
  list->add_flag("--json", f->json, "Print the schedules' records as JSON");
  std::map<std::string, CLI::App*> changes;
  for (const char* action : {"pause", "resume", "rm"}) {
    CLI::App* c = sched->add_subcommand(action, std::string(action) == "rm" ? "Remove a schedule (its runs are kept)"
                                                : std::string(action) == "pause" ? "Stop firing until resumed"
                                                : "Fire again from the next slot (paused slots are not caught up)");
    c->add_option("schedule", f->target, "Its name or id")->required();
    changes[action] = c;
  }
  return [f, global, add, list, changes] {
    if (add->parsed()) return RunScheduleAdd(*f, *global);
    if (list->parsed()) return RunScheduleList(*f, *global);
    for (const auto& [action, c] : changes) {
      if (c->parsed()) return RunScheduleChange(*f, *global, action);
    }
    return ReportUsage("schedule needs add, list, pause, resume or rm");
  };
}

}  // namespace magpie
