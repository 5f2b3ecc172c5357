#!/usr/bin/env python3
"""Issue 8, done-when 3: `magpie history` of a task that was stolen, lost its lease and was
retried shows each step. Three nodes, two slots each; twelve `sleep 4` tasks submitted to
node a; once node b runs some of them (stolen from a), b is killed with SIGKILL; its
attempts lose their leases and run again elsewhere. The history of such a task must show:
submit, grant on b "stolen from a", finish "lost" (lease expired), a new grant, finish
succeeded, each with its log index and term."""
import json
import time
from e2e import *

a = Node("h0", slots=2)
b = Node("h1", slots=2, extra=["--join", a.addr])
c = Node("h2", slots=2, extra=["--join", a.addr])
nodes = [a, b, c]


def members(node):
    r = cli(node, "members", "--json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else []


deadline = time.time() + 30
while not all(sum(m["state"] == "alive" for m in members(n)) == 3 for n in nodes):
    if time.time() > deadline:
        fail("3 nodes did not see each other alive within 30 s")
    time.sleep(0.2)
# a's group grows to its three voters one member a second once all are alive: losing b
# while it has only two would take its quorum (as it should).
time.sleep(6)
id_of = {m["address"]: m["id"] for m in members(a)}
a_id, b_id = id_of[a.addr], id_of[b.addr]

ids = [submit(a, "sh", "-c", "sleep 4", TOKEN) for _ in range(12)]
on_b = []
deadline = time.time() + 20
while not on_b and time.time() < deadline:
    for tid in ids:
        t = status(a, tid)
        if t["state"] == "running" and t["attempts"] and t["attempts"][-1]["node"] == b_id:
            on_b.append(tid)
    time.sleep(0.2)
check(on_b, "node b ran none of the tasks within 20 s")
b.kill9()
wait_ended(a, ids, 120)
tid = on_b[0]
t = status(a, tid)
check(t["state"] == "succeeded", f"{tid} ended {t['state']}")

events = json.loads(cli(a, "history", tid, "--json").stdout)
kinds = [(e["kind"], e["attempt"], e["node"]) for e in events]
check(events[0]["kind"] == "submit", f"history does not start with the submit: {kinds}")
grants_b = [e for e in events if e["kind"] == "grant" and e["node"] == b_id]
check(grants_b and grants_b[0]["detail"] == f"stolen from {a_id}", f"no grant on b stolen from a: {events}")
n = grants_b[0]["attempt"]
lost = [e for e in events if e["kind"] == "finish" and e["attempt"] == n]
check(lost and lost[0]["detail"].startswith("lost"), f"attempt {n} on b did not end lost: {events}")
later = [e for e in events if e["kind"] == "grant" and e["attempt"] == n + 1]
check(later and later[0]["node"] != b_id, f"no retry after the lost attempt: {events}")
done = [e for e in events if e["kind"] == "finish" and e["attempt"] == n + 1]
check(done and done[0]["detail"].startswith("succeeded") and done[0]["state_after"] == "succeeded",
      f"the retry did not succeed: {events}")
check(all(e["index"] > 0 and e["term"] > 0 for e in events), "every event names its entry's index and term")
indexes = [e["index"] for e in events]
check(indexes == sorted(indexes), f"events out of log order: {indexes}")
text = cli(a, "history", tid).stdout
check("stolen from" in text and "lost" in text and "succeeded" in text, "text history misses a step:\n" + text)
print(text)
print(f"PASS: history of {tid} shows the steal to b, the lost lease and the retry")
