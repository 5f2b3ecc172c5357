#!/usr/bin/env bash
# Sets up, builds and runs every test: unit tests, end-to-end tests with the real
# binaries on loopback, the outside acceptance tests whose features exist, a two-minute
# nemesis run (five nodes in network namespaces under faults), and a bounded fuzzing run.
# Prints one closing "N passed, M failed" line.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# Each section's header says how long the run has taken so far (CI's bound is 30 minutes).
section() { printf '== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

scripts/bootstrap.sh || exit 1
bin=$(MAGPIE_WERROR=ON scripts/build.sh) || { echo "build failed"; exit 1; }
section "binaries in $bin"

passed=0
failed=0
record() {  # name, exit code
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

section "unit and end-to-end tests (ctest)"
ctest_log=$(mktemp)
ctest --test-dir build --output-on-failure -j 2 --timeout 300 | tee "$ctest_log"
ctest_rc=${PIPESTATUS[0]}
# Count every ctest case in the closing line, not ctest as one.
ctest_total=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\2/p' "$ctest_log" | tail -1)
ctest_failed=$(sed -n 's/.* tests passed, \([0-9]*\) tests failed out of \([0-9]*\)/\1/p' "$ctest_log" | tail -1)
rm -f "$ctest_log"
if [ -n "$ctest_total" ]; then
  passed=$((passed + ctest_total - ctest_failed)); failed=$((failed + ctest_failed))
  [ "$ctest_rc" -ne 0 ] && [ "$ctest_failed" -eq 0 ] && failed=$((failed + 1))
  echo "ctest: $((ctest_total - ctest_failed)) passed, $ctest_failed failed"
else
  record ctest 1
fi

acceptance="$root/../shared/acceptance"
# The outside acceptance tests whose features this build has (see docs/DESIGN.md).
accepted_tests=(t_foundation_dag t_foundation_kill9 t_gossip_members t_stealing_spread t_replica_owner_kill
                t_mixed_durations t_read_anywhere)
if [ -d "$acceptance" ]; then
  section "acceptance tests: ${accepted_tests[*]}"
  for t in "${accepted_tests[@]}"; do
    MAGPIE_BIN_DIR="$bin" python3 "$acceptance/run.py" "$t" | grep -v "passed,"
    record "$t" "${PIPESTATUS[0]}"
  done
else
  section "acceptance tests skipped: $acceptance not found"
fi

section "nemesis: five real nodes in network namespaces under a seeded fault schedule, about 2 minutes (docs/nemesis.md)"
# A new seed each run (it is printed; scripts/nemesis --seed N --duration 100 replays the
# schedule).
MAGPIE_BIN_DIR="$bin" scripts/nemesis --seed "${MAGPIE_NEMESIS_SEED:-$(( $(date +%s) % 1000000 ))}" \
  --duration 100 --out build/nemesis
record nemesis $?

section "fuzzing every decoder of untrusted bytes, each target for a bounded time (scripts/fuzz.sh)"
scripts/fuzz.sh "${MAGPIE_FUZZ_SECONDS:-10}"
record fuzz $?

section "benchmark smoke run (tiny; every workload's JSON line parses and names what produced it; no timing checks)"
"$bin/magpie-bench" --workload W1,W2,W3,W4,W5 --tasks 2000 --w2-tasks 50 --w3-tasks 24 \
  --round-trips 20 --chain 20 --fan 20 2>/dev/null | tools/bench/check_bench_json.py W1,W2,W3,W4,W5
record bench-smoke $?
"$bin/magpie-bench" --workload W1 --nodes 3 --tasks 2000 2>/dev/null | tools/bench/check_bench_json.py W1
record bench-smoke-3-nodes $?
"$bin/magpie-bench" --workload MIX --mix-long 2 --mix-long-s 1 --mix-short 8 --mix-short-s 0.1 2>/dev/null |
  tools/bench/check_bench_json.py MIX
record bench-smoke-mix $?

section "simulation: a fixed list of seeds and every seed that ever failed (scripts/sim-ci.sh)"
scripts/sim-ci.sh "$bin"
record sim $?

section "done"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
