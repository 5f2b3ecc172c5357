"""Five real magpie-node processes, each in a network namespace of its own.

Layout (all made here, all removed by `Cluster.teardown` and by `clean_leftovers`):

    namespace mgn-<pid>-sw   a bridge `br0` at 10.214.0.1/24; the client runs here
    namespace mgn-<pid>-nK   `eth0` at 10.214.0.1K/24, a veth whose peer `vK` is in the bridge

Nothing is added to the root namespace: the bridge, every veth and every iptables rule live
inside the namespaces, so the machine's own interfaces and firewall are never touched.
Each node's data directory is a small tmpfs of its own, so a full disk can be made for one
node by writing a ballast file into it. <pid> is the pid of the harness, so a leftover of a
run that died (its pid gone) is recognised and removed by the next run.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2e  # noqa: E402  (BIN, TOKEN, processes_with, and its kill-at-exit list)

PREFIX = "mgn-"
SUBNET = "10.214.0"
PORT = 7400
HTTP_PORT = 8400         # the HTTP API, read by fetch.py at the end of a run
SLOTS = 3
REPLICATION = 3
DISK_MB = 128            # each node's tmpfs
MIN_FREE_DISK_MB = 16    # the node turns read-only below this (--min-free-disk-mb) ...
NO_RESERVE_NODES = {4, 5}  # ... except these (0: never), so that a full disk reaches them as
                           # a write that fails with ENOSPC, not as the reserve check


def sh(cmd, ok_fail=False, timeout=20):
    """Runs a command; raises on failure unless ok_fail."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if r.returncode != 0 and not ok_fail:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def netns_exec(ns):
    return ["nsenter", f"--net=/run/netns/{ns}"]


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _owner_pid(name):
    m = re.match(re.escape(PREFIX) + r"(\d+)", name)
    return int(m.group(1)) if m else None


def _remove_namespace(ns):
    """Kills every process in the namespace, then deletes it (and with it its veths)."""
    r = sh(["ip", "netns", "pids", ns], ok_fail=True)
    for p in r.stdout.split():
        try:
            os.kill(int(p), signal.SIGCONT)
            os.kill(int(p), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    sh(["ip", "netns", "del", ns], ok_fail=True)


def _mounts_with(marker):
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "tmpfs" and marker in parts[1]:
                out.append(parts[1])
    return out


def clean_leftovers():
    """Removes namespaces and tmpfs mounts of earlier runs whose harness is gone."""
    removed = []
    r = sh(["ip", "netns", "list"], ok_fail=True)
    for line in r.stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        pid = _owner_pid(ns)
        if ns.startswith(PREFIX) and pid is not None and not _pid_alive(pid):
            _remove_namespace(ns)
            removed.append(ns)
    for mnt in _mounts_with("/" + PREFIX):
        pid = _owner_pid(re.search(re.escape(PREFIX) + r"\d+", mnt).group(0))
        if pid is not None and not _pid_alive(pid):
            sh(["umount", "-l", mnt], ok_fail=True)
            removed.append(mnt)
    # The temporary folders (e2e.py's, holding ours) of runs that could not remove them.
    for d in glob.glob(os.path.join(tempfile.gettempdir(), "magpie-e2e-*", PREFIX + "*")):
        pid = _owner_pid(os.path.basename(d))
        if pid is not None and not _pid_alive(pid) and not _mounts_with(d):
            shutil.rmtree(d, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(d))
            except OSError:
                pass
            removed.append(d)
    return removed


def check_tools():
    """What this machine lacks to run the harness, as a list of messages (empty: all there)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("must run as root (network namespaces, iptables, tmpfs mounts)")
    for tool in ("ip", "nsenter", "iptables", "mount", "umount"):
        if sh(["which", tool], ok_fail=True).returncode != 0:
            missing.append(f"no `{tool}` (scripts/bootstrap.sh installs iptables)")
    for b in ("magpie-node", "magpie"):
        if not os.access(os.path.join(e2e.BIN, b), os.X_OK):
            missing.append(f"no {b} in {e2e.BIN} (MAGPIE_BIN_DIR)")
    return missing


class Node:
    """One magpie-node in its namespace, on its own tmpfs data directory."""

    def __init__(self, index, root, log_dir, join, env):
        self.index = index
        self.name = f"n{index}"
        self.ns = f"{PREFIX}{os.getpid()}-{self.name}"
        self.ip = f"{SUBNET}.{10 + index}"
        self.addr = f"{self.ip}:{PORT}"
        self.http = f"{self.ip}:{HTTP_PORT}"
        self.disk = os.path.join(root, self.name)        # the tmpfs mount point
        self.data = os.path.join(self.disk, "data")
        self.ballast = os.path.join(self.disk, "ballast")
        self.log_path = os.path.join(log_dir, f"{self.name}.log")
        self.join = join
        self.env = env
        self.proc = None
        self.id = None
        self.starts = 0
        self.expected_exit = True   # set False while the node should be running
        self.crashes = 0            # exits nobody asked for (nemesis.py restarts the node)
        self.restart_at = None      # when nemesis.py starts it again after such an exit

    def min_free_disk_mb(self):
        return 0 if self.index in NO_RESERVE_NODES else MIN_FREE_DISK_MB

    def command(self):
        # The first start of the first node makes the cluster; every other start joins
        # through all the other nodes, any one of which may be down. (A node restarted
        # without --join starts a cluster of its own, and the others call it left.)
        join = [] if self.index == 1 and self.starts == 0 else self.join
        cmd = netns_exec(self.ns) + [
            os.path.join(e2e.BIN, "magpie-node"), "--data-dir", self.data, "--listen", self.addr,
            "--slots", str(SLOTS), "--replication", str(REPLICATION),
            "--min-free-disk-mb", str(self.min_free_disk_mb()), "--http", self.http]
        for j in join:
            cmd += ["--join", j]
        return cmd

    def start(self):
        log = open(self.log_path, "ab")
        log.write(f"==== harness: start {self.starts + 1} at {time.time():.3f}\n".encode())
        log.flush()
        # Its own session: a signal to the harness's group does not reach it, and
        # nsenter execs magpie-node, so proc.pid is the node itself.
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        log.close()
        e2e._procs.append(self.proc)
        self.starts += 1
        self.expected_exit = False
        self.restart_at = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout):
        """True if the node exited within timeout."""
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def log_tail(self, n=10):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Cluster:
    def __init__(self, nodes_n, root, out_dir):
        self.root = root
        self.out_dir = out_dir
        self.sw = f"{PREFIX}{os.getpid()}-sw"
        self.home = os.path.join(root, "home")   # MAGPIE_HOME: the cluster key, made by the first node
        os.makedirs(self.home, exist_ok=True)
        self.env = dict(os.environ, MAGPIE_HOME=self.home)
        self.env.pop("MAGPIE_NODE", None)
        self.env.pop("MAGPIE_CLUSTER_KEY_FILE", None)
        self.nodes = []
        for i in range(1, nodes_n + 1):
            others = [f"{SUBNET}.{10 + j}:{PORT}" for j in range(1, nodes_n + 1) if j != i]
            self.nodes.append(Node(i, root, out_dir, others, self.env))
        self.made_ns = []
        self.mounts = []
        self._token = None

    # -- network ---------------------------------------------------------------------------

    def setup_network(self):
        sh(["ip", "netns", "add", self.sw])
        self.made_ns.append(self.sw)
        sw = ["ip", "-n", self.sw]
        sh(sw + ["link", "add", "br0", "type", "bridge"])
        sh(sw + ["addr", "add", f"{SUBNET}.1/24", "dev", "br0"])
        sh(sw + ["link", "set", "br0", "up"])
        sh(sw + ["link", "set", "lo", "up"])
        for n in self.nodes:
            sh(["ip", "netns", "add", n.ns])
            self.made_ns.append(n.ns)
            # Both ends are made inside the switch namespace, so no name is ever taken in
            # the root namespace; then one end moves to the node's namespace.
            sh(sw + ["link", "add", f"v{n.index}", "type", "veth", "peer", "name", "eth0", "netns", n.ns])
            sh(sw + ["link", "set", f"v{n.index}", "master", "br0"])
            sh(sw + ["link", "set", f"v{n.index}", "up"])
            nn = ["ip", "-n", n.ns]
            sh(nn + ["addr", "add", f"{n.ip}/24", "dev", "eth0"])
            sh(nn + ["link", "set", "eth0", "up"])
            sh(nn + ["link", "set", "lo", "up"])

    def iptables(self, node, *args):
        sh(netns_exec(node.ns) + ["iptables", "-w", "5"] + list(args))

    def block(self, src, dst):
        """Drops every packet from src to dst (one direction), in src's namespace."""
        self.iptables(src, "-A", "OUTPUT", "-d", dst.ip, "-j", "DROP")

    def heal_network(self):
        for n in self.nodes:
            sh(netns_exec(n.ns) + ["iptables", "-w", "5", "-F"], ok_fail=True)

    # -- disks -----------------------------------------------------------------------------

    def setup_disks(self):
        for n in self.nodes:
            os.makedirs(n.disk, exist_ok=True)
            sh(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", n.disk])
            self.mounts.append(n.disk)
            os.makedirs(n.data, exist_ok=True)

    def fill_disk(self, node, leave_mb):
        """Writes a ballast file until only leave_mb MB are free on the node's tmpfs (0: to
        the last byte, so that a write meets ENOSPC). Returns the MB written."""
        st = os.statvfs(node.disk)
        mb = max(0, st.f_bavail * st.f_frsize // (1024 * 1024) - leave_mb)
        chunk = b"\0" * (1024 * 1024)
        written = 0
        try:
            # Unbuffered: ENOSPC comes from a write here, never from a flush at close.
            with open(node.ballast, "wb", buffering=0) as f:
                for _ in range(mb):
                    f.write(chunk)
                    written += 1
                while leave_mb == 0:
                    f.write(b"\0" * 4096)
        except OSError:
            pass   # the disk is full: what was asked
        return written

    def free_disk(self, node):
        try:
            os.remove(node.ballast)
        except FileNotFoundError:
            pass

    def disk_free_mb(self, node):
        st = os.statvfs(node.disk)
        return st.f_bavail * st.f_frsize // (1024 * 1024)

    # -- the CLI, run in the switch namespace ------------------------------------------------

    def cli(self, node, *args, timeout=15, call_timeout="5s"):
        """(exit code, stdout, stderr) of `magpie --node <node> args`; exit code None when
        the process itself did not end within timeout."""
        cmd = netns_exec(self.sw) + [os.path.join(e2e.BIN, "magpie"), "--node", node.addr,
                                     "--call-timeout", call_timeout] + list(args)
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL, env=self.env)
        except subprocess.TimeoutExpired:
            return None, "", "the magpie process did not end in time"
        return r.returncode, r.stdout, r.stderr.strip()

    def json(self, node, *args, timeout=20):
        rc, out, _ = self.cli(node, *args, "--json", timeout=timeout)
        if rc != 0:
            return None
        try:
            return json.loads(out)
        except ValueError:
            return None

    def token(self):
        """The HTTP API's bearer token, derived from the cluster key (`magpie token`)."""
        if self._token is None:
            r = subprocess.run([os.path.join(e2e.BIN, "magpie"), "token"], capture_output=True, text=True,
                               timeout=20, stdin=subprocess.DEVNULL, env=self.env)
            self._token = r.stdout.strip() if r.returncode == 0 else None
        return self._token

    def fetch(self, request, timeout=300):
        """fetch.py's answer to `request` (a dict), run in the switch namespace; None if it
        failed."""
        here = os.path.dirname(os.path.abspath(__file__))
        req = dict(request, nodes={n.name: n.http for n in self.nodes}, token=self.token())
        try:
            r = subprocess.run(netns_exec(self.sw) + [sys.executable, os.path.join(here, "fetch.py")],
                               input=json.dumps(req), capture_output=True, text=True, timeout=timeout, env=self.env)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def wait_formed(self, bound_s):
        """Until every node lists all nodes alive; records each node's id. Returns seconds."""
        t0 = time.time()
        n = len(self.nodes)
        while True:
            views = [self.json(x, "members") or [] for x in self.nodes]
            if all(sum(m.get("state") == "alive" for m in v) == n for v in views):
                by_addr = {m["address"]: m["id"] for m in views[0]}
                for x in self.nodes:
                    x.id = by_addr.get(x.addr)
                return time.time() - t0
            if time.time() - t0 > bound_s:
                raise RuntimeError(f"{n} nodes did not see each other alive within {bound_s} s")
            time.sleep(0.3)

    def wait_answers(self, node, bound_s):
        deadline = time.time() + bound_s
        while time.time() < deadline:
            if not node.alive():
                return False
            if self.cli(node, "members", "--json", timeout=5, call_timeout="2s")[0] == 0:
                return True
            time.sleep(0.2)
        return False

    # -- everything down ---------------------------------------------------------------------

    def teardown(self):
        """Kills nodes and task processes, removes namespaces and mounts. Idempotent."""
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is None:
                try:
                    os.kill(n.proc.pid, signal.SIGCONT)
                    os.kill(n.proc.pid, signal.SIGKILL)
                    n.proc.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
        for pid in e2e.processes_with(e2e.TOKEN):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for ns in reversed(self.made_ns):
            _remove_namespace(ns)
        self.made_ns = []
        for m in self.mounts:
            sh(["umount", "-l", m], ok_fail=True)
        self.mounts = []
