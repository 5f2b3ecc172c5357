#!/usr/bin/env bash
# Installs what magpie needs to build and test, from Debian 12 packages only, and nothing
# that is already there. Safe to run again.
#   scripts/bootstrap.sh           what building and testing need
#   scripts/bootstrap.sh --bench   also what scripts/bench-vs-peer needs: the peer (Dask,
#                                  run with /usr/bin/python3), gnuplot for its plots, and
#                                  GNU parallel for ../shared/bench/limits
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3
  librocksdb-dev libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libspdlog-dev libfmt-dev
  libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libgtest-dev libgmock-dev
  clang libclang-rt-14-dev procps
  libcpp-httplib-dev python3-prometheus-client libsodium-dev libtomlplusplus-dev
  chromium fonts-dejavu-core
  iptables  # scripts/nemesis: partitions and one-way loss inside its network namespaces
)
bench_packages=(python3-distributed python3-dask gnuplot-nox parallel)
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=("${bench_packages[@]}") ;;
    *) echo "bootstrap: unknown option $arg (known: --bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done"
