#!/usr/bin/env python3
"""Replica groups done-when 4 (issue 5): a real-process partition test.

Three magpie-node processes, each in a network namespace this test creates, joined through
a bridge in the root namespace (10.213.0.1-3, one veth pair each). Thirty ~2 s tasks are
submitted to A (after two ~15 s ones, which outlast the lease); while A runs them, A's link to the bridge is set down: A is a minority of
one. The majority side (B and C) must finish every task: the leader they elect for A's
group waits out one lease and re-runs what A was running. Then the link comes back up and
every node must agree on every task's state and attempts; no two attempts of one task may
have overlapped (the tasks' own start/beat/end stamps, and the records).

Needs root and `ip netns`/veth/bridge; when they cannot be created the test prints SKIP and
exits 77 (ctest SKIP_RETURN_CODE). Namespaces and links are removed on every exit path.

    sudo MAGPIE_BIN_DIR=build/bin python3 tests/e2e/e2e_partition.py
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
from e2e import TOKEN, fail, check, tmp_path  # noqa: E402
from e2e_failover import (Node, wait_cluster, beat_cmd, read_stamps, stamp_overlaps,  # noqa: E402
                          record_overlaps, wait_all_ended, states_of, task_map, fmt, LEASE_S,
                          LONG_TASKS, LONG_BEATS)

SKIP = 77
TASKS = 30
SLOTS = 4
PORT = 7400
SUBNET = "10.213.0"
BOUND_S = 120.0   # the whole test after setup
SUFFIX = str(os.getpid() % 100000)
NAMES = "abc"
NS = {x: f"mgp{SUFFIX}{x}" for x in NAMES}
BRIDGE = f"mgpbr{SUFFIX}"
HOST_IF = {x: f"mgph{SUFFIX}{x}" for x in NAMES}
NS_IF = {x: f"mgpn{SUFFIX}{x}" for x in NAMES}
IP = {x: f"{SUBNET}.{i + 1}" for i, x in enumerate(NAMES)}


def skip(msg):
    print("SKIP: " + msg, flush=True)
    sys.exit(SKIP)


def ip(*args, ok_fail=False):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=15)
    if r.returncode != 0 and not ok_fail:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def in_ns(x):
    return ["nsenter", f"--net=/run/netns/{NS[x]}"]


def teardown():
    """Kills every node and task process, then removes the links and namespaces. Idempotent."""
    for p in e2e._procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    for pid in e2e.processes_with(TOKEN):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for x in NAMES:
        ip("link", "del", HOST_IF[x], ok_fail=True)
        ip("netns", "del", NS[x], ok_fail=True)
    ip("link", "del", BRIDGE, ok_fail=True)


def setup():
    """The namespaces, bridge and veths; SKIP (77) if this machine cannot make them."""
    if os.geteuid() != 0:
        skip("needs root to create network namespaces")
    for tool in ("ip", "nsenter"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            skip(f"no `{tool}` on this machine")
    try:
        ip("netns", "add", NS["a"])
    except RuntimeError as e:
        skip(f"cannot create a network namespace: {e}")
    try:
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("link", "set", BRIDGE, "up")
        for x in NAMES:
            if x != "a":
                ip("netns", "add", NS[x])
            ip("link", "add", HOST_IF[x], "type", "veth", "peer", "name", NS_IF[x])
            ip("link", "set", NS_IF[x], "netns", NS[x])
            ip("link", "set", HOST_IF[x], "master", BRIDGE)
            ip("link", "set", HOST_IF[x], "up")
            ip("-n", NS[x], "addr", "add", f"{IP[x]}/24", "dev", NS_IF[x])
            ip("-n", NS[x], "link", "set", NS_IF[x], "up")
            ip("-n", NS[x], "link", "set", "lo", "up")
    except RuntimeError as e:
        skip(f"cannot create veth/bridge links: {e}")
    # Connectivity: a TCP listener in c's namespace, a connect from a's.
    server = subprocess.Popen(in_ns("c") + [sys.executable, "-c",
                              "import socket; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                              f"s.bind(('{IP['c']}', {PORT})); s.listen(1); s.settimeout(10); c, _ = s.accept(); c.sendall(b'ok')"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got = b""
    deadline = time.time() + 10
    while time.time() < deadline and got != b"ok":
        r = subprocess.run(in_ns("a") + [sys.executable, "-c",
                           f"import socket, sys; s = socket.create_connection(('{IP['c']}', {PORT}), 1); "
                           "sys.stdout.write(s.recv(2).decode())"], capture_output=True, timeout=10)
        got = r.stdout
        if got != b"ok":
            time.sleep(0.2)
    server.kill()
    server.wait()
    if got != b"ok":
        skip("namespaces and links were created but TCP between them does not work here")


def agreement(nodes, ids, deadline):
    """Waits until every node's `list --json` shows the same state and attempt outcomes for
    every id; returns the views."""
    last = None
    while time.time() < deadline:
        views = {n.name: task_map(n) for n in nodes}
        if all(v is not None for v in views.values()):
            ref = states_of(views[nodes[0].name], ids) if all(i in views[nodes[0].name] for i in ids) else None
            if ref is not None and all(all(i in v for i in ids) and states_of(v, ids) == ref
                                       for v in views.values()):
                return views
        last = views
        time.sleep(0.5)
    diff = {}
    if last:
        for name, v in last.items():
            diff[name] = None if v is None else {i: v.get(i, {}).get("state", "missing") for i in ids[:3]}
    fail(f"the nodes do not agree on every task after heal: {diff}")


def main():
    setup()
    t0 = time.time()
    deadline = t0 + BOUND_S
    a = Node("p-a", IP["a"], port=PORT, slots=SLOTS, prefix=in_ns("a"))
    b = Node("p-b", IP["b"], port=PORT, slots=SLOTS, join=[a.addr], prefix=in_ns("b"))
    c = Node("p-c", IP["c"], port=PORT, slots=SLOTS, join=[a.addr], prefix=in_ns("c"))
    nodes = [a, b, c]
    form_s = wait_cluster(nodes, 40)
    stamps = tmp_path("stamps-partition")
    long_ids = [a.submit(*beat_cmd(stamps, LONG_BEATS)) for _ in range(LONG_TASKS)]
    ids = long_ids + [a.submit(*beat_cmd(stamps)) for _ in range(TASKS)]
    while True:
        running = [t for t, atts in read_stamps(stamps).items()
                   for s in atts.values() if s.node == a.id and s.ended is None]
        if len(running) >= SLOTS:
            break
        check(time.time() < deadline - 90, f"A never ran {SLOTS} tasks at once")
        time.sleep(0.05)
    time.sleep(0.5)

    t_cut = time.time()
    ip("link", "set", HOST_IF["a"], "down")
    majority = wait_all_ended([b, c], ids, min(deadline, t_cut + 60), "majority side during the partition")
    t_majority = time.time() - t_cut
    for name, m in majority.items():
        bad = [i for i in ids if m[i]["state"] != "succeeded"]
        check(not bad, f"{name} during the partition: not succeeded: {[(i, m[i]['state']) for i in bad[:5]]}")
    a_view = task_map(a)  # A, cut off: what it says now (it must not contradict the majority later)

    ip("link", "set", HOST_IF["a"], "up")
    t_heal = time.time()
    views = agreement(nodes, ids, min(deadline, t_heal + 40))
    t_agree = time.time() - t_heal
    ref = views[b.name]
    problems = []
    for tid in ids:
        t = ref[tid]
        if t["state"] != "succeeded":
            problems.append(f"{tid}: {t['state']}")
        wins = [x for x in t["attempts"] if x["outcome"] == "succeeded"]
        if len(wins) != 1:
            problems.append(f"{tid}: {len(wins)} succeeded attempts")
        problems += [f"record overlap {o}" for o in record_overlaps(t)]
        if a_view and tid in a_view and a_view[tid]["state"] in ("failed", "cancelled"):
            problems.append(f"{tid}: A said {a_view[tid]['state']} while cut off")
    check(not problems, f"{len(problems)} problems: {problems[:6]}")

    spans = read_stamps(stamps)
    check(set(spans) == set(ids), f"{len(set(ids) - set(spans))} tasks never wrote a stamp")
    bad, min_gap = stamp_overlaps(spans)
    check(not bad, f"attempts of one task overlapped (task, attempt, attempt, s): {bad[:5]}")
    orphan_rerun, outlived, long_on_a = [], [], []
    for tid, atts in spans.items():
        on_a = [n for n, s in atts.items() if s.node == a.id and s.first <= t_cut and (s.ended is None or s.ended > t_cut)]
        if not on_a:
            continue
        old = max(on_a)
        if atts[old].last > t_cut + LEASE_S + 1.0:
            outlived.append((tid, old, round(atts[old].last - t_cut, 2)))
        later = [s.first for n, s in atts.items() if n > old]
        check(later, f"{tid}, running on A at the cut, was never re-run")
        if tid in long_ids:
            long_on_a.append(round(atts[old].last - t_cut, 2))
        else:
            orphan_rerun.append(min(later) - t_cut)
    check(orphan_rerun, "no task was running on A at the cut")
    check(not outlived, f"task processes on A outlived the lease after the cut: {outlived}")
    a_states = {}
    if a_view:
        for i in ids:
            s = a_view.get(i, {}).get("state", "missing")
            a_states[s] = a_states.get(s, 0) + 1
    print(f"PASS: {TASKS}/{TASKS} (+{LONG_TASKS} long) succeeded on the majority side {t_majority:.1f} s after A was cut off "
          f"(cluster formed in {form_s:.1f} s); {len(orphan_rerun)} tasks A was running re-ran "
          f"({fmt(orphan_rerun)} after the cut); A's own view while cut off: {a_states or 'unreachable'}; "
          f"A's long tasks last beat {sorted(long_on_a)} s after the cut (lease {LEASE_S:.0f} s); "
          f"all 3 nodes agree {t_agree:.1f} s after heal; no overlap "
          f"(smallest gap between attempts {min_gap if min_gap is None else round(min_gap, 3)} s)", flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        teardown()
