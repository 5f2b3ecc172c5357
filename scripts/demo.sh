#!/usr/bin/env bash
# The main job: sets up and builds magpie, starts three local nodes on loopback (distinct
# ports, the second and third --join the first), submits a fan-out pipeline
# (docs/examples/fanout.yaml) to the first one only, waits for it, shows which node ran
# what, and stops the nodes cleanly (SIGTERM, then waits for each to exit).
# MAGPIE_DEMO_PORT sets the first port (default 7400; the next free ports are used).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/bootstrap.sh
bin=$(scripts/build.sh)
pipeline="$root/docs/examples/fanout.yaml"

work=$(mktemp -d /tmp/magpie-demo-XXXXXX)
cd "$work"
pids=()
stop_nodes() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_nodes
  rm -rf "$work"
}
trap cleanup EXIT

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
addrs=()
port=${MAGPIE_DEMO_PORT:-7400}
while [ ${#addrs[@]} -lt 3 ]; do
  port_busy "$port" || addrs+=("127.0.0.1:$port")
  port=$((port + 1))
  if [ "$port" -gt 65000 ]; then echo "no free port for the demo"; exit 1; fi
done

echo "== starting three nodes with 2 slots each: ${addrs[*]} (the 2nd and 3rd join the 1st)"
for i in 0 1 2; do
  args=(--data-dir "node$i" --listen "${addrs[$i]}" --slots 2)
  [ "$i" -gt 0 ] && args+=(--join "${addrs[0]}")
  "$bin/magpie-node" "${args[@]}" >"node$i.log" 2>&1 &
  pids+=($!)
done
a=${addrs[0]}
mp() { "$bin/magpie" --node "$a" "$@"; }
# Formed when every node sees three members alive (bounded: 30 s).
for _ in $(seq 1 300); do
  formed=1
  for i in 0 1 2; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "magpie-node ${addrs[$i]} could not start:"; cat "node$i.log"; exit 1
    fi
    n=$("$bin/magpie" --node "${addrs[$i]}" members 2>/dev/null | grep -cw alive || true)
    [ "$n" -eq 3 ] || formed=0
  done
  [ "$formed" -eq 1 ] && break
  sleep 0.1
done
[ "$formed" -eq 1 ] || { echo "the three nodes did not see each other within 30 s"; tail node*.log; exit 1; }
mp members

echo "== submitting docs/examples/fanout.yaml to $a only"
mp submit -f "$pipeline" | tee submitted.txt
ids=$(awk '{print $NF}' submitted.txt)

echo "== waiting"
status=0
mp wait $ids || status=$?

echo "== who ran what (stolen: taken by an idle node from $a's queue)"
mp members --json >members.json
mp list --json >tasks.json
python3 - members.json tasks.json <<'EOF'
import json, sys
members = {m["id"]: m["address"] for m in json.load(open(sys.argv[1]))}
rows = {}
for t in json.load(open(sys.argv[2])):
    if not t["attempts"]:
        continue
    last = t["attempts"][-1]
    row = rows.setdefault(members.get(last["node"], last["node"]), {"tasks": [], "stolen": 0})
    row["tasks"].append(t["name"] or t["id"])
    row["stolen"] += last["stolen_from"] is not None
print(f"{'NODE':<17} {'RAN':>3} {'STOLEN':>6}  TASKS")
for addr in sorted(rows):
    r = rows[addr]
    print(f"{addr:<17} {len(r['tasks']):>3} {r['stolen']:>6}  {' '.join(r['tasks'])}")
EOF
mp members
report=$(awk '$1 == "report" {print $NF}' submitted.txt)
echo "== output of report ($report)"
mp logs "$report"

echo "== stopping the three nodes (SIGTERM, then waiting for each)"
stop_nodes
echo "stopped"
exit $status
