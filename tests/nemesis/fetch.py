#!/usr/bin/env python3
"""Reads the cluster's state over the nodes' HTTP API (docs/api.md), in one process.

Run in the switch namespace (the nodes' addresses are reachable only there), with a JSON
request on stdin and a JSON answer on stdout:

  {"what": "views", "nodes": {"n1": "10.214.0.11:8400", ...}, "token": T}
      -> {"groups": {node: GET /api/v1/groups or null},
          "lists":  {node: every task of GET /api/v1/tasks, page by page, or null}}
  {"what": "records", "nodes": ..., "token": T, "ids": [...], "leaders": {group: node}}
      -> {"records": {id: GET /api/v1/tasks/{id}/history}, "asked": {id: node}}
         asked of the node leading the task's group (`leaders`), else of a node chosen
         by the id; another node if that one does not answer.

Far cheaper than a `magpie` process per task: the final read of a run asks for a record
of every task, which took minutes through the CLI on two cores.
"""
import concurrent.futures
import json
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 10


def get(addr, path, token):
    req = urllib.request.Request(f"http://{addr}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def all_tasks(addr, token):
    tasks, cursor = [], None
    for _ in range(1000):
        page = get(addr, "/api/v1/tasks?limit=1000" + (f"&cursor={cursor}" if cursor else ""), token)
        if page is None:
            return None
        tasks += page.get("tasks", [])
        cursor = page.get("next_cursor")
        if not cursor:
            return tasks
    return tasks


def views(nodes, token):
    with concurrent.futures.ThreadPoolExecutor(len(nodes)) as ex:
        g = dict(zip(nodes, ex.map(lambda n: get(nodes[n], "/api/v1/groups", token), nodes)))
        lst = dict(zip(nodes, ex.map(lambda n: all_tasks(nodes[n], token), nodes)))
    return {"groups": g, "lists": lst}


def records(nodes, token, ids, leaders):
    names = sorted(nodes)

    def one(tid):
        first = leaders.get(tid.split("-")[0]) or names[sum(map(ord, tid)) % len(names)]
        for n in [first] + [x for x in names if x != first]:
            r = get(nodes[n], f"/api/v1/tasks/{tid}/history", token)
            if r is not None:
                return tid, n, r
        return tid, None, None

    out, asked = {}, {}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        for tid, n, r in ex.map(one, ids):
            if r is not None:
                out[tid] = r
                asked[tid] = n
    return {"records": out, "asked": asked}


def main():
    req = json.load(sys.stdin)
    if req["what"] == "views":
        res = views(req["nodes"], req["token"])
    else:
        res = records(req["nodes"], req["token"], req["ids"], req.get("leaders", {}))
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
