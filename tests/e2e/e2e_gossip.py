#!/usr/bin/env python3
"""Gossip done-when 1: five real nodes joined through one seed all list five `alive`
members; a node killed with -9 is marked dead by every other node within the detection
bound; restarted, it is alive everywhere again with a higher incarnation."""
import json
import time
from e2e import *

seed = Node("g0", slots=2)
nodes = [seed] + [Node(f"g{i}", slots=2, extra=["--join", seed.addr]) for i in range(1, 5)]


def views():
    out = []
    for n in nodes:
        if n.proc.poll() is not None:
            out.append(None)
            continue
        r = cli(n, "members", "--json", check=False)
        out.append({m["id"]: m for m in json.loads(r.stdout)} if r.returncode == 0 else {})
    return out


def wait_for(pred, bound_s, what):
    t0 = time.time()
    while time.time() - t0 < bound_s:
        v = views()
        if pred(v):
            return time.time() - t0, v
        time.sleep(0.25)
    fail(f"{what} not within {bound_s} s: {views()}")


join_s, v = wait_for(lambda v: all(x is not None and sum(m["state"] == "alive" for m in x.values()) == 5 for x in v),
                     30, "5 alive members on every node")
victim = nodes[3]
victim_id = next(m["id"] for m in v[3].values() if m["address"] == victim.addr)
old_inc = v[0][victim_id]["incarnation"]
victim.kill9()
# Detection bound with the defaults (docs/gossip.md): 5 probe intervals + the suspicion timeout.
dead_s, _ = wait_for(lambda v: all(x is None or x.get(victim_id, {}).get("state") in ("dead", None)
                                   for i, x in enumerate(v) if i != 3),
                     30, "the killed node marked dead everywhere")
victim.start()
back_s, v = wait_for(lambda v: all(x is not None and x.get(victim_id, {}).get("state") == "alive"
                                   and x[victim_id]["incarnation"] > old_inc for x in v),
                     30, "the restarted node alive with a higher incarnation everywhere")
print(f"PASS: joined in {join_s:.1f}s, death seen by all in {dead_s:.1f}s, "
      f"back alive (incarnation {old_inc} -> {v[0][victim_id]['incarnation']}) in {back_s:.1f}s")
