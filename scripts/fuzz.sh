#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in ./build-fuzz and runs each for
# the given number of seconds (default 30) from its committed seed corpus. A crash fails.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMAGPIE_FUZZ=ON -DMAGPIE_TESTS=OFF >/dev/null
fi
cmake --build build-fuzz -j "$(nproc)" --target client_frame_fuzzer >/dev/null
for target in client_frame; do
  corpus=tests/fuzz/corpus/$target
  work=$(mktemp -d)
  cp -r "$corpus"/. "$work"/
  echo "fuzzing $target for ${seconds}s"
  status=0
  build-fuzz/bin/${target}_fuzzer -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/ "$work" >build-fuzz/$target.log 2>&1 || status=$?
  grep -E "^(#[0-9]+.*DONE|stat::number_of_executed_units|==.*ERROR|SUMMARY)" build-fuzz/$target.log || true
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then echo "fuzzer $target found a crash (artifact in build-fuzz/)"; exit 1; fi
done
