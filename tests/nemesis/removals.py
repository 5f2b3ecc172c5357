#!/usr/bin/env python3
"""Every removal of a member from a replica group in a saved nemesis run, with what the
removing leader's gossip said of that member at the time (from the nodes' logs).

A leader replaces a member that gossip has called dead (or left) for `replace_after`, 10 s,
or has not heard of at all for that long since the leader's node started
(docs/replication.md). A removal is listed as premature when neither holds.

    python3 tests/nemesis/removals.py OUT_DIR...
"""
import datetime
import glob
import os
import re
import sys

REPLACE_AFTER_S = 10.0
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+) ")
REMOVING = re.compile(r"group ([0-9a-f]{8}): removing ([0-9a-f]{16}), dead for")
STATES = [
    (re.compile(r"gossip: ([0-9a-f]{16}) is dead \("), "dead"),
    (re.compile(r"gossip: ([0-9a-f]{16}) left \("), "left"),
    (re.compile(r"gossip: ([0-9a-f]{16}) joined at"), "alive"),
    (re.compile(r"gossip: ([0-9a-f]{16}) is back at"), "alive"),
    (re.compile(r"gossip: ([0-9a-f]{16}) refuted its suspicion"), "alive"),
    (re.compile(r"gossip: ([0-9a-f]{16}) is suspect"), "suspect"),
    (re.compile(r"gossip: forgetting ([0-9a-f]{16})"), "forgotten"),
]


def stamp(line):
    m = STAMP.match(line)
    return datetime.datetime.fromisoformat(m.group(1)).timestamp() if m else None


def removals(log_path):
    """[(time, group, member, what gossip said, premature)] from one node's log."""
    out, seen, life_began = [], {}, None
    with open(log_path, errors="replace") as f:
        for line in f:
            if line.startswith("==== harness: start"):
                seen = {}   # a new life: its gossip starts empty
                life_began = None
                continue
            t = stamp(line)
            if t is None:
                continue
            if life_began is None:
                life_began = t
            for pat, state in STATES:
                m = pat.search(line)
                if m:
                    if seen.get(m.group(1), (None,))[0] != state or state == "alive":
                        seen[m.group(1)] = (state, t)
                    break
            m = REMOVING.search(line)
            if m:
                g, member = m.group(1), m.group(2)
                state, since = seen.get(member, ("unknown", life_began))
                age = t - since
                premature = state not in ("dead", "left", "unknown") or age < REPLACE_AFTER_S
                what = f"not heard of in the {age:.1f} s since this node started" if state == "unknown" else \
                    f"{state} for {age:.1f} s"
                out.append((t, g, member, what, premature))
    return out


def main():
    bad_total = 0
    for d in sys.argv[1:]:
        for log in sorted(glob.glob(os.path.join(d, "n*.log"))):
            for t, g, member, what, premature in removals(log):
                when = datetime.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]
                flag = "PREMATURE" if premature else "ok"
                bad_total += premature
                print(f"{d} {os.path.basename(log)[:-4]} {when} group {g} removed {member}: gossip here: {what}  {flag}")
    print(f"{bad_total} premature removals")


if __name__ == "__main__":
    main()
