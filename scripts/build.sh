#!/usr/bin/env bash
# Configures and builds magpie into ./build (Release with line tables). Prints the bin dir.
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
# MAGPIE_WERROR=ON (scripts/test.sh sets it): warnings fail the build.
if [ -n "${MAGPIE_WERROR:-}" ]; then
  cmake -S . -B build -DMAGPIE_WERROR="$MAGPIE_WERROR" >/dev/null
fi
cmake --build build -j "$(nproc)" >&2
echo "$PWD/build/bin"
