// `magpie wait ID...`: blocks until every task has ended, drawing progress on a terminal.
//
// Exit status: 0 when all succeeded; 1 when any ended failed, cancelled or blocked (even if
// --timeout also ran out, since that answer is already known); 2 when --timeout ran out
// with tasks still going, or the node refused the request (an unknown id); 3 when the node
// cannot be reached. A node that drops away after answering once (a restart) is retried
// for up to the call timeout before giving up with 3.
//
// A node answers a Wait for one replica group (it forwards the call to that group's
// leader), so ids from several groups are asked group by group: the ids of one group
// (the <group> of <group>-<seq>) in one call, names with the first call.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <thread>

#include "node/duration.h"
#include "node/task_json.h"
#include "tools/commands.h"
#include "tools/progress_bar.h"
#include "tools/task_text.h"

namespace magpie {

namespace {

// How long the node holds each Wait call. Short enough that the progress bar moves and a
// --timeout is honoured promptly; long enough that waiting costs the node little.
constexpr int64_t kWaitSliceMs = 1000;
// Pause between retries while a node that answered before is unreachable.
constexpr auto kReconnectPause = std::chrono::milliseconds(200);

struct WaitFlags {
  std::vector<std::string> ids;
  std::string timeout;
  bool json = false;
};

bool Succeeded(const Task& t) { return t.state == TaskState::kSucceeded; }

int RunWait(const WaitFlags& f, const GlobalOptions& global) {
  using Clock = std::chrono::steady_clock;
  std::optional<Clock::time_point> deadline;
  if (!f.timeout.empty()) {
    auto ms = ParseDurationMs(f.timeout);
    if (!ms.ok()) return ReportUsage("--timeout: " + ms.status().message());
    deadline = Clock::now() + std::chrono::milliseconds(*ms);
  }
  // The same id twice is one task to wait for.
  std::vector<std::string> ids;
  std::set<std::string> seen;
  for (const auto& id : f.ids) {
    if (seen.insert(id).second) ids.push_back(id);
  }

  auto client = ConnectToNode(global);
  if (!client.ok()) return ReportError(client.status());
  ProgressBar bar(stderr, isatty(STDERR_FILENO) == 1);

  // The calls: ids grouped by their replica group, in first-seen order; a name is a call
  // of its own, since only the node resolving it learns its group.
  struct Batch {
    std::vector<size_t> index;  // into ids
    bool ended = false;
  };
  std::vector<Batch> batches;
  std::map<std::string, size_t> batch_of_group;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!HasTaskIdForm(ids[i])) {
      batches.emplace_back();
      batches.back().index.push_back(i);
      continue;
    }
    std::string g = GroupOfTaskId(ids[i]);
    auto [it, fresh] = batch_of_group.emplace(g, batches.size());
    if (fresh) batches.emplace_back();
    batches[it->second].index.push_back(i);
  }

  std::vector<Task> tasks(ids.size());
  std::vector<bool> known(ids.size(), false);
  bool answered_once = false;
  bool timed_out = false;
  bool unreachable = false;  // since unreachable_since
  Clock::time_point unreachable_since;
  // Bounded by the deadline when there is one; otherwise it is a wait the user asked for.
  size_t next = 0;  // the batch asked next
  while (true) {
    Batch& batch = batches[next];
    WaitRequest req;
    for (size_t i : batch.index) req.ids.push_back(ids[i]);
    req.timeout_ms = kWaitSliceMs;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      req.timeout_ms = std::clamp<int64_t>(left.count(), 0, kWaitSliceMs);
    }
    auto reply = (*client)->Wait(req, global.call_timeout);
    if (!reply.ok()) {
      bool retry = answered_once && reply.status().code() == Status::Code::kUnavailable;
      if (retry) {
        if (!unreachable) unreachable_since = Clock::now();
        unreachable = true;
        retry = Clock::now() - unreachable_since < global.call_timeout;
      }
      if (!retry) {
        bar.Clear();
        return ReportError(reply.status());
      }
      std::this_thread::sleep_for(kReconnectPause);
      continue;
    }
    answered_once = true;
    unreachable = false;
    // The reply lists the tasks in the order asked.
    for (size_t k = 0; k < reply->tasks.size() && k < batch.index.size(); ++k) {
      tasks[batch.index[k]] = std::move(reply->tasks[k]);
      known[batch.index[k]] = true;
    }
    batch.ended = reply->all_ended;
    Progress p;
    p.total = static_cast<int>(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      if (known[i] && IsEnded(tasks[i].state)) ++p.done;
      if (known[i] && IsEnded(tasks[i].state) && !Succeeded(tasks[i])) ++p.failed;
      if (known[i] && p.note.empty() && HoldsGrant(tasks[i].state)) p.note = ProgressText(tasks[i], true);
    }
    bar.Update(p);
    // The next batch still going, after this one; none left: all ended.
    size_t k = 1;
    while (k <= batches.size() && batches[(next + k) % batches.size()].ended) ++k;
    if (k > batches.size()) break;
    next = (next + k) % batches.size();
    if (deadline && Clock::now() >= *deadline) {
      timed_out = true;
      break;
    }
  }
  // Tasks never answered for (a deadline before their group's first call) are left out.
  {
    std::vector<Task> answered;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (known[i]) answered.push_back(std::move(tasks[i]));
    }
    tasks = std::move(answered);
  }
  bar.Clear();

  if (f.json) {
    std::cout << DumpJson(TasksToJson(tasks)) << std::endl;
  } else {
    std::vector<std::vector<std::string>> rows = {{"ID", "NAME", "STATE", "PROGRESS", "REASON"}};
    for (const Task& t : tasks) {
      std::string reason = t.end_reason;
      if (reason.empty() && !t.blocked_by.empty()) reason = "blocked by " + t.blocked_by;
      std::string progress = ProgressText(t, false);
      rows.push_back({t.id, t.spec.name.empty() ? "-" : t.spec.name, TaskStateName(t.state),
                      progress.empty() ? "-" : progress, reason.empty() ? "-" : reason});
    }
    std::cout << RenderTable(rows) << std::flush;
  }
  size_t unfinished = ids.size();
  bool any_failed = false;
  for (const Task& t : tasks) {
    if (IsEnded(t.state)) --unfinished;
    if (IsEnded(t.state) && !Succeeded(t)) any_failed = true;
  }
  if (any_failed) return kExitTaskFailed;
  if (timed_out) {
    return ReportUsage("gave up after --timeout " + f.timeout + ": " + std::to_string(unfinished) +
                       " of " + std::to_string(ids.size()) + " tasks have not ended");
  }
  return kExitOk;
}

}  // namespace

CommandRunner AddWaitCommand(CLI::App* app, const GlobalOptions* global) {
  auto f = std::make_shared<WaitFlags>();
  CLI::App* sub = app->add_subcommand(
      "wait",
      "Wait until tasks end; exit 0 if all succeeded, 1 if any failed, was cancelled or "
      "blocked, 2 if --timeout ran out first");
  sub->fallthrough();
  sub->add_option("ids", f->ids, "Task ids")->required();
  sub->add_option("--timeout", f->timeout,
                  "Give up after this long: 30s, 10m, 2h (default: never)");
  sub->add_flag("--json", f->json, "Print a JSON array of the tasks as they ended");
  return [f, global] { return RunWait(*f, *global); };
}

}  // namespace magpie
