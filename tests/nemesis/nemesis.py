"""The fault schedule: planned up front from the seed, then carried out in real time.

`plan(seed, duration_s, nodes_n)` is a pure function: the same seed and duration give the
same list of faults (kind, targets, start, length), whatever the cluster does. The run
itself is not replayable (real processes, real timing), but its faults are.

Kinds (docs/nemesis.md):
  kill       SIGKILL a node; restart it on the same data directory after `length`
  pause      SIGSTOP a node for `length` (3-10 s, either side of the 6 s lease), then SIGCONT
  term       SIGTERM a node (graceful stop); once it has exited and `length` has passed,
             restart it (past 15 s without an exit it is killed, and that is recorded)
  partition  two sides (1|4 or 2|3) that drop each other's packets both ways
  bridge     two sides of two nodes and one node in the middle that both sides reach
  oneway     one node's packets to some others are dropped; theirs to it still arrive
  disk       a node's data directory fills up, then is freed: to below the 16 MB
             --min-free-disk-mb reserve of n1-n3 (the node turns read-only on its check), or
             to the last byte on n4 and n5, which run without a reserve (a write meets ENOSPC)

Rules that keep faults to what the promises cover, while still overlapping: at most two
nodes are impaired (killed, stopped, stopping or with a full disk) at once, one node has at
most one fault at a time, and one network fault is active at a time.
"""
import random
import signal
import threading
import time

from cluster import MIN_FREE_DISK_MB, NO_RESERVE_NODES

KINDS = ["kill", "pause", "term", "partition", "bridge", "oneway", "disk"]
WEIGHTS = [3, 2, 2, 2, 1, 2, 1]
NODE_KINDS = {"kill", "pause", "term", "disk"}
NET_KINDS = {"partition", "bridge", "oneway"}
MAX_IMPAIRED = 2
TERM_BOUND_S = 15.0   # a graceful stop takes about 5 s (docs/operations.md); past this, -9
RESTART_SLACK_S = 3.0 # a restarted node is counted impaired until it has had time to come up
FIRST_FAULT_S = 4.0   # the workload runs alone this long first


class Fault:
    def __init__(self, n, kind, start, length, **params):
        self.n = n
        self.kind = kind
        self.start = start
        self.length = length
        self.params = params

    @property
    def end(self):
        return self.start + self.length

    def nodes(self):
        """The nodes this fault impairs (node faults only)."""
        return [self.params["node"]] if self.kind in NODE_KINDS else []

    def busy_until(self):
        # A stopped or killed node is not back the moment it is restarted.
        return self.end + (RESTART_SLACK_S if self.kind in ("kill", "term") else 0.0)

    def describe(self):
        p = self.params
        if self.kind in NODE_KINDS:
            extra = f" ({p['mode']})" if self.kind == "disk" else ""
            return f"{self.kind} n{p['node']}{extra} for {self.length:.1f} s"
        if self.kind == "partition" or self.kind == "bridge":
            sides = " | ".join(",".join(f"n{x}" for x in s) for s in p["sides"])
            mid = f" via n{p['middle']}" if self.kind == "bridge" else ""
            return f"{self.kind} {sides}{mid} for {self.length:.1f} s"
        dst = ",".join(f"n{x}" for x in p["to"])
        return f"oneway n{p['node']} -/-> {dst} for {self.length:.1f} s"

    def to_json(self):
        return {"n": self.n, "kind": self.kind, "start": round(self.start, 3),
                "length": round(self.length, 3), "params": self.params, "what": self.describe()}


def _overlapping(faults, start, end):
    return [f for f in faults if f.start < end and start < f.busy_until()]


def plan(seed, duration_s, nodes_n=5):
    """The faults of a run: a list of Fault, by start time, all ended by duration_s."""
    rng = random.Random(seed)
    faults = []
    t = FIRST_FAULT_S
    ids = list(range(1, nodes_n + 1))
    while t < duration_s - 2.0:
        placed = None
        for _ in range(10):
            kind = rng.choices(KINDS, WEIGHTS)[0]
            if kind == "pause":
                length = rng.uniform(3.0, 10.0)       # both sides of the 6 s lease
            elif kind == "kill":
                length = rng.uniform(1.0, 6.0)        # time down before the restart
            elif kind == "term":
                length = rng.uniform(4.0, 9.0)        # the stop itself takes up to ~5 s
            elif kind == "disk":
                length = rng.uniform(3.0, 10.0)
            else:
                # Mostly short; sometimes long enough that gossip declares the cut-off side
                # dead and the leaders replace it as a group member (replace_after 10 s).
                length = rng.uniform(3.0, 10.0) if rng.random() < 0.75 else rng.uniform(15.0, 25.0)
            length = min(length, duration_s - t)
            if length < 1.0:
                break
            others = _overlapping(faults, t, t + length + RESTART_SLACK_S)
            busy = {x for f in others for x in f.nodes()}
            if kind in NODE_KINDS:
                free = [x for x in ids if x not in busy]
                if len(busy) >= MAX_IMPAIRED or not free:
                    continue
                node = rng.choice(free)
                params = {"node": node}
                if kind == "disk":
                    # A node with a reserve meets it; one without meets ENOSPC in a write.
                    params["mode"] = "enospc" if node in NO_RESERVE_NODES else "reserve"
                placed = Fault(len(faults) + 1, kind, t, length, **params)
            else:
                if any(f.kind in NET_KINDS for f in others):
                    continue
                order = ids[:]
                rng.shuffle(order)
                if kind == "partition":
                    k = rng.choice([1, 2])
                    params = {"sides": [sorted(order[:k]), sorted(order[k:])]}
                elif kind == "bridge":
                    params = {"sides": [sorted(order[:2]), sorted(order[3:])], "middle": order[2]}
                else:
                    node, rest = order[0], order[1:]
                    params = {"node": node, "to": sorted(rest[:rng.randint(1, len(rest))])}
                placed = Fault(len(faults) + 1, kind, t, length, **params)
            break
        if placed is None:
            t += 1.0
            continue
        faults.append(placed)
        if rng.random() < 0.35:
            t = placed.start + rng.uniform(0.5, max(0.6, placed.length * 0.8))   # overlap the next
        else:
            t = placed.busy_until() + rng.uniform(1.0, 5.0)
    return faults


class Nemesis:
    """Carries out a plan against a Cluster, in a thread; records every step with `record`
    (a callable taking a dict). `stop()` ends the plan early; `heal_all()` undoes whatever is
    still in force."""

    def __init__(self, cluster, faults, record, t0):
        self.c = cluster
        self.faults = faults
        self.record = record
        self.t0 = t0
        self.active = {}          # fault n -> Fault
        self.counts = {}          # kind -> faults injected
        self.crashes = []         # (node name, exit code, time): exits nobody asked for
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="nemesis", daemon=True)

    def node(self, i):
        return self.c.nodes[i - 1]

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=60)

    def _sleep_until(self, t):
        while not self.stopping.is_set():
            left = self.t0 + t - time.time()
            if left <= 0:
                return True
            self.stopping.wait(min(left, 0.2))
            self._watch_crashes()
        return False

    def _run(self):
        steps = sorted([(f.start, 0, f) for f in self.faults] + [(f.end, 1, f) for f in self.faults],
                       key=lambda s: (s[0], -s[1]))
        for at, heal, f in steps:
            if not self._sleep_until(at):
                return
            try:
                if heal:
                    self._heal(f)
                else:
                    self._inject(f)
            except Exception as e:  # noqa: BLE001 -- a failed step is recorded; the run goes on
                self.record({"process": "nemesis", "f": f.kind, "type": "fail", "fault": f.n,
                             "phase": "heal" if heal else "start", "error": repr(e)})

    def _watch_crashes(self):
        """A node that exited without being told to: recorded, and started again after a
        delay that doubles with each exit (0.5 s to 8 s), so a node that cannot start does
        not spin."""
        now = time.time()
        for n in self.c.nodes:
            if n.proc is None or n.expected_exit:
                continue
            if n.proc.poll() is not None and n.restart_at is None:
                code = n.proc.returncode
                with self.lock:
                    self.crashes.append((n.name, code, round(now - self.t0, 3)))
                    n.crashes += 1
                    n.restart_at = now + min(8.0, 0.5 * 2 ** (n.crashes - 1))
                self.record({"process": "nemesis", "f": "crash", "type": "info", "node": n.name,
                             "exit": code, "log_tail": n.log_tail(20)})
            if n.restart_at is not None and now >= n.restart_at and not n.alive():
                n.start()

    # -- the faults ----------------------------------------------------------------------

    def _inject(self, f):
        p = f.params
        self.record({"process": "nemesis", "f": f.kind, "type": "invoke", "fault": f.n, "what": f.describe()})
        # In force before it is made: if making it fails halfway, its heal still runs.
        with self.lock:
            self.active[f.n] = f
        if f.kind == "kill":
            n = self.node(p["node"])
            n.expected_exit = True
            n.signal(signal.SIGKILL)
            n.wait_exit(10)
        elif f.kind == "pause":
            self.node(p["node"]).signal(signal.SIGSTOP)
        elif f.kind == "term":
            n = self.node(p["node"])
            n.expected_exit = True
            n.signal(signal.SIGTERM)
        elif f.kind == "partition" or f.kind == "bridge":
            a, b = p["sides"]
            for x in a:
                for y in b:
                    self.c.block(self.node(x), self.node(y))
                    self.c.block(self.node(y), self.node(x))
        elif f.kind == "oneway":
            for y in p["to"]:
                self.c.block(self.node(p["node"]), self.node(y))
        elif f.kind == "disk":
            n = self.node(p["node"])
            filled = self.c.fill_disk(n, MIN_FREE_DISK_MB // 2 if p["mode"] == "reserve" else 0)
            p = dict(p, filled_mb=filled, free_mb=self.c.disk_free_mb(n))
        with self.lock:
            self.counts[f.kind] = self.counts.get(f.kind, 0) + 1
        self.record({"process": "nemesis", "f": f.kind, "type": "ok", "fault": f.n, "params": p})

    def _heal(self, f):
        with self.lock:
            if f.n not in self.active:
                return
            del self.active[f.n]
        p = f.params
        info = {}
        if f.kind == "kill":
            self.node(p["node"]).start()
        elif f.kind == "pause":
            self.node(p["node"]).signal(signal.SIGCONT)
        elif f.kind == "term":
            n = self.node(p["node"])
            if n.wait_exit(max(0.0, TERM_BOUND_S - f.length)):
                info["exit"] = n.proc.returncode
            else:
                info["exit"] = "no exit within %.0f s of SIGTERM: killed" % TERM_BOUND_S
                n.signal(signal.SIGKILL)
                n.wait_exit(10)
            n.start()
        elif f.kind in NET_KINDS:
            self.c.heal_network()
        elif f.kind == "disk":
            self.c.free_disk(self.node(p["node"]))
        self.record({"process": "nemesis", "f": f.kind, "type": "heal", "fault": f.n, **info})

    def heal_all(self):
        """Undoes every fault in force and starts every node that is down."""
        with self.lock:
            left = list(self.active.values())
        for f in left:
            try:
                self._heal(f)
            except Exception as e:  # noqa: BLE001
                self.record({"process": "nemesis", "f": f.kind, "type": "fail", "fault": f.n,
                             "phase": "heal", "error": repr(e)})
        self.c.heal_network()
        for n in self.c.nodes:
            self.c.free_disk(n)
            n.signal(signal.SIGCONT)
        self._watch_crashes()
        for n in self.c.nodes:
            if not n.alive():
                n.start()
        self.record({"process": "nemesis", "f": "heal-all", "type": "ok"})
