#!/usr/bin/env python3
"""Replica groups done-when 3 (issue 5), with real processes on loopback.

Three nodes on distinct 127.0.0.x addresses joined by --join; once every replica group has
three voters, 50 tasks of about 2 s are submitted to node A. While they run:

  phase kill9: A is killed with -9.
  phase sigstop: A is frozen with SIGSTOP for 10 s (longer than the 6 s lease), then resumed.

Each phase then checks, through B and C (and, after SIGCONT, A too): every acknowledged task
is listed and ends `succeeded`, with exactly one `succeeded` attempt; no two attempts of one
task overlapped in time, judged from the tasks' own records (each attempt appends a start
stamp, a beat every 0.1 s and an end stamp to a shared file) and from the attempts in
`magpie status --json`; no attempt of A's outlived its lease (two extra ~15 s tasks, submitted
first so that A runs them, check this when A is frozen: A's watchdog must kill them). It prints the failover
figures: from the kill (or the stop) to each orphaned task's re-run starting and finishing,
p50/p99 over the tasks A was running.

    MAGPIE_BIN_DIR=build/bin python3 tests/e2e/e2e_failover.py [--runs N] [--phase kill9|sigstop]

--runs repeats both phases on fresh clusters and prints the figures over all runs.
MAGPIE_E2E_LOG_LEVEL=debug passes --log-level to the nodes; MAGPIE_E2E_KEEP=1 keeps their
logs. Every phase is bounded (90 s) and every process started is killed at exit (e2e.py).
"""
import argparse
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import BIN, TOKEN, fail, check, tmp_path  # noqa: E402

TASKS = 50
SLOTS = 8
LEASE_S = 6.0          # CoreOptions::lease
MAX_DRIFT = 0.05       # CoreOptions::max_drift_percent
BEAT_S = 0.1
BEATS = 20             # 20 x 0.1 s: each task runs about 2 s
# Two extra tasks, submitted first so A runs them, outlast the lease (~15 s): the node or its
# watchdog must kill them once their lease runs out, even while A is frozen.
LONG_TASKS = 2
LONG_BEATS = 150
PHASE_BOUND_S = 90.0
STOP_S = 10.0
LOG_LEVEL = os.environ.get("MAGPIE_E2E_LOG_LEVEL", "info")
ENDED = {"succeeded", "failed", "cancelled", "blocked"}


# ---------------------------------------------------------------------------------------
# Processes and the CLI (shared with e2e_partition.py)

def free_port(host):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Node:
    """One magpie-node. `prefix` runs it (and every CLI call to it) under another command,
    e.g. nsenter into a network namespace."""

    def __init__(self, name, host, port=None, slots=SLOTS, join=(), prefix=(), extra=()):
        self.name = name
        self.dir = tmp_path(name)
        os.makedirs(self.dir, exist_ok=True)
        self.addr = f"{host}:{port or free_port(host)}"
        self.slots = slots
        self.join = list(join)
        self.prefix = list(prefix)
        self.extra = list(extra)
        self.proc = None
        self.id = None
        self.start()

    def start(self):
        log = open(self.log_path(), "ab")
        cmd = self.prefix + [os.path.join(BIN, "magpie-node"), "--data-dir", os.path.join(self.dir, "data"),
                             "--listen", self.addr, "--slots", str(self.slots), "--log-level", LOG_LEVEL]
        for j in self.join:
            cmd += ["--join", j]
        self.proc = subprocess.Popen(cmd + self.extra, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        e2e._procs.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"{self.name} exited at start with {self.proc.returncode}: {self.log_tail()}")
            if self.cli("members", "--json") is not None:
                return
            time.sleep(0.1)
        fail(f"{self.name} did not answer within 30 s: {self.log_tail()}")

    def log_path(self):
        return os.path.join(self.dir, "node.log")

    def log_tail(self, n=8):
        try:
            with open(self.log_path(), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def cli(self, *args, timeout=10):
        """stdout of `magpie --node <this> args`, or None if it failed or timed out."""
        cmd = self.prefix + [os.path.join(BIN, "magpie"), "--node", self.addr] + list(args)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
        return r.stdout if r.returncode == 0 else None

    def json(self, *args, timeout=10):
        out = self.cli(*args, "--json", timeout=timeout)
        if out is None:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def submit(self, *cmd):
        out = self.cli("submit", "--", *cmd, timeout=30)
        check(out is not None and out.split(), f"submit to {self.name} failed: {self.log_tail(3)}")
        return out.split()[-1]


def members(node):
    return node.json("members") or []


def wait_cluster(nodes, bound_s):
    """Every node lists every node alive, then every node's log shows every group with all
    of them as voters (the last `members now [...]` line per group: the node does not expose
    group membership otherwise). Returns the seconds it took; fails past bound_s."""
    t0 = time.time()
    n = len(nodes)
    while True:
        views = [members(x) for x in nodes]
        if all(sum(m["state"] == "alive" for m in v) == n for v in views):
            break
        if time.time() - t0 > bound_s:
            fail(f"{n} nodes did not see each other alive within {bound_s} s: {views}")
        time.sleep(0.2)
    by_addr = {m["address"]: m["id"] for m in views[0]}
    for x in nodes:
        x.id = by_addr[x.addr]
    groups = {x.id[:8] for x in nodes}
    pattern = re.compile(r"group ([0-9a-f]{8}): members now \[(.*)\]")
    while True:
        ready = True
        for x in nodes:
            last = {}
            with open(x.log_path(), errors="replace") as f:
                for line in f:
                    mt = pattern.search(line)
                    if mt:
                        last[mt.group(1)] = [s.strip() for s in mt.group(2).split(",")]
            for g in groups:
                voters = [s for s in last.get(g, []) if "(" not in s]
                if len(voters) != min(n, 3):
                    ready = False
        if ready:
            return time.time() - t0
        if time.time() - t0 > bound_s:
            fail(f"replica groups did not reach {min(n, 3)} voters within {bound_s} s")
        time.sleep(0.25)


# ---------------------------------------------------------------------------------------
# The tasks' own records

def beat_cmd(stamps, beats=BEATS):
    """A task of `beats` beats (~2 s by default) that records, with its id, attempt and node, when it started, a beat every
    0.1 s, and when it ended normally. TOKEN marks the process for cleanup."""
    tag = '"$MAGPIE_TASK_ID $MAGPIE_ATTEMPT $MAGPIE_NODE_ID $(date +%s.%N)"'
    script = (f'echo S {tag} >> {stamps}; i=0; while [ $i -lt {beats} ]; do sleep {BEAT_S}; '
              f'echo B {tag} >> {stamps}; i=$((i+1)); done; echo E {tag} >> {stamps}')
    return ["sh", "-c", script, TOKEN]


class Span:
    def __init__(self, node):
        self.node, self.first, self.last, self.started, self.ended = node, None, None, None, None


def read_stamps(path):
    """{task id: {attempt number: Span}} from a stamp file."""
    spans = {}
    try:
        f = open(path)
    except OSError:
        return spans
    with f:
        for line in f:
            p = line.split()
            if len(p) != 5 or p[0] not in ("S", "B", "E"):
                continue
            kind, tid, att, node, t = p[0], p[1], int(p[2]), p[3], float(p[4])
            sp = spans.setdefault(tid, {}).setdefault(att, Span(node))
            sp.first = t if sp.first is None else min(sp.first, t)
            sp.last = t if sp.last is None else max(sp.last, t)
            if kind == "S":
                sp.started = t
            if kind == "E":
                sp.ended = t
    return spans


def stamp_overlaps(spans):
    """(task, attempt, attempt, seconds of overlap) for every pair of attempts of one task
    whose recorded intervals overlap, and the smallest gap between consecutive attempts."""
    bad, min_gap = [], None
    for tid, atts in spans.items():
        lst = sorted(atts.items(), key=lambda kv: kv[1].first)
        for (a1, s1), (a2, s2) in zip(lst, lst[1:]):
            gap = s2.first - s1.last
            min_gap = gap if min_gap is None else min(min_gap, gap)
            if gap <= 0:
                bad.append((tid, a1, a2, round(-gap, 3)))
    return bad, min_gap


def iso_s(iso):
    if not iso:
        return None
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def record_overlaps(task):
    """Pairs of attempts in a task record whose [started_at, ended_at] overlap."""
    spans, bad = [], []
    for a in task["attempts"]:
        s, e = iso_s(a["started_at"]), iso_s(a["ended_at"])
        if s is not None:
            spans.append((s, e if e is not None else float("inf"), a["number"]))
    spans.sort()
    for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
        if s2 < e1:
            bad.append((task["id"], n1, n2))
    return bad


def pct(values, p):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


def fmt(values):
    if not values:
        return "n=0"
    return f"p50 {pct(values, 50):.2f} s, p99 {pct(values, 99):.2f} s, max {max(values):.2f} s (n={len(values)})"


# ---------------------------------------------------------------------------------------
# Waiting on the cluster

def task_map(node):
    v = node.json("list", timeout=15)
    return {t["id"]: t for t in v} if isinstance(v, list) else None


def wait_all_ended(nodes, ids, deadline, what):
    """Polls `list --json` on each node until each one shows every id ended."""
    last = {}
    while time.time() < deadline:
        done = True
        for n in nodes:
            m = task_map(n)
            if m is None:
                done = False
                continue
            last[n.name] = m
            if not all(m.get(i, {}).get("state") in ENDED for i in ids):
                done = False
        if done:
            return last
        time.sleep(0.5)
    summary = {}
    for name, m in last.items():
        states = {}
        for i in ids:
            s = m.get(i, {}).get("state", "missing")
            states[s] = states.get(s, 0) + 1
        summary[name] = states
    fail(f"{what}: tasks not all ended in time; states by node: {summary}")


def states_of(m, ids):
    return {i: (m[i]["state"], tuple((a["number"], a["outcome"]) for a in m[i]["attempts"])) for i in ids}


# ---------------------------------------------------------------------------------------
# One phase

def run_phase(phase, run_no):
    t_phase = time.time()
    deadline = t_phase + PHASE_BOUND_S
    tag = f"{phase}{run_no}"
    a = Node(f"{tag}-a", "127.0.0.11")
    b = Node(f"{tag}-b", "127.0.0.12", join=[a.addr])
    c = Node(f"{tag}-c", "127.0.0.13", join=[a.addr])
    nodes = [a, b, c]
    form_s = wait_cluster(nodes, 30)
    stamps = tmp_path(f"stamps-{tag}")

    long_ids = [a.submit(*beat_cmd(stamps, LONG_BEATS)) for _ in range(LONG_TASKS)]
    ids = [a.submit(*beat_cmd(stamps)) for _ in range(TASKS)]
    all_ids = long_ids + ids
    check(len(set(all_ids)) == len(all_ids), f"duplicate ids acknowledged: {all_ids}")
    # Kill while A is running a full set of its own attempts.
    while True:
        spans = read_stamps(stamps)
        on_a = [t for t, atts in spans.items() for s in atts.values() if s.node == a.id and s.ended is None]
        if len(on_a) >= SLOTS:
            break
        check(time.time() < deadline - 60, f"A never ran {SLOTS} tasks at once ({len(on_a)})")
        time.sleep(0.05)
    time.sleep(0.5)

    t_fault = time.time()
    if phase == "kill9":
        a.signal(signal.SIGKILL)
        a.proc.wait()
        survivors = [b, c]
        wait_all_ended(survivors, all_ids, deadline, f"{phase}: after kill -9 of A")
    else:
        a.signal(signal.SIGSTOP)
        time.sleep(STOP_S)
        a.signal(signal.SIGCONT)
        survivors = [b, c]
        wait_all_ended(survivors, all_ids, deadline, f"{phase}: after SIGSTOP/SIGCONT of A")
    t_ended = time.time()

    # Settle, so a late Finish from A's stale attempts (SIGCONT) would have arrived, then
    # read the records through every live node.
    time.sleep(3)
    views = wait_all_ended([n for n in nodes if n.alive()], all_ids, deadline, f"{phase}: settled views")
    ref = views[b.name]
    for name, m in views.items():
        check(states_of(m, all_ids) == states_of(ref, all_ids),
              f"{phase}: {name} and {b.name} disagree: "
              f"{[i for i in all_ids if states_of(m, [i]) != states_of(ref, [i])][:5]}")

    # Every acknowledged task: succeeded, exactly one succeeded attempt, through B and C
    # by `status --json` as well.
    problems = []
    for tid in all_ids:
        for n in survivors:
            t = n.json("status", tid)
            if t is None:
                problems.append(f"{tid}: status through {n.name} failed")
                continue
            if t["state"] != "succeeded":
                problems.append(f"{tid}: {t['state']} through {n.name}: {json.dumps(t['attempts'])}")
            wins = [x for x in t["attempts"] if x["outcome"] == "succeeded"]
            if len(wins) != 1:
                problems.append(f"{tid}: {len(wins)} succeeded attempts through {n.name}")
            problems += [f"record overlap {o}" for o in record_overlaps(t)]
    check(not problems, f"{phase}: {len(problems)} problems: {problems[:6]}")

    # The tasks' own records.
    spans = read_stamps(stamps)
    check(set(spans) == set(all_ids), f"{phase}: {len(set(all_ids) - set(spans))} tasks never wrote a stamp")
    bad, min_gap = stamp_overlaps(spans)
    check(not bad, f"{phase}: attempts of one task overlapped (task, attempt, attempt, s): {bad[:5]}")
    for tid in all_ids:
        wins = [x["number"] for x in ref[tid]["attempts"] if x["outcome"] == "succeeded"]
        sp = spans[tid].get(wins[0])
        check(sp is not None and sp.ended is not None,
              f"{phase}: {tid}: the succeeded attempt {wins} has no end stamp of its own")

    # Orphans: the tasks A was running at the fault. No process of A's outlived its lease
    # (its last renewal was before the fault); each re-ran elsewhere later.
    # (An attempt of A's that ends normally after the fault is orphaned too: A cannot report it.)
    def orphaned(s):
        return s.node == a.id and s.first <= t_fault and (s.ended is None or s.ended > t_fault)
    orphans = {tid: atts for tid, atts in spans.items() if any(orphaned(s) for s in atts.values())}
    check(set(orphans) & set(ids), f"{phase}: no task was running on A at the fault")
    to_rerun, to_finish, outlived, long_on_a = [], [], [], []
    for tid, atts in orphans.items():
        old = max(n for n, s in atts.items() if orphaned(s))
        if atts[old].last > t_fault + LEASE_S + 1.0:
            outlived.append((tid, old, round(atts[old].last - t_fault, 2)))
        later = [s for n, s in atts.items() if n > old]
        check(later, f"{phase}: orphan {tid} was never re-run")
        if tid in long_ids:
            long_on_a.append(round(atts[old].last - t_fault, 2))
            continue
        to_rerun.append(min(s.first for s in later) - t_fault)
        done = [s.ended for s in later if s.ended is not None]
        to_finish.append(max(done) - t_fault)
    check(not outlived, f"{phase}: task processes of A outlived the lease (task, attempt, s after fault): {outlived}")
    lost_elsewhere = sum(1 for tid in all_ids for x in ref[tid]["attempts"]
                         if x["outcome"] == "lost" and x["node"] != a.id)
    # A late Finish from an attempt the leader already replaced is rejected (and logged).
    stale = 0
    for n in nodes:
        with open(n.log_path(), errors="replace") as f:
            stale += sum(1 for line in f if re.search(r"stale finish of \S+ attempt \d+ from \S+ rejected", line))
    all_done = max(s.ended for tid in ids for s in spans[tid].values() if s.ended) - t_fault
    fig = {"phase": phase, "run": run_no, "tasks": TASKS, "orphans": len(to_rerun),
           "long_tasks_on_a_last_beat_after_fault_s": sorted(long_on_a),
           "lost_attempts_on_survivors": lost_elsewhere, "stale_finishes_rejected": stale,
           "form_s": round(form_s, 2), "phase_s": round(time.time() - t_phase, 1),
           "min_gap_between_attempts_s": None if min_gap is None else round(min_gap, 3),
           "to_rerun_s": sorted(round(x, 3) for x in to_rerun),
           "to_finish_s": sorted(round(x, 3) for x in to_finish),
           "last_orphan_finished_s": round(max(to_finish), 3), "all_finished_s": round(all_done, 3),
           "ended_seen_s": round(t_ended - t_fault, 2)}
    what = "kill -9" if phase == "kill9" else f"SIGSTOP {STOP_S:.0f} s"
    print(f"{phase} run {run_no}: {TASKS}/{TASKS} (+{LONG_TASKS} long) succeeded, {len(to_rerun)} orphaned by {what} of A; "
          f"fault -> re-run start {fmt(to_rerun)}; fault -> orphan finished {fmt(to_finish)}; "
          f"last orphan finished {max(to_finish):.2f} s, all {all_done:.2f} s after; "
          f"smallest gap between attempts {min_gap if min_gap is None else round(min_gap, 3)} s; "
          f"{lost_elsewhere} attempts lost on B/C; {stale} stale finishes rejected; "
          f"A's long tasks last beat {sorted(long_on_a)} s after the fault (lease {LEASE_S:.0f} s)", flush=True)
    print("FIGURES " + json.dumps(fig), flush=True)
    for n in nodes:
        if n.alive():
            n.signal(signal.SIGCONT)
            n.signal(signal.SIGKILL)
            n.proc.wait()
    for pid in e2e.processes_with(TOKEN):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return fig


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--phase", choices=["kill9", "sigstop"], action="append")
    args = ap.parse_args()
    phases = args.phase or ["kill9", "sigstop"]
    figs = {p: [] for p in phases}
    for run in range(1, args.runs + 1):
        for p in phases:
            figs[p].append(run_phase(p, run))
    for p in phases:
        rerun = [x for f in figs[p] for x in f["to_rerun_s"]]
        finish = [x for f in figs[p] for x in f["to_finish_s"]]
        last = [f["last_orphan_finished_s"] for f in figs[p]]
        print(f"SUMMARY {p}: {len(figs[p])} runs, {len(rerun)} orphaned tasks; fault -> re-run start "
              f"{fmt(rerun)}; fault -> orphan finished {fmt(finish)}; fault -> last orphan finished "
              f"p50 {pct(last, 50):.2f} s, max {max(last):.2f} s", flush=True)
    print(f"PASS: {', '.join(phases)}: every acknowledged task succeeded once, no overlapping attempts")


if __name__ == "__main__":
    main()
