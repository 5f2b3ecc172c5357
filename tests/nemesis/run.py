#!/usr/bin/env python3
"""A Jepsen-style run of five real magpie-node processes under a seeded fault schedule.

    sudo MAGPIE_BIN_DIR=build/bin python3 tests/nemesis/run.py --seed 7 --duration 300 --out nemesis-out/7

Steps: make the namespaces and disks (cluster.py), start the nodes and wait for the
cluster, run the workload (client.py) and the faults (nemesis.py) for --duration seconds,
heal everything, wait a quiet period for every task to end and every replica to agree,
read the final state, check it (checker.py), save everything to --out and clean up.
Exit 0: no violation; 1: violations (see OUT/report.txt); 2: the harness could not run.
docs/nemesis.md says what each part does.
"""
import argparse
import concurrent.futures
import json
import os
import random
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as cl  # noqa: E402
import checker  # noqa: E402
import client  # noqa: E402
import e2e  # noqa: E402
import nemesis  # noqa: E402

NODES = 5
FORM_BOUND_S = 60.0
HISTORY_WORKERS = 4


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_groups(c, bound_s):
    """Until each node's home group has min(n, R) voters, by the nodes' own `members now`
    log lines (membership of groups is not exposed otherwise). Returns seconds, or None."""
    t0 = time.time()
    pattern = re.compile(r"^(\S+) .*group ([0-9a-f]{8}): members now \[(.*)\]")
    want = min(len(c.nodes), cl.REPLICATION)
    groups = {n.id[:8] for n in c.nodes if n.id}
    while time.time() - t0 < bound_s:
        last = {}
        for n in c.nodes:
            try:
                with open(n.log_path, errors="replace") as f:
                    for line in f:
                        m = pattern.search(line)
                        if m and (m.group(2) not in last or m.group(1) >= last[m.group(2)][0]):
                            last[m.group(2)] = (m.group(1), m.group(3))
            except OSError:
                pass
        if all(g in last and len([s for s in last[g][1].split(",") if "(" not in s]) == want for g in groups):
            return time.time() - t0
        time.sleep(0.5)
    return None


def all_views(c):
    return {n.name: c.json(n, "list", timeout=30) for n in c.nodes}


def settle(c, names, acked, bound_s):
    """Polls every node's list until every task of this run is listed, ended, and the same on
    every replica that lists it. Returns (seconds or None, the last views)."""
    t0 = time.time()
    views = {}
    while True:
        views = all_views(c)
        recs, fps = {}, {}
        for node, tasks in views.items():
            for t in tasks or []:
                if t.get("name") in names:
                    recs[t["id"]] = t
                    fps.setdefault(t["id"], set()).add(checker.fingerprint(t))
        ok = (all(v is not None for v in views.values()) and all(i in recs for i in acked) and
              all(t["state"] in checker.ENDED for t in recs.values()) and all(len(s) == 1 for s in fps.values()))
        if ok:
            return time.time() - t0, views
        if time.time() - t0 > bound_s:
            states = {}
            for t in recs.values():
                states[t["state"]] = states.get(t["state"], 0) + 1
            log(f"quiet period: not settled within {bound_s:.0f} s; states {states}; "
                f"{len([i for i in acked if i not in recs])} acknowledged ids unlisted; "
                f"{sum(1 for s in fps.values() if len(s) > 1)} tasks the replicas disagree on")
            return None, views
        time.sleep(1.0)


def collect_final(c, views, workload, names, bound_s):
    """final.json: the lists, `status` of acknowledged ids no list shows, and the committed
    history of every task of this run."""
    recs = {}
    for tasks in views.values():
        for t in tasks or []:
            if t.get("name") in names:
                recs[t["id"]] = t
    acked = [i for i, _ in workload.acked]
    rng = random.Random(0)
    status = {}
    for tid in acked:
        if tid not in recs:
            # Asked of three nodes: one that does not answer must not make a task look lost.
            for n in rng.sample(c.nodes, 3):
                t = c.json(n, "status", tid)
                if t is not None:
                    status[tid] = t
                    recs[tid] = t
                    break
            else:
                status[tid] = None
    deadline = time.time() + bound_s
    histories = {}

    def one(tid):
        if time.time() > deadline:
            return tid, None
        for n in random.Random(tid).sample(c.nodes, 2):
            h = c.json(n, "history", tid)
            if h is not None:
                return tid, h
        return tid, None

    with concurrent.futures.ThreadPoolExecutor(HISTORY_WORKERS) as ex:
        for tid, h in ex.map(one, sorted(recs)):
            if h is not None:
                histories[tid] = h
    return {"lists": {k: [t for t in (v or []) if t.get("name") in names] if v is not None else None
                      for k, v in views.items()},
            "status": status, "history": histories}


def write_report(out, report, line, seed, duration, faults):
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(dict(report, seed=seed, duration_s=duration, plan=[x.to_json() for x in faults]), f, indent=1)
    with open(os.path.join(out, "report.txt"), "w") as f:
        f.write(line + "\n\n")
        f.write(f"reproduce: scripts/nemesis --seed {seed} --duration {duration:.0f}\n\n")
        f.write("faults planned:\n")
        for x in faults:
            f.write(f"  {x.start:7.1f} s  {x.describe()}\n")
        f.write("\nstats:\n" + json.dumps(report["stats"], indent=1) + "\n")
        for k in checker.KINDS:
            items = report["violations"][k]
            f.write(f"\n{k}: {len(items)}\n")
            for it in items[:50]:
                f.write("  " + json.dumps(it) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="fault schedule and workload seed (default: from the time)")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of faults and workload (default 120)")
    ap.add_argument("--out", default=None, help="where to keep history, logs and report (default nemesis-out/seed-N)")
    ap.add_argument("--quiet", type=float, default=60.0, help="bound on the quiet period after the heal (s)")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time()) % 1000000
    out = os.path.abspath(args.out or f"nemesis-out/seed-{seed}")
    missing = cl.check_tools()
    if missing:
        print("nemesis: cannot run: " + "; ".join(missing), flush=True)
        return 2
    os.makedirs(out, exist_ok=True)
    for name in ("hb",):
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    for name in os.listdir(out):
        if re.match(r"(n\d+\.log|history\.jsonl|observations\.jsonl|final\.json|report\.(json|txt)|plan\.json)$", name):
            os.remove(os.path.join(out, name))
    hb = os.path.join(out, "hb")
    os.makedirs(hb)
    left = cl.clean_leftovers()
    if left:
        log(f"removed leftovers of earlier runs: {left}")

    faults = nemesis.plan(seed, args.duration, NODES)
    with open(os.path.join(out, "plan.json"), "w") as f:
        json.dump([x.to_json() for x in faults], f, indent=1)
    log(f"seed {seed}, {args.duration:.0f} s, {len(faults)} faults planned; out {out}")

    root = os.path.join(e2e._tmp, f"{cl.PREFIX}{os.getpid()}")
    os.makedirs(root)
    c = cl.Cluster(NODES, root, out)
    nem = work = hist = None
    try:
        c.setup_network()
        c.setup_disks()
        for n in c.nodes:
            n.start()
            if not c.wait_answers(n, 30):
                raise RuntimeError(f"{n.name} did not answer within 30 s: {n.log_tail()}")
        form_s = c.wait_formed(FORM_BOUND_S)
        groups_s = wait_groups(c, 30)
        log(f"cluster formed in {form_s:.1f} s, groups of {cl.REPLICATION} in "
            f"{'?' if groups_s is None else f'{groups_s:.1f}'} s: "
            + ", ".join(f"{n.name}={n.addr} {n.id}" for n in c.nodes))

        t0 = time.time()
        hist = client.History(os.path.join(out, "history.jsonl"), t0)
        work = client.Workload(c, hist, os.path.join(out, "observations.jsonl"), hb, seed)
        nem = nemesis.Nemesis(c, faults, hist.add, t0)
        work.start()
        nem.start()
        while time.time() - t0 < args.duration:
            time.sleep(min(5.0, max(0.1, args.duration - (time.time() - t0))))
            ops = len(hist.ops)
            log(f"{time.time() - t0:5.0f} s: {ops} history lines, {len(work.acked)} acknowledged, "
                f"faults in force: {[f.describe() for f in list(nem.active.values())]}")
        nem.stop()
        work.stop()
        nem.heal_all()
        t_heal = time.time()
        log(f"healed; quiet period (at most {args.quiet:.0f} s)")
        for n in c.nodes:
            c.wait_answers(n, 30)
        names = {o.get("name") for o in hist.ops if o.get("f") == "submit" and o.get("name")}
        acked = [i for i, _ in work.acked]
        quiet_s, views = settle(c, names, acked, args.quiet)
        log(f"settled in {quiet_s:.1f} s after the heal" if quiet_s is not None else "not settled")
        final = collect_final(c, views, work, names, 120.0)
        final["quiet_s"] = None if quiet_s is None else round(time.time() - t_heal, 1)
        nem._watch_crashes()
        hist.close()
        with open(os.path.join(out, "final.json"), "w") as f:
            json.dump(final, f)
        report = checker.check(*checker.load_run(out))
        line = checker.summary_line(report, seed, args.duration)
        write_report(out, report, line, seed, args.duration, faults)
        print(line, flush=True)
        bad = {k: n for k, n in report["counts"].items() if n}
        if bad:
            print(f"VIOLATIONS {bad}: see {out}/report.txt", flush=True)
            return 1
        print(f"PASS: no violation ({out})", flush=True)
        return 0
    except (RuntimeError, OSError) as e:
        print(f"nemesis: harness error: {e}", flush=True)
        return 2
    finally:
        if work is not None:
            work.stopping.set()
        if nem is not None:
            nem.stopping.set()
        c.teardown()


if __name__ == "__main__":
    sys.exit(main())
