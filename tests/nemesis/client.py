"""The workload and its history.

Worker threads send operations to random live nodes through the real `magpie` CLI (run in
the switch namespace) and record each as two history lines, Jepsen-style: an `invoke`, then
its completion, `ok` (acknowledged, with the id returned), `fail` (a definite refusal:
exit 2) or `info` (indeterminate: exit 3, node unreachable or an answer that did not come
in time; the operation may or may not have taken effect).

Operations: submit (a unique name; some `--after` earlier tasks by id or name), cancel and
restart of earlier acknowledged tasks, and reads (`list --json`) whose views of task states
are kept apart as observations.

Every task is a shell loop that appends a heartbeat line to `<hb>/<task id>` every 0.2 s:
`TASK ATTEMPT NODE UNIX_TIME PID`. One file system, one clock: the checker compares beats of
different attempts directly. Some tasks fail once (their next attempt succeeds) and some
always fail (their downstream ends `blocked`).
"""
import json
import random
import threading
import time

import e2e

WORKERS = 4
BEAT_S = 0.2
CALL_TIMEOUT = "5s"
OP_WEIGHTS = {"submit": 60, "cancel": 8, "restart": 12, "read": 20}
PAUSE_S = (0.3, 1.2)   # between one worker's operations: about 2 submits a second in all,
                       # about a third of the cluster's 15 slots, so faults build no backlog
                       # that the quiet period cannot clear


def task_script(hb_dir, beats, mode):
    """The shell text of a task: `beats` heartbeats, then exit by `mode`."""
    f = f"{hb_dir}/$MAGPIE_TASK_ID"
    body = (f'f={f}; i=0; while [ $i -lt {beats} ]; do '
            f'echo "$MAGPIE_TASK_ID $MAGPIE_ATTEMPT $MAGPIE_NODE_ID $(date +%s.%N) $$" >> $f; '
            f'i=$((i+1)); sleep {BEAT_S}; done')
    if mode == "fail-once":
        body += '; if [ ! -e $f.failed ]; then : > $f.failed; exit 1; fi'
    elif mode == "always-fail":
        body += '; exit 3'
    return body


class History:
    """Append-only operation history, in memory and as JSON lines on disk as it grows."""

    def __init__(self, path, t0):
        self.t0 = t0
        self.lock = threading.Lock()
        self.ops = []
        self.next = 0
        self.f = open(path, "w")

    def now(self):
        return round(time.time() - self.t0, 4)

    def add(self, rec):
        with self.lock:
            rec = dict(rec, index=len(self.ops), time=self.now())
            self.ops.append(rec)
            self.f.write(json.dumps(rec, sort_keys=True) + "\n")
            self.f.flush()
            return rec

    def new_op(self):
        with self.lock:
            self.next += 1
            return self.next

    def close(self):
        with self.lock:
            self.f.close()


class Workload:
    def __init__(self, cluster, history, obs_path, hb_dir, seed):
        self.c = cluster
        self.h = history
        self.hb = hb_dir
        self.seed = seed
        self.obs = open(obs_path, "w")
        self.obs_lock = threading.Lock()
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.acked = []           # (id, name) of acknowledged submits, in order
        self.threads = []

    # -- choices ---------------------------------------------------------------------------

    def live_node(self, rng):
        """A node whose process runs (a client cannot tell a stopped or cut-off one)."""
        live = [n for n in self.c.nodes if n.alive()]
        return rng.choice(live or self.c.nodes)

    def recent(self, rng, k, skip=0):
        """One of the k acknowledged tasks before the last `skip` (older ones have more
        likely ended: restart refuses a task that has not)."""
        with self.lock:
            pool = self.acked[max(0, len(self.acked) - skip - k):max(0, len(self.acked) - skip)]
        return rng.choice(pool) if pool else None

    # -- operations ------------------------------------------------------------------------

    def run_op(self, process, rng, f):
        node = self.live_node(rng)
        args, rec = None, {"process": process, "f": f, "node": node.name}
        if f == "submit":
            op = self.h.new_op()
            name = f"t{self.seed}-{op}"
            beats = rng.randint(5, 30)                      # 1-6 s
            mode = rng.choices(["ok", "fail-once", "always-fail"], [85, 10, 5])[0]
            after = []
            if rng.random() < 0.25:
                for _ in range(rng.randint(1, 2)):
                    up = self.recent(rng, 30)
                    if up and up[0] not in after and up[1] not in after:
                        after.append(up[0] if rng.random() < 0.7 else up[1])
            args = ["submit", "--name", name, "--cwd", self.hb, "--backoff", "500ms"]
            for a in after:
                args += ["--after", a]
            args += ["--", "sh", "-c", task_script(self.hb, beats, mode), e2e.TOKEN]
            rec.update(name=name, after=after, beats=beats, mode=mode)
        elif f in ("cancel", "restart"):
            target = self.recent(rng, 20) if f == "cancel" else self.recent(rng, 200, skip=15)
            if target is None:
                return
            args = [f, target[0]]
            rec.update(id=target[0])
        else:
            args = ["list"]
        self.h.add(dict(rec, type="invoke"))
        rc, out, err = self.c.cli(node, *args, *(["--json"] if f == "read" else []),
                                  timeout=20, call_timeout=CALL_TIMEOUT)
        done = dict(rec)
        if rc == 0:
            done["type"] = "ok"
            if f == "submit":
                done["id"] = out.split()[-1] if out.split() else None
                with self.lock:
                    self.acked.append((done["id"], rec["name"]))
            elif f == "read":
                self.observe(node, out)
        else:
            # exit 2: the node refused (a definite failure); 3 or no exit: unknown.
            done["type"] = "fail" if rc == 2 else "info"
            done["error"] = err[-300:]
            done["exit"] = rc
        self.h.add(done)

    def observe(self, node, out):
        try:
            tasks = json.loads(out)
        except ValueError:
            return
        view = {t["id"]: [t["state"], [[a["number"], a["outcome"], a.get("restarted_from")]
                                       for a in t.get("attempts", [])]] for t in tasks}
        with self.obs_lock:
            self.obs.write(json.dumps({"time": self.h.now(), "node": node.name, "tasks": view}) + "\n")
            self.obs.flush()

    def worker(self, w):
        rng = random.Random(self.seed * 1000 + w)
        kinds, weights = list(OP_WEIGHTS), list(OP_WEIGHTS.values())
        while not self.stopping.is_set():
            try:
                self.run_op(f"w{w}", rng, rng.choices(kinds, weights)[0])
            except Exception as e:  # noqa: BLE001 -- a harness error is recorded, not fatal
                self.h.add({"process": f"w{w}", "f": "error", "type": "info", "error": repr(e)})
            self.stopping.wait(rng.uniform(*PAUSE_S))

    def start(self):
        for w in range(WORKERS):
            t = threading.Thread(target=self.worker, args=(w,), name=f"worker-{w}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=30)
        with self.obs_lock:
            self.obs.close()
