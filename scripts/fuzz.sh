#!/usr/bin/env bash
# Builds every libFuzzer target with clang (ASan + UBSan) in ./build-fuzz, one build for all,
# and runs each for SECONDS (default 30) from a copy of its committed seed corpus
# (tests/fuzz/corpus/<target>/), two at a time. A crash, a sanitizer report, a failed
# property or a hang fails the run; the input that did it is left in build-fuzz/artifacts/.
# docs/fuzzing.md says what each target asserts.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600 node_peer raft_message
#
# MAGPIE_FUZZ_JOBS: the build's parallelism (default: the number of CPUs).
# MAGPIE_FUZZ_PARALLEL: targets run at once (default 2, at most the number of CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
case $seconds in
  '' | *[!0-9]* | 0) echo "usage: scripts/fuzz.sh [SECONDS >= 1] [TARGET...]"; exit 2 ;;
esac
all_targets=(client_frame peer_envelope gossip_codec steal_messages raft_message disk_records
             node_peer pipeline_file output_messages)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
cpus=$(nproc)
lanes=${MAGPIE_FUZZ_PARALLEL:-2}
[ "$lanes" -gt "$cpus" ] && lanes=$cpus
[ "$lanes" -lt 1 ] && lanes=1

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMAGPIE_FUZZ=ON -DMAGPIE_TESTS=OFF >/dev/null
fi
build_start=$SECONDS
if ! cmake --build build-fuzz -j "${MAGPIE_FUZZ_JOBS:-$cpus}" --target magpie_fuzzers >build-fuzz/build.log 2>&1; then
  tail -30 build-fuzz/build.log
  echo "fuzz build failed (build-fuzz/build.log)"
  exit 1
fi
echo "fuzz targets built in $((SECONDS - build_start))s; running ${#targets[@]} for ${seconds}s each, $lanes at a time"

mkdir -p build-fuzz/artifacts
run_one() {  # target: runs it, leaves its log and exit status in build-fuzz/
  local target=$1 corpus=tests/fuzz/corpus/$1 work status=0
  if [ ! -d "$corpus" ]; then
    echo "no corpus for $target ($corpus)" >"build-fuzz/$target.log"
    echo 1 >"build-fuzz/$target.status"
    return
  fi
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/
  build-fuzz/bin/${target}_fuzzer -max_total_time="$seconds" -max_len=65536 -timeout=30 \
    -print_final_stats=1 -artifact_prefix=build-fuzz/artifacts/${target}- "$work" \
    >"build-fuzz/$target.log" 2>&1 || status=$?
  rm -rf "$work"
  echo "$status" >"build-fuzz/$target.status"
}

# Each lane runs every lanes-th target in turn.
for ((lane = 0; lane < lanes; ++lane)); do
  (
    for ((i = lane; i < ${#targets[@]}; i += lanes)); do run_one "${targets[$i]}"; done
  ) &
done
wait

failed=()
for target in "${targets[@]}"; do
  log=build-fuzz/$target.log
  status=$(cat "build-fuzz/$target.status" 2>/dev/null || echo 1)
  last=$(grep -E "^#[0-9]+.*cov: " "$log" | tail -1 | sed -E 's/^#([0-9]+)[[:space:]]+[A-Z]+[[:space:]]+/#\1 /' || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  added=$(sed -n 's/^stat::new_units_added: *//p' "$log")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
  echo "fuzz $target ${seconds}s: ${execs:-?} runs (${rate:-?}/s), ${added:-?} new inputs, peak RSS ${rss:-?} MB; last: ${last:-none}"
  if [ "$status" -ne 0 ]; then
    grep -E "FUZZ CHECK FAILED|invariant broken|ERROR: (AddressSanitizer|libFuzzer)|runtime error|deadly signal|SUMMARY|Test unit written|no corpus" "$log" | head -8 || true
    echo "fuzzer $target failed (exit $status): the input is in build-fuzz/artifacts/, the log in $log"
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}"
  exit 1
fi
echo "fuzzing passed: ${targets[*]}"
