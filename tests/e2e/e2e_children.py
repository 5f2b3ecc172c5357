#!/usr/bin/env python3
"""Issue 10, done-when 2, and issue 8's progress: a task splits itself into 20 children that
spread over 3 real nodes, reports its progress, waits, and merges the children's outputs;
a node that runs some of them is killed mid-way and nothing changes but timing. Then a
parent with running children is cancelled (on the two nodes left, two slots each): the whole family ends cancelled and every child
process is gone."""
import json
import os
import stat
import time
from e2e import *

MAGPIE = os.path.abspath(os.path.join(BIN, "magpie"))
N = 20
EXPECTED = sum(i * i for i in range(1, N + 1))

a = Node("c0", slots=2)
b = Node("c1", slots=2, extra=["--join", a.addr])
c = Node("c2", slots=2, extra=["--join", a.addr])
nodes = [a, b, c]
wait_all_alive(nodes)
# a's group grows to three voters one member a second: losing b before then would take
# its quorum (as it should), which is not what this test is about.
time.sleep(6)
id_of = {m["address"]: m["id"] for m in members(a)}
b_id = id_of[b.addr]

split = tmp_path("split.sh")
with open(split, "w") as f:
    f.write(f"""#!/bin/sh
set -e
i=1
while [ $i -le {N} ]; do
  "$MAGPIE_CLI" submit --parent "$MAGPIE_TASK_ID" --idempotency-key "$MAGPIE_TASK_ID-part-$i" \\
      -- sh -c "sleep 3; echo $((i * i))" {TOKEN} >/dev/null
  "$MAGPIE_CLI" progress $((i * 100 / {N})) "submitted $i of {N} parts"
  i=$((i + 1))
done
""")
os.chmod(split, os.stat(split).st_mode | stat.S_IXUSR)
merge = ('total=0; for id in $MAGPIE_CHILDREN; do v=$("$MAGPIE_CLI" logs "$id" 2>/dev/null); '
         'total=$((total + v)); done; echo "sum=$total of $MAGPIE_CHILDREN_TOTAL children, '
         '$MAGPIE_CHILDREN_SUCCEEDED succeeded"')
parent = submit(a, split, flags=["--env", f"MAGPIE_CLI={MAGPIE}", "--on-children", merge, "--name", "squares"])

# While it runs: its progress, its state waiting once the split has exited, its children on
# every node; b is killed once it runs some of them.
seen_states, seen_progress, child_nodes = set(), set(), set()
killed = False
deadline = time.time() + 120
while time.time() < deadline:
    p = status(a, parent)
    seen_states.add(p["state"])
    if p["progress"]:
        seen_progress.add((p["progress"]["percent"], p["progress"]["message"]))
    if p["state"] in ENDED:
        break
    for t in task_list(a):
        if t["parent"] == parent and t["attempts"]:
            child_nodes.add(t["attempts"][-1]["node"])
            if not killed and t["state"] == "running" and t["attempts"][-1]["node"] == b_id:
                b.kill9()
                killed = True
                print(f"killed b while it ran {t['id']}", flush=True)
    time.sleep(0.3)

p = status(a, parent)
check(p["state"] == "succeeded", f"parent ended {p['state']}: {p['end_reason']} {p['stderr_tail']}")
check(killed, "node b never ran a child, so it was not killed mid-way")
check(len(child_nodes) == 3, f"children ran on {len(child_nodes)} nodes, not 3: {child_nodes}")
check("waiting" in seen_states, f"the parent was never seen waiting: {seen_states}")
# The split reports after each part; polling sees some of them (it may be quick).
check(seen_progress and all(0 < pct <= 100 and msg == f"submitted {pct * N // 100} of {N} parts"
                            for pct, msg in seen_progress),
      f"progress seen: {sorted(seen_progress)}")
check(p["progress"] is None, "the merge attempt inherited the split's progress")
check(len(p["children"]) == N, f"{len(p['children'])} children recorded, not {N}")
check(p["merging"], "the parent's last attempt was not its merge step")
expected_out = f"sum={EXPECTED} of {N} children, {N} succeeded"
check(p["stdout_tail"].strip() == expected_out, f"merged output {p['stdout_tail']!r}, not {expected_out!r}")
lost = [t for t in task_list(a) if t["parent"] == parent and any(x["outcome"] == "lost" for x in t["attempts"])]
print(f"PASS: {N} children over 3 nodes, b killed mid-way ({len(lost)} children lost an attempt "
      f"and ran again), merged: {p['stdout_tail'].strip()}; progress seen {sorted(seen_progress)[:3]}...")
text = cli(a, "status", parent).stdout
check("children:" in text and "merge step:" in text, "status text lacks children/merge step:\n" + text)

# `magpie progress` as status shows it while the task runs.
busy = submit(a, "sh", "-c", f'"{MAGPIE}" progress 40 parsing; sleep 60', TOKEN)
deadline = time.time() + 30
while time.time() < deadline and not status(a, busy)["progress"]:
    time.sleep(0.2)
t = status(a, busy)
check(t["progress"] and t["progress"]["percent"] == 40 and t["progress"]["message"] == "parsing",
      f"progress of {busy}: {t['progress']}")
check("40% parsing" in cli(a, "status", busy).stdout, "status text does not show 40% parsing")
outside = cli(a, "progress", "10", "x", check=False)
check(outside.returncode == 2 and "inside a task" in outside.stderr,
      f"progress outside a task: exit {outside.returncode} {outside.stderr}")
cli(a, "cancel", busy)
print("PASS: magpie progress 40 parsing shows in status (JSON and text); outside a task it is refused")

# Cancelling a parent cancels its children, and their processes die.
family = tmp_path("family.sh")
with open(family, "w") as f:
    f.write(f"""#!/bin/sh
for i in 1 2 3; do
  "$MAGPIE_CLI" submit --parent "$MAGPIE_TASK_ID" -- sh -c "sleep 120; true" {TOKEN}-family >/dev/null || exit 1
done
""")
os.chmod(family, os.stat(family).st_mode | stat.S_IXUSR)
top = submit(a, family, flags=["--env", f"MAGPIE_CLI={MAGPIE}"])
deadline = time.time() + 60
while time.time() < deadline:
    kids = [t for t in task_list(a) if t["parent"] == top]
    if status(a, top)["state"] == "waiting" and len(kids) == 3 and all(k["state"] == "running" for k in kids):
        break
    time.sleep(0.3)
else:
    fail(f"family did not reach waiting with 3 running children: {status(a, top)['state']}")
deadline = time.time() + 15  # "running" is committed as the process is being started
while len(processes_with(TOKEN + "-family")) < 3 and time.time() < deadline:
    time.sleep(0.2)
check(len(processes_with(TOKEN + "-family")) == 3,
      f"{len(processes_with(TOKEN + '-family'))} child processes are running, not 3: {[k['attempts'][-1]['node'] for k in kids]}")
cli(a, "cancel", top)
wait_ended(a, [top], 30)
kids = [t for t in task_list(a) if t["parent"] == top]
check(all(k["state"] == "cancelled" for k in kids), f"children after cancel: {[k['state'] for k in kids]}")
deadline = time.time() + 20
while processes_with(TOKEN + "-family") and time.time() < deadline:
    time.sleep(0.2)
check(not processes_with(TOKEN + "-family"), "child processes survived their parent's cancel")
late = cli(a, "submit", "--parent", top, "--", "true", check=False)
check(late.returncode != 0 and "cancelled" in late.stderr, f"a child of a cancelled parent: {late.stderr}")
print("PASS: cancelling a waiting parent cancelled its 3 running children and killed their processes; "
      "a late child is refused")
