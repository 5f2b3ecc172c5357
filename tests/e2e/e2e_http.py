#!/usr/bin/env python3
"""Issue 8, HTTP: a real node started with --http on loopback takes tasks by POST (one task,
a pipeline with `after`, and bad bodies refused with 400 and the reason), lists them with
filters and a paging cursor, shows one task and its attempts, answers unknown ids with 404,
lists members and groups, serves the dashboard, and exposes /metrics that python's
prometheus_client parser reads, with figures that follow what happened. The API and
/metrics answer 401 without the cluster's bearer token (`magpie token`) or with a wrong
one; the dashboard's files need none. Garbage on the HTTP port does not take the node
down, and SIGTERM still stops it cleanly."""
import os
import socket
import sys
import urllib.error
import urllib.request

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    # scripts/bootstrap.sh installs Debian's python3-prometheus-client, which only the
    # system interpreter sees; another python3 first on PATH (pyenv, a venv) re-runs us there.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

from e2e import *

http_port = free_port()
node = Node("http", slots=2, extra=["--http", f"127.0.0.1:{http_port}"])
peer = Node("peer", slots=1, extra=["--join", node.addr])
BASE = f"http://127.0.0.1:{http_port}"
# The bearer token of the cluster key this test's nodes and CLI share (docs/security.md).
TOKEN_HEADER = "Bearer " + cli(node, "token").stdout.strip()


def request(method, path, body=None, auth=None):
    """(status, parsed JSON or text) of one HTTP request, with the cluster's token unless
    `auth` gives another Authorization header ("" for none)."""
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    auth = TOKEN_HEADER if auth is None else auth
    if auth:
        req.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            status, ctype, text = r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        status, ctype, text = e.code, e.headers.get("Content-Type", ""), e.read().decode()
    return status, (json.loads(text) if ctype.startswith("application/json") else text)


def get(path, want=200):
    status, body = request("GET", path)
    check(status == want, f"GET {path}: {status} {body}, want {want}")
    return body


def post(body, want):
    status, reply = request("POST", "/api/v1/tasks", body)
    check(status == want, f"POST {body!r}: {status} {reply}, want {want}")
    return reply


def metrics():
    text = get("/metrics")
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(families, family, name, **labels):
    for s in families[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    fail(f"no sample {name}{labels} in /metrics")


# Without the token: 401 with a JSON error saying what is missing, on the API and /metrics;
# the dashboard's files hold no data and need none.
for path in ["/api/v1/members", "/api/v1/tasks", "/metrics"]:
    for auth, words in [("", "missing Authorization"), ("Bearer " + "0" * 64, "wrong token"),
                        ("Basic dXNlcjpwYXNz", "Bearer TOKEN")]:
        status, body = request("GET", path, auth=auth)
        check(status == 401 and words in body.get("error", ""),
              f"GET {path} with Authorization {auth!r}: {status} {body}, want 401 naming {words!r}")
status, body = request("POST", "/api/v1/tasks", '{"command": "echo no"}', auth="")
check(status == 401, f"POST without a token: {status} {body}")
check(request("GET", "/", auth="")[0] == 200, "the dashboard page needs no token")
check("#token=" in open(os.path.join(node.dir, "node.log")).read(),
      "the node did not log the dashboard link with its token")

# Who we are, as the API says.
members = get("/api/v1/members")["members"]
me = [m for m in members if m["address"] == node.addr]
check(len(me) == 1, f"members has no entry for {node.addr}: {members}")
node_id = me[0]["id"]

# Submits: one task (no name needed), a pipeline with `after` by name, and bad bodies.
one = post(json.dumps({"command": ["sh", "-c", "echo one"]}), 201)
check(len(one["ids"]) == 1 and one["tasks"][0]["name"] is None, f"single submit answered {one}")
pipe = post(json.dumps({"tasks": [
    {"name": "first", "command": "echo first"},
    {"name": "second", "command": ["@sleep", "0.1"], "after": ["first"], "priority": 80},
]}), 201)
check([t["name"] for t in pipe["tasks"]] == ["first", "second"], f"pipeline answered {pipe}")
ids = one["ids"] + pipe["ids"]

for body, words in [
    ('{"command": "x", "slots": "many"}', "slots"),
    ('{"command": "x", "colour": "red"}', "unknown field 'colour'"),
    ('{"tasks": [{"name": "a", "command": "x", "after": ["nope"]}]}', "nope"),
    ('{"name": "no command"}', "command"),
    ('{"command": ', "not valid JSON"),
    ('"just a string"', "task object"),
    ('{"tasks": [{"name": "a", "command": "x", "after": "b"}, '
     '{"name": "b", "command": "y", "after": "a"}]}', "cycle"),
]:
    err = post(body, 400)
    check(words in err.get("error", ""), f"POST {body!r}: error {err}, want it to mention {words!r}")

# Every task ends succeeded; a task and its history show the attempt that ran it.
wait_ended(node, ids, 60)
task = get(f"/api/v1/tasks/{pipe['ids'][1]}")
check(task["id"] == pipe["ids"][1] and task["name"] == "second" and task["state"] == "succeeded",
      f"GET task: {task}")
check(task["priority"] == 80 and task["after"] == [pipe["ids"][0]], f"spec not kept: {task}")
by_name = get("/api/v1/tasks/first")
check(by_name["id"] == pipe["ids"][0], f"GET by name: {by_name}")
hist = get(f"/api/v1/tasks/{ids[0]}/history")
check(len(hist["attempts"]) >= 1, f"history has no attempts: {hist}")
last = hist["attempts"][-1]
check(last["number"] >= 1 and last["exit_code"] == 0 and last["outcome"] == "succeeded"
      and last["node"] and last["started_at"] and last["ended_at"], f"attempt: {last}")
group = ids[0].rsplit("-", 1)[0]
err = get(f"/api/v1/tasks/{group}-999999", want=404)
check("999999" in err["error"], f"404 body: {err}")
get(f"/api/v1/tasks/{group}-999999/history", want=404)

# Lists: filters, and a cursor that walks every task exactly once.
listed = get("/api/v1/tasks")
check(sorted(t["id"] for t in listed["tasks"]) == sorted(ids) and listed["next_cursor"] is None,
      f"list: {[t['id'] for t in listed['tasks']]} cursor {listed['next_cursor']}")
walked, cursor, pages = [], None, 0
while True:
    page = get("/api/v1/tasks?limit=1" + (f"&cursor={cursor}" if cursor else ""))
    walked += [t["id"] for t in page["tasks"]]
    cursor, pages = page["next_cursor"], pages + 1
    check(pages <= 10, "the cursor does not end")
    if cursor is None:
        break
check(walked == [t["id"] for t in listed["tasks"]], f"paged {walked}")
named = get("/api/v1/tasks?name=second")["tasks"]
check([t["id"] for t in named] == [pipe["ids"][1]], f"name filter: {named}")
check(len(get("/api/v1/tasks?state=succeeded")["tasks"]) == 3, "state filter succeeded")
check(get("/api/v1/tasks?state=failed")["tasks"] == [], "state filter failed")
for bad in ["state=weird", "limit=0", "limit=x", "cursor=nosuch-1"]:
    get(f"/api/v1/tasks?{bad}", want=400)
get("/api/v1/nothing", want=404)
check(request("DELETE", "/api/v1/tasks")[0] in (404, 405), "DELETE should be refused")

# Groups: this node leads its home group (a snapshot at most a second old); the peer shows
# up in members.
deadline = time.time() + 20
while time.time() < deadline:
    groups = get("/api/v1/groups")
    alive = [m for m in get("/api/v1/members")["members"] if m["state"] == "alive"]
    home = [g for g in groups["groups"] if g["home"]]
    if len(alive) == 2 and home and home[0]["tasks"]["succeeded"] == 3:
        break
    time.sleep(0.2)
check(len(alive) == 2, f"members: {alive}")
home = [g for g in groups["groups"] if g["home"]]
check(len(home) == 1 and home[0]["id"] == group, f"groups: {groups}")
check(home[0]["leader"] == node_id and home[0]["role"] == "leader" and home[0]["term"] >= 1
      and home[0]["commit_index"] >= 3, f"home group: {home[0]}")
check(home[0]["tasks"]["succeeded"] == 3, f"home group tasks: {home[0]['tasks']}")

# The dashboard is served from the binary.
page = get("/")
check("<html" in page and "/app.js" in page and "/style.css" in page, "dashboard page")
check("/api/v1/groups" in get("/app.js") and "table" in get("/style.css"), "dashboard files")
check("#token=" in get("/app.js") and "Authorization" in get("/app.js"),
      "the dashboard does not send the token from its link")

# /metrics: parsed by prometheus_client; the figures follow what happened (the snapshot is
# at most a second old).
deadline = time.time() + 15
while time.time() < deadline:
    fam = metrics()
    if (sample(fam, "magpie_tasks", "magpie_tasks", group=group, state="succeeded") == 3
            and sample(fam, "magpie_gossip_members", "magpie_gossip_members", state="alive") == 2):
        break
    time.sleep(0.3)
types = {
    "magpie_tasks": "gauge", "magpie_tasks_submitted": "counter",
    "magpie_task_finishes": "counter", "magpie_slots": "gauge", "magpie_slots_used": "gauge",
    "magpie_tasks_stolen": "counter", "magpie_tasks_given": "counter",
    "magpie_stale_finishes_rejected": "counter", "magpie_raft_term": "gauge",
    "magpie_raft_commit_index": "gauge", "magpie_raft_leader": "gauge",
    "magpie_gossip_members": "gauge", "magpie_storage_write_seconds": "histogram",
}
for name, kind in types.items():
    check(name in fam, f"/metrics has no family {name}: {sorted(fam)}")
    check(fam[name].type == kind, f"{name} is a {fam[name].type}, want {kind}")
    check(fam[name].documentation, f"{name} has no HELP")
check(sample(fam, "magpie_tasks", "magpie_tasks", group=group, state="succeeded") == 3,
      "magpie_tasks succeeded")
check(sample(fam, "magpie_tasks", "magpie_tasks", group=group, state="running") == 0,
      "magpie_tasks running")
check(sample(fam, "magpie_tasks_submitted", "magpie_tasks_submitted_total", group=group) == 3,
      "submitted counter")
check(sample(fam, "magpie_task_finishes", "magpie_task_finishes_total", group=group,
             outcome="succeeded") == 3, "finishes counter")
check(sample(fam, "magpie_slots", "magpie_slots") == 2, "slots")
check(sample(fam, "magpie_raft_leader", "magpie_raft_leader", group=group, leader=node_id) == 1,
      "raft leader")
check(sample(fam, "magpie_raft_term", "magpie_raft_term", group=group) == home[0]["term"],
      "raft term")
check(sample(fam, "magpie_gossip_members", "magpie_gossip_members", state="alive") == 2,
      "gossip members alive")
synced = [s for s in fam["magpie_storage_write_seconds"].samples if s.labels.get("sync") == "true"]
buckets = [s.value for s in synced if s.name.endswith("_bucket")]
count = [s.value for s in synced if s.name.endswith("_count")][0]
check(count >= 3 and buckets == sorted(buckets) and buckets[-1] == count,
      f"write histogram: buckets {buckets} count {count}")

# Garbage on the HTTP port, an oversized body: refused, and the node keeps serving.
for junk in [b"\x00\xff\x16\x03\x01garbage\r\n\r\n", b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n",
             b"POST /api/v1/tasks HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n{"]:
    with socket.create_connection(("127.0.0.1", http_port), timeout=5) as s:
        try:
            s.sendall(junk)
            s.recv(1024)
        except OSError:
            pass
check(node.proc.poll() is None, "the node died of bad HTTP input")
check(get("/api/v1/members")["members"], "the node stopped answering after bad HTTP input")

check(peer.term() == 0, "peer did not stop cleanly")
check(node.term() == 0, "node did not stop cleanly on SIGTERM with HTTP running")
print("ok: e2e_http")
