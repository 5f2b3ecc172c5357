#!/usr/bin/env python3
"""Issue 19, outputs from anywhere and outputs that outlive their node (DESIGN promise 6):
three nodes on loopback; tasks submitted to node A that require a label only node B has,
so B runs them. From A and C, `magpie logs` prints the whole output of a task that wrote
100,000 lines (more than a record's tail and than one read); an earlier attempt's stderr;
`--follow` streams a running attempt as it writes and ends when it does, and `--retries`
follows on into the retry; GET /api/v1/tasks/{id}/logs gives the same, streamed with
follow=1. A task that prints nothing leaves no copy anywhere. A fourth node, D, outside
A's group, runs a task whose copies its leader relays to the members; D is killed with -9
and its data directory deleted, and C still prints that task whole. Then B is killed with -9 and
its data directory deleted: a survivor still prints all 100,000 lines of the task whose
bound was raised to fit (--output-keep), every attempt's stderr, and, for the task whose
output passed the default 1 MiB bound, the last 1 MiB with exit 3 and a message saying
what was kept and which node had the whole."""
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from e2e import *

LINES = 100000
# About 6 MB: over the default 1 MiB bound, under the raised one.
LINE_CMD = f"seq -f 'line %g of a long output that a record tail cannot hold' 1 {LINES}"

http_port = free_port()
a = Node("a", slots=2, extra=["--http", f"127.0.0.1:{http_port}"])
b = Node("b", slots=2, extra=["--join", a.addr, "--label", "where=b"])
c = Node("c", slots=2, extra=["--join", a.addr])
nodes = [a, b, c]
wait_all_alive(nodes)
TOKEN_HEADER = "Bearer " + cli(a, "token").stdout.strip()
ids = {m["address"]: m["id"] for m in members(a)}


def http_get(path, timeout=60):
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}" + path)
    req.add_header("Authorization", TOKEN_HEADER)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


# Copies go to the members of the task's group: wait until A's home group has all three.
deadline = time.time() + 60
while True:
    status_code, body, _ = http_get("/api/v1/groups")
    groups = json.loads(body)["groups"] if status_code == 200 else []
    home = [g for g in groups if g["home"]]
    if home and sum(1 for m in home[0]["members"] if m["voter"]) == 3:
        break
    check(time.time() < deadline, f"A's home group did not reach three voters: {home}")
    time.sleep(0.5)


def on_b(*cmd, flags=()):
    """Submits to A a task that only B can run."""
    return submit(a, *cmd, flags=("--label", "where=b") + tuple(flags))


def ran_on_b(tid):
    t = status(a, tid)
    check(t["attempts"] and t["attempts"][-1]["node"] == ids[b.addr],
          f"{tid} ran on {t['attempts'][-1]['node'] if t['attempts'] else 'nothing'}, not B {ids[b.addr]}")
    return t


def logs_lines(node, *args):
    """(exit status, line count, stderr) of `magpie logs ARGS | wc -l` at a node."""
    cmd = (f"set -o pipefail; {os.path.join(BIN, 'magpie')} --node {node.addr} logs "
           + " ".join(args) + " | wc -l")
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    return r.returncode, int(r.stdout.strip() or "0"), r.stderr.strip()


whole = on_b("sh", "-c", LINE_CMD + " # " + TOKEN, flags=("--output-keep", "16MiB"))
bounded = on_b("sh", "-c", LINE_CMD + " # " + TOKEN)
retried = on_b("sh", "-c", 'if [ "$MAGPIE_ATTEMPT" = 1 ]; then echo first-attempt-error >&2; exit 3; fi; '
               'echo second-attempt-ok # ' + TOKEN, flags=("--retries", "1", "--backoff", "0"))
silent = on_b("sh", "-c", "true # " + TOKEN)
noop = submit(a, "@noop")
wait_ended(a, [whole, bounded, retried, silent, noop], 120)
for tid in (whole, bounded, retried, silent):
    ran_on_b(tid)

# The whole output, from nodes that did not run it.
for n in (a, c):
    rc, count, err = logs_lines(n, whole)
    check(rc == 0 and count == LINES, f"logs {whole} at {n.addr}: exit {rc}, {count} of {LINES} lines: {err}")
    rc, count, err = logs_lines(n, bounded)
    check(rc == 0 and count == LINES, f"logs {bounded} at {n.addr} while B runs: exit {rc}, {count} lines: {err}")
r = cli(c, "logs", retried, "--attempt", "1", "--stderr")
check(r.stdout == "first-attempt-error\n", f"attempt 1's stderr from C: {r.stdout!r} {r.stderr}")
r = cli(c, "logs", retried)
check(r.stdout == "second-attempt-ok\n", f"the latest attempt's stdout from C: {r.stdout!r}")
r = cli(c, "logs", silent)
check(r.stdout == "", f"a silent task's output: {r.stdout!r}")
r = cli(c, "logs", noop)
check(r.stdout == "", f"a built-in's output: {r.stdout!r}")
r = cli(c, "logs", retried, "--attempt", "7", check=False)
check(r.returncode == 2 and "no attempt 7" in r.stderr, f"an attempt that does not exist: {r.returncode} {r.stderr}")
unknown = whole.split("-")[0] + "-999999"
r = cli(c, "logs", unknown, check=False)
check(r.returncode == 2 and "no task" in r.stderr, f"an unknown task: {r.returncode} {r.stderr}")

# Nothing printed, nothing copied: no file for the silent task on any node but B's own.
for n in (a, c):
    kept = os.path.join(n.dir, "data", "output-kept", silent)
    check(not os.path.exists(kept), f"{kept} exists for a task that printed nothing")
    kept = os.path.join(n.dir, "data", "output-kept", whole, "1.out")
    check(os.path.exists(kept) and os.path.getsize(kept) > 5000000, f"no whole copy of {whole} at {kept}")

# HTTP: the same bytes, and a stream.
code, body, headers = http_get(f"/api/v1/tasks/{whole}/logs")
check(code == 200 and body.count("\n") == LINES, f"GET logs: {code}, {body.count(chr(10))} lines")
check(headers.get("X-Magpie-Node") == b.addr, f"GET logs names the runner: {headers}")
code, body, _ = http_get(f"/api/v1/tasks/{retried}/logs?attempt=1&stream=stderr")
check(code == 200 and body == "first-attempt-error\n", f"GET attempt 1 stderr: {code} {body!r}")
code, body, _ = http_get(f"/api/v1/tasks/{retried}/logs?stream=nope")
check(code == 400, f"a bad stream: {code} {body}")

# --follow: lines arrive while the task runs; the command ends when it does.
ticker = on_b("sh", "-c", "for j in 1 2 3 4 5 6; do echo tick $j; sleep 0.5; done # " + TOKEN)
p = subprocess.Popen([os.path.join(BIN, "magpie"), "--node", c.addr, "logs", "--follow", ticker],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
t0 = time.time()
first = p.stdout.readline()
first_at = time.time() - t0
rest, err = p.communicate(timeout=60)
lasted = time.time() - t0
got = (first + rest).count("tick")
check(p.returncode == 0 and got == 6, f"logs --follow: exit {p.returncode}, {got} of 6 ticks: {err}")
check(first_at < lasted - 1.0, f"--follow printed its first line at {first_at:.1f} s of {lasted:.1f} s: not streamed")
ran_on_b(ticker)

code, body, _ = http_get(f"/api/v1/tasks/{ticker}/logs?follow=1")
check(code == 200 and body.count("tick") == 6, f"GET logs?follow=1 of an ended task: {code} {body!r}")
streamer = on_b("sh", "-c", "for j in 1 2 3 4; do echo beat $j; sleep 0.5; done # " + TOKEN)
code, body, _ = http_get(f"/api/v1/tasks/{streamer}/logs?follow=1")
check(code == 200 and body.count("beat") == 4, f"GET logs?follow=1 while running: {code} {body!r}")

# --follow --retries: on into the next attempt, until the task ends.
flaky = on_b("sh", "-c", 'echo "run $MAGPIE_ATTEMPT"; sleep 0.5; [ "$MAGPIE_ATTEMPT" != 1 ] # ' + TOKEN,
             flags=("--retries", "1", "--backoff", "1s"))
r = cli(c, "logs", "--follow", "--retries", flaky, timeout=60)
check(r.stdout == "run 1\nrun 2\n", f"logs --follow --retries: {r.stdout!r} {r.stderr}")
check("attempt 2" in r.stderr, f"the move to attempt 2 is noted: {r.stderr!r}")

# A runner that holds no replica of the task's group knows only its leader, which passes the
# offer on: D joins once A's group has its three voters, so it is not one of them.
d = Node("d", slots=2, extra=["--join", a.addr, "--label", "where=d"])
wait_all_alive(nodes + [d])
ids = {m["address"]: m["id"] for m in members(a)}
home = [g for g in json.loads(http_get("/api/v1/groups")[1])["groups"] if g["home"]][0]
check(ids[d.addr] not in [m["id"] for m in home["members"]], f"D joined A's group: {home['members']}")
relayed = submit(a, "sh", "-c", "seq 1 20000 # " + TOKEN, flags=("--label", "where=d"))
wait_ended(a, [relayed], 60)
t = status(a, relayed)
check(t["attempts"][-1]["node"] == ids[d.addr], f"{relayed} did not run on D: {t['attempts']}")
check("acknowledged a copy" not in d.log_tail(200), f"D waited out its copies: {d.log_tail(5)}")
d.kill9()
shutil.rmtree(os.path.join(d.dir, "data"))
rc, count, err = logs_lines(c, relayed)
check(rc == 0 and count == 20000, f"logs of D's task after D died: exit {rc}, {count} lines: {err}")

# B is gone with its disk: the copies on A and C answer.
b.kill9()
shutil.rmtree(os.path.join(b.dir, "data"))
for n in (c, a):
    rc, count, err = logs_lines(n, whole)
    check(rc == 0 and count == LINES, f"logs {whole} at {n.addr} after B died: exit {rc}, {count} lines: {err}")
    r = cli(n, "logs", retried, "--attempt", "1", "--stderr")
    check(r.stdout == "first-attempt-error\n", f"attempt 1's stderr after B died: {r.stdout!r} {r.stderr}")
r = cli(c, "logs", bounded, check=False, timeout=120)
check(r.returncode == 3, f"logs of output past its bound after B died: exit {r.returncode}, want 3: {r.stderr}")
check("only the last 1 MiB of 5." in r.stderr and b.addr in r.stderr,
      f"the error says what was kept and where the whole was: {r.stderr!r}")
check(r.stdout.endswith(f"line {LINES} of a long output that a record tail cannot hold\n")
      and 1048000 < len(r.stdout) <= 1048576, f"the kept part printed: {len(r.stdout)} bytes")
code, body, _ = http_get(f"/api/v1/tasks/{bounded}/logs")
check(code == 503 and "only the last" in body, f"GET logs of a bounded copy: {code} {body[:200]}")
code, body, headers = http_get(f"/api/v1/tasks/{bounded}/logs?partial=1")
check(code == 200 and len(body) > 1000000 and "X-Magpie-Kept-From" in headers,
      f"GET logs?partial=1: {code}, {len(body)} bytes, {headers}")
r = cli(c, "logs", ticker, check=False)
check(r.returncode == 0 and r.stdout.count("tick") == 6, f"logs of the ticker after B died: {r.returncode} {r.stderr}")
print("ok: whole outputs from any node, followed as they come, and kept beyond the node that ran them")
