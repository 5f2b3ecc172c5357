#!/usr/bin/env python3
"""Checks magpie-bench's stdout (the CI smoke run in scripts/test.sh): every line is one JSON
object, every workload asked for came out, each says what produced it, and its tasks all
succeeded. No timing assertions: the figures depend on the machine.

    magpie-bench --workload W1,W2 ... | tools/bench/check_bench_json.py W1,W2
"""
import json
import sys

COMMON = ["workload", "commit", "nodes", "slots_per_node", "replication", "external",
          "node_rss_idle_mb", "node_rss_peak_mb"]
FIGURES = {
    "W1": ["tasks_per_s", "p50_ms", "p99_ms", "wall_s", "tasks_per_s_start", "tasks_per_s_end"],
    "W2": ["tasks_per_s", "p50_ms", "p99_ms", "wall_s"],
    "W3": ["makespan_ratio", "ideal_s", "tasks_per_node", "per_node"],
    "W3P": ["makespan_ratio", "ideal_s", "tasks_per_node", "per_node"],
    "W4": ["p50_ms", "p99_ms", "round_trips"],
    "W5": ["chain_ms_per_link", "fan_tasks_per_s", "chain_succeeded", "fan_succeeded"],
}
MIX_FIGURES = ["makespan_s", "ideal_s", "makespan_over_ideal", "schedule_firings", "schedule_skipped",
               "schedule_lateness_ms", "schedule_worst_lateness_ms", "schedule_worst_lateness_by_end_ms",
               "nodes_used", "tasks_per_node", "per_node", "held_ahead_tasks", "tasks"]
FIGURES["MIX"] = MIX_FIGURES
FIGURES["MIXP"] = MIX_FIGURES


def check(line, problems):
    j = json.loads(line)
    w = j.get("workload")
    for k in COMMON + FIGURES.get(w, []):
        if k not in j:
            problems.append(f"{w}: no '{k}' in {line.strip()}")
    if not isinstance(j.get("commit"), str) or not j["commit"]:  # "unknown" outside a git checkout
        problems.append(f"{w}: commit is {j.get('commit')!r}")
    if not isinstance(j.get("replication"), int) or not 1 <= j["replication"] <= j.get("nodes", 0):
        problems.append(f"{w}: replication {j.get('replication')!r} with {j.get('nodes')} node(s)")
    if len(j.get("node_rss_idle_mb", [])) != j.get("nodes") or len(j.get("node_rss_peak_mb", [])) != j.get("nodes"):
        problems.append(f"{w}: not one RSS figure per node")
    if j.get("failed", 0) != 0:
        problems.append(f"{w}: {j['failed']} task(s) failed")
    if w == "W5" and not (j.get("chain_succeeded") and j.get("fan_succeeded")):
        problems.append("W5: the chain or the fan did not succeed")
    if w in ("MIX", "MIXP"):
        check_mix(j, problems)
    return w


def check_mix(j, problems):
    """The mix's figures agree with each other: every task came back, one lateness per firing
    (the worst is their maximum, null when nothing fired), and some node ran the work."""
    w = j["workload"]
    if j.get("tasks") != j.get("long_tasks", 0) + j.get("short_tasks", 0):
        problems.append(f"{w}: {j.get('tasks')} tasks came back of {j.get('long_tasks')} + {j.get('short_tasks')}")
    late = j.get("schedule_lateness_ms", [])
    if len(late) != j.get("schedule_firings"):
        problems.append(f"{w}: {len(late)} lateness figures for {j.get('schedule_firings')} firings")
    if j.get("schedule_worst_lateness_ms") != (max(late) if late else None):
        problems.append(f"{w}: schedule_worst_lateness_ms is not the largest lateness")
    if not 1 <= j.get("nodes_used", 0) <= j.get("nodes", 0):
        problems.append(f"{w}: nodes_used {j.get('nodes_used')!r} of {j.get('nodes')} node(s)")
    if not j.get("ideal_s") or not j.get("makespan_s"):
        problems.append(f"{w}: makespan_s {j.get('makespan_s')!r}, ideal_s {j.get('ideal_s')!r}")


def main():
    wanted = sys.argv[1].split(",") if len(sys.argv) > 1 else []
    seen, problems = [], []
    for line in sys.stdin:
        if line.strip():
            try:
                seen.append(check(line, problems))
            except (ValueError, TypeError) as e:
                problems.append(f"not a JSON object: {line.strip()!r} ({e})")
    for w in wanted:
        if w not in seen:
            problems.append(f"no line for {w}")
    for w in seen:
        print(f"bench smoke: {w} ok" if not any(p.startswith(w + ":") for p in problems) else f"bench smoke: {w} FAILED")
    for p in problems:
        print("bench smoke:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
