#include "simulations/runner.h"

#include <algorithm>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

namespace magpie {

namespace {

char g_replay[1024] = "";

void OnAbort(int sig) {
  const char* head = "magpie-sim: the process aborted (a broken invariant in the core or the "
                     "simulator; see above) during:\nreplay: ";
  ssize_t ignored = write(STDERR_FILENO, head, std::strlen(head));
  ignored = write(STDERR_FILENO, g_replay, std::strlen(g_replay));
  ignored = write(STDERR_FILENO, "\n", 1);
  (void)ignored;
  signal(sig, SIG_DFL);
  raise(sig);
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

void InstallAbortReport() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnAbort;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGABRT, &sa, nullptr);
  sigaction(SIGSEGV, &sa, nullptr);
}

void SetRunInProgress(const SimOptions& options) {
  const std::string cmd = ReplayCommand(options);
  std::snprintf(g_replay, sizeof(g_replay), "%s", cmd.c_str());
}

RunOutcome RunOne(const SimOptions& options, spdlog::level::level_enum log_level,
                  const std::vector<KnownBug>& known, std::FILE* out) {
  SetRunInProgress(options);
  RunOutcome o;
  World world(options, log_level);
  std::fputs(world.DescribeOptions().c_str(), out);
  std::fflush(out);
  const auto start = std::chrono::steady_clock::now();
  o.report = world.Run();
  o.wall_seconds = Seconds(std::chrono::steady_clock::now() - start);
  const RunReport& r = o.report;
  std::fputs(r.summary.c_str(), out);
  for (const auto& v : r.violations) {
    std::fprintf(out, "%s\n", v.ToString().c_str());
    if (const KnownBug* b = MatchKnownBug(known, v)) {
      std::fprintf(out, "  known open bug %s: %s\n", b->id.c_str(), b->summary.c_str());
    }
  }
  std::fprintf(out, "result: %s\n", r.passed ? "PASS" : "FAIL");
  if (!r.passed) std::fprintf(out, "replay: %s\n", ReplayCommand(options).c_str());
  std::fprintf(out, "speed: %.1f simulated s in %.3f wall s (%.0f simulated s per wall s)\n",
               r.ended.seconds(), o.wall_seconds,
               o.wall_seconds > 0 ? r.ended.seconds() / o.wall_seconds : 0.0);
  std::fprintf(out, "trace hash: %016llx (%llu records)\n",
               static_cast<unsigned long long>(r.trace_hash),
               static_cast<unsigned long long>(r.trace_records));
  std::fflush(out);
  return o;
}

SwarmSummary RunMany(const std::vector<PlannedRun>& runs, spdlog::level::level_enum log_level,
                     const std::vector<KnownBug>& known, std::FILE* out) {
  SwarmSummary s;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& planned : runs) {
    const SimOptions& options = planned.options;
    SetRunInProgress(options);
    const auto t0 = std::chrono::steady_clock::now();
    World world(options, log_level);
    RunReport r = world.Run();
    const double wall = Seconds(std::chrono::steady_clock::now() - t0);
    ++s.runs;
    s.sim_seconds += r.ended.seconds();
    const std::string first = r.passed ? "" : r.violations.front().promise;
    const KnownBug* bug = r.passed ? nullptr : MatchKnownBug(known, r.violations.front());
    const bool as_expected = planned.expect.empty() ? (r.passed || bug != nullptr)
                                                    : first == planned.expect;
    std::string verdict = planned.expect.empty() ? (r.passed ? "PASS" : bug ? "KNOWN" : "FAIL")
                          : as_expected           ? "XFAIL"
                          : r.passed              ? "XPASS"
                                                  : "FAIL";
    if (verdict == "KNOWN") {
      verdict += " " + bug->id;
      ++s.known[bug->id];
    }
    s.failover_leader_ms.insert(s.failover_leader_ms.end(), r.failover_leader_ms.begin(),
                                r.failover_leader_ms.end());
    s.failover_other_ms.insert(s.failover_other_ms.end(), r.failover_other_ms.begin(),
                               r.failover_other_ms.end());
    std::fprintf(out, "seed %llu: %s nodes=%d replication=%d duration=%llds faults=%s workload=%s acked=%llu "
                      "gossip_agreed=%.0fs sim=%.1fs wall=%.2fs hash=%016llx\n",
                 static_cast<unsigned long long>(options.seed), verdict.c_str(),
                 options.nodes, options.replication, static_cast<long long>(options.duration_s),
                 FaultsName(options.faults).c_str(), options.workload.c_str(),
                 static_cast<unsigned long long>(r.acked_tasks), r.members_agreed_ms / 1000.0,
                 r.ended.seconds(), wall,
                 static_cast<unsigned long long>(r.trace_hash));
    if (!r.passed) {
      std::fprintf(out, "  %s\n  replay: %s\n", r.violations.front().ToString().c_str(),
                   ReplayCommand(options).c_str());
    }
    // A deliberate fault's run proves a checker fires (one `proof:` line each, which
    // scripts/sim-ci.sh counts per promise); any other expected failure is an open bug's.
    if (!planned.expect.empty() && !options.buggify.empty()) {
      std::fprintf(out, "  proof: buggify=%s expect=%s %s\n", options.buggify.c_str(), planned.expect.c_str(),
                   as_expected ? "caught" : r.passed ? "missed (the run passed)"
                                                     : ("missed (it broke " + first + " first)").c_str());
      if (as_expected) ++s.expected_failures;
    } else if (!planned.expect.empty() && as_expected) {
      ++s.expected_failures;
      std::fprintf(out, "  (expected: a known open bug breaks %s here)\n", planned.expect.c_str());
    } else if (!planned.expect.empty() && r.passed) {
      std::fprintf(out, "  expected %s to break, but the run passed: if the bug is fixed, drop "
                        "expect= from this seed's line\n", planned.expect.c_str());
    }
    if (!as_expected) {
      ++s.failures;
      s.failed_replays.push_back(ReplayCommand(options));
    }
    std::fflush(out);
  }
  s.wall_seconds = Seconds(std::chrono::steady_clock::now() - start);
  uint64_t known_runs = 0;
  std::string known_words;
  for (const auto& [id, n] : s.known) {
    known_runs += n;
    known_words += (known_words.empty() ? " (" : ", ") + id + " x" + std::to_string(n);
  }
  if (!known_words.empty()) known_words += ")";
  std::fprintf(out, "swarm: %llu runs, %llu failed, %llu stopped by known bugs%s, %llu expected failures; %.0f simulated s in %.1f wall s (%.0f simulated s per wall s)\n",
               static_cast<unsigned long long>(s.runs), static_cast<unsigned long long>(s.failures),
               static_cast<unsigned long long>(known_runs), known_words.c_str(),
               static_cast<unsigned long long>(s.expected_failures),
               s.sim_seconds, s.wall_seconds, s.wall_seconds > 0 ? s.sim_seconds / s.wall_seconds : 0.0);
  // The failover figure (docs/BENCHMARKS.md): from a crash to the orphaned task's next
  // attempt starting, true time, over every run of the list.
  auto figure = [&](const char* what, std::vector<int64_t> v) {
    if (v.empty()) return;
    std::sort(v.begin(), v.end());
    auto at = [&v](size_t per_1000) { return v[std::min(v.size() - 1, v.size() * per_1000 / 1000)]; };
    std::fprintf(out, "failover (%s): %zu attempts, p50 %lld ms, p90 %lld ms, p99 %lld ms, max %lld ms\n",
                 what, v.size(), static_cast<long long>(at(500)), static_cast<long long>(at(900)),
                 static_cast<long long>(at(990)), static_cast<long long>(v.back()));
  };
  figure("the crashed node led the task's group; next attempt elsewhere", s.failover_leader_ms);
  figure("every other orphaned attempt", s.failover_other_ms);
  for (const auto& r : s.failed_replays) std::fprintf(out, "failed: %s\n", r.c_str());
  std::fflush(out);
  return s;
}

}  // namespace magpie
