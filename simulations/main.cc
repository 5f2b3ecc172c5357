// magpie-sim: a whole cluster in one process, on a simulated network, disk, clock and
// executor, under faults. See docs/simulation.md.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "simulations/gossip_figures.h"
#include "simulations/runner.h"
#include "simulations/sim_options.h"
#include "simulations/steal_figures.h"

int main(int argc, char** argv) {
  using namespace magpie;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto cl = ParseCommandLine(args);
  if (!cl.ok()) {
    std::fprintf(stderr, "magpie-sim: %s\n", cl.status().message().c_str());
    return 2;
  }
  if (cl->help) {
    std::fputs(Usage().c_str(), stdout);
    return 0;
  }
  // A swarm and the gossip figures print their report lines only, unless asked.
  const bool many = cl->swarm > 0 || !cl->seeds_file.empty() || !cl->gossip_figures.empty() ||
                    cl->steal_figures;
  // One run logs warnings by default; a swarm logs nothing unless asked, so that hundreds
  // of runs print their report lines only.
  std::string level_name = cl->log_level.empty() ? (many ? "off" : "warn") : cl->log_level;
  const auto level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    std::fprintf(stderr, "magpie-sim: unknown --log-level '%s'\n", level_name.c_str());
    return 2;
  }
  InstallAbortReport();

  if (!cl->gossip_figures.empty()) {
    FiguresRequest r;
    r.what = cl->gossip_figures;
    r.world = cl->run;
    if (!cl->faults_given) r.world.faults = 0;
    r.trials = cl->trials;
    r.loss_percent = cl->loss_percent;
    SetRunInProgress(r.world);
    const auto start = std::chrono::steady_clock::now();
    const FiguresResult result = RunGossipFigures(r, level);
    PrintFigures(r, result,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), stdout);
    return result.ok ? 0 : 1;
  }

  if (cl->steal_figures) {
    StealFiguresRequest r;
    r.world = cl->run;
    r.world.faults = 0;
    r.slots = cl->slots;
    r.tasks_per_slot = cl->tasks_per_slot;
    r.task_ms = cl->task_ms;
    r.fsync_ms = cl->fsync_ms;
    SetRunInProgress(r.world);
    const auto start = std::chrono::steady_clock::now();
    const StealFigures result = RunStealFigures(r, level);
    PrintStealFigures(r, result,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), stdout);
    return result.ok ? 0 : 1;
  }

  std::vector<KnownBug> known;
  if (!cl->known_bugs_file.empty()) {
    std::ifstream f(cl->known_bugs_file);
    std::stringstream text;
    text << f.rdbuf();
    auto parsed = ParseKnownBugs(text.str());
    if (!f || !parsed.ok()) {
      std::fprintf(stderr, "magpie-sim: %s: %s\n", cl->known_bugs_file.c_str(),
                   f ? parsed.status().message().c_str() : "cannot read it");
      return 2;
    }
    known = std::move(*parsed);
  }

  if (!many) return RunOne(cl->run, level, known, stdout).report.passed ? 0 : 1;

  std::vector<PlannedRun> runs;
  if (!cl->seeds_file.empty()) {
    std::ifstream f(cl->seeds_file);
    if (!f) {
      std::fprintf(stderr, "magpie-sim: cannot read %s\n", cl->seeds_file.c_str());
      return 2;
    }
    std::stringstream text;
    text << f.rdbuf();
    auto parsed = ParseSeedsFile(text.str(), cl->run.buggify);
    if (!parsed.ok()) {
      std::fprintf(stderr, "magpie-sim: %s: %s\n", cl->seeds_file.c_str(),
                   parsed.status().message().c_str());
      return 2;
    }
    runs = std::move(*parsed);
  }
  // The swarm skips seeds the file already runs (with their expectations).
  std::set<uint64_t> listed;
  for (const auto& r : runs) listed.insert(r.options.seed);
  for (uint64_t i = 0; i < cl->swarm; ++i) {
    const uint64_t seed = cl->run.seed + i;
    if (listed.count(seed) != 0) continue;
    SimOptions o = cl->explicit_options ? cl->run : DrawSwarmOptions(seed, cl->run.buggify);
    if (!cl->explicit_options && cl->swarm_replication > 0) o.replication = cl->swarm_replication;
    if (!cl->explicit_options) o.schedules = cl->run.schedules;
    o.seed = seed;
    runs.push_back(PlannedRun{o, ""});
  }
  std::vector<PlannedRun> mine;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (static_cast<int>(i % cl->shards) == cl->shard) mine.push_back(std::move(runs[i]));
  }
  const SwarmSummary s = RunMany(mine, level, known, stdout);
  return s.failures == 0 ? 0 : 1;
}
