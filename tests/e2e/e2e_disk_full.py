#!/usr/bin/env python3
"""Issue 9, done-when 3 (disk trouble): a node whose data directory fills up turns
read-only (refuses requests with a clear message, stays up, loses nothing it acknowledged)
and serves again once space returns.

The data directory is a small tmpfs the test mounts itself (needs root; otherwise it
prints SKIP and exits 77). It is unmounted on every exit path."""
import atexit
import subprocess

from e2e import *

SKIP = 77
mnt = tmp_path("smalldisk")
os.makedirs(mnt, exist_ok=True)
if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mnt],
                                       capture_output=True).returncode != 0:
    print("SKIP: cannot mount a small tmpfs here (needs root)")
    sys.exit(SKIP)
atexit.register(lambda: subprocess.run(["umount", "-l", mnt], capture_output=True))

# The node's data directory is a link into the small tmpfs.
os.makedirs(os.path.join(_tmp_root := tmp_path("disk")), exist_ok=True)
os.symlink(os.path.join(mnt, "data"), os.path.join(_tmp_root, "data"))
os.makedirs(os.path.join(mnt, "data"), exist_ok=True)
node = Node("disk", slots=4, extra=["--min-free-disk-mb", "16"])
check(os.listdir(os.path.join(mnt, "data")), "the node did not write into the small data directory")

acked = []
for i in range(10):
    acked.append(submit(node, "true", TOKEN))
wait_ended(node, acked, 60)

# Fill the disk to 8 MB short of full: below the node's 16 MB reserve, so it must turn
# read-only before RocksDB ever meets ENOSPC.
ballast = os.path.join(mnt, "ballast")
st = os.statvfs(mnt)
fill_mb = st.f_bavail * st.f_frsize // (1024 * 1024) - 8
subprocess.run(["dd", "if=/dev/zero", f"of={ballast}", "bs=1M", f"count={fill_mb}"], capture_output=True)
big = "x" * 60000  # each submit writes ~60 KB to the WAL: preallocated space goes fast
refused = None
deadline = time.time() + 60
while time.time() < deadline and refused is None:
    r = cli(node, "submit", "--env", f"BIG={big}", "--", "true", TOKEN, check=False)
    if r.returncode == 0:
        acked.append(r.stdout.split()[-1])
    else:
        refused = r
check(refused is not None, "the node kept acknowledging with a full disk")
check(node.proc.poll() is None, f"the node died on a full disk: {node.log_tail()}")
print(f"refused after {len(acked) - 10} more acknowledged submits: {refused.stderr.strip()[:200]}")
r = cli(node, "list", "--json", check=False)
check(r.returncode != 0 and "read-only" in r.stderr, f"a read-only node must say so: {r.returncode} {r.stderr}")
check("read-only" in open(os.path.join(node.dir, "node.log")).read(), "the node's log does not say read-only")

# Space returns: the node serves again, and nothing it acknowledged was lost.
os.remove(ballast)
deadline = time.time() + 30
while time.time() < deadline:
    if cli(node, "list", "--json", check=False).returncode == 0:
        break
    time.sleep(0.5)
else:
    fail("the node did not serve again after space returned")
tasks = wait_ended(node, acked, 120)
bad = [i for i in acked if tasks.get(i, {}).get("state") != "succeeded"]
check(not bad, f"acknowledged tasks lost or not succeeded: {bad[:5]}")
after = submit(node, "true", TOKEN)
wait_ended(node, [after], 30)
check(node.proc.poll() is None, "the node died")
print(f"PASS: read-only on a full disk, {len(acked)} acknowledged tasks all succeeded after space returned")
