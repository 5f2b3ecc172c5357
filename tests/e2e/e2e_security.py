#!/usr/bin/env python3
"""Issue 9, security: only holders of the cluster key get in (docs/security.md).

Three nodes that share key A (made by the first of them at $MAGPIE_HOME/cluster.key, as on
any first start) form a cluster and run tasks, some of them stolen. A fourth node with key
B, told to join them, never shows up in their members lists, is refused by their handshakes
(their logs count the refusals) and runs none of twenty tasks submitted while it has free
slots. A CLI with key B, with no key file, or with --insecure gets a clear refusal naming
what is missing; a client key of its own works once listed in --allow-keys and is refused
again once taken out. HTTP answers 401 without the token or with key B's, 200 with A's.
A node started with --insecure answers only a CLI with --insecure (and HTTP without a
token). Rotation as docs/security.md describes it (stop all, new key, start all) keeps
every task, and the old key and token are refused afterwards.
Every check is of a refusal as much as of a success, so this fails if authentication is off.
Loopback only; each node in its own temporary folder; MAGPIE_HOME points into that folder,
never at the user's ~/.config; bounded: about a minute and a half."""
import json
import os
import re
import stat
import subprocess
import time
import urllib.error
import urllib.request

import e2e
from e2e import *

HOME_A = tmp_path("home-a")  # the default key's folder for this test: key A is made here
os.environ["MAGPIE_HOME"] = HOME_A
os.environ.pop("MAGPIE_CLUSTER_KEY_FILE", None)
KEY_A = os.path.join(HOME_A, "cluster.key")


def magpie(*args, env=None):
    """Runs the CLI with the given environment changes (None values unset a variable)."""
    e = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return subprocess.run([os.path.join(BIN, "magpie")] + list(args), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, env=e)


def members(node, *key_args):
    r = cli(node, "members", "--json", *key_args, check=False)
    return json.loads(r.stdout) if r.returncode == 0 else []


def refused_so_far(node):
    """The highest 'refused so far' count the node has logged (0 if none)."""
    with open(os.path.join(node.dir, "node.log"), errors="replace") as f:
        counts = [int(n) for n in re.findall(r"refused so far: (\d+)", f.read())]
    return max(counts, default=0)


def http_status(port, path, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# --- Key A: made by the first node on its first start, private to this user.
allow_file = tmp_path("allow-keys")
open(allow_file, "w").write("# client keys allowed besides the cluster's own\n")
http_port = free_port()
a0 = Node("a0", slots=2, extra=["--http", f"127.0.0.1:{http_port}", "--allow-keys", allow_file])
check(os.path.exists(KEY_A), f"the first node made no key at {KEY_A}")
check(stat.S_IMODE(os.stat(KEY_A).st_mode) == 0o600, f"{KEY_A} is not mode 0600")
check(stat.S_IMODE(os.stat(HOME_A).st_mode) == 0o700, f"{HOME_A} is not mode 0700")
nodes_a = [a0] + [Node(f"a{i}", slots=2, extra=["--join", a0.addr]) for i in (1, 2)]
deadline = time.time() + 30
while not all(sum(m["state"] == "alive" for m in members(n)) == 3 for n in nodes_a):
    check(time.time() < deadline, f"3 nodes with key A did not form within 30 s: {members(a0)}")
    time.sleep(0.2)
id_of = {m["address"]: m["id"] for m in members(a0)}
ids_a = {id_of[n.addr] for n in nodes_a}

# --- Key B: another cluster's. Its node is told to join A's nodes.
KEY_B = tmp_path("b.key")
r = magpie("keygen", "--out", KEY_B)
check(r.returncode == 0 and os.path.exists(KEY_B), f"keygen --out: {r.returncode} {r.stderr}")
check(stat.S_IMODE(os.stat(KEY_B).st_mode) == 0o600, "keygen --out made a file others can read")
refused_before_b = refused_so_far(a0)
os.environ["MAGPIE_CLUSTER_KEY_FILE"] = KEY_B  # for node b and the CLI that checks it started
b = Node("b", slots=4, extra=["--join", a0.addr, "--join", nodes_a[1].addr])
b_members = members(b)
del os.environ["MAGPIE_CLUSTER_KEY_FILE"]
check(len(b_members) == 1, f"node b should see only itself: {b_members}")
b_id = b_members[0]["id"]

# Cannot join: in 8 s (gossip converges in well under one here) no A node lists it.
deadline = time.time() + 8
while time.time() < deadline:
    for n in nodes_a:
        seen = [m for m in members(n) if m["address"] == b.addr or m["id"] == b_id]
        check(not seen, f"node {n.addr} lists the node with key B: {seen}")
    time.sleep(0.5)
check(len(members(b, "--cluster-key", KEY_B)) == 1, "node b came to see A's nodes")

# Cannot gossip: A's nodes refused its handshakes, and their logs say so and count them.
deadline = time.time() + 10
while refused_so_far(a0) <= refused_before_b and time.time() < deadline:
    time.sleep(0.2)
check(refused_so_far(a0) > refused_before_b, "a0's log counts no refused handshake from node b: "
      + a0.log_tail())
log_a0 = open(os.path.join(a0.dir, "node.log"), errors="replace").read()
check("does not hold this cluster's key" in log_a0, "a0's log does not say why it refused")

# Cannot steal: twenty half-second tasks on a0 while b has four idle slots; A's nodes run
# them all (some stolen from a0), b none.
t0 = time.time()
ids = [submit(a0, "sh", "-c", "sleep 0.5", TOKEN) for _ in range(20)]
wait_ended(a0, ids, 60)
stolen = 0
for tid in ids:
    t = status(a0, tid)
    check(t["state"] == "succeeded", f"task {tid} ended {t['state']}")
    last = t["attempts"][-1]
    check(last["node"] != b_id, f"task {tid} ran on the node with key B")
    check(last["node"] in ids_a, f"task {tid} ran on {last['node']}, not an A node")
    stolen += last["node"] != id_of[a0.addr]
check(stolen >= 1, "no task was stolen among the A nodes")
check(json.loads(cli(b, "list", "--json", "--cluster-key", KEY_B).stdout) == [],
      "node b holds tasks")

# --- Clients. With key B: refused, exit 3, and the message names the key used.
r = magpie("--node", a0.addr, "--cluster-key", KEY_B, "members")
check(r.returncode == 3 and KEY_B in r.stderr and "cluster key" in r.stderr,
      f"CLI with key B: rc {r.returncode}, stderr {r.stderr!r}")
r = magpie("--node", a0.addr, "members", env={"MAGPIE_CLUSTER_KEY_FILE": KEY_B})
check(r.returncode == 3 and KEY_B in r.stderr and "MAGPIE_CLUSTER_KEY_FILE" in r.stderr,
      f"CLI with $MAGPIE_CLUSTER_KEY_FILE=key B: rc {r.returncode}, stderr {r.stderr!r}")
# With no key file: refused before any connection, exit 2, saying where it looked.
empty_home = tmp_path("home-empty")
r = magpie("--node", a0.addr, "members", env={"MAGPIE_HOME": empty_home})
check(r.returncode == 2 and "no cluster key" in r.stderr and empty_home in r.stderr,
      f"CLI without a key: rc {r.returncode}, stderr {r.stderr!r}")
check(not os.path.exists(os.path.join(empty_home, "cluster.key")), "the CLI made a key")
# --insecure against a secure node: refused, and told to leave --insecure out.
r = magpie("--node", a0.addr, "--insecure", "members")
check(r.returncode == 3 and "--insecure" in r.stderr, f"CLI --insecure: {r.returncode} {r.stderr!r}")
# With the right key everything works (as all of the above did through e2e.py's CLI).
r = magpie("--node", a0.addr, "status", ids[0])
check(r.returncode == 0 and "succeeded" in r.stdout, f"CLI with key A: {r.returncode} {r.stderr}")

# A client key of one's own: refused by the ZAP handler until --allow-keys lists it, then
# allowed (the file is re-read when it changes), refused again once taken out.
ALICE = tmp_path("alice.key")
r = magpie("keygen", "--client", "--out", ALICE)
alice_public = r.stderr.strip().splitlines()[-1] if r.returncode == 0 else ""
check(r.returncode == 0 and len(alice_public) == 40, f"keygen --client: {r.returncode} {r.stderr}")
refused_before_alice = refused_so_far(a0)
r = magpie("--node", a0.addr, "--cluster-key", ALICE, "members")
check(r.returncode == 3 and "refused this client's key" in r.stderr and ALICE in r.stderr,
      f"unlisted client key: rc {r.returncode}, stderr {r.stderr!r}")


def alice_members(want_rc, within_s=10):
    deadline = time.time() + within_s
    while True:
        r = magpie("--node", a0.addr, "--cluster-key", ALICE, "members", "--json")
        if r.returncode == want_rc or time.time() > deadline:
            return r
        time.sleep(0.5)


with open(allow_file, "a") as f:
    f.write(alice_public + " alice\n")
r = alice_members(0)
check(r.returncode == 0 and len(json.loads(r.stdout)) == 3, f"listed client key: {r.returncode} {r.stderr}")
time.sleep(1.1)  # a new modification time, whatever the file system's resolution
open(allow_file, "w").write("# alice revoked\n")
r = alice_members(3)
check(r.returncode == 3 and "refused this client's key" in r.stderr, f"revoked key: {r.returncode} {r.stderr}")
r = magpie("token", "--cluster-key", ALICE)
check(r.returncode == 2 and "client key" in r.stderr, f"token from a client key: {r.returncode} {r.stderr}")
deadline = time.time() + 10
while refused_so_far(a0) <= refused_before_alice and time.time() < deadline:
    time.sleep(0.2)
check(refused_so_far(a0) > refused_before_alice, "a0 logged no refusal of the client keys")

# --- HTTP: the API and /metrics need A's token; B's token and none are refused.
token_a = magpie("token").stdout.strip()
token_b = magpie("token", "--cluster-key", KEY_B).stdout.strip()
check(len(token_a) == 64 and len(token_b) == 64 and token_a != token_b, "tokens")
check(token_a not in open(KEY_A).read(), "the token is the key itself")
for path in ["/api/v1/members", "/metrics"]:
    code, body = http_status(http_port, path, None)
    check(code == 401 and "Authorization" in body, f"GET {path} without a token: {code} {body}")
    code, body = http_status(http_port, path, token_b)
    check(code == 401 and "wrong token" in body, f"GET {path} with key B's token: {code} {body}")
    code, body = http_status(http_port, path, token_a)
    check(code == 200, f"GET {path} with the token: {code} {body}")
check(http_status(http_port, "/api/v1/members", token_a)[1].count('"alive"') == 3,
      "the HTTP API does not list A's three nodes")

# --- --insecure: a node without keys answers a CLI with --insecure and HTTP without a token;
# a CLI with the key is refused with a message that points at --insecure.
plain_dir = tmp_path("plain")
os.makedirs(plain_dir)
plain_addr, plain_http = f"127.0.0.1:{free_port()}", free_port()
plain = subprocess.Popen([os.path.join(BIN, "magpie-node"), "--data-dir", os.path.join(plain_dir, "data"),
                          "--listen", plain_addr, "--slots", "1", "--insecure", "--http",
                          f"127.0.0.1:{plain_http}"],
                         stdout=open(os.path.join(plain_dir, "node.log"), "ab"), stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
e2e._procs.append(plain)
deadline = time.time() + 30
while magpie("--node", plain_addr, "--insecure", "members").returncode != 0:
    check(plain.poll() is None and time.time() < deadline, "the --insecure node did not answer")
    time.sleep(0.2)
r = magpie("--node", plain_addr, "members")
check(r.returncode == 3 and "--insecure" in r.stderr, f"keyed CLI to an --insecure node: {r.returncode} {r.stderr!r}")
check(http_status(plain_http, "/api/v1/members", None)[0] == 200, "--insecure HTTP wants a token")
check("--insecure: peers, clients and HTTP are neither authenticated nor encrypted"
      in open(os.path.join(plain_dir, "node.log")).read(), "the --insecure node did not warn")

# --- Rotation (docs/security.md): stop every node, give each the new key, start them again.
# The tasks are still there, the cluster forms again, and the old key is refused.
KEY_C = tmp_path("c.key")
check(magpie("keygen", "--out", KEY_C).returncode == 0, "keygen for the rotation")
for n in nodes_a:
    check(n.term() == 0, f"node {n.addr} did not stop cleanly")
os.environ["MAGPIE_CLUSTER_KEY_FILE"] = KEY_C
for n in nodes_a:
    n.start()
deadline = time.time() + 30
while not all(sum(m["state"] == "alive" for m in members(n)) == 3 for n in nodes_a):
    check(time.time() < deadline, f"the rotated cluster did not form within 30 s: {members(a0)}")
    time.sleep(0.2)
check(all(status(a0, tid)["state"] == "succeeded" for tid in ids), "tasks lost in the rotation")
r = magpie("--node", a0.addr, "--cluster-key", KEY_A, "members")
check(r.returncode == 3 and KEY_A in r.stderr, f"the old key after the rotation: {r.returncode} {r.stderr!r}")
check(http_status(http_port, "/api/v1/members", token_a)[0] == 401, "the old token after the rotation")
token_c = magpie("token").stdout.strip()
check(http_status(http_port, "/api/v1/members", token_c)[0] == 200, "the new token after the rotation")

for n in nodes_a + [b]:
    check(n.proc.poll() is None, f"node {n.addr} exited: {n.log_tail()}")
print(f"ok: e2e_security (20 tasks in {time.time() - t0:.1f} s, {stolen} stolen among A's "
      f"nodes, none on B; a0 refused {refused_so_far(a0)} handshakes)")
