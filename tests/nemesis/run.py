#!/usr/bin/env python3
"""A Jepsen-style run of five real magpie-node processes under a seeded fault schedule.

    sudo MAGPIE_BIN_DIR=build/bin python3 tests/nemesis/run.py --seed 7 --duration 300 --out nemesis-out/7

Steps: make the namespaces and disks (cluster.py), start the nodes and wait for the
cluster, run the workload (client.py) and the faults (nemesis.py) for --duration seconds,
heal everything, wait a quiet period for every task to end, read the final state
(fetch.py), check it (checker.py), save everything to --out and clean up.
Exit 0: no violation (or only --known kinds); 1: violations (see OUT/report.txt);
2: the harness could not run, or was stopped.
docs/nemesis.md says what each part does.
"""
import argparse
import json
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as cl  # noqa: E402
import checker  # noqa: E402
import client  # noqa: E402
import e2e  # noqa: E402
import nemesis  # noqa: E402
import removals  # noqa: E402

NODES = 5
FORM_BOUND_S = 60.0


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_groups(c, bound_s):
    """Until each node's home group has a leader and min(n, R) voters, as its leader's
    GET /api/v1/groups says. Returns seconds, or None past bound_s."""
    t0 = time.time()
    want = min(len(c.nodes), cl.REPLICATION)
    homes = {n.id[:8] for n in c.nodes if n.id}
    while time.time() - t0 < bound_s:
        v = c.fetch({"what": "views"}, timeout=30) or {}
        leaders = leaders_of(v.get("groups"))
        voters = {}
        for g, node in leaders.items():
            for x in ((v["groups"].get(node) or {}).get("groups", [])):
                if x["id"] == g:
                    voters[g] = sum(1 for m in x["members"] if m["voter"] and not m["catching_up"])
        if all(voters.get(g) == want for g in homes):
            return time.time() - t0
        time.sleep(0.5)
    return None


def leaders_of(groups):
    """{group id: node name}: the node that leads and serves each group (by /api/v1/groups;
    the highest term wins if two say so)."""
    best = {}
    for node, g in (groups or {}).items():
        for x in (g or {}).get("groups", []):
            if x.get("role") == "leader" and x.get("serving"):
                if x["id"] not in best or x["term"] > best[x["id"]][1]:
                    best[x["id"]] = (node, x["term"])
    return {k: v[0] for k, v in best.items()}


def leader_view(views):
    """(leaders, {id: task as its group's leader lists it})."""
    leaders = leaders_of(views.get("groups"))
    out = {}
    for g, node in leaders.items():
        for t in (views.get("lists") or {}).get(node) or []:
            if t["id"].split("-")[0] == g:
                out[t["id"]] = t
    return leaders, out


def settle(c, names, acked, bound_s, on_poll=lambda: None):
    """Polls every node until each group has a serving leader and, as the leaders list them,
    every acknowledged task is there and every task of this run has ended. Returns (seconds
    or None, the last views)."""
    t0 = time.time()
    while True:
        on_poll()
        at = time.time()
        v = c.fetch({"what": "views"}, timeout=60) or {"groups": {}, "lists": {}}
        v["at"] = at
        groups = {x["id"] for g in v["groups"].values() if g for x in g.get("groups", [])}
        leaders, lv = leader_view(v)
        ours = {i: t for i, t in lv.items() if t.get("name") in names}
        missing = [i for i in acked if i not in lv]
        open_ = {i: t["state"] for i, t in ours.items() if t["state"] not in checker.ENDED}
        if groups and groups <= set(leaders) and not missing and not open_:
            return time.time() - t0, v
        if time.time() - t0 > bound_s:
            states = {}
            for st in open_.values():
                states[st] = states.get(st, 0) + 1
            log(f"quiet period: not settled within {bound_s:.0f} s: groups without a leader "
                f"{sorted(groups - set(leaders))}; {len(missing)} acknowledged ids not listed by a leader; "
                f"not ended {states}")
            return None, v
        time.sleep(1.0)


def collect_final(c, views, workload, names):
    """final.json: every node's groups and list (this run's tasks), the group leaders, and
    the record and committed history of every task of this run, from its group's leader."""
    leaders, _ = leader_view(views)
    lists = {k: ([t for t in v if t.get("name") in names] if v is not None else None)
             for k, v in (views.get("lists") or {}).items()}
    ids = {i for i, _ in workload.acked} | {t["id"] for v in lists.values() if v for t in v}
    records_at = time.time()
    got = c.fetch({"what": "records", "ids": sorted(ids), "leaders": leaders}) or {}
    return {"lists": lists, "groups": views.get("groups"), "leaders": leaders, "views_at": views.get("at"),
            "records": got.get("records", {}), "asked": got.get("asked", {}), "records_at": records_at}


def member_removals(c):
    """Group member removals from the node logs (removals.py), as dicts."""
    out = []
    for n in c.nodes:
        for t, g, member, what, premature in removals.removals(n.log_path):
            out.append({"time": round(t, 3), "leader": n.name, "group": g, "member": member,
                        "gossip_said": what, "premature": premature})
    return sorted(out, key=lambda r: r["time"])


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
        rm = report["stats"].get("member_removals", [])
        f.write(f"\ngroup member removals (from the node logs; premature: the leader's gossip had not "
                f"called the member dead for 10 s): {len(rm)}\n")
        for r in rm:
            f.write("  " + json.dumps(r) + "\n")


class Stopped(Exception):
    pass


def _stop(signum, _frame):
    raise Stopped(signal.Signals(signum).name)


def main():
    # Ctrl-C, and SIGTERM from `timeout`: unwind through the cleanup. Set explicitly, since a
    # process started in the background of a script inherits SIGINT ignored.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="fault schedule and workload seed (default: from the time)")
    ap.add_argument("--duration", type=float, default=120.0, help="seconds of faults and workload (default 120)")
    ap.add_argument("--out", default=None, help="where to keep history, logs and report (default nemesis-out/seed-N)")
    ap.add_argument("--quiet", type=float, default=60.0, help="bound on the quiet period after the heal (s)")
    ap.add_argument("--known", action="append", default=[], choices=checker.KINDS,
                    help="a violation kind that is diagnosed and not yet fixed: reported, but exit 0 "
                         "if it is the only kind found (repeatable)")
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
            time.sleep(min(15.0, max(0.1, args.duration - (time.time() - t0))))
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
        quiet_s, views = settle(c, names, acked, args.quiet, on_poll=nem._watch_crashes)
        log(f"settled in {quiet_s:.1f} s after the heal" if quiet_s is not None else "not settled")
        final = collect_final(c, views, work, names)
        final["quiet_s"] = None if quiet_s is None else round(time.time() - t_heal, 1)
        nem._watch_crashes()
        hist.close()
        with open(os.path.join(out, "final.json"), "w") as f:
            json.dump(final, f)
        report = checker.check(*checker.load_run(out), known=args.known)
        report["stats"]["member_removals"] = member_removals(c)
        report["stats"]["premature_removals"] = sum(r["premature"] for r in report["stats"]["member_removals"])
        line = checker.summary_line(report, seed, args.duration)
        write_report(out, report, line, seed, args.duration, faults)
        print(line, flush=True)
        if report["failing"]:
            for k in report["failing"]:
                for it in report["violations"][k][:5]:
                    print(f"  {k}: {json.dumps(it)[:400]}", flush=True)
            print(f"VIOLATIONS {report['failing']}: see {out}/report.txt", flush=True)
            return 1
        known = {k: n for k, n in report["counts"].items() if n}
        print(f"PASS: no violation{f' but known ones {known}' if known else ''} ({out})", flush=True)
        return 0
    except (RuntimeError, OSError) as e:
        print(f"nemesis: harness error: {e}", flush=True)
        return 2
    except Stopped as e:
        print(f"nemesis: stopped by {e}; cleaning up", flush=True)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if work is not None:
            work.stopping.set()
        if nem is not None:
            nem.stopping.set()
        c.teardown()


if __name__ == "__main__":
    sys.exit(main())
