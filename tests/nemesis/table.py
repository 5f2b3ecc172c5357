#!/usr/bin/env python3
"""A Markdown table of saved nemesis runs (their OUT/report.json), one row a run: the
figures docs/nemesis.md shows.

    python3 tests/nemesis/table.py nemesis-out/1 nemesis-out/2 ...
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
import removals  # noqa: E402

FAULTS = ["kill", "pause", "term", "partition", "bridge", "oneway", "disk"]
SHORT = {"lost": "lost", "overlapping_attempts": "overlap", "outlived_record": "outlived",
         "two_outcomes": "2 outcomes", "not_ended": "not ended", "stale_reads": "stale reads",
         "kill_as_failure": "kill as failure", "node_crashes": "crashes"}


def row(report, run_dir):
    s = report["stats"]
    f = s["faults"]
    ops = s["operations"]
    lost_att = s.get("attempts_lost_by_reason", {})
    lease = sum(n for why, n in lost_att.items() if "lease" in why)
    cells = [str(report.get("seed")), str(ops), str(s["tasks_known"]), str(s["attempts"]), str(lease)]
    cells += [str(f.get(k, 0)) for k in FAULTS]
    cells += [str(report["counts"][k]) for k in checker.KINDS]
    rm = [r for log in sorted(os.listdir(run_dir)) if log.endswith(".log")
          for r in removals.removals(os.path.join(run_dir, log))]
    cells += [f"{len(rm)} ({sum(r[4] for r in rm)})"]
    gap = s.get("min_gap_between_attempts_s")
    cells += ["-" if gap is None else f"{gap:.2f}", "-" if s.get("quiet_s") is None else f"{s['quiet_s']:.0f}"]
    return "| " + " | ".join(cells) + " |"


def main():
    head = (["seed", "ops", "tasks", "attempts", "lost to lease"] + FAULTS +
            [SHORT[k] for k in checker.KINDS] + ["removals (premature)", "min gap s", "quiet s"])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for d in sys.argv[1:]:
        with open(os.path.join(d, "report.json")) as f:
            print(row(json.load(f), d))


if __name__ == "__main__":
    main()
