// `magpie watch [--state S] [--task ID] [--json] [--count N] [--for DURATION] [--replay]`:
// task events of the whole cluster as they are committed, one line each (docs/events.md).
//
// The merging is node/event_stream.h's, shared with GET /api/v1/events: the members come
// from the node named by --node, every live member is watched, and each task's events are
// printed once, in log order, though every replica of its group reports them.
//
// Runs until Ctrl-C, or --count events, or --for a duration (exit 0 either way). Exit 3
// when the first node does not answer, 2 for a bad flag or an unknown --task.
#include <cstdio>
#include <iostream>
#include <memory>

#include "node/duration.h"
#include "node/event_stream.h"
#include "node/task_json.h"
#include "tools/commands.h"

namespace magpie {

namespace {

// How long one wait for events lasts, so --for and the "watching" line are timely.
constexpr auto kSlice = std::chrono::milliseconds(200);

struct WatchFlags {
  std::string state;
  std::string task;
  bool json = false;
  int64_t count = 0;  // 0: no bound
  std::string duration;
  bool replay = false;
};

// "2026-12-06T04:46:31.402Z  27a1a996-3  report  finish#1  succeeded  on 27a1a996d759ce8d  exit 0"
std::string EventLine(const WatchEvent& e) {
  const TaskEvent& ev = e.event;
  std::string line = FormatIsoUtc(ev.at_ms) + "  " + e.task_id + "  " +
                     (e.task_name.empty() ? "-" : e.task_name) + "  " + ev.kind +
                     (ev.attempt != 0 ? "#" + std::to_string(ev.attempt) : "") + "  " +
                     TaskStateName(ev.state_after);
  if (!ev.node.empty()) line += "  on " + ev.node;
  if (!ev.detail.empty()) line += "  " + ev.detail;
  return line;
}

int RunWatch(const WatchFlags& f, const GlobalOptions& global) {
  using Clock = std::chrono::steady_clock;
  if (f.count < 0) return ReportUsage("--count must be 0 (no bound) or more");
  std::optional<Clock::time_point> deadline;
  if (!f.duration.empty()) {
    auto ms = ParseDurationMs(f.duration);
    if (!ms.ok()) return ReportUsage("--for: " + ms.status().message());
    deadline = Clock::now() + std::chrono::milliseconds(*ms);
  }
  auto security = ClientSecurityOf(global);
  if (!security.ok()) return ReportError(security.status());

  EventStreamOptions o;
  o.node = global.node;
  o.security = *security;
  o.state = f.state;
  o.from_oldest = f.replay;
  if (!f.task.empty()) {
    // Nodes filter by id; a name is resolved once, here (its most recent task).
    auto client = Client::Connect(global.node, *security);
    if (!client.ok()) return ReportError(client.status());
    auto status = (*client)->GetStatus(f.task, global.call_timeout);
    if (status.ok()) {
      o.task_id = status->task.id;
    } else if (status.status().code() == Status::Code::kNotFound && HasTaskIdForm(f.task)) {
      o.task_id = f.task;  // an id not submitted yet (ids are <group>-<seq>): watch for it
    } else {
      return ReportError(status.status());
    }
  }
  auto stream = EventStream::Start(std::move(o));
  if (!stream.ok()) return ReportError(stream.status());

  bool announced = false;
  int64_t printed = 0;
  for (;;) {
    if (!announced && (*stream)->Established()) {
      // Scripts wait for this line before acting: from here on nothing is missed.
      std::fprintf(stderr, "magpie watch: watching %zu nodes\n", (*stream)->members());
      std::fflush(stderr);
      announced = true;
    }
    auto wait = kSlice;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() <= 0) return kExitOk;
      wait = std::min(wait, left);
    }
    for (const EventStream::Item& item : (*stream)->Next(wait)) {
      if (item.kind != EventStream::Item::Kind::kEvent) {
        std::fprintf(stderr, "magpie watch: %s\n", item.text.c_str());
        continue;
      }
      const std::string line = f.json ? WatchEventJson(item.event, item.node_id) : EventLine(item.event);
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
      if (f.count > 0 && ++printed >= f.count) {
        std::fflush(stdout);
        return kExitOk;
      }
    }
    std::fflush(stdout);  // a pipe (a spawner) sees each event as it comes
  }
}

}  // namespace

CommandRunner AddWatchCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<WatchFlags>();
  CLI::App* sub = app->add_subcommand(
      "watch", "Print task events (submit, grant, finish, cancel, restart) of the whole cluster "
               "as they are committed, one line each");
  sub->fallthrough();
  sub->add_option("--state", f->state,
                  "Only events after which the task is in this state (pending, ready, running, "
                  "succeeded, failed, cancelled, blocked)");
  sub->add_option("--task", f->task,
                  "Only the events of this task: an id (submitted yet or not), or the name of "
                  "an existing task (its most recent)");
  sub->add_flag("--json", f->json, "One JSON object per line");
  sub->add_option("--count", f->count, "Exit after this many events (0: no bound)");
  sub->add_option("--for", f->duration, "Exit after this long (5s, 2m, ...)");
  sub->add_flag("--replay", f->replay,
                "Begin with the events the nodes still hold (up to 100,000 each, since each "
                "was first watched), not only new ones");
  return [f, global] { return RunWatch(*f, *global); };
}

}  // namespace magpie
