#!/usr/bin/env python3
"""Checks a nemesis run against magpie's promises (../shared/DESIGN.md §1).

Input (all in the run's --out directory): `history.jsonl` (client and nemesis operations),
`observations.jsonl` (task states read during the run), `hb/` (the tasks' heartbeats) and
`final.json` (every node's `list --json` after the heal, `status` of acknowledged tasks no
list showed, `history --json` of every task). `check()` is pure, so checker_test.py feeds it
synthetic runs.

Violations, each a list of findings:
  lost                  an acknowledged submit whose id no node knows at the end, or that
                        names another task
  overlapping_attempts  a beat of attempt a later than the first beat of attempt b > a, by
                        more than TOLERANCE_S (one clock: all on one machine)
  outlived_record       a beat after its attempt's recorded end, or from an attempt (or a
                        node) the task's record does not have
  two_outcomes          two succeeded attempts in one attempt chain, or one not last; a
                        decided end state changed without a restart (the task's committed
                        history, or two reads); replicas that disagree on a task at the
                        end; an acknowledged cancel not in effect
  not_ended             a task not in an end state after the heal and the quiet period
  node_crashes          a node process that exited without being told to

    python3 tests/nemesis/checker.py OUT_DIR     # re-checks a saved run
"""
import datetime
import json
import os
import sys

ENDED = {"succeeded", "failed", "cancelled", "blocked"}
DECIDED = {"succeeded", "failed", "cancelled"}   # `blocked` is undone by an upstream's restart
TOLERANCE_S = 0.05
KINDS = ["lost", "overlapping_attempts", "outlived_record", "two_outcomes", "not_ended", "node_crashes"]


def iso_s(iso):
    if not iso:
        return None
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


# ---------------------------------------------------------------------------------------
# Loading a run directory

def load_jsonl(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass   # a line cut short by a killed harness
    except FileNotFoundError:
        pass
    return out


def load_beats(hb_dir):
    """{task id: [(attempt, unix time, node id, pid)]} from the heartbeat files."""
    beats = {}
    if not os.path.isdir(hb_dir):
        return beats
    for name in os.listdir(hb_dir):
        if "." in name:      # markers such as <id>.failed
            continue
        with open(os.path.join(hb_dir, name), errors="replace") as f:
            for line in f:
                p = line.split()
                if len(p) != 5:
                    continue   # a line cut by a kill mid-write
                try:
                    beats.setdefault(p[0], []).append((int(p[1]), float(p[3]), p[2], int(p[4])))
                except ValueError:
                    continue
    return beats


def load_run(out_dir):
    with open(os.path.join(out_dir, "final.json")) as f:
        final = json.load(f)
    return (load_jsonl(os.path.join(out_dir, "history.jsonl")),
            load_jsonl(os.path.join(out_dir, "observations.jsonl")),
            load_beats(os.path.join(out_dir, "hb")), final)


# ---------------------------------------------------------------------------------------
# The final view of each task

def final_records(final):
    """{id: task} from the nodes' lists (the first node's view; disagreement is checked
    apart), completed by `status` of tasks no list showed."""
    recs = {}
    for _, tasks in sorted(final.get("lists", {}).items()):
        for t in tasks or []:
            recs.setdefault(t["id"], t)
    for tid, t in (final.get("status") or {}).items():
        if t and tid not in recs:
            recs[tid] = t
    return recs


def fingerprint(t):
    return (t["state"], tuple((a["number"], a["outcome"], a.get("node")) for a in t.get("attempts", [])))


# ---------------------------------------------------------------------------------------
# The checks

def check_lost(submits_ok, recs):
    out = []
    for op in submits_ok:
        tid = op.get("id")
        t = recs.get(tid)
        if t is None:
            out.append({"id": tid, "name": op.get("name"), "op": op.get("index"),
                        "why": "acknowledged submit; no node knows the id at the end"})
        elif t.get("name") != op.get("name"):
            out.append({"id": tid, "name": op.get("name"), "op": op.get("index"),
                        "why": f"the id names another task ({t.get('name')!r})"})
    return out


def check_beats(beats, recs):
    """(overlapping attempts, beats outside their attempt's record)."""
    overlap, outlived = [], []
    for tid, bs in sorted(beats.items()):
        by_att = {}
        for att, t, node, pid in bs:
            by_att.setdefault(att, []).append((t, node, pid))
        spans = {a: (min(x[0] for x in v), max(x[0] for x in v)) for a, v in by_att.items()}
        nums = sorted(spans)
        for i, a in enumerate(nums):
            for b in nums[i + 1:]:
                late = spans[a][1] - spans[b][0]
                if late > TOLERANCE_S:
                    overlap.append({"id": tid, "attempts": [a, b], "seconds": round(late, 3),
                                    "why": f"attempt {a} beat {late:.3f} s after attempt {b}'s first beat"})
        rec = recs.get(tid)
        if rec is None:
            continue   # reported as lost or never acknowledged; nothing to compare with
        atts = {a["number"]: a for a in rec.get("attempts", [])}
        for a in nums:
            ra = atts.get(a)
            if ra is None:
                outlived.append({"id": tid, "attempt": a, "why": "beats of an attempt the record does not have"})
                continue
            nodes = {x[1] for x in by_att[a]}
            if ra.get("node") and nodes != {ra["node"]}:
                outlived.append({"id": tid, "attempt": a,
                                 "why": f"beats from {sorted(nodes)}; the record says {ra['node']}"})
            end = iso_s(ra.get("ended_at"))
            if end is not None and spans[a][1] > end + TOLERANCE_S:
                outlived.append({"id": tid, "attempt": a, "outcome": ra.get("outcome"),
                                 "seconds": round(spans[a][1] - end, 3),
                                 "why": f"beat {spans[a][1] - end:.3f} s after the attempt's recorded end "
                                        f"({ra.get('outcome')})"})
    return overlap, outlived


def chains(attempts):
    """The attempt chains of a task: a restart begins a new one (its first attempt records
    restarted_from)."""
    out = [[]]
    for a in sorted(attempts, key=lambda a: a["number"]):
        if a.get("restarted_from") and out[-1]:
            out.append([])
        out[-1].append(a)
    return out


def check_record_outcomes(recs):
    out = []
    for tid, t in sorted(recs.items()):
        cs = chains(t.get("attempts", []))
        for c in cs:
            wins = [a["number"] for a in c if a["outcome"] == "succeeded"]
            if len(wins) > 1:
                out.append({"id": tid, "why": f"attempts {wins} of one chain all succeeded"})
            elif wins and c[-1]["number"] != wins[0]:
                out.append({"id": tid, "why": f"attempt {c[-1]['number']} after attempt {wins[0]} succeeded, in one chain"})
        last = cs[-1]
        if t["state"] == "succeeded" and (not last or last[-1]["outcome"] != "succeeded") and not t.get("cache_hit"):
            out.append({"id": tid, "why": "succeeded, but its last attempt did not"})
        if t["state"] == "failed" and any(a["outcome"] == "succeeded" for a in last):
            out.append({"id": tid, "why": "failed, but an attempt of its last chain succeeded"})
    return out


def check_history_flips(histories):
    """A decided end state that changes without a committed restart in between."""
    out = []
    for tid, entries in sorted((histories or {}).items()):
        decided, at = None, None
        for e in sorted(entries or [], key=lambda e: e.get("index", 0)):
            if not e.get("accepted", True):
                continue
            if e.get("kind") == "restart":
                decided = None
                continue
            s = e.get("state_after")
            if decided is None:
                if s in DECIDED:
                    decided, at = s, e.get("index")
            elif s != decided:
                out.append({"id": tid, "why": f"decided {decided} at index {at}, then {e.get('kind')} at index "
                                              f"{e.get('index')} made it {s} without a restart"})
                break
    return out


def upstream_closure(tid, after_of):
    seen, todo = set(), list(after_of.get(tid, []))
    while todo:
        u = todo.pop()
        if u in seen:
            continue
        seen.add(u)
        todo += after_of.get(u, [])
    return seen


def check_observed_flips(observations, recs, restarted, after_of):
    """Reads during the run: a task never restarted shows one decided end state at most, and
    `blocked` beside another end state only when something upstream was restarted."""
    seen = {}
    for o in observations:
        for tid, (state, _atts) in o.get("tasks", {}).items():
            if state in ENDED:
                seen.setdefault(tid, set()).add(state)
    for tid, t in recs.items():
        if t["state"] in ENDED:
            seen.setdefault(tid, set()).add(t["state"])
    out = []
    for tid, states in sorted(seen.items()):
        if tid in restarted:
            continue
        decided = states & DECIDED
        if len(decided) > 1:
            out.append({"id": tid, "why": f"read as {sorted(decided)}; never restarted"})
        elif "blocked" in states and decided and not (upstream_closure(tid, after_of) & restarted):
            out.append({"id": tid, "why": f"read as blocked and as {sorted(decided)[0]}; nothing upstream restarted"})
    return out


def check_agreement(lists):
    out = []
    views = {}
    for node, tasks in sorted((lists or {}).items()):
        for t in tasks or []:
            views.setdefault(t["id"], {})[node] = fingerprint(t)
    for tid, by_node in sorted(views.items()):
        if len(set(by_node.values())) > 1:
            states = {n: f[0] for n, f in by_node.items()}
            out.append({"id": tid, "why": "replicas disagree at the end", "states": states,
                        "attempts": {n: f[1] for n, f in by_node.items()}})
    return out


def check_cancels(ops, recs, restarted_after):
    """An acknowledged cancel with no restart of the task invoked after it: the task must
    end cancelled."""
    out = []
    for op in ops:
        if op.get("f") == "cancel" and op.get("type") == "ok" and op.get("process", "").startswith("w"):
            tid = op.get("id")
            t = recs.get(tid)
            if t is None or any(x > op["invoked"] for x in restarted_after.get(tid, [])):
                continue
            if t["state"] != "cancelled":
                out.append({"id": tid, "why": f"cancel acknowledged (op {op.get('index')}), yet it ended {t['state']}"})
    return out


# ---------------------------------------------------------------------------------------

def pair_ops(history):
    """Client operations with their completion: each op's last line, with `invoked` (the
    time of its invoke line). An op whose completion is missing counts as `info`."""
    pending, done = {}, []
    for rec in history:
        if rec.get("process", "").startswith("w") and rec.get("f") not in ("error",):
            key = rec["process"]
            if rec.get("type") == "invoke":
                if key in pending:
                    done.append(dict(pending[key], type="info", error="no completion"))
                pending[key] = dict(rec, invoked=rec.get("time", 0))
            elif key in pending:
                done.append(dict(rec, invoked=pending.pop(key)["invoked"]))
    for rec in pending.values():
        done.append(dict(rec, type="info", error="no completion"))
    return done


def check(history, observations, beats, final):
    ops = pair_ops(history)
    recs = final_records(final)
    by_name = {t.get("name"): t for t in recs.values()}
    submits_ok = [o for o in ops if o["f"] == "submit" and o["type"] == "ok"]
    acked = {o["id"] for o in submits_ok}
    restarted, restarted_after = set(), {}
    for o in ops:
        if o["f"] == "restart":
            restarted.add(o.get("id"))
            restarted_after.setdefault(o.get("id"), []).append(o["invoked"])
    # `after` by name or id, as ids, for the upstream closure.
    after_of = {}
    for o in ops:
        if o["f"] == "submit":
            t = by_name.get(o.get("name"))
            if t:
                after_of[t["id"]] = [(by_name[a]["id"] if a in by_name else a) for a in o.get("after", [])]

    v = {k: [] for k in KINDS}
    v["lost"] = check_lost(submits_ok, recs)
    v["overlapping_attempts"], v["outlived_record"] = check_beats(beats, recs)
    v["two_outcomes"] = (check_record_outcomes(recs) + check_history_flips(final.get("history")) +
                         check_observed_flips(observations, recs, restarted, after_of) +
                         check_agreement(final.get("lists")) + check_cancels(ops, recs, restarted_after))
    # Known tasks: acknowledged, and those an unknown or refused submit made all the same.
    submitted_names = {o.get("name") for o in ops if o["f"] == "submit"}
    known = {tid for tid in acked if tid in recs} | {t["id"] for t in recs.values() if t.get("name") in submitted_names}
    v["not_ended"] = [{"id": tid, "state": recs[tid]["state"], "why": "not ended after the quiet period"}
                      for tid in sorted(known) if recs[tid]["state"] not in ENDED]
    v["node_crashes"] = [{"node": r.get("node"), "exit": r.get("exit"), "why": "exited on its own"}
                         for r in history if r.get("process") == "nemesis" and r.get("f") == "crash"]

    counts = {}
    for o in ops:
        counts.setdefault(o["f"], {}).setdefault(o["type"], 0)
        counts[o["f"]][o["type"]] += 1
    faults = {}
    for r in history:
        if r.get("process") == "nemesis" and r.get("type") == "ok" and r.get("f") not in ("heal-all",):
            faults[r["f"]] = faults.get(r["f"], 0) + 1
    failed_names = {o.get("name") for o in ops if o["f"] == "submit" and o["type"] == "fail"}
    info_names = {o.get("name") for o in ops if o["f"] == "submit" and o["type"] == "info"}
    state_counts = {}
    for tid in known:
        s = recs[tid]["state"]
        state_counts[s] = state_counts.get(s, 0) + 1
    attempts = [a for tid in known for a in recs[tid].get("attempts", [])]
    stats = {
        "operations": len(ops),
        "by_kind": counts,
        "faults": faults,
        "tasks_known": len(known),
        "final_states": state_counts,
        "attempts": len(attempts),
        "attempts_lost": sum(1 for a in attempts if a["outcome"] == "lost"),
        "tasks_with_beats": len(beats),
        "unknown_submits_that_took_effect": sum(1 for n in info_names if n in by_name),
        "refused_submits_that_took_effect": sorted(n for n in failed_names if n in by_name),
        "histories_checked": len(final.get("history") or {}),
        "quiet_s": final.get("quiet_s"),
    }
    return {"violations": v, "counts": {k: len(v[k]) for k in KINDS}, "stats": stats}


def summary_line(report, seed=None, duration=None):
    s = report["stats"]
    faults = ", ".join(f"{k} {n}" for k, n in sorted(s["faults"].items())) or "none"
    viol = ", ".join(f"{k} {n}" for k, n in report["counts"].items())
    head = "nemesis" + (f" seed {seed}" if seed is not None else "") + (f" {duration:.0f} s" if duration else "")
    return (f"{head}: {s['operations']} operations, {s['tasks_known']} tasks, {s['attempts']} attempts; "
            f"faults: {faults}; violations: {viol}")


def main():
    if len(sys.argv) != 2:
        print("usage: checker.py OUT_DIR", file=sys.stderr)
        return 2
    report = check(*load_run(sys.argv[1]))
    print(json.dumps(report["counts"]))
    print(summary_line(report))
    return 1 if any(report["counts"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
