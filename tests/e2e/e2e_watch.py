#!/usr/bin/env python3
"""Issue 10, events out: `magpie watch` and GET /api/v1/events on three real nodes (R=3).

Started before anything is submitted: `magpie watch --json --count 9` at node a, `magpie
watch --state succeeded --count 2` at node b, and an SSE reader of a's /api/v1/events with
the cluster's token. Then three tasks: one that succeeds and one that fails, submitted to
a, and one that succeeds, submitted to c. Every replica of a group reports each committed
entry, yet each task's events must arrive exactly once, in log order, and be exactly the
task's `magpie history`: submit (ready), grant (running), finish (succeeded or failed).
The filtered watch prints only the two successes; a watch of one task id, started before
that task was submitted, prints its three events; the SSE stream carries the same nine
events; a stream resumed with its Last-Event-ID carries only what came after; without the
token the endpoint answers 401."""
import http.client
import json
import os
import subprocess
import threading
import time
from e2e import *

http_port = free_port()
a = Node("w0", slots=2, extra=["--http", f"127.0.0.1:{http_port}"])
b = Node("w1", slots=2, extra=["--join", a.addr])
c = Node("w2", slots=2, extra=["--join", a.addr])
nodes = [a, b, c]
AUTH = "Bearer " + cli(a, "token").stdout.strip()


wait_all_alive(nodes)
time.sleep(6)  # every home group grows to its three voters, one member a second


class Watch:
    """A `magpie watch` process; lines of stdout and stderr collected by threads."""

    def __init__(self, node, *args):
        cmd = [os.path.join(BIN, "magpie"), "--node", node.addr, "watch"] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.out, self.err = [], []
        for stream, into in [(self.proc.stdout, self.out), (self.proc.stderr, self.err)]:
            threading.Thread(target=lambda s=stream, i=into: [i.append(l.rstrip("\n")) for l in s],
                             daemon=True).start()

    def wait_watching(self, n):
        deadline = time.time() + 20
        while not any(f"watching {n} nodes" in l for l in self.err):
            if time.time() > deadline or self.proc.poll() is not None:
                fail(f"watch did not report watching {n} nodes: {self.err}")
            time.sleep(0.05)

    def finish(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"watch did not end within {timeout} s; it printed {self.out}, stderr {self.err}")
        time.sleep(0.2)  # the reader threads take the last lines
        check(rc == 0, f"watch exited {rc}: {self.err}")
        return self.out


class Sse:
    """A reader of /api/v1/events: (event, data, id) per message; the last id seen."""

    def __init__(self, query="", last_id=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
        headers = {"Authorization": AUTH}
        if last_id:
            headers["Last-Event-ID"] = last_id
        self.conn.request("GET", "/api/v1/events" + query, headers=headers)
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            fail(f"/api/v1/events answered {self.resp.status}: {self.resp.read()[:300]}")
        check(self.resp.getheader("Content-Type", "").startswith("text/event-stream"),
              f"content type {self.resp.getheader('Content-Type')}")
        self.events, self.comments, self.last_id = [], [], None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        kind, data, eid = "", [], None
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\r\n")
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line.startswith("id:"):
                    eid = line[3:].strip()
                elif line == "":
                    if eid is not None:
                        self.last_id = eid  # an id alone moves it too (the SSE rules)
                    if data:
                        self.events.append((kind or "message", json.loads("\n".join(data))))
                    kind, data, eid = "", [], None
        except (OSError, ValueError, AttributeError):
            pass  # closed by the test (http.client's reader then has no socket)

    def wait_watching(self):
        deadline = time.time() + 20
        while not any(c.startswith("watching 3 nodes") for c in self.comments):
            if time.time() > deadline:
                fail(f"the event stream did not report watching 3 nodes: {self.comments}")
            time.sleep(0.05)

    def wait_events(self, n, timeout=60):
        deadline = time.time() + timeout
        while len([e for e in self.events if e[0] == "message"]) < n:
            if time.time() > deadline:
                fail(f"the event stream carried {len(self.events)} of {n} events: {self.events}")
            time.sleep(0.1)
        return [d for k, d in self.events if k == "message"]

    def close(self):
        self.conn.close()


# Without the token: 401, as every /api/v1 route.
conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
conn.request("GET", "/api/v1/events")
r = conn.getresponse()
check(r.status == 401, f"/api/v1/events without a token answered {r.status}")
conn.close()

# Each task: submit, grant (assigned), start (running), finish. The tasks sleep a little so
# that their start is committed on its own, not told in their finish.
everything = Watch(a, "--json", "--count", "12")
succeeded = Watch(b, "--state", "succeeded", "--count", "2")
# b's first task, not submitted yet (ids are <group>-<seq>; b's group is its id's first 8).
b_first = {m["address"]: m["id"] for m in members(a)}[b.addr][:8] + "-1"
one_task = Watch(c, "--task", b_first, "--json", "--count", "4")
sse = Sse()
everything.wait_watching(3)
succeeded.wait_watching(3)
one_task.wait_watching(3)
sse.wait_watching()

ok_a = submit(a, "sh", "-c", f"sleep 0.3; true {TOKEN}")
bad = submit(a, "sh", "-c", f"sleep 0.3; exit 3 {TOKEN}", flags=["--retries", "0"])
ok_c = submit(c, "sh", "-c", f"sleep 0.3; true {TOKEN}")
wait_ended(a, [ok_a, bad, ok_c], 60)

lines = everything.finish(60)
events = [json.loads(l) for l in lines]
check(len(events) == 12, f"watch --count 12 printed {len(events)} events: {lines}")
keys = [(e["task"], e["index"]) for e in events]
check(len(set(keys)) == len(keys), f"an event was printed twice (replicas' copies): {keys}")
want_end = {ok_a: "succeeded", bad: "failed", ok_c: "succeeded"}
for tid, end in want_end.items():
    mine = [e for e in events if e["task"] == tid]
    got = [(e["kind"], e["state"]) for e in mine]
    check(got == [("submit", "ready"), ("grant", "assigned"), ("start", "running"), ("finish", end)],
          f"{tid}: events {got}, not submit/grant/start/finish ending {end}")
    history = json.loads(cli(a, "history", tid, "--json").stdout)
    check([e["index"] for e in mine] == [h["index"] for h in history],
          f"{tid}: watched indexes {[e['index'] for e in mine]} are not its history's "
          f"{[h['index'] for h in history]}")
    check(all(e["at"] and e["term"] > 0 and e["group"] == tid.split("-")[0] for e in mine),
          f"{tid}: events without time, term or group: {mine}")
check(any(e["task"] == ok_c and e["kind"] == "submit" for e in events),
      "the task submitted to node c was not seen by the watch at node a")
print("watch --json at a:\n  " + "\n  ".join(lines))

only = succeeded.finish(60)
check(len(only) == 2 and all(" succeeded" in l and " finish" in l for l in only),
      f"watch --state succeeded printed {only}")
check({l.split()[1] for l in only} == {ok_a, ok_c}, f"watch --state succeeded printed {only}")
print("watch --state succeeded at b:\n  " + "\n  ".join(only))

streamed = sse.wait_events(12)
check(sorted((e["task"], e["index"], e["state"]) for e in streamed) ==
      sorted((e["task"], e["index"], e["state"]) for e in events),
      f"the SSE stream's events differ from the watch's: {streamed}")
# Resume: once the stream's cursors settle, a new stream from its Last-Event-ID carries
# only what is new.
time.sleep(2.5)
last_id = sse.last_id
check(last_id, "the event stream sent no id")
sse.close()
resumed = Sse(last_id=last_id)
resumed.wait_watching()
later = submit(b, "sh", "-c", f"sleep 0.3; true {TOKEN}")
wait_ended(a, [later], 60)
again = resumed.wait_events(4)
time.sleep(1.5)
again = [d for k, d in resumed.events if k == "message"]
check({e["task"] for e in again} == {later} and len(again) == 4,
      f"the resumed stream carried {[(e['task'], e['kind']) for e in again]}, not only {later}'s four events")
resumed.close()
check(later == b_first, f"b's first task is {later}, not {b_first}")
only_later = [json.loads(l) for l in one_task.finish(30)]
check([(e["task"], e["kind"]) for e in only_later] ==
      [(later, "submit"), (later, "grant"), (later, "start"), (later, "finish")],
      f"watch --task {b_first} printed {only_later}")

# A bad filter is refused before any stream starts.
conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
conn.request("GET", "/api/v1/events?state=done", headers={"Authorization": AUTH})
r = conn.getresponse()
check(r.status == 400 and b"unknown state" in r.read(), f"?state=done answered {r.status}")
conn.close()
# SIGTERM is not held up by an open stream.
open_stream = Sse()
open_stream.wait_watching()
t0 = time.time()
rc = a.term()
check(time.time() - t0 < 15, f"SIGTERM with an event stream open took {time.time() - t0:.1f} s")
print(f"PASS: each task's events exactly once and in order from 3 replicas; the state filter; "
      f"SSE with resume; node a stopped in {time.time() - t0:.1f} s with a stream open (exit {rc})")
