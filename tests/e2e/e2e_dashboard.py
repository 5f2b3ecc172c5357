#!/usr/bin/env python3
"""Issue 8, the dashboard in a real browser: three real nodes on loopback (one with --http),
a diamond pipeline submitted with `magpie submit -f` and run to the end, then the page at
`/` loaded in headless Chromium (Debian's `chromium`, which scripts/bootstrap.sh installs;
no playwright, no npm). From the DOM after the page's JavaScript ran, it checks that all
three members are listed, the pipeline's tasks are in the task list, and the pipeline's DAG
is drawn (an SVG box per task, coloured by state, and an arrow per `after`), and the
task's stdout shown, when the link selects a task (#token=...&task=ID). Without the token the page says it needs one and
shows no data. A screenshot goes to <build dir>/artifacts/dashboard.png."""
import html.parser
import os
import shutil
import subprocess

from e2e import *

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
check(CHROMIUM, "no chromium on PATH: scripts/bootstrap.sh installs Debian's chromium")
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(BIN)), "artifacts")


def chromium(*args, timeout=45):
    """Runs headless Chromium once, in a fresh profile, bounded by `timeout`; its stdout."""
    profile = tmp_path("chromium-" + uuid.uuid4().hex[:8])
    os.makedirs(profile)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", "--user-data-dir=" + profile] + list(args)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, start_new_session=True)
    except subprocess.TimeoutExpired:
        fail(f"chromium did not finish within {timeout} s: {' '.join(args)}")
    check(r.returncode == 0, f"chromium exited {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout


class Dom(html.parser.HTMLParser):
    """What the checks need from a dumped DOM: the text of every element with an id (and of
    the rows of each table's body), and the attributes of the DAG's nodes and edges."""

    def __init__(self, text):
        super().__init__()
        self.stack = []      # (tag, id of the nearest element with one)
        self.text = {}       # id -> its text
        self.rows = {}       # table id -> [[cell text]]
        self.dag_nodes, self.dag_edges = [], []
        self.hidden = set()  # ids of elements with the hidden attribute
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        owner = a.get("id") or (self.stack[-1][1] if self.stack else None)
        if "id" in a and "hidden" in a:
            self.hidden.add(a["id"])
        if tag == "tr" and owner in ("members", "tasks", "groups", "attempts") \
                and any(t == "tbody" for t, _ in self.stack):
            self.rows.setdefault(owner, []).append([])
        if tag == "td" and owner in self.rows and self.rows[owner]:
            self.rows[owner][-1].append("")
        if tag == "g" and "dag-node" in a.get("class", ""):
            self.dag_nodes.append(a)
        if tag == "line" and "dag-edge" in a.get("class", ""):
            self.dag_edges.append((a.get("data-from"), a.get("data-to")))
        if tag not in ("br", "img", "input", "link", "meta", "path", "rect", "line"):
            self.stack.append((tag, owner))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, owner in self.stack[-1:]:
            if owner:
                self.text[owner] = self.text.get(owner, "") + data
                if owner in self.rows and self.rows[owner] and self.stack[-1][0] == "td":
                    self.rows[owner][-1][-1] += data


def load(url):
    # --virtual-time-budget lets the page's timers and fetches run (a few polls) before the DOM
    # is dumped.
    return Dom(chromium("--virtual-time-budget=8000", "--dump-dom", url))


# Three nodes, all joined; only the first serves HTTP.
http_port = free_port()
a = Node("a", slots=2, extra=["--http", f"127.0.0.1:{http_port}"])
b = Node("b", slots=2, extra=["--join", a.addr])
c = Node("c", slots=2, extra=["--join", a.addr])
BASE = f"http://127.0.0.1:{http_port}/"
token = cli(a, "token").stdout.strip()
check(len(token) >= 32, f"magpie token printed {token!r}")

deadline = time.time() + 20
while time.time() < deadline:
    members = json.loads(cli(a, "members", "--json").stdout)
    members = members.get("members", members) if isinstance(members, dict) else members
    if sum(1 for m in members if m.get("state") == "alive") == 3:
        break
    time.sleep(0.2)
check(sum(1 for m in members if m.get("state") == "alive") == 3, f"members: {members}")
addresses = sorted(m["address"] for m in members)

# A diamond: fetch, then left and right side by side, then join.
pipeline = tmp_path("diamond.yaml")
with open(pipeline, "w") as f:
    f.write(f"""tasks:
  - name: fetch
    command: "echo fetch {TOKEN}"
  - name: left
    command: "echo left {TOKEN}"
    after: [fetch]
  - name: right
    command: "echo right {TOKEN}"
    after: fetch
  - name: join
    command: "echo join {TOKEN}"
    after: [left, right]
""")
out = cli(a, "submit", "-f", pipeline).stdout.split("\n")
ids = dict(line.split()[:1] + line.split()[-1:] for line in out if line.strip())
check(sorted(ids) == ["fetch", "join", "left", "right"], f"submit -f printed {out}")
tasks = wait_ended(a, list(ids.values()), 30)
check(all(tasks[i]["state"] == "succeeded" for i in ids.values()),
      f"pipeline did not succeed: {[(i, tasks[i]['state']) for i in ids.values()]}")

# Without the token: the page says what it needs and shows no data.
dom = load(BASE)
check("needs the cluster's token" in dom.text.get("status", ""),
      f"no 'token needed' message without the token; status: {dom.text.get('status')!r}")
check(not dom.rows.get("members") and not dom.rows.get("tasks"),
      f"data shown without the token: {dom.rows}")
print("without the token, the page says: " + dom.text["status"].strip()[:90] + "...")

# With the token and the join task selected.
url = f"{BASE}#token={token}&task={ids['join']}"
dom = load(url)
status = dom.text.get("status", "")
check(status.startswith("updated"), f"the page did not load its data: status {status!r}")
member_rows = dom.rows.get("members", [])
check(sorted(r[1] for r in member_rows) == addresses,
      f"members listed {[r[:3] for r in member_rows]}, want {addresses}")
check(all(r[2] == "alive" for r in member_rows), f"members not alive: {member_rows}")
task_rows = {r[0]: r for r in dom.rows.get("tasks", [])}
for name, tid in ids.items():
    check(tid in task_rows and task_rows[tid][1] == name and task_rows[tid][2] == "succeeded",
          f"task {name} ({tid}) not listed as succeeded: {sorted(task_rows)}")
check("detail" not in dom.hidden and ids["join"] in dom.text.get("detail-id", ""),
      f"the link did not select {ids['join']}: {dom.text.get('detail-id')!r}")
check(dom.rows.get("attempts") and dom.rows["attempts"][-1][6] == "succeeded",
      f"the selected task's attempts: {dom.rows.get('attempts')}")
# Its output, read through the node serving the page from whichever node ran it.
check(dom.text.get("stdout", "").strip() == f"join {TOKEN}",
      f"the selected task's stdout: {dom.text.get('stdout')!r} {dom.text.get('stdout-note')!r}")
check(dom.text.get("stderr", "") == "", f"the selected task's stderr: {dom.text.get('stderr')!r}")
drawn = {n.get("data-id"): n.get("data-state") for n in dom.dag_nodes}
check(drawn == {tid: "succeeded" for tid in ids.values()},
      f"the DAG draws {drawn}, want the four tasks of the pipeline, succeeded")
want_edges = {(ids[x], ids[y]) for x, y in
              [("fetch", "left"), ("fetch", "right"), ("left", "join"), ("right", "join")]}
check(set(dom.dag_edges) == want_edges, f"the DAG's arrows {dom.dag_edges}, want {want_edges}")
print(f"with the token: {len(member_rows)} members, {len(task_rows)} tasks, "
      f"a DAG of {len(drawn)} tasks and {len(dom.dag_edges)} arrows")

# The screenshot artifact.
os.makedirs(ARTIFACTS, exist_ok=True)
shot = os.path.join(ARTIFACTS, "dashboard.png")
if os.path.exists(shot):
    os.remove(shot)
chromium("--virtual-time-budget=8000", "--hide-scrollbars", "--window-size=1400,1000",
         "--screenshot=" + shot, url)
check(os.path.exists(shot) and os.path.getsize(shot) > 10000, f"no screenshot at {shot}")
with open(shot, "rb") as f:
    check(f.read(8) == b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG")
print("screenshot: " + shot)

for n in (c, b, a):
    check(n.term() == 0, "a node did not stop cleanly")
print("ok: e2e_dashboard")
