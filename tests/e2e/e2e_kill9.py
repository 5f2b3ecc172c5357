#!/usr/bin/env python3
"""Foundation done-when 3: 20 tasks of `sleep 3` on 4 slots; the node is killed with -9
while they run and restarted on the same data dir. Every task succeeds, the interrupted
ones show 2 attempts, and no task process outlives the killed node."""
import time
from e2e import *

node = Node("solo", slots=4)
# The token in sh's argv marks our task processes; "; true" keeps sh alive around sleep,
# so the kill must take the whole process group, not only its leader.
ids = [submit(node, "sh", "-c", "sleep 3; true", TOKEN) for _ in range(20)]
deadline = time.time() + 10
while time.time() < deadline and len(processes_with(TOKEN)) < 4:
    time.sleep(0.05)
running_before = len(processes_with(TOKEN))
check(running_before == 4, f"expected 4 running task processes before the kill, saw {running_before}")

node.kill9()
deadline = time.time() + 5
while time.time() < deadline and processes_with(TOKEN):
    time.sleep(0.05)
left = processes_with(TOKEN)
check(not left, f"{len(left)} task processes outlived the killed node")

node.start()
tasks = wait_ended(node, ids, 120)
states = [tasks[i]["state"] for i in ids]
check(all(s == "succeeded" for s in states), f"not all succeeded: {states}")
two = [i for i in ids if len(tasks[i]["attempts"]) == 2]
check(len(two) == 4, f"expected the 4 interrupted tasks to show 2 attempts, {len(two)} do")
for i in two:
    first = tasks[i]["attempts"][0]
    check(first["outcome"] == "lost", f"{i}: first attempt outcome {first['outcome']}, want lost")
one = [i for i in ids if len(tasks[i]["attempts"]) == 1]
check(len(one) == 16, f"the 16 tasks that never started should have 1 attempt, {len(one)} do")
print(f"PASS: 20/20 succeeded after kill -9 and restart; 4 on a second attempt; no orphans")
