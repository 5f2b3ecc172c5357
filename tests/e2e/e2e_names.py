#!/usr/bin/env python3
"""Names resolve the same on every node (promise 6). Three nodes; tasks named like parts
(`part-1`, `prog-3`) submitted to the first. From the third node: `status`, `history`,
`wait`, `cancel` and `restart` by name, `submit --after NAME` of a task in another node's
group, and `GET /api/v1/tasks/NAME`; a name reused on another node resolves to the most
recent task on every node; an unknown name is "not found" (exit 2), never an unreachable
node (exit 3); a name of an id's form is refused. Bounded: 30 s to converge, 60 s per wait."""
import json
import time
import urllib.request
from e2e import *

http_port = free_port()
a = Node("n0", slots=2)
b = Node("n1", slots=2, extra=["--join", a.addr])
c = Node("n2", slots=2, extra=["--join", a.addr, "--http", f"127.0.0.1:{http_port}"])
wait_all_alive([a, b, c])

first = submit(a, "sh", "-c", "echo one; sleep 0.2", TOKEN, flags=["--name", "part-1"])
second = submit(a, "sh", "-c", "sleep 30", TOKEN, flags=["--name", "prog-3"])
check(len(first.split("-")[0]) == 8, f"an id not of the form <8 hex>-<seq>: {first}")

# status and wait by name at another node.
t = status(c, "part-1")
check(t["id"] == first, f"`status part-1` at c resolved to {t['id']}, not {first}")
w = cli(c, "wait", "part-1", check=False, timeout=90)
check(w.returncode == 0, f"`wait part-1` at c: rc {w.returncode} {w.stderr.strip()}")
h = json.loads(cli(c, "history", "part-1", "--json").stdout)
check(h and h[0]["kind"] == "submit", f"`history part-1` at c: {h}")

# A downstream submitted to c names an upstream of a's group by name.
down = submit(c, "sh", "-c", "echo after", TOKEN, flags=["--after", "part-1", "--name", "down-1"])
d = status(b, "down-1")
check(d["id"] == down and d["after"] == [first], f"`--after part-1` at c stored after={d['after']}, not [{first}]")
wait_ended(c, [down], 60)

# cancel and restart by name from b.
r = cli(b, "cancel", "prog-3", check=False)
check(r.returncode == 0, f"`cancel prog-3` at b: rc {r.returncode} {r.stderr.strip()}")
check(status(c, "prog-3")["state"] == "cancelled", "prog-3 is not cancelled")
r = cli(c, "restart", "part-1", check=False)
check(r.returncode == 0, f"`restart part-1` at c: rc {r.returncode} {r.stderr.strip()}")

# A name reused on another node: the most recent wins, on every node.
time.sleep(0.05)
newer = submit(b, "sh", "-c", "echo again", TOKEN, flags=["--name", "part-1"])
for n in (a, b, c):
    got = status(n, "part-1")["id"]
    check(got == newer, f"`status part-1` at {n.addr} is {got}, not the most recent {newer}")

# HTTP by name.
token = cli(c, "token").stdout.strip()
req = urllib.request.Request(f"http://127.0.0.1:{http_port}/api/v1/tasks/prog-3",
                             headers={"Authorization": "Bearer " + token})
with urllib.request.urlopen(req, timeout=20) as resp:
    body = json.loads(resp.read())
check(body["id"] == second, f"GET /api/v1/tasks/prog-3 answered {body.get('id')}")

# Unknown names: not found, at once, exit 2 (never "unreachable", exit 3).
t0 = time.time()
r = cli(c, "status", "part-16", check=False)
check(r.returncode == 2 and "no task" in r.stderr, f"`status part-16`: rc {r.returncode} {r.stderr.strip()}")
check(time.time() - t0 < 4, f"`status part-16` took {time.time() - t0:.1f} s")
r = cli(c, "wait", "prog-9", check=False)
check(r.returncode == 2, f"`wait prog-9`: rc {r.returncode} {r.stderr.strip()}")

# A name no id can take.
r = cli(a, "submit", "--name", first, "--", "true", check=False)
check(r.returncode == 2 and "form of a task id" in r.stderr, f"a name of an id's form: rc {r.returncode} {r.stderr.strip()}")
print(f"PASS: names resolve on every node ({first}, {second}, {down}, most recent {newer}); unknown names exit 2 at once")
