#!/usr/bin/env python3
"""Stealing done-when 2: three real nodes with two slots each; thirty `sleep 1` processes
all submitted to one node all succeed, at least a third of them ran on the other nodes
(each attempt's `node` and `stolen_from` in `magpie status --json`), and no two attempts of
the same task overlap in time. Bounded: 30 s for the cluster to form, 90 s for the work
(ideal 5 s; one node alone 15 s); e2e.py kills every node and task process at exit."""
import datetime
import json
import time
from e2e import *

TASKS = 30
a = Node("s0", slots=2)
nodes = [a] + [Node(f"s{i}", slots=2, extra=["--join", a.addr]) for i in range(1, 3)]


def members(node):
    r = cli(node, "members", "--json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else []


deadline = time.time() + 30
while not all(sum(m["state"] == "alive" for m in members(n)) == 3 for n in nodes):
    if time.time() > deadline:
        fail(f"3 nodes did not see each other alive within 30 s: {members(a)}")
    time.sleep(0.2)
addr_of = {m["id"]: m["address"] for m in members(a)}
a_id = next(i for i, addr in addr_of.items() if addr == a.addr)

# TOKEN in argv marks the processes, so e2e.py can kill any left over if this fails.
t0 = time.time()
ids = [submit(a, "sh", "-c", "sleep 1", TOKEN) for _ in range(TASKS)]
wait_ended(a, ids, 90)
span = time.time() - t0


def ms(iso):
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000


per_node = {}
stolen = 0
for tid in ids:
    t = status(a, tid)
    check(t["state"] == "succeeded", f"task {tid} ended {t['state']}: {json.dumps(t['attempts'])}")
    attempts = t["attempts"]
    check(attempts, f"task {tid} succeeded with no attempt")
    last = attempts[-1]
    check(last["outcome"] == "succeeded", f"task {tid}: last attempt {last}")
    per_node[last["node"]] = per_node.get(last["node"], 0) + 1
    if last["node"] != a_id:
        stolen += 1
        check(last["stolen_from"] == a_id,
              f"task {tid} ran on {last['node']} but records stolen_from={last['stolen_from']}")
    else:
        check(last["stolen_from"] is None, f"task {tid} ran where submitted yet stolen_from={last['stolen_from']}")
    # Attempts of one task never overlap: each ends before the next one starts.
    spans = []
    for at in attempts:
        check(at["ended_at"], f"task {tid}: an attempt of an ended task without an end: {at}")
        if at["started_at"] is None:
            # Held ahead and handed back before its process started: nothing ran.
            check(at["outcome"] == "lost", f"task {tid}: an attempt that never started ended {at['outcome']}: {at}")
            continue
        spans.append((ms(at["started_at"]), ms(at["ended_at"]), at["number"]))
    spans.sort()
    for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
        check(e1 <= s2, f"task {tid}: attempt {n1} [{s1}, {e1}] overlaps attempt {n2} [{s2}, {e2}]")

share = {addr_of.get(n, n): c for n, c in sorted(per_node.items(), key=lambda kv: -kv[1])}
msg = (f"{TASKS} x sleep 1 on 3 x 2 slots, all submitted to {a.addr}: {span:.1f} s "
       f"(ideal 5 s, one node alone 15 s); {stolen} ran elsewhere; per node {share}")
check(stolen * 3 >= TASKS, "fewer than a third ran elsewhere: " + msg)
for n in nodes:
    check(n.proc.poll() is None, f"node {n.addr} exited: {n.log_tail()}")
print("PASS: " + msg)
