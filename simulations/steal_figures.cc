#include "simulations/steal_figures.h"

#include <algorithm>
#include <functional>
#include <map>

#include "node/client_protocol.h"
#include "simulations/world.h"

namespace magpie {

namespace {

// Bounds on every wait (simulated time), so a broken cluster still ends the run.
constexpr Duration kConvergeBound = Duration::Seconds(300);  // everyone lists everyone alive
constexpr Duration kGroupBound = Duration::Seconds(60);      // node 0's group has its voters
// After the join: the join's gossip dies out and the idle thieves back off to their
// slowest blind asks, as in a cluster that has been up a while.
constexpr Duration kSettle = Duration::Seconds(10);
constexpr Duration kPoll = Duration::Millis(100);
// Like magpie-bench's pipelined submit (tools/bench/workloads.h: batch 500, window 8).
constexpr size_t kSubmitBatch = 500;
constexpr size_t kSubmitWindow = 8;

std::string SecondsText(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld.%03lld", static_cast<long long>(ms / 1000),
                static_cast<long long>(ms % 1000));
  return buf;
}

// One world, one client that submits everything to node 0, and the observation of node 0
// after each of its turns (when the batches are applied, when the last task ended).
class Bench {
 public:
  Bench(const StealFiguresRequest& r, spdlog::level::level_enum level)
      : request_(r),
        world_(r.world, level, /*stealing=*/true, [&r](DrawnOptions& d) {
          // A uniform cluster: the same slots everywhere, no labels (the tasks ask none).
          for (auto& n : d.nodes) {
            n.node.slots = r.slots;
            n.node.labels.clear();
            if (r.fsync_ms > 0) {
              n.node.fsync_min_us = r.fsync_ms * 1000;
              n.node.fsync_max_us = r.fsync_ms * 1100;
            }
          }
        }) {
    world_.set_turn_observer([this](SimTime now, int n) {
      if (n == 0) {
        OnNodeZeroTurn(now);
      } else {
        WatchGossip(now, n);
      }
    });
  }

  World& world() { return world_; }
  SimTime now() const { return world_.now(); }
  int size() const { return world_.size(); }

  bool WaitFor(Duration bound, const std::function<bool()>& done) {
    const SimTime until = now() + bound;
    while (!done()) {
      if (now() >= until || !world_.RunTo(std::min(until, now() + kPoll))) return false;
    }
    return true;
  }

  // Every node up, each listing every node as a live member (resumes at the first node
  // that was not there yet, as gossip_figures.cc does, since it is polled while 1,000 join).
  bool AllLive() {
    auto live = [&](int i) {
      return world_.node(i).up() &&
             world_.node(i).core().membership().NumLive() == static_cast<size_t>(size());
    };
    while (live_cursor_ < size() && live(live_cursor_)) ++live_cursor_;
    if (live_cursor_ < size()) return false;
    live_cursor_ = 0;
    for (int i = 0; i < size(); ++i) {
      if (!live(i)) return false;
    }
    return true;
  }

  // Node 0 leads its home group, serves it, and the group has its R voters (fewer when
  // the cluster is smaller): submits to it commit as they will under load.
  bool GroupReady() const {
    const SimNode& n = world_.node(0);
    if (!n.up()) return false;
    const Replica* r = n.core().replica(n.group_id());
    if (r == nullptr || !r->raft.is_leader() || !r->serving) return false;
    int voters = 0;
    for (const auto& m : r->raft.members().members) voters += m.voter ? 1 : 0;
    return voters >= std::min(request_.world.replication, size());
  }

  // Starts the client: the first batches go to node 0 now.
  void StartSubmitting(uint64_t tasks) {
    total_ = tasks;
    first_submit_ = now();
    first_submit_local_ms_ = world_.node(0).clock().LocalAt(now()).unix_millis();
    learned_ms_.assign(size(), -1);
    learned_ms_[0] = 0;
    SubmitMore();
  }

  bool all_done() const { return done_at_ < SimTime::Never(); }
  // Per node, ms from the first submit until its gossip showed node 0 with ready work
  // (-1: never; node 0 itself: 0).
  const std::vector<int64_t>& learned_ms() const { return learned_ms_; }
  SimTime first_submit() const { return first_submit_; }
  int64_t first_submit_local_ms() const { return first_submit_local_ms_; }
  SimTime submitted_at() const { return submitted_at_; }
  SimTime done_at() const { return done_at_; }

 private:
  const TaskTable& NodeZeroTable() const { return world_.node(0).core().tasks(); }

  // Until node n's gossip shows node 0 with ready work: the thief's first chance to ask
  // it knowingly (before, it asks random members).
  void WatchGossip(SimTime now, int n) {
    if (total_ == 0 || learned_ms_[n] >= 0 || !world_.node(n).up()) return;
    const SimNode& node = world_.node(n);
    const auto view = node.core().membership().Find(world_.node(0).node_id(), node.clock().LocalAt(now));
    if (view && view->load.ready > 0) learned_ms_[n] = (now - first_submit_).millis();
  }

  void OnNodeZeroTurn(SimTime now) {
    if (total_ == 0 || !world_.node(0).up()) return;
    const TaskTable& t = NodeZeroTable();
    if (submitted_at_ == SimTime::Never() && t.size() >= total_) submitted_at_ = now;
    if (sent_ < total_) SubmitMore();
    if (done_at_ == SimTime::Never()) {
      const size_t ended = t.CountInState(TaskState::kSucceeded) + t.CountInState(TaskState::kFailed) +
                           t.CountInState(TaskState::kCancelled) + t.CountInState(TaskState::kBlocked);
      if (ended >= total_) done_at_ = now;
    }
  }

  // Sends batches while fewer than kSubmitWindow are unanswered. A batch is answered when
  // node 0 has applied all of its tasks (the table grows in submission order).
  void SubmitMore() {
    const size_t applied = NodeZeroTable().size();
    while (sent_ < total_) {
      const uint64_t answered = std::min<uint64_t>(applied, sent_);
      const uint64_t unanswered_batches = (sent_ - answered + kSubmitBatch - 1) / kSubmitBatch;
      if (unanswered_batches >= kSubmitWindow) return;
      const uint64_t n = std::min<uint64_t>(kSubmitBatch, total_ - sent_);
      SubmitRequest req;
      req.tasks.reserve(n);
      for (uint64_t i = 0; i < n; ++i) {
        TaskSpec spec;
        spec.command = {"@sleep", SecondsText(request_.task_ms)};
        spec.idempotency_key = "steal-figures-" + std::to_string(sent_ + i);
        req.tasks.push_back(std::move(spec));
      }
      world_.InjectRequest(0, EncodeRequest(RequestFrame{RequestType::kSubmit, ++request_id_,
                                                         PackBody(req)}));
      sent_ += n;
    }
  }

  const StealFiguresRequest& request_;
  World world_;
  int live_cursor_ = 0;
  uint64_t total_ = 0;
  uint64_t sent_ = 0;
  uint64_t request_id_ = 0;
  SimTime first_submit_ = SimTime::Never();
  int64_t first_submit_local_ms_ = 0;
  SimTime submitted_at_ = SimTime::Never();
  SimTime done_at_ = SimTime::Never();
  std::vector<int64_t> learned_ms_;
};

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string SecondsOf(int64_t ms) { return ms < 0 ? "null" : Fixed(static_cast<double>(ms) / 1000.0, 3); }

int64_t NearestRank(std::vector<int64_t>& v, int per_100) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const size_t rank = (static_cast<size_t>(per_100) * v.size() + 99) / 100;
  return v[std::max<size_t>(rank, 1) - 1];
}

// Splits the nodes' idle slot-time (StealFigures::over_*). spans[i]: node i's successful
// attempts as (Grant proposed, end) in ms after the first submit.
void Decompose(std::vector<std::vector<std::pair<int64_t, int64_t>>>& spans, int slots, int64_t task_ms,
               uint64_t tasks, StealFigures& f) {
  const double work = static_cast<double>(tasks) * static_cast<double>(task_ms);
  if (f.makespan_ms <= 0 || work <= 0) return;
  double ramp = 0, grant = 0, between = 0, tail = 0;
  std::vector<int64_t> extra, gaps;
  for (size_t i = 0; i < spans.size(); ++i) {
    auto& s = spans[i];
    if (s.empty()) {
      ramp += static_cast<double>(slots) * static_cast<double>(f.makespan_ms);
      continue;
    }
    std::sort(s.begin(), s.end());
    int64_t last_end = 0, busy = 0;
    for (const auto& [start, end] : s) {
      last_end = std::max(last_end, end);
      busy += end - start;
      grant += static_cast<double>(end - start - task_ms);
      if (i != 0) extra.push_back(end - start - task_ms);
    }
    ramp += static_cast<double>(slots) * static_cast<double>(s.front().first);
    tail += static_cast<double>(slots) * static_cast<double>(f.makespan_ms - last_end);
    between += static_cast<double>(slots) * static_cast<double>(last_end - s.front().first) - static_cast<double>(busy);
    if (i == 0) continue;
    // A steal round: attempts granted at one instant. Its gap: from the latest end at or
    // before that instant.
    std::vector<int64_t> ends;
    for (const auto& sp : s) ends.push_back(sp.second);
    std::sort(ends.begin(), ends.end());
    int64_t previous_start = -1;
    for (const auto& [start, end] : s) {
      if (start == previous_start) continue;
      previous_start = start;
      auto it = std::upper_bound(ends.begin(), ends.end(), start);
      if (it != ends.begin()) gaps.push_back(start - *std::prev(it));
    }
  }
  f.over_ramp = ramp / work;
  f.over_grant = grant / work;
  f.over_between = between / work;
  f.over_tail = tail / work;
  f.grant_extra_ms_p50 = NearestRank(extra, 50);
  f.grant_extra_ms_p90 = NearestRank(extra, 90);
  f.between_ms_p50 = NearestRank(gaps, 50);
  f.between_ms_p90 = NearestRank(gaps, 90);
}

// Reads node 0's table (the group's leader: every task's committed record) into the figures.
void Tally(const World& w, uint64_t tasks, int slots, int64_t task_ms, int64_t t0_ms, StealFigures& f) {
  std::vector<std::vector<std::pair<int64_t, int64_t>>> spans(w.size());
  std::map<std::string, int> index_of;
  for (int i = 0; i < w.size(); ++i) index_of[w.node(i).node_id()] = i;
  std::vector<int> per_node(w.size(), 0);
  std::vector<int64_t> first_start(w.size(), INT64_MAX);
  int64_t last_finish_ms = 0;
  uint64_t not_once = 0;
  std::string example;
  w.node(0).core().tasks().ForEachBySeq(0, [&](const Task& t) {
    f.extra_attempts += t.attempts.empty() ? 0 : t.attempts.size() - 1;
    const Attempt* a = t.current_attempt();
    const bool once = t.state == TaskState::kSucceeded && t.attempts.size() == 1 && a->outcome == Outcome::kSucceeded;
    if (!once) {
      ++not_once;
      if (example.empty()) {
        example = t.id + " is " + TaskStateName(t.state) + " after " + std::to_string(t.attempts.size()) + " attempts";
      }
    }
    if (t.state == TaskState::kSucceeded) {
      ++f.succeeded;
      last_finish_ms = std::max(last_finish_ms, t.finished_ms);
    }
    if (a != nullptr) {
      auto it = index_of.find(a->node);
      if (it != index_of.end()) {
        if (a->outcome == Outcome::kSucceeded) {
          ++per_node[it->second];
          spans[it->second].emplace_back(a->started_ms - t0_ms, a->ended_ms - t0_ms);
        }
        first_start[it->second] = std::min(first_start[it->second], a->started_ms);
      }
      if (!a->stolen_from.empty()) ++f.stolen;
    }
    return true;
  });
  if (f.succeeded != tasks || not_once != 0) {
    f.problems.push_back(std::to_string(f.succeeded) + " of " + std::to_string(tasks) + " tasks succeeded; " +
                         std::to_string(not_once) + " did not succeed exactly once" +
                         (example.empty() ? "" : " (" + example + ")"));
  }
  if (f.succeeded > 0) f.makespan_ms = last_finish_ms - t0_ms;
  Decompose(spans, slots, task_ms, tasks, f);
  std::vector<int> sorted = per_node;
  std::sort(sorted.begin(), sorted.end());
  f.tasks_min = sorted.front();
  f.tasks_max = sorted.back();
  f.tasks_median = sorted[(sorted.size() - 1) / 2];
  f.nodes_used = static_cast<int>(std::count_if(per_node.begin(), per_node.end(), [](int n) { return n > 0; }));
  std::vector<int64_t> firsts;
  for (int i = 1; i < w.size(); ++i) {
    if (first_start[i] != INT64_MAX) firsts.push_back(first_start[i] - t0_ms);
  }
  std::sort(firsts.begin(), firsts.end());
  if (!firsts.empty()) {
    f.first_steal_ms_median = firsts[(firsts.size() - 1) / 2];
    f.first_steal_ms_max = firsts.back();
  }
}

}  // namespace

StealFigures RunStealFigures(const StealFiguresRequest& r, spdlog::level::level_enum log_level) {
  StealFigures f;
  StealFiguresRequest req = r;
  req.world.faults = 0;  // the figure is for a healthy cluster
  Bench b(req, log_level);
  f.tasks = static_cast<uint64_t>(req.world.nodes) * static_cast<uint64_t>(req.slots) *
            static_cast<uint64_t>(req.tasks_per_slot);
  f.ideal_s = static_cast<double>(f.tasks) * static_cast<double>(req.task_ms) / 1000.0 /
              (static_cast<double>(req.world.nodes) * req.slots);

  b.world().BootAll();
  const SimTime boot = b.now();
  if (!b.WaitFor(kConvergeBound, [&] { return b.AllLive(); })) {
    f.problems.push_back("the cluster did not converge within " + std::to_string(kConvergeBound.millis() / 1000) + " s");
  } else {
    f.join_ms = (b.now() - boot).millis();
    if (!b.WaitFor(kGroupBound, [&] { return b.GroupReady(); })) {
      f.problems.push_back("node 0's group had no serving leader with its voters within " +
                           std::to_string(kGroupBound.millis() / 1000) + " s");
    }
  }
  if (f.problems.empty() && b.world().RunTo(b.now() + kSettle)) {
    b.StartSubmitting(f.tasks);
    // Generous: twenty times the ideal, and at least five minutes.
    const Duration bound = std::max(Duration::Seconds(300), Duration::Millis(static_cast<int64_t>(f.ideal_s * 20000)));
    if (!b.WaitFor(bound, [&] { return b.all_done(); })) {
      f.problems.push_back("the tasks had not all ended " + std::to_string(bound.millis() / 1000) +
                           " s after the first submit");
    }
    if (b.submitted_at() < SimTime::Never()) f.submitted_ms = (b.submitted_at() - b.first_submit()).millis();
    if (b.all_done()) f.all_done_ms = (b.done_at() - b.first_submit()).millis();
    Tally(b.world(), f.tasks, req.slots, req.task_ms, b.first_submit_local_ms(), f);
    std::vector<int64_t> learned(b.learned_ms().begin() + 1, b.learned_ms().end());
    learned.erase(std::remove(learned.begin(), learned.end(), -1), learned.end());
    f.learned_ms_median = NearestRank(learned, 50);
    f.learned_ms_max = learned.empty() ? -1 : learned.back();
    if (f.makespan_ms > 0) f.ratio = static_cast<double>(f.makespan_ms) / 1000.0 / f.ideal_s;
  }
  for (const auto& v : b.world().violations()) f.problems.push_back(v.ToString());
  f.ok = f.problems.empty();
  f.trace_hash = b.world().trace_hash();
  f.simulated_s = b.now().seconds();
  return f;
}

std::string StealFiguresCommand(const StealFiguresRequest& r) {
  return "magpie-sim --steal-figures --seed " + std::to_string(r.world.seed) + " --nodes " +
         std::to_string(r.world.nodes) + " --slots " + std::to_string(r.slots) + " --tasks-per-slot " +
         std::to_string(r.tasks_per_slot) + " --task-ms " + std::to_string(r.task_ms) + " --replication " +
         std::to_string(r.world.replication) + (r.fsync_ms > 0 ? " --fsync-ms " + std::to_string(r.fsync_ms) : "");
}

std::string StealFiguresJson(const StealFiguresRequest& r, const StealFigures& f, double wall_s) {
  std::string j = "{\"mode\":\"steal-figures\"";
  auto add = [&](const char* key, const std::string& value) { j += ",\"" + std::string(key) + "\":" + value; };
  add("seed", std::to_string(r.world.seed));
  add("nodes", std::to_string(r.world.nodes));
  add("slots", std::to_string(r.slots));
  add("tasks", std::to_string(f.tasks));
  add("task_ms", std::to_string(r.task_ms));
  if (r.fsync_ms > 0) add("fsync_ms", std::to_string(r.fsync_ms));
  add("replication", std::to_string(r.world.replication));
  add("makespan_s", SecondsOf(f.makespan_ms));
  add("ideal_s", Fixed(f.ideal_s, 3));
  add("ratio", Fixed(f.ratio, 3));
  add("tasks_per_node", "{\"min\":" + std::to_string(f.tasks_min) + ",\"median\":" + std::to_string(f.tasks_median) +
                            ",\"max\":" + std::to_string(f.tasks_max) + "}");
  add("nodes_used", std::to_string(f.nodes_used));
  add("steals", std::to_string(f.stolen));
  add("extra_attempts", std::to_string(f.extra_attempts));
  add("first_steal_s", "{\"median\":" + SecondsOf(f.first_steal_ms_median) + ",\"max\":" +
                           SecondsOf(f.first_steal_ms_max) + "}");
  add("learned_s", "{\"median\":" + SecondsOf(f.learned_ms_median) + ",\"max\":" + SecondsOf(f.learned_ms_max) +
                       "}");
  add("overhead", "{\"ramp\":" + Fixed(f.over_ramp, 3) + ",\"grant\":" + Fixed(f.over_grant, 3) +
                      ",\"between\":" + Fixed(f.over_between, 3) + ",\"tail\":" + Fixed(f.over_tail, 3) + "}");
  add("thief_grant_extra_ms", "{\"p50\":" + std::to_string(f.grant_extra_ms_p50) + ",\"p90\":" +
                                  std::to_string(f.grant_extra_ms_p90) + "}");
  add("thief_between_ms", "{\"p50\":" + std::to_string(f.between_ms_p50) + ",\"p90\":" +
                              std::to_string(f.between_ms_p90) + "}");
  add("submitted_s", SecondsOf(f.submitted_ms));
  add("all_done_s", SecondsOf(f.all_done_ms));
  add("join_s", SecondsOf(f.join_ms));
  add("simulated_s", Fixed(f.simulated_s, 1));
  add("wall_s", Fixed(wall_s, 1));
  add("ok", f.ok ? "true" : "false");
  return j + "}";
}

void PrintStealFigures(const StealFiguresRequest& r, const StealFigures& f, double wall_s, std::FILE* out) {
  std::fprintf(out, "steal figures: %s\n", StealFiguresCommand(r).c_str());
  std::fprintf(out, "%s\n", StealFiguresJson(r, f, wall_s).c_str());
  for (const auto& p : f.problems) std::fprintf(out, "problem: %s\n", p.c_str());
  std::fprintf(out, "result: %s\n", f.ok ? "PASS" : "FAIL");
  if (!f.ok) std::fprintf(out, "replay: %s\n", StealFiguresCommand(r).c_str());
  std::fprintf(out, "trace hash: %016llx\n", static_cast<unsigned long long>(f.trace_hash));
  std::fflush(out);
}

}  // namespace magpie
