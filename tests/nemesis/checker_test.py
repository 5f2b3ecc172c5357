#!/usr/bin/env python3
"""The checker fires: synthetic runs with one violation each are reported as that
violation, and a clean run passes. No cluster is started.

    python3 tests/nemesis/checker_test.py
"""
import copy
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402

T0 = 1_800_000_000.0   # the synthetic runs' Unix time


def iso(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def attempt(n, node, start, end, outcome, restarted_from=None, signal=None):
    return {"number": n, "node": node, "started_at": iso(start), "ended_at": iso(end) if end else None,
            "outcome": outcome, "restarted_from": restarted_from, "signal": signal}


def task(tid, name, state, attempts, **kw):
    ends = [a["ended_at"] for a in attempts if a["ended_at"]]
    finished = max(ends) if ends and state in checker.ENDED else None
    return dict({"id": tid, "name": name, "state": state, "attempts": attempts, "cache_hit": False,
                 "finished_at": finished}, **kw)


def beats(tid, att, node, start, end, step=0.2):
    out, t = [], start
    while t <= end + 1e-9:
        out.append((att, t, node, 100 + att))
        t += step
    return out


class Run:
    """A clean synthetic run: three tasks, one retried after its node was lost, one
    cancelled, one restarted; every node agrees."""

    def __init__(self):
        self.history = []
        self.observations = []
        self.beats = {}
        a = task("g1-1", "t-1", "succeeded", [attempt(1, "N1", T0 + 1, T0 + 3, "succeeded")])
        b = task("g1-2", "t-2", "succeeded", [attempt(1, "N2", T0 + 1, T0 + 9, "lost"),
                                              attempt(2, "N3", T0 + 10, T0 + 12, "succeeded")])
        c = task("g2-1", "t-3", "cancelled", [attempt(1, "N2", T0 + 2, T0 + 4.1, "cancelled")])
        d = task("g2-2", "t-4", "succeeded", [attempt(1, "N1", T0 + 1, T0 + 2, "succeeded"),
                                              attempt(2, "N4", T0 + 5, T0 + 6, "succeeded", restarted_from=1)])
        self.tasks = [a, b, c, d]
        self.beats = {"g1-1": beats("g1-1", 1, "N1", T0 + 1, T0 + 3),
                      "g1-2": beats("g1-2", 1, "N2", T0 + 1, T0 + 4) + beats("g1-2", 2, "N3", T0 + 10, T0 + 12),
                      "g2-1": beats("g2-1", 1, "N2", T0 + 2, T0 + 4),
                      "g2-2": beats("g2-2", 1, "N1", T0 + 1, T0 + 2) + beats("g2-2", 2, "N4", T0 + 5, T0 + 6)}
        for i, t in enumerate(self.tasks):
            self.op("submit", "ok", name=t["name"], id=t["id"], after=[])
        self.op("cancel", "ok", id="g2-1")
        self.op("restart", "ok", id="g2-2")
        self.histories = {
            "g1-1": [self.entry(1, "submit", "ready"), self.entry(2, "grant", "assigned", 1),
                     self.entry(3, "finish", "succeeded", 1)],
            "g2-2": [self.entry(1, "submit", "ready"), self.entry(2, "finish", "succeeded", 1),
                     self.entry(3, "restart", "ready"), self.entry(4, "grant", "assigned", 2),
                     self.entry(5, "finish", "succeeded", 2)],
        }
        self.records = {t["id"]: copy.deepcopy(t) for t in self.tasks}
        self.lists = {"n1": copy.deepcopy(self.tasks), "n2": copy.deepcopy(self.tasks)}

    def views(self, tid):
        """The leader's record of tid and every node's listed copy."""
        out = [self.records[tid]] if tid in self.records else []
        return out + [t for v in self.lists.values() for t in v if t["id"] == tid]

    def add_task(self, t):
        self.records[t["id"]] = copy.deepcopy(t)
        for v in self.lists.values():
            v.append(copy.deepcopy(t))

    def drop_task(self, tid):
        self.records.pop(tid, None)
        for k in self.lists:
            self.lists[k] = [t for t in self.lists[k] if t["id"] != tid]

    def op(self, f, typ, **kw):
        w = f"w{len(self.history) % 3}"
        self.history.append(dict({"process": w, "f": f, "type": "invoke", "time": len(self.history)}, **kw))
        self.history.append(dict({"process": w, "f": f, "type": typ, "time": len(self.history)}, **kw))

    @staticmethod
    def entry(i, kind, state, att=None, accepted=True):
        return {"index": i, "kind": kind, "state_after": state, "attempt": att, "accepted": accepted}

    def final(self):
        records = {tid: dict(t, events=self.histories.get(tid, [])) for tid, t in self.records.items()}
        # n1 leads both groups; the lists were read 100 s in, the records just after.
        return {"lists": self.lists, "records": records, "leaders": {"g1": "n1", "g2": "n1", "g3": "n1", "g9": "n1"},
                "views_at": T0 + 100, "records_at": T0 + 101}

    def check(self):
        return checker.check(self.history, self.observations, self.beats, self.final())


class CheckerTest(unittest.TestCase):
    def only(self, report, kind, n=1):
        bad = {k: c for k, c in report["counts"].items() if c}
        self.assertEqual(bad, {kind: n}, report["violations"])

    def test_clean_run_passes(self):
        r = Run().check()
        self.assertEqual(sum(r["counts"].values()), 0, r["violations"])
        self.assertEqual(r["stats"]["tasks_known"], 4)
        self.assertEqual(r["stats"]["operations"], 6)

    def test_lost_acknowledged_task(self):
        run = Run()
        run.drop_task("g1-1")
        self.only(run.check(), "lost")

    def test_id_naming_another_task_is_lost(self):
        run = Run()
        run.history[1]["id"] = "g1-2"   # t-1's submit answered with t-2's id
        r = run.check()
        self.assertEqual([x["id"] for x in r["violations"]["lost"]], ["g1-2"])

    def test_unknown_submit_is_not_lost(self):
        run = Run()
        run.op("submit", "info", name="t-9", after=[])
        self.assertEqual(sum(run.check()["counts"].values()), 0)

    def test_overlapping_attempts(self):
        run = Run()
        # Attempt 1 of g1-2 beats on for half a second into attempt 2.
        run.beats["g1-2"] += beats("g1-2", 1, "N2", T0 + 10.1, T0 + 10.5)
        r = run.check()
        self.assertEqual(r["counts"]["overlapping_attempts"], 1, r["violations"])
        self.assertEqual(r["violations"]["overlapping_attempts"][0]["attempts"], [1, 2])

    def test_beats_within_tolerance_pass(self):
        run = Run()
        run.beats["g1-2"].append((1, T0 + 10 + checker.TOLERANCE_S / 2, "N2", 101))
        self.assertEqual(run.check()["counts"]["overlapping_attempts"], 0)

    def test_beat_after_recorded_end(self):
        run = Run()
        run.beats["g2-1"].append((1, T0 + 5, "N2", 101))   # cancelled attempt ended at +4.1
        self.only(run.check(), "outlived_record")

    def test_beats_of_unrecorded_attempt(self):
        run = Run()
        run.beats["g1-1"] += beats("g1-1", 7, "N5", T0 + 20, T0 + 21)
        self.only(run.check(), "outlived_record")

    def test_beats_from_another_node(self):
        run = Run()
        run.beats["g1-1"].append((1, T0 + 2.1, "N4", 999))
        self.only(run.check(), "outlived_record")

    def test_two_succeeded_attempts_in_one_chain(self):
        run = Run()
        for t in run.views("g1-2"):
            t["attempts"][0]["outcome"] = "succeeded"
        r = run.check()
        self.assertGreaterEqual(r["counts"]["two_outcomes"], 1, r["violations"])
        self.assertTrue(any("all succeeded" in x["why"] for x in r["violations"]["two_outcomes"]))

    def test_two_chains_each_succeeding_pass(self):
        # g2-2 was restarted: two succeeded attempts in two chains is not two outcomes.
        self.assertEqual(Run().check()["counts"]["two_outcomes"], 0)

    def test_history_flip(self):
        run = Run()
        run.histories["g1-1"].append(Run.entry(4, "finish", "failed", 2))
        r = run.check()
        self.only(r, "two_outcomes")
        self.assertIn("without a restart", r["violations"]["two_outcomes"][0]["why"])

    def test_rejected_entry_is_no_flip(self):
        run = Run()
        run.histories["g1-1"].append(Run.entry(4, "finish", "failed", 1, accepted=False))
        self.assertEqual(sum(run.check()["counts"].values()), 0)

    def test_observed_flip(self):
        run = Run()
        run.observations.append({"time": 5, "node": "n3", "tasks": {"g1-1": ["failed", []]}})
        self.only(run.check(), "two_outcomes")

    def test_observed_flip_of_restarted_task_passes(self):
        run = Run()
        run.observations.append({"time": 5, "node": "n3", "tasks": {"g2-2": ["failed", []]}})
        self.assertEqual(sum(run.check()["counts"].values()), 0)

    def test_blocked_then_succeeded_needs_an_upstream_restart(self):
        run = Run()
        run.op("submit", "ok", name="t-5", id="g3-1", after=["t-1"])
        run.add_task(task("g3-1", "t-5", "succeeded", [attempt(1, "N1", T0 + 30, T0 + 31, "succeeded")]))
        run.beats["g3-1"] = beats("g3-1", 1, "N1", T0 + 30, T0 + 31)
        run.observations.append({"time": 5, "node": "n3", "tasks": {"g3-1": ["blocked", []]}})
        self.only(run.check(), "two_outcomes")
        run.op("restart", "ok", id="g1-1")   # now its upstream was restarted: allowed
        self.assertEqual(sum(run.check()["counts"].values()), 0)

    def test_node_contradicts_leader(self):
        run = Run()
        run.lists["n2"][0]["state"] = "failed"
        self.only(run.check(), "two_outcomes")

    def test_node_says_another_outcome_of_an_attempt(self):
        run = Run()
        run.lists["n2"][1]["attempts"][0]["outcome"] = "failed"   # the leader: lost
        self.only(run.check(), "two_outcomes")

    def test_node_lists_an_attempt_the_leader_does_not_have(self):
        run = Run()
        run.lists["n2"][0]["attempts"].append(attempt(2, "N5", T0 + 5, None, "running"))
        self.only(run.check(), "two_outcomes")

    def test_stale_list(self):
        run = Run()
        t = run.lists["n2"][1]            # n2 still shows attempt 2 of g1-2 running
        t["state"] = "running"
        t["attempts"][1]["outcome"] = "running"
        t["attempts"][1]["ended_at"] = None
        r = run.check()
        self.only(r, "stale_reads")
        self.assertEqual(r["violations"]["stale_reads"][0]["node"], "n2")

    def test_list_lagging_a_recent_end_is_not_stale(self):
        run = Run()
        t = run.lists["n2"][1]
        t["state"] = "running"
        t["attempts"][1]["outcome"] = "running"
        run.lists["n1"][1]["finished_at"] = iso(T0 + 100 - checker.STALE_AFTER_S / 2)
        self.assertEqual(sum(run.check()["counts"].values()), 0)

    def test_attempt_begun_after_the_records_were_read(self):
        run = Run()
        run.beats["g1-1"] += beats("g1-1", 2, "N5", T0 + 101.5, T0 + 102)
        self.assertEqual(sum(run.check()["counts"].values()), 0)

    def test_list_behind_by_an_attempt_is_stale(self):
        run = Run()
        t = run.lists["n2"][1]
        t["state"] = "ready"
        del t["attempts"][1]
        self.only(run.check(), "stale_reads")

    def test_acknowledged_cancel_not_in_effect(self):
        run = Run()
        run.op("cancel", "ok", id="g1-1")
        self.only(run.check(), "two_outcomes")

    def test_failed_with_a_succeeded_attempt(self):
        run = Run()
        for t in run.views("g1-1"):
            t["state"] = "failed"
        self.only(run.check(), "two_outcomes")

    def test_not_ended(self):
        run = Run()
        for t in run.views("g1-2"):
            t["state"] = "running"
            t["attempts"][1]["outcome"] = "none"
            t["attempts"][1]["ended_at"] = None
        self.only(run.check(), "not_ended")

    def test_unknown_submit_that_took_effect_must_end(self):
        run = Run()
        run.op("submit", "info", name="t-9", after=[])
        run.add_task(task("g9-1", "t-9", "ready", []))
        self.only(run.check(), "not_ended")

    def test_kill_recorded_as_failure(self):
        run = Run()
        for t in run.views("g1-2"):
            t["attempts"][0]["outcome"] = "failed"
            t["attempts"][0]["signal"] = 9
        r = run.check()
        self.only(r, "kill_as_failure")
        self.assertEqual(r["violations"]["kill_as_failure"][0]["attempt"], 1)

    def test_cancelled_attempt_killed_by_a_signal_is_no_failure(self):
        run = Run()
        for t in run.views("g2-1"):
            t["attempts"][0]["signal"] = 9   # cancelled: killed, and recorded as cancelled
        self.assertEqual(sum(run.check()["counts"].values()), 0)

    def test_node_crash(self):
        run = Run()
        run.history.append({"process": "nemesis", "f": "crash", "type": "info", "node": "n2", "exit": -6})
        self.only(run.check(), "node_crashes")

    def test_known_kind_is_counted_but_not_failing(self):
        run = Run()
        t = run.lists["n2"][1]
        t["state"] = "running"
        t["attempts"][1]["outcome"] = "running"
        r = checker.check(run.history, run.observations, run.beats, run.final(), known=["stale_reads"])
        self.assertEqual(r["counts"]["stale_reads"], 1)
        self.assertEqual(r["failing"], {})
        run.drop_task("g1-1")
        r = checker.check(run.history, run.observations, run.beats, run.final(), known=["stale_reads"])
        self.assertEqual(r["failing"], {"lost": 1})

    def test_smallest_gap_between_attempts(self):
        r = Run().check()
        # g1-2: attempt 1 beat last near +4, attempt 2 first at +10; g2-2: near +2, then +5.
        self.assertTrue(2.9 < r["stats"]["min_gap_between_attempts_s"] < 3.3, r["stats"])

    def test_load_run_round_trip(self):
        run = Run()
        run.beats["g2-1"].append((1, T0 + 5, "N2", 101))
        with tempfile.TemporaryDirectory() as d:
            import json
            with open(os.path.join(d, "history.jsonl"), "w") as f:
                for h in run.history:
                    f.write(json.dumps(h) + "\n")
                f.write('{"cut short')
            open(os.path.join(d, "observations.jsonl"), "w").close()
            with open(os.path.join(d, "final.json"), "w") as f:
                json.dump(run.final(), f)
            os.makedirs(os.path.join(d, "hb"))
            for tid, bs in run.beats.items():
                with open(os.path.join(d, "hb", tid), "w") as f:
                    for att, t, node, pid in bs:
                        f.write(f"{tid} {att} {node} {t:.6f} {pid}\n")
                    f.write(f"{tid} 1 N")   # a line cut by a kill
            open(os.path.join(d, "hb", "g1-1.failed"), "w").close()
            self.only(checker.check(*checker.load_run(d)), "outlived_record")


if __name__ == "__main__":
    unittest.main(verbosity=1)
