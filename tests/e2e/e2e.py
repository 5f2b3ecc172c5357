"""Helpers for magpie's own end-to-end tests: real magpie-node processes on loopback,
driven through the real `magpie` CLI. Every process started here is killed at exit."""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

BIN = os.environ.get("MAGPIE_BIN_DIR") or os.path.join(os.path.dirname(__file__), "../../build/bin")
TOKEN = "magpie-e2e-" + uuid.uuid4().hex[:10]  # marks every task process a test starts
_tmp = tempfile.mkdtemp(prefix="magpie-e2e-")
_procs = []
_nodes = []


def fail(msg):
    print("FAIL: " + msg, flush=True)
    # What each node logged last, and whether it is still running: a CI failure is then
    # readable from the test's output alone.
    for n in _nodes:
        state = "running" if n.proc is not None and n.proc.poll() is None else \
            f"exited with {n.proc.returncode if n.proc is not None else '?'}"
        print(f"--- node {os.path.basename(n.dir)} at {n.addr} ({state}), last log lines:", flush=True)
        print(n.log_tail(15), flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Node:
    def __init__(self, name, slots=4, extra=()):
        self.dir = os.path.join(_tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.addr = f"127.0.0.1:{free_port()}"
        self.slots = slots
        self.extra = list(extra)
        self.proc = None
        _nodes.append(self)
        self.start()

    def start(self):
        log = open(os.path.join(self.dir, "node.log"), "ab")
        cmd = [os.path.join(BIN, "magpie-node"), "--data-dir", os.path.join(self.dir, "data"),
               "--listen", self.addr, "--slots", str(self.slots)] + self.extra
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        _procs.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"node exited at start with {self.proc.returncode}: {self.log_tail()}")
            if cli(self, "members", "--json", check=False).returncode == 0:
                return
            time.sleep(0.1)
        fail("node did not answer within 30 s: " + self.log_tail())

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def term(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def log_tail(self, n=8):
        try:
            with open(os.path.join(self.dir, "node.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def cli(node, *args, check=True, timeout=60):
    cmd = [os.path.join(BIN, "magpie"), "--node", node.addr] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        fail(f"magpie {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def submit(node, *cmd, flags=()):
    r = cli(node, "submit", *flags, "--", *cmd)
    return r.stdout.split()[-1]


def status(node, tid):
    return json.loads(cli(node, "status", tid, "--json").stdout)


def task_list(node):
    return json.loads(cli(node, "list", "--json").stdout)


def members(node):
    """`magpie members --json` at a node, or [] when it does not answer."""
    r = cli(node, "members", "--json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else []


def wait_all_alive(nodes, timeout=30):
    """Until every node sees every one of them alive."""
    deadline = time.time() + timeout
    while not all(sum(m["state"] == "alive" for m in members(n)) == len(nodes) for n in nodes):
        if time.time() > deadline:
            fail(f"{len(nodes)} nodes did not see each other alive within {timeout} s")
        time.sleep(0.2)


ENDED = {"succeeded", "failed", "cancelled", "blocked"}


def wait_ended(node, ids, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        tasks = {t["id"]: t for t in task_list(node)}
        if all(tasks.get(i, {}).get("state") in ENDED for i in ids):
            return tasks
        time.sleep(0.2)
    fail(f"tasks not ended within {timeout} s")


def processes_with(token):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if token.encode() in f.read():
                        pids.append(int(d))
            except OSError:
                pass
    return pids


def tmp_path(name):
    return os.path.join(_tmp, name)


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    for pid in processes_with(TOKEN):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if os.environ.get("MAGPIE_E2E_KEEP"):
        print("kept " + _tmp)
    else:
        shutil.rmtree(_tmp, ignore_errors=True)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
