#!/usr/bin/env python3
"""Foundation done-when 2: a pipeline file with a diamond, an independent branch and a
failing task ends with succeeded / failed / blocked as `magpie list --json` shows;
a cycle or unknown name is refused before anything is stored."""
from e2e import *

node = Node("pipe", slots=4)
pipeline = tmp_path("diamond.yaml")
with open(pipeline, "w") as f:
    f.write("""
tasks:
  - name: fetch
    command: ["sh", "-c", "echo 1 2 3 > $MAGPIE_TASK_ID.txt"]
  - name: left
    command: ["true"]
    after: [fetch]
  - name: right
    command: ["sh", "-c", "exit 3"]
    retries: 1
    backoff: 100ms
    after: [fetch]
  - name: join
    command: ["true"]
    after: [left, right]
  - name: independent
    command: ["sh", "-c", "echo side branch"]
""")
r = cli(node, "submit", "-f", pipeline)
check(r.stdout.strip(), "submit -f printed nothing")
names = [t["name"] for t in task_list(node)]
check(sorted(names) == ["fetch", "independent", "join", "left", "right"], f"stored {names}")

tasks = wait_ended(node, [t["id"] for t in task_list(node)], 60)
by_name = {t["name"]: t for t in tasks.values()}
want = {"fetch": "succeeded", "left": "succeeded", "right": "failed", "join": "blocked",
        "independent": "succeeded"}
got = {n: by_name[n]["state"] for n in want}
check(got == want, f"states {got}, want {want}")
check(len(by_name["right"]["attempts"]) == 2, "right should have run 1 + 1 retry")
check(by_name["join"]["blocked_by"] == by_name["right"]["id"], "join blocked by the wrong task")
logs = cli(node, "logs", by_name["independent"]["id"]).stdout
check("side branch" in logs, f"logs of independent: {logs!r}")

bad = tmp_path("cycle.yaml")
with open(bad, "w") as f:
    f.write("tasks:\n  - {name: a, command: [true], after: [b]}\n  - {name: b, command: [true], after: [a]}\n")
r = cli(node, "submit", "-f", bad, check=False)
check(r.returncode == 2, f"a cycle should exit 2, got {r.returncode}")
check("cycle" in r.stderr, f"cycle error should say so: {r.stderr!r}")
check(len(task_list(node)) == 5, "a refused pipeline stored tasks")
r = cli(node, "status", "no-such-task", check=False)
check(r.returncode == 2 and "no-such-task" in r.stderr, f"unknown id: rc {r.returncode} {r.stderr!r}")
print("PASS: diamond pipeline ended succeeded/failed/blocked as expected; bad pipelines refused")
