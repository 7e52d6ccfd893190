#!/usr/bin/env bash
# Installs the Debian packages dfrot builds with (compiler, CMake, Ninja, Eigen, doctest, Google
# Benchmark, CLI11, nlohmann-json; clang with libFuzzer and libomp for the fuzz targets). Skips apt when everything is already present.
set -euo pipefail
packages=(g++ cmake ninja-build libeigen3-dev doctest-dev libbenchmark-dev libcli11-dev
          nlohmann-json3-dev python3 python3-pip
          clang libclang-rt-14-dev libomp-14-dev)  # the libFuzzer targets (scripts/fuzz.sh)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
