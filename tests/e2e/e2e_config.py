#!/usr/bin/env python3
"""Running it for real (issue 8, docs/operations.md), with real processes on loopback:

  1. A TOML file sets listen, data_dir, slots, labels, HTTP, log_level and log_format=json.
     --print-config shows the file's values, names the file's line for each, and a flag on
     the command line wins over the file; what it prints reads back as the same settings.
  2. A node started with only --config FILE serves with those settings: `magpie members`
     shows its slots and labels, /metrics answers on the file's HTTP address, and a task
     that needs one of the file's labels runs there. Every line the node writes to stderr,
     up to its SIGTERM exit, is a JSON object with time, level, logger and msg.
  3. A file with an unknown key (or a wrongly typed value) exits 2 naming the file, line and
     key, and starts nothing: no data directory is made.
  4. A two-node cluster (replication = 1 from a shared file): a long task of B's group runs
     on A, stolen; A gets SIGTERM. A exits 0 within a few seconds, its attempt is killed and
     recorded lost at once, and B grants the task again without waiting out the lease: it
     runs again on B and succeeds.

Bounded: every wait has a deadline (about 90 s in all); e2e.py kills every process at exit.
"""
import datetime
import json
import os
import signal
import subprocess
import time
import tomllib
import urllib.request

import e2e
from e2e import BIN, TOKEN, check, cli, fail, free_port, processes_with, tmp_path


def node_cmd(*args):
    return [os.path.join(BIN, "magpie-node")] + list(args)


def write(name, text):
    path = tmp_path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


def toml_str(s):
    return json.dumps(s)  # a JSON string of ASCII is a TOML basic string


class Proc:
    """A magpie-node started with exactly the arguments given (no flags added)."""

    def __init__(self, name, addr, args):
        self.addr = addr
        self.log_path = tmp_path(name + ".log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(node_cmd(*args), stdout=subprocess.DEVNULL, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        e2e._procs.append(self.proc)  # killed at exit if a check fails first
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"{name} exited at start with {self.proc.returncode}: {self.text()[-2000:]}")
            if cli(self, "members", "--json", check=False).returncode == 0:
                return
            time.sleep(0.1)
        fail(f"{name} did not answer within 30 s: {self.text()[-2000:]}")

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def term(self, bound_s):
        t0 = time.time()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=bound_s)
        except subprocess.TimeoutExpired:
            fail(f"node {self.addr} still running {bound_s} s after SIGTERM")
        return code, time.time() - t0


def members(node):
    r = cli(node, "members", "--json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else []


def unix(iso):
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def task(node, tid):
    return json.loads(cli(node, "status", tid, "--json").stdout)


def wait_task(node, tid, until, timeout, what):
    deadline = time.time() + timeout
    while True:
        t = task(node, tid)
        if until(t):
            return t
        if time.time() > deadline:
            fail(f"{what} within {timeout} s: {json.dumps(t)}")
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------
# 1. The file, and --print-config

listen = f"127.0.0.1:{free_port()}"
http = f"127.0.0.1:{free_port()}"
data_dir = tmp_path("cfg-data")
config = write("magpie.toml", f"""# a node's settings
listen = {toml_str(listen)}
data_dir = {toml_str(data_dir)}
slots = 3
label = ["zone=a", "disk=ssd"]
http = {toml_str(http)}
metrics_open = true
log_level = "debug"
log_format = "json"
""")

r = subprocess.run(node_cmd("--config", config, "--print-config"), capture_output=True, text=True,
                   timeout=30)
check(r.returncode == 0, f"--print-config exited {r.returncode}: {r.stderr}")
printed = tomllib.loads(r.stdout)
check(printed["slots"] == 3 and printed["label"] == ["zone=a", "disk=ssd"],
      f"--print-config does not show the file's values: {r.stdout}")
check(printed["log_format"] == "json" and printed["http"] == http, r.stdout)
check(printed["replication"] == 3, f"a default is missing: {r.stdout}")
check(f"slots = 3  # {config}:4" in r.stdout, f"--print-config does not say where slots came from: {r.stdout}")
check(not os.path.exists(data_dir), "--print-config made the data directory")

r = subprocess.run(node_cmd("--config", config, "--slots", "7", "--print-config"),
                   capture_output=True, text=True, timeout=30)
check(r.returncode == 0, f"--print-config exited {r.returncode}: {r.stderr}")
override = tomllib.loads(r.stdout)
check(override["slots"] == 7 and "slots = 7  # command line" in r.stdout,
      f"--slots 7 on the command line does not win over the file: {r.stdout}")
check(override["listen"] == listen, r.stdout)

# What it prints is a config file: fed back, it prints the same settings.
again_path = write("printed.toml", r.stdout)
r2 = subprocess.run(node_cmd("--config", again_path, "--print-config"), capture_output=True,
                    text=True, timeout=30)
check(r2.returncode == 0 and tomllib.loads(r2.stdout) == override,
      f"the printed config does not read back the same: {r2.stdout} {r2.stderr}")
print("print-config: file values shown with their lines, a flag wins, output reads back")

# ---------------------------------------------------------------------------------------
# 3. Bad files: exit 2, the file, line and key named, nothing started

bad_dir = tmp_path("bad-data")
for name, text, key, line in [
        ("unknown.toml", "slots = 2\nslotz = 3\n", "slotz", 2),
        ("badtype.toml", "slots = 2\n\n\nreplication = \"three\"\n", "replication", 4)]:
    bad = write(name, text)
    r = subprocess.run(node_cmd("--config", bad, "--data-dir", bad_dir, "--listen",
                                f"127.0.0.1:{free_port()}"),
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2, f"{name}: exited {r.returncode}, not 2: {r.stderr}")
    check(f"{bad}:{line}" in r.stderr and f"'{key}'" in r.stderr,
          f"{name}: the message does not name {bad}:{line} and '{key}': {r.stderr}")
    check(not os.path.exists(bad_dir), f"{name}: a data directory was made: nothing may start")
print("bad config files: exit 2 naming file, line and key; nothing started")

# ---------------------------------------------------------------------------------------
# 2. A node from the file alone

node = Proc("cfg", listen, ["--config", config])
me = [m for m in members(node) if m["address"] == listen]
check(me and me[0]["slots"] == 3 and me[0]["labels"] == {"zone": "a", "disk": "ssd"},
      f"the node does not have the file's slots and labels: {members(node)}")
with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as resp:
    check(resp.status == 200 and b"magpie_" in resp.read(), "no /metrics on the file's http address")
tid = cli(node, "submit", "--label", "disk=ssd", "--", "sh", "-c", "echo \"quoted\"; exit 0",
          TOKEN).stdout.split()[-1]
wait_task(node, tid, lambda t: t["state"] == "succeeded", 30,
          "a task needing the file's label did not succeed")
code, took = node.term(30)
check(code == 0, f"the json-format node exited {code} on SIGTERM")
lines = node.text().splitlines()
check(len(lines) >= 5, f"too few log lines to judge: {lines}")
for line in lines:
    try:
        obj = json.loads(line)
    except ValueError:
        fail(f"a stderr line of the json-format node is not JSON: {line!r}")
    check(isinstance(obj, dict) and {"time", "level", "logger", "msg"} <= obj.keys(),
          f"a log line lacks time, level, logger or msg: {line!r}")
check(any(json.loads(l)["level"] == "debug" for l in lines), "log_level = debug from the file had no effect")
check(any("stopped" == json.loads(l)["msg"] for l in lines), "no 'stopped' line after SIGTERM")
print(f"node from the file: slots, labels, HTTP as set; {len(lines)} stderr lines, all JSON objects")

# ---------------------------------------------------------------------------------------
# 4. SIGTERM hands a running attempt back

shared = write("pair.toml", 'replication = 1\nlog_level = "info"\n')
b_addr = f"127.0.0.1:{free_port()}"
a_addr = f"127.0.0.1:{free_port()}"
b = Proc("b", b_addr, ["--config", shared, "--listen", b_addr, "--data-dir", tmp_path("b-data"),
                       "--slots", "1"])
a = Proc("a", a_addr, ["--config", shared, "--listen", a_addr, "--data-dir", tmp_path("a-data"),
                       "--slots", "1", "--join", b_addr])
deadline = time.time() + 30
while not all(sum(m["state"] == "alive" for m in members(n)) == 2 for n in (a, b)):
    if time.time() > deadline:
        fail(f"the two nodes did not see each other within 30 s: {members(b)}")
    time.sleep(0.2)
ids = {m["address"]: m["id"] for m in members(b)}
a_id, b_id = ids[a_addr], ids[b_addr]

# B's one slot is taken by the blocker, so A, idle, steals the long task from B's queue. The
# long task's first run sleeps until it is killed; any later run finds its marker and exits 0.
marker = tmp_path("long-task-started")
blocker = cli(b, "submit", "--priority", "90", "--", "sh", "-c", "sleep 12", TOKEN).stdout.split()[-1]
long_id = cli(b, "submit", "--", "sh", "-c",
              f"if [ -e {marker} ]; then exit 0; fi; touch {marker}; sleep 120", TOKEN).stdout.split()[-1]
wait_task(b, long_id, lambda t: t["state"] == "running" and t["attempts"]
          and t["attempts"][-1]["node"] == a_id and os.path.exists(marker), 10,
          "the long task did not start on A (stolen)")

sigterm_at = time.time()
code, took = a.term(15)
check(code == 0, f"A exited {code} on SIGTERM")
check(took < 8, f"A took {took:.1f} s to stop")
# B's slot is freed, so a re-grant can start at once: it must not wait out A's lease.
cli(b, "cancel", blocker)
t = wait_task(b, long_id, lambda t: t["state"] in ("succeeded", "failed", "cancelled"), 45,
              "the long task did not end after A's stop")
att = t["attempts"]
check(t["state"] == "succeeded", f"the long task ended {t['state']}: {json.dumps(att)}")
check(att[0]["node"] == a_id and att[0]["stolen_from"] == b_id and att[0]["outcome"] == "lost",
      f"A's attempt is not recorded lost: {json.dumps(att)}")
check(att[-1]["node"] == b_id and att[-1]["outcome"] == "succeeded",
      f"the task did not run again on B: {json.dumps(att)}")
check(t["failed_attempts"] == 0, f"the handed-back attempt counted as a failure: {json.dumps(t)}")
check(att[0]["reason"] == "node stopped while the attempt ran", f"A's attempt: {json.dumps(att[0])}")
# Reported lost when A stopped, and granted again at once: both well inside the 6 s lease
# that a killed (not stopped) node's attempt would have to wait out.
ended = unix(att[0]["ended_at"]) - sigterm_at
rerun = unix(att[-1]["started_at"]) - sigterm_at
check(ended < 3, f"A's attempt ended {ended:.1f} s after the SIGTERM, not at once")
check(rerun < 5, f"the re-run started {rerun:.1f} s after the SIGTERM: it waited for the lease")
check(not processes_with(marker), "the first run's process outlived A")
a_log = a.text()
check("signal 15" in a_log, f"A's log does not show the SIGTERM: {a_log[-1500:]}")
code, _ = b.term(15)
check(code == 0, f"B exited {code} on SIGTERM")
print(f"SIGTERM: A stopped in {took:.1f} s with exit 0; its attempt ended lost {ended:.1f} s after "
      f"the signal and ran again on B {rerun:.1f} s after it, to success")
print("e2e_config: passed")
