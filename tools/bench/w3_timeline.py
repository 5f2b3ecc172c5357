#!/usr/bin/env python3
"""Reads the file `magpie-bench --timeline FILE` wrote for W3/W3P runs and says, per run
and per node, where the time went: tasks run and stolen, lost attempts, when the node
first got work, when it ran out, how long it sat with free slots (slot-seconds idle
between its first grant and the end of the run), and the gaps between a thief's steal
rounds. Times are ms after the first submit. An attempt's start is its grant: where a
thief holds stolen tasks before a slot frees (docs/proposals/w3-stealing.md), its idle
reads negative and its overhead includes the wait in its queue.

    magpie-bench --workload W3 --repeat 5 --timeline /tmp/w3.jsonl
    tools/bench/w3_timeline.py /tmp/w3.jsonl [--slots 4] [--sleep 0.05]
"""
import argparse
import collections
import json
import statistics


def analyse(tasks, slots, sleep_ms):
    end = max(t["finished_ms"] for t in tasks)
    by_node = collections.defaultdict(list)
    submitted_from = collections.Counter()
    for t in tasks:
        for a in t["attempts"]:
            by_node[a["node"]].append(a)
            if a["stolen_from"]:
                submitted_from[a["stolen_from"]] += 1
    victim = submitted_from.most_common(1)[0][0] if submitted_from else None
    ideal = len(tasks) * sleep_ms / (slots * 3)
    print(f"  makespan {end / 1000:.2f} s, ideal {ideal / 1000:.2f} s, ratio {end / ideal:.2f}; victim {victim}")
    for node, atts in sorted(by_node.items(), key=lambda kv: kv[0] != victim):
        atts.sort(key=lambda a: a["start_ms"])
        busy = sum(a["end_ms"] - a["start_ms"] for a in atts)
        first = atts[0]["start_ms"]
        last = max(a["end_ms"] for a in atts)
        lost = sum(a["outcome"] == "lost" for a in atts)
        # Steal rounds: attempts granted at the same instant came in one reply.
        rounds = collections.OrderedDict()
        for a in atts:
            rounds.setdefault(a["start_ms"], []).append(a)
        starts = list(rounds)
        gaps = []  # from the first slot of a round freeing to the next grant
        for prev, nxt in zip(starts, starts[1:]):
            freed = min(a["end_ms"] for a in rounds[prev])
            gaps.append(nxt - freed)
        overhead = [a["end_ms"] - a["start_ms"] - sleep_ms for a in atts]
        idle = slots * (end - first) - busy  # slot-ms with nothing granted
        print(f"  {node:>10} {'victim' if node == victim else 'thief ':6} tasks {len(atts):4} lost {lost:2}"
              f"  first grant {first:5} ms, last finish {last:5} ms, idle {idle / 1000:5.2f} slot-s"
              f"  grant instants {len(starts):4}"
              + (f", refill gap p50 {statistics.median(gaps):4.0f} ms max {max(gaps):5.0f} ms" if gaps else "")
              + f", attempt overhead p50 {statistics.median(overhead):4.0f} ms")
        for a in atts:
            if a["outcome"] == "lost":
                print(f"             lost attempt [{a['start_ms']}, {a['end_ms']}] ms: {a.get('reason', '')}")
        big = [(s, g) for s, g in zip(starts[1:], gaps) if g > 150]
        if big:
            print("             gaps > 150 ms (at ms: gap): " + ", ".join(f"{s}: {g}" for s, g in big[:12]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--slots", type=int, default=4, help="slots per node (W3: 4)")
    ap.add_argument("--sleep", type=float, default=0.05, help="task length in s (W3: 0.05)")
    args = ap.parse_args()
    runs = collections.OrderedDict()
    with open(args.file) as f:
        for line in f:
            t = json.loads(line)
            if t["workload"] not in ("W3", "W3P"):  # the same file may hold MIX runs
                continue
            runs.setdefault((t["run"], t["workload"]), []).append(t)
    for (run, workload), tasks in runs.items():
        print(f"{workload} run {run}: {len(tasks)} tasks")
        analyse(tasks, args.slots, args.sleep * 1000)


if __name__ == "__main__":
    main()
