#!/usr/bin/env bash
# The main job: sets up and builds magpie, starts a node on the embedded default
# (127.0.0.1:7400, ./magpie-data in a scratch folder), submits a small pipeline, waits for
# it, shows the results, and stops the node.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scripts/bootstrap.sh
bin=$(scripts/build.sh)

work=$(mktemp -d /tmp/magpie-demo-XXXXXX)
cd "$work"
node_pid=
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid"; wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting magpie-node with no flags (one-node cluster, 127.0.0.1:7400, ./magpie-data)"
"$bin/magpie-node" >node.log 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  "$bin/magpie" members >/dev/null 2>&1 && break
  if ! kill -0 "$node_pid" 2>/dev/null; then
    echo "magpie-node could not start:"; cat node.log; exit 1
  fi
  sleep 0.1
done
"$bin/magpie" members

echo "== submitting docs/examples/pipeline.yaml"
"$bin/magpie" submit -f "$root/docs/examples/pipeline.yaml" | tee submitted.txt
ids=$(awk '{print $NF}' submitted.txt)

echo "== waiting"
status=0
"$bin/magpie" wait $ids || status=$?

echo "== results"
"$bin/magpie" list
report=$(awk '$1 == "report" {print $NF}' submitted.txt)
echo "== output of report ($report)"
"$bin/magpie" logs "$report"
echo "== status of report"
"$bin/magpie" status "$report"
exit $status
