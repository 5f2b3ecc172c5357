#include "simulations/sim_options.h"

#include <algorithm>
#include <sstream>

#include "base/buggify.h"
#include "base/prng.h"
#include "simulations/partition.h"
#include "simulations/workload.h"

namespace magpie {

namespace {

struct FaultName {
  uint32_t bit;
  const char* name;
};
constexpr FaultName kFaultNames[] = {
    {kFaultPartition, "partition"}, {kFaultDrop, "drop"},   {kFaultDup, "dup"},
    {kFaultReorder, "reorder"},     {kFaultDelay, "delay"}, {kFaultCrash, "crash"},
    {kFaultWipe, "wipe"},           {kFaultPause, "pause"}, {kFaultSkew, "skew"},
    {kFaultDrift, "drift"},         {kFaultDriftBeyond, "drift-beyond"},
    {kFaultStop, "stop"},           {kFaultWatchdog, "watchdog"}, {kFaultDisk, "disk"},
};

constexpr int64_t kMaxDurationS = 24 * 3600;

Result<uint64_t> ParseUnsigned(const std::string& flag, std::string text) {
  if (flag == "--duration" && !text.empty() && text.back() == 's') text.pop_back();
  if (text.empty() || text.size() > 19) return Status::InvalidArgument(flag + " needs a number");
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return Status::InvalidArgument(flag + " needs a whole number, not '" + text + "'");
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

Result<uint32_t> ParseFaults(const std::string& list) {
  if (list == "none" || list.empty()) return 0u;
  if (list == "all") return kAllFaults;
  uint32_t faults = 0;
  std::stringstream ss(list);
  std::string word;
  while (std::getline(ss, word, ',')) {
    if (word == "all") {
      faults |= kAllFaults;
      continue;
    }
    bool found = false;
    for (const auto& f : kFaultNames) {
      if (word == f.name) {
        faults |= f.bit;
        found = true;
      }
    }
    if (!found) {
      return Status::InvalidArgument("unknown fault '" + word + "' (none, all, or a comma list of "
                                     "partition,drop,dup,reorder,delay,crash,wipe,pause,skew,drift,"
                                     "drift-beyond,stop,watchdog,disk)");
    }
  }
  return faults;
}

std::string FaultsName(uint32_t faults) {
  if (faults == 0) return "none";
  std::string out;
  for (const auto& f : kFaultNames) {
    if (faults & f.bit) out += (out.empty() ? "" : ",") + std::string(f.name);
  }
  return out;
}

Status ValidateOptions(const SimOptions& o) {
  if (o.nodes < 1 || o.nodes > kMaxSimNodes) {
    return Status::InvalidArgument("--nodes must be between 1 and " + std::to_string(kMaxSimNodes));
  }
  if (o.duration_s < 1 || o.duration_s > kMaxDurationS) {
    return Status::InvalidArgument("--duration must be between 1 and 86400 seconds");
  }
  if (!ParseWorkload(o.workload)) {
    std::string names;
    for (auto k : AllWorkloads()) names += (names.empty() ? "" : ", ") + std::string(WorkloadName(k));
    return Status::InvalidArgument("unknown workload '" + o.workload + "' (" + names + ")");
  }
  if (o.replication < 1 || o.replication > 7) {
    return Status::InvalidArgument("--replication must be between 1 and 7");
  }
  if ((o.faults & kFaultDrift) && (o.faults & kFaultDriftBeyond)) {
    return Status::InvalidArgument("drift and drift-beyond exclude each other");
  }
  if (!o.buggify.empty() && o.buggify != "none") {
    bool known = o.buggify == kSimBuggify;
    std::string names = kSimBuggify;
    for (const auto& b : kBuggifySwitchNames) {
      known = known || o.buggify == b.name;
      names += std::string(", ") + b.name;
    }
    if (!known) return Status::InvalidArgument("unknown --buggify '" + o.buggify + "' (" + names + ")");
  }
  return Status::Ok();
}

std::string ReplayCommand(const SimOptions& o) {
  std::string cmd = "magpie-sim --seed " + std::to_string(o.seed) + " --nodes " +
                    std::to_string(o.nodes) + " --duration " + std::to_string(o.duration_s) +
                    " --faults " + FaultsName(o.faults) + " --workload " + o.workload +
                    " --replication " + std::to_string(o.replication);
  if (!o.buggify.empty() && o.buggify != "none") cmd += " --buggify " + o.buggify;
  if (o.schedules > 0) cmd += " --schedules " + std::to_string(o.schedules);
  return cmd;
}

SimOptions DrawSwarmOptions(uint64_t seed, const std::string& buggify) {
  // Its own PRNG: drawing the flags must not shift the run's own stream.
  Prng p(seed ^ 0x5377'6172'6d5f'5365ULL);  // "Swarm_Se"
  SimOptions o;
  o.seed = seed;
  static constexpr int kNodeChoices[] = {1, 2, 3, 3, 4, 5, 5, 5, 6, 7};
  o.nodes = kNodeChoices[p.Below(10)];
  o.duration_s = p.Between(10, 120);
  // Swarm testing: each seed gets a random subset of faults, sometimes all or none.
  const uint64_t shape = p.Below(16);
  if (shape == 0) {
    o.faults = 0;
  } else if (shape < 5) {
    o.faults = kAllFaults;
  } else {
    o.faults = 0;
    for (const auto& f : kFaultNames) {
      if (f.bit <= kFaultDrift && p.Chance(1, 2)) o.faults |= f.bit;
    }
    // The node faults added later come from a stream of their own, so that every other
    // option a seed draws stays what it was.
    Prng q(seed ^ 0x4e6f'6465'4661'756cULL);  // "NodeFaul"
    for (uint32_t bit : {kFaultStop, kFaultWatchdog, kFaultDisk}) {
      if (q.Chance(1, 2)) o.faults |= bit;
    }
  }
  if (!(o.faults & kFaultCrash)) o.faults &= ~kFaultWipe;  // a wipe happens at a restart
  if (p.Chance(1, 8)) o.faults = (o.faults & ~kFaultDrift) | kFaultDriftBeyond;
  o.workload = WorkloadName(AllWorkloads()[p.Below(AllWorkloads().size())]);
  o.buggify = buggify == "none" ? "" : buggify;
  // The schedule switch breaks only what schedules do: give its runs some.
  if (o.buggify == "fire_twice" || o.buggify == "only_home_fires") o.schedules = 3;
  // Replica groups of three (the core's default) in three seeds of four; one voter in the
  // rest, so the single-replica path (a wipe loses the group) stays covered.
  o.replication = p.Chance(1, 4) ? 1 : 3;
  return o;
}

std::string Usage() {
  return "usage: magpie-sim [--seed S] [--nodes N] [--duration SECONDS] [--faults LIST]\n"
         "                  [--workload W] [--replication R] [--buggify NAME] [--swarm K]\n"
         "                  [--seeds-file FILE]\n"
         "                  [--shard I/N] [--known-bugs FILE]\n"
         "                  [--log-level trace|debug|info|warn|error|off]\n"
         "       magpie-sim --gossip-figures detection|loss|dissemination [--seed S] [--nodes N]\n"
         "                  [--trials K] [--loss PERCENT --duration SECONDS] [--faults LIST]\n"
         "  --faults     none, all, or a comma list of partition,drop,dup,reorder,delay,\n"
         "               crash,wipe,pause,skew,drift,drift-beyond (all = all but drift-beyond)\n"
         "  --workload   mixed, random, dag, failing, long, one-node, cancel-restart\n"
         "  --replication  voters per replica group, 1..7 (default 3; the swarm draws 1 or 3)\n"
         "  --swarm-replication R  the swarm uses R for every seed instead of drawing it\n"
         "  --schedules N  the clients add N schedules (--every 5s..20s) checked to fire once per slot\n"
         "  --buggify    a deliberate fault in the core (base/buggify.h; docs/simulation.md\n"
         "               lists them and the promise each breaks), or hidden_partition (the\n"
         "               simulator cuts node 0 off at t=100..130 s and hides it from the\n"
         "               membership checker)\n"
         "  --swarm K    run K seeds from --seed on, drawing nodes, duration, faults and\n"
         "               workload per seed; prints a summary\n"
         "  --seeds-file run each line: a seed (drawn as the swarm does) or replay flags,\n"
         "               optionally with expect=PROMISE (a known bug: it must fail so)\n"
         "               with --swarm too, the swarm skips the seeds the file lists\n"
         "  --shard I/N  run only the I-th of every N runs (CI splits a list over cores)\n"
         "  --known-bugs FILE  violations matching a listed open bug are counted as known\n"
         "  --nodes      1..1000; above 32, nodes join through the first three\n"
         "  --gossip-figures  measure gossip on real node cores (docs/gossip.md, \"Measured in\n"
         "               magpie-sim\"): detection (crash a node --trials times: when does each\n"
         "               node mark it dead), loss (--loss percent of packets lost for\n"
         "               --duration s: live members declared dead), dissemination (a load\n"
         "               change, --trials times: gossip rounds until everyone has it).\n"
         "               --faults (default none) shapes the network and clocks only: drop,\n"
         "               dup, reorder, delay, skew, drift; no crash, pause or partition\n"
         "       magpie-sim --steal-figures [--seed S] [--nodes N] [--slots K] [--tasks-per-slot M]\n"
         "                  [--task-ms D] [--replication R] [--fsync-ms F]\n"
         "  --steal-figures  measure work stealing on real node cores, no faults (docs/simulation.md,\n"
         "               \"Stealing figures\"): N nodes of K slots (default 4) join; N*K*M tasks\n"
         "               (M default 50) of @sleep D ms (default 50) are all submitted to node 0;\n"
         "               prints makespan / ideal (ideal = tasks*D/(N*K)) as one JSON line;\n"
         "               --fsync-ms F makes every fsync take F ms (a slow disk)\n"
         "defaults: --seed 1 --nodes 5 --duration 60 --faults all --workload mixed --replication 3\n";
}

Result<CommandLine> ParseCommandLine(const std::vector<std::string>& args) {
  CommandLine cl;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    if (flag == "--help" || flag == "-h") {
      cl.help = true;
      continue;
    }
    if (flag == "--steal-figures" && !has_value) {
      cl.steal_figures = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) return Status::InvalidArgument(flag + " needs a value");
      value = args[++i];
    }
    if (flag == "--slots" || flag == "--tasks-per-slot" || flag == "--task-ms" || flag == "--fsync-ms") {
      auto v = ParseUnsigned(flag, value);
      if (!v.ok()) return v.status();
      if (flag == "--slots" && (*v < 1 || *v > 64)) return Status::InvalidArgument("--slots must be 1..64");
      if (flag == "--tasks-per-slot" && (*v < 1 || *v > 10000)) {
        return Status::InvalidArgument("--tasks-per-slot must be 1..10000");
      }
      if (flag == "--task-ms" && (*v < 1 || *v > 3'600'000)) {
        return Status::InvalidArgument("--task-ms must be 1..3600000");
      }
      if (flag == "--slots") cl.slots = static_cast<int>(*v);
      if (flag == "--tasks-per-slot") cl.tasks_per_slot = static_cast<int>(*v);
      if (flag == "--fsync-ms" && *v > 10'000) return Status::InvalidArgument("--fsync-ms must be 0..10000");
      if (flag == "--task-ms") cl.task_ms = static_cast<int64_t>(*v);
      if (flag == "--fsync-ms") cl.fsync_ms = static_cast<int64_t>(*v);
    } else if (flag == "--trials" || flag == "--loss") {
      auto v = ParseUnsigned(flag, value);
      if (!v.ok()) return v.status();
      if (flag == "--trials" && (*v < 1 || *v > 1000)) return Status::InvalidArgument("--trials must be 1..1000");
      if (flag == "--loss" && *v > 100) return Status::InvalidArgument("--loss must be 0..100 (percent)");
      if (flag == "--trials") cl.trials = static_cast<int>(*v);
      if (flag == "--loss") cl.loss_percent = static_cast<uint32_t>(*v);
    } else if (flag == "--gossip-figures") {
      if (value != "detection" && value != "loss" && value != "dissemination") {
        return Status::InvalidArgument("--gossip-figures takes detection, loss or dissemination, not '" + value + "'");
      }
      cl.gossip_figures = value;
    } else if (flag == "--swarm-replication") {
      auto v = ParseUnsigned(flag, value);
      if (!v.ok()) return v.status();
      if (*v < 1 || *v > 7) return Status::InvalidArgument("--swarm-replication must be between 1 and 7");
      cl.swarm_replication = static_cast<int>(*v);
    } else if (flag == "--schedules") {
      auto v = ParseUnsigned(flag, value);
      if (!v.ok()) return v.status();
      if (*v > 20) return Status::InvalidArgument("--schedules must be between 0 and 20");
      cl.run.schedules = static_cast<int>(*v);
    } else if (flag == "--replication") {
      auto v = ParseUnsigned(flag, value);
      if (!v.ok()) return v.status();
      cl.run.replication = static_cast<int>(std::min<uint64_t>(*v, 100));
      cl.explicit_options = true;
    } else if (flag == "--seed" || flag == "--nodes" || flag == "--duration" || flag == "--swarm") {
      auto v = ParseUnsigned(flag, value);
      if (!v.ok()) return v.status();
      if (flag == "--seed") cl.run.seed = *v;
      if (flag == "--nodes") cl.run.nodes = static_cast<int>(std::min<uint64_t>(*v, kMaxSimNodes + 1));
      if (flag == "--duration") cl.run.duration_s = static_cast<int64_t>(std::min<uint64_t>(*v, 1u << 30));
      if (flag == "--swarm") cl.swarm = *v;
      if (flag != "--seed" && flag != "--swarm") cl.explicit_options = true;
    } else if (flag == "--faults") {
      auto f = ParseFaults(value);
      if (!f.ok()) return f.status();
      cl.run.faults = *f;
      cl.explicit_options = true;
      cl.faults_given = true;
    } else if (flag == "--workload") {
      cl.run.workload = value;
      cl.explicit_options = true;
    } else if (flag == "--buggify") {
      cl.run.buggify = value == "none" ? "" : value;
    } else if (flag == "--seeds-file") {
      cl.seeds_file = value;
    } else if (flag == "--known-bugs") {
      cl.known_bugs_file = value;
    } else if (flag == "--log-level") {
      cl.log_level = value;
    } else if (flag == "--shard") {
      const size_t slash = value.find('/');
      auto i = ParseUnsigned(flag, value.substr(0, slash));
      auto n = slash == std::string::npos ? Result<uint64_t>(Status::InvalidArgument("--shard needs I/N"))
                                          : ParseUnsigned(flag, value.substr(slash + 1));
      if (!i.ok() || !n.ok() || *n == 0 || *n > 64 || *i >= *n) {
        return Status::InvalidArgument("--shard needs I/N with 0 <= I < N <= 64, not '" + value + "'");
      }
      cl.shard = static_cast<int>(*i);
      cl.shards = static_cast<int>(*n);
    } else {
      return Status::InvalidArgument("unknown flag '" + flag + "'\n" + Usage());
    }
  }
  Status s = ValidateOptions(cl.run);
  if (!s.ok()) return s;
  if (cl.steal_figures && !cl.gossip_figures.empty()) {
    return Status::InvalidArgument("--steal-figures and --gossip-figures exclude each other");
  }
  if (cl.steal_figures && static_cast<uint64_t>(cl.run.nodes) * cl.slots * cl.tasks_per_slot > kMaxStealFiguresTasks) {
    return Status::InvalidArgument("--steal-figures: nodes x slots x tasks-per-slot must be at most " +
                                   std::to_string(kMaxStealFiguresTasks));
  }
  return cl;
}

Result<std::vector<PlannedRun>> ParseSeedsFile(const std::string& text, const std::string& buggify) {
  std::vector<PlannedRun> runs;
  std::stringstream ss(text);
  std::string line;
  int line_no = 0;
  while (std::getline(ss, line)) {
    ++line_no;
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> words;
    std::string expect;
    std::stringstream ls(line);
    for (std::string w; ls >> w;) {
      if (w.rfind("expect=", 0) == 0) {
        expect = w.substr(7);
      } else {
        words.push_back(w);
      }
    }
    if (words.empty()) continue;
    if (words[0] == "magpie-sim") words.erase(words.begin());
    if (words.size() == 1 && words[0].rfind("--", 0) != 0) {
      auto seed = ParseUnsigned("--seed", words[0]);
      if (!seed.ok()) return Status::InvalidArgument("line " + std::to_string(line_no) + ": " + seed.status().message());
      runs.push_back(PlannedRun{DrawSwarmOptions(*seed, buggify), expect});
      continue;
    }
    auto cl = ParseCommandLine(words);
    if (!cl.ok()) return Status::InvalidArgument("line " + std::to_string(line_no) + ": " + cl.status().message());
    if (cl->run.buggify.empty()) cl->run.buggify = buggify == "none" ? "" : buggify;
    runs.push_back(PlannedRun{cl->run, expect});
  }
  return runs;
}

}  // namespace magpie
