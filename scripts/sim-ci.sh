#!/usr/bin/env bash
# The simulator's CI run (docs/simulation.md): a fixed list of seeds -- 1..SIM_CI_SEEDS at
# three voters per group, options drawn per seed as the swarm draws them -- plus every seed
# that ever failed (simulations/regressions.txt), seeds with schedules, and the proofs that
# every checker fires (simulations/proofs.txt: each deliberate fault switch in the core must
# be caught as the promise its line expects). A run stopped by an open bug listed in
# simulations/known_bugs.txt is counted as that bug, not as a failure. The lists are split
# over two processes each, one per core. Exits non-zero if any run did not do what was
# expected of it, or if the whole took more CPU time than the budget (CPU, not wall time: a
# machine busy with other work must not fail the run, a slower simulator must).
#
#   scripts/sim-ci.sh [BIN_DIR]      (default: build/bin)
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin}
seeds=${SIM_CI_SEEDS:-300}
shards=${SIM_CI_JOBS:-2}
budget_s=${SIM_CI_BUDGET_SECONDS:-600}  # CPU seconds, both shards together
sim="$bin/magpie-sim"
[ -x "$sim" ] || { echo "sim-ci: $sim not found (build the magpie-sim target)"; exit 2; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
pids=()
for ((i = 0; i < shards; i++)); do
  # The seed range runs with three voters per group, as a cluster runs by default: elections,
  # leader changes and lease hand-overs under every fault. The regression lines replay
  # their own flags.
  "$sim" --seeds-file simulations/regressions.txt --known-bugs simulations/known_bugs.txt \
         --swarm "$seeds" --seed 1 --swarm-replication "${SIM_CI_REPLICATION:-3}" \
         --shard "$i/$shards" > "$out/shard$i.txt" 2>&1 &
  pids+=($!)
done
# Schedules (docs/schedules.md): seeds whose clients add three schedules each, R=3, so that
# leaders change under them; checked to fire every slot once and to keep firing after the heal.
sched_seeds=${SIM_CI_SCHEDULE_SEEDS:-40}
for ((i = 0; i < shards; i++)); do
  "$sim" --swarm "$sched_seeds" --seed 5001 --swarm-replication 3 --schedules 3 \
         --known-bugs simulations/known_bugs.txt --shard "$i/$shards" > "$out/shard-schedules$i.txt" 2>&1 &
  pids+=($!)
done
# Proofs: every checker shown to fire, by a deliberate fault in the core (base/buggify.h).
for ((i = 0; i < shards; i++)); do
  "$sim" --seeds-file simulations/proofs.txt --shard "$i/$shards" > "$out/shard-proofs$i.txt" 2>&1 &
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
elapsed=$(( $(date +%s) - start ))
# The children's user + system CPU seconds, from the shell's `times` (second line).
# (`times` must run in this shell, not a pipeline's subshell, to see the children.)
times > "$out/times"
cpu_s=$(sed -n 2p "$out/times" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); n += p[1] * 60 + p[2] } printf "%d", n }')

cat "$out"/shard*.txt | grep -E '^seed [0-9]+: (FAIL|XPASS)' -A3 | grep -v '^--$' | grep -v '^seed [0-9]*: [PKX]'
# Per promise: the proofs that caught it, of those that expect it ("one-attempt-at-a-time
# 3/3"); and each proof that missed.
grep -h '^  proof: .* missed' "$out"/shard-proofs*.txt | sed 's/^  proof:/sim-ci: proof missed:/'
proven=$(grep -h '^  proof: ' "$out"/shard-proofs*.txt | awk '{
    split($3, e, "="); total[e[2]]++; if ($4 == "caught") caught[e[2]]++ }
  END { for (p in total) printf "%s %d/%d\n", p, caught[p], total[p] }' | sort | paste -sd, - | sed 's/,/, /g')
echo "sim-ci: checkers proven: ${proven:-none}"
runs=0; failed=0; known=0; sim_s=0; known_ids=
for f in "$out"/shard*.txt; do
  line=$(grep '^swarm:' "$f" | tail -1)
  [ -n "$line" ] || { echo "sim-ci: a shard did not finish:"; tail -5 "$f"; rc=1; continue; }
  runs=$((runs + $(sed -n 's/^swarm: \([0-9]*\) runs.*/\1/p' <<<"$line")))
  failed=$((failed + $(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")))
  known=$((known + $(sed -n 's/.* \([0-9]*\) stopped by known bugs.*/\1/p' <<<"$line")))
  known_ids="$known_ids, $(sed -n 's/.*known bugs (\([^)]*\)).*/\1/p' <<<"$line")"
  sim_s=$((sim_s + $(sed -n 's/.*; \([0-9]*\) simulated s.*/\1/p' <<<"$line")))
done
# "K1 x3, K3 x21" from each shard -> "K1 x10, K3 x40".
known_ids=$(tr ',' '\n' <<<"$known_ids" | awk 'NF == 2 { n[$1] += substr($2, 2) }
  END { for (k in n) printf "%s%s x%d", (c++ ? ", " : ""), k, n[k] }')
echo "sim-ci: $runs runs ($seeds seeds at R=3 + simulations/regressions.txt + $sched_seeds seeds with schedules + simulations/proofs.txt), $failed failed," \
     "$known stopped by known open bugs [${known_ids}];" \
     "${sim_s} simulated s in ${elapsed} s on $shards processes (${cpu_s} CPU s)"
if [ "$cpu_s" -gt "$budget_s" ]; then
  echo "sim-ci: over the budget of ${budget_s} CPU s"
  rc=1
fi
exit $rc
