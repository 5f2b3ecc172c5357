#!/usr/bin/env python3
"""Issue 10, done-when 3 (cached results): two submissions with the same cache key run
once, and the second is shown as a cache hit with the first one's output. With
--cache-key auto, changing a declared input file changes the key and the task runs again."""
from e2e import *

node = Node("cache", slots=2)
counter = tmp_path("runs.txt")
# Each real run appends a line to `counter`, so the file counts runs.
cmd = ["sh", "-c", f"echo ran >> {counter}; echo result-42; true {TOKEN}"]


def runs():
    try:
        with open(counter) as f:
            return len(f.read().splitlines())
    except FileNotFoundError:
        return 0


first = submit(node, *cmd, flags=("--cache-key", "answer"))
wait_ended(node, [first], 30)
s1 = status(node, first)
check(s1["state"] == "succeeded", f"first run: {s1['state']}")
check(not s1["cache_hit"] and len(s1["attempts"]) == 1, "the first submission must run")
check(runs() == 1, f"expected 1 run, counted {runs()}")

second = submit(node, *cmd, flags=("--cache-key", "answer"))
wait_ended(node, [second], 30)
s2 = status(node, second)
check(s2["state"] == "succeeded", f"second: {s2['state']}")
check(s2["cache_hit"] and s2["cached_from"] == first, f"second is not a cache hit of {first}: {s2}")
check(len(s2["attempts"]) == 0, "a cache hit must have no attempts")
check("result-42" in s2["stdout_tail"], "a cache hit must carry the first run's output")
check(runs() == 1, f"the second submission ran: {runs()} runs")
text = cli(node, "status", second).stdout
check("cache hit" in text, "`magpie status` does not show the cache hit:\n" + text)

# auto: the key covers the declared input's contents.
data = tmp_path("input.txt")
with open(data, "w") as f:
    f.write("v1\n")
auto = ("--cache-key", "auto", "--input", data)
a1 = submit(node, *cmd, flags=auto)
a2 = submit(node, *cmd, flags=auto)  # may be submitted before a1 ends: then it runs too
wait_ended(node, [a1, a2], 30)
a3 = submit(node, *cmd, flags=auto)
wait_ended(node, [a3], 30)
check(status(node, a3)["cache_hit"], "auto key with unchanged input must hit")
before = runs()
with open(data, "w") as f:
    f.write("v2\n")
a4 = submit(node, *cmd, flags=auto)
wait_ended(node, [a4], 30)
s4 = status(node, a4)
check(not s4["cache_hit"] and runs() == before + 1, "a changed input must run again")
check(s4["cache_key"] != status(node, a3)["cache_key"], "a changed input must change the key")
r = cli(node, "submit", "--cache-key", "auto", "--input", tmp_path("missing"), "--", "true", check=False)
check(r.returncode == 2 and "missing" in r.stderr, f"a missing input must be refused: {r.returncode} {r.stderr}")
print(f"PASS: second submission was a cache hit of {first}; auto key follows input contents")
