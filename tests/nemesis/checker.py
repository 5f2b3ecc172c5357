#!/usr/bin/env python3
"""Checks a nemesis run against magpie's promises (../shared/DESIGN.md §1).

Input (all in the run's --out directory): `history.jsonl` (client and nemesis operations),
`observations.jsonl` (task states read during the run), `hb/` (the tasks' heartbeats) and
`final.json`, read after the heal and the quiet period: `records`, each task's record and
committed history (GET /api/v1/tasks/{id}/history) asked of its group's leader, and `lists`,
every node's own list of the tasks it holds replicas of. `check()` is pure, so
checker_test.py feeds it synthetic runs.

Violations, each a list of findings:
  lost                  an acknowledged submit whose id no node knows at the end, or that
                        names another task
  overlapping_attempts  a beat of attempt a later than the first beat of attempt b > a, by
                        more than TOLERANCE_S (one clock: all on one machine)
  outlived_record       a beat after its attempt's recorded end, or from an attempt (or a
                        node) the task's record does not have
  two_outcomes          two succeeded attempts in one attempt chain, or one not last; a
                        decided end state changed without a restart (the task's committed
                        history, or two reads); a node whose list contradicts the leader's
                        record (another end, another outcome of one attempt, an attempt the
                        leader does not have); an acknowledged cancel not in effect
  not_ended             a task not in an end state after the heal and the quiet period
  stale_reads           a node whose list, after the quiet period, still shows a task behind
                        its leader's record (e.g. `running` when it has ended: DESIGN §1.6,
                        "what a node says is true")
  kill_as_failure       an attempt recorded `failed` by a signal: the workload's tasks never
                        die of a signal of their own, so the system killed it (a lease, the
                        watchdog) and counted that against max_attempts, where an attempt
                        ended by its node's trouble is `lost` and does not count
                        (docs/DESIGN.md, "Lost attempts do not count against max_attempts")
  node_crashes          a node process that exited without being told to

    python3 tests/nemesis/checker.py OUT_DIR [KNOWN_KIND...]    # re-checks a saved run

A kind named as known (run.py --known) is still counted and reported, but does not make the
exit status non-zero: for a violation of magpie's that is diagnosed and not yet fixed, so
that a CI run still fails on every other kind.
"""
import datetime
import json
import os
import sys

ENDED = {"succeeded", "failed", "cancelled", "blocked"}
DECIDED = {"succeeded", "failed", "cancelled"}   # `blocked` is undone by an upstream's restart
OPEN = {"running", "none", "", None}             # an attempt's outcome while it is open
STALE_AFTER_S = 5.0   # a node's list may lag its leader's by this much
TOLERANCE_S = 0.05
KINDS = ["lost", "overlapping_attempts", "outlived_record", "two_outcomes", "not_ended", "stale_reads",
         "kill_as_failure", "node_crashes"]


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
    """{id: task}: the leader's record of each task; for a task whose record could not be
    read, the first node's list (agreement with the leader is checked apart)."""
    recs = dict(final.get("records") or {})
    for _, tasks in sorted((final.get("lists") or {}).items()):
        for t in tasks or []:
            recs.setdefault(t["id"], t)
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


def min_gap(beats):
    """The smallest time from one attempt's last beat to the next attempt's first, over all
    tasks with more than one attempt that beat (None if none): how close the handovers came."""
    best = None
    for bs in beats.values():
        spans = {}
        for att, t, _, _ in bs:
            lo, hi = spans.get(att, (t, t))
            spans[att] = (min(lo, t), max(hi, t))
        nums = sorted(spans)
        for a, b in zip(nums, nums[1:]):
            gap = spans[b][0] - spans[a][1]
            best = gap if best is None else min(best, gap)
    return None if best is None else round(best, 3)


def check_beats(beats, recs, records_at=None):
    """(overlapping attempts, beats outside their attempt's record). An attempt whose first
    beat came after the records were read (records_at) is not expected in them."""
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
            if ra is None and records_at is not None and spans[a][0] > records_at - 1.0:
                continue
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


def check_agreement(lists, leaders, at):
    """Each node's list against its group leader's list, read at the same time `at` (Unix
    seconds): (contradictions, stale views). A view that differs on what both have decided
    contradicts the leader. A view behind the leader's (an attempt missing or still open, an
    end not applied) on a task the leader had ended STALE_AFTER_S before is stale: a follower
    that is up to date is milliseconds behind."""
    contra, stale = [], []
    lists = lists or {}
    ref = {}
    for g, node in (leaders or {}).items():
        for t in lists.get(node) or []:
            if t["id"].split("-")[0] == g:
                ref[t["id"]] = t
    for node, tasks in sorted(lists.items()):
        for t in tasks or []:
            rec = ref.get(t["id"])
            if rec is None or rec is t or fingerprint(t) == fingerprint(rec):
                continue
            mine = {a["number"]: a["outcome"] for a in t.get("attempts", [])}
            theirs = {a["number"]: a["outcome"] for a in rec.get("attempts", [])}
            why = None
            for n in sorted(mine):
                if n not in theirs:
                    why = f"{node} lists attempt {n}, which the leader does not have"
                elif mine[n] not in OPEN and theirs[n] not in OPEN and mine[n] != theirs[n]:
                    why = f"{node} says attempt {n} {mine[n]}, the leader {theirs[n]}"
                if why:
                    break
            if why is None and set(mine) == set(theirs) and t["state"] in DECIDED and \
                    rec["state"] in DECIDED and t["state"] != rec["state"]:
                why = f"{node} says {t['state']}, the leader {rec['state']}"
            item = {"id": t["id"], "node": node, "state": t["state"], "leader_state": rec["state"],
                    "attempts": sorted(mine.items()), "leader_attempts": sorted(theirs.items())}
            if why:
                contra.append(dict(item, why=why))
                continue
            done = iso_s(rec.get("finished_at"))
            if rec["state"] in ENDED and done is not None and at is not None and done < at - STALE_AFTER_S:
                stale.append(dict(item, why=f"{node} lists it {t['state']} with {len(mine)} attempts, "
                                            f"{at - done:.0f} s after its leader ended it "
                                            f"{rec['state']} with {len(theirs)}"))
    return contra, stale


def check_kills_as_failures(recs, tasks):
    out = []
    for tid in sorted(tasks):
        t = recs[tid]
        for a in t.get("attempts", []):
            if a.get("outcome") == "failed" and a.get("signal"):
                out.append({"id": tid, "attempt": a["number"], "node": a.get("node"), "signal": a["signal"],
                            "task_state": t["state"],
                            "why": f"attempt {a['number']} recorded failed by signal {a['signal']}; "
                                   f"the task ended {t['state']}"})
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


def lost_reasons(attempts):
    out = {}
    for a in attempts:
        if a.get("outcome") == "lost":
            why = " ".join(w for w in (a.get("reason") or "?").split() if not any(ch.isdigit() for ch in w))
            out[why] = out.get(why, 0) + 1
    return out


def check(history, observations, beats, final, known=()):
    known_kinds = set(known)
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
    v["overlapping_attempts"], v["outlived_record"] = check_beats(beats, recs, final.get("records_at"))
    contra, v["stale_reads"] = check_agreement(final.get("lists"), final.get("leaders"), final.get("views_at"))
    histories = {tid: r.get("events") for tid, r in (final.get("records") or {}).items()}
    v["two_outcomes"] = (check_record_outcomes(recs) + check_history_flips(histories) +
                         check_observed_flips(observations, recs, restarted, after_of) +
                         contra + check_cancels(ops, recs, restarted_after))
    # Known tasks: acknowledged, and those an unknown or refused submit made all the same.
    submitted_names = {o.get("name") for o in ops if o["f"] == "submit"}
    tasks = {tid for tid in acked if tid in recs} | {t["id"] for t in recs.values() if t.get("name") in submitted_names}
    v["not_ended"] = [{"id": tid, "state": recs[tid]["state"], "why": "not ended after the quiet period"}
                      for tid in sorted(tasks) if recs[tid]["state"] not in ENDED]
    v["kill_as_failure"] = check_kills_as_failures(recs, tasks)
    v["node_crashes"] = [{"node": r.get("node"), "exit": r.get("exit"), "why": "exited on its own"}
                         for r in history if r.get("process") == "nemesis" and r.get("f") == "crash"]

    by_kind = {}
    for o in ops:
        by_kind.setdefault(o["f"], {}).setdefault(o["type"], 0)
        by_kind[o["f"]][o["type"]] += 1
    faults = {}
    for r in history:
        if r.get("process") == "nemesis" and r.get("type") == "ok" and r.get("f") not in ("heal-all",):
            faults[r["f"]] = faults.get(r["f"], 0) + 1
    failed_names = {o.get("name") for o in ops if o["f"] == "submit" and o["type"] == "fail"}
    info_names = {o.get("name") for o in ops if o["f"] == "submit" and o["type"] == "info"}
    state_counts = {}
    for tid in tasks:
        s = recs[tid]["state"]
        state_counts[s] = state_counts.get(s, 0) + 1
    attempts = [a for tid in tasks for a in recs[tid].get("attempts", [])]
    stats = {
        "operations": len(ops),
        "by_kind": by_kind,
        "faults": faults,
        "tasks_known": len(tasks),
        "final_states": state_counts,
        "attempts": len(attempts),
        "attempts_lost": sum(1 for a in attempts if a["outcome"] == "lost"),
        "tasks_with_beats": len(beats),
        "min_gap_between_attempts_s": min_gap(beats),
        "attempts_lost_by_reason": lost_reasons(attempts),
        "unknown_submits_that_took_effect": sum(1 for n in info_names if n in by_name),
        "refused_submits_that_took_effect": sorted(n for n in failed_names if n in by_name),
        "records_from_leaders": len(final.get("records") or {}),
        "quiet_s": final.get("quiet_s"),
    }
    counts = {k: len(v[k]) for k in KINDS}
    failing = {k: n for k, n in counts.items() if n and k not in known_kinds}
    return {"violations": v, "counts": counts, "known": sorted(known_kinds), "failing": failing, "stats": stats}


def summary_line(report, seed=None, duration=None):
    s = report["stats"]
    faults = ", ".join(f"{k} {n}" for k, n in sorted(s["faults"].items())) or "none"
    viol = ", ".join(f"{k} {n}" + (" (known)" if k in report.get("known", ()) else "")
                     for k, n in report["counts"].items())
    head = "nemesis" + (f" seed {seed}" if seed is not None else "") + (f" {duration:.0f} s" if duration else "")
    return (f"{head}: {s['operations']} operations, {s['tasks_known']} tasks, {s['attempts']} attempts; "
            f"faults: {faults}; violations: {viol}")


def main():
    if len(sys.argv) < 2:
        print("usage: checker.py OUT_DIR [KNOWN_KIND...]", file=sys.stderr)
        return 2
    report = check(*load_run(sys.argv[1]), known=sys.argv[2:])
    print(json.dumps(report["counts"]))
    print(summary_line(report))
    return 1 if report["failing"] else 0


if __name__ == "__main__":
    sys.exit(main())
