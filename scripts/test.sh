#!/usr/bin/env bash
# The test command: installs dependencies, then builds and runs the whole suite twice with warnings
# as errors: the release preset (CUDA code compiled when nvcc is present; GPU tests skip without a
# device) and the asan preset (AddressSanitizer + UndefinedBehaviorSanitizer).
# Build time (CI budget): every target is a unity build (CMAKE_UNITY_BUILD in the presets: the
# header library's inline code is compiled once per module, not once per file) except the
# one-header-per-TU check, and the asan preset compiles at -O1 -g1.
# The default model is fetched first: the release run includes the `model`-labelled tests and
# fails if the model is missing; the asan preset builds neither them (they are slow under ASan) nor the
# dfrot executable (no test runs it; apps/common is built and tested).
# Then the short fuzz runs: every libFuzzer target (fuzz/, clang + ASan + UBSan) for 20 s
# (DFROT_FUZZ_SECONDS), seeded from the fixtures (scripts/fuzz.sh).
# Usage: scripts/test.sh [release|asan|fuzz|all]   (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/fetch_model.sh >/dev/null
which=${1:-all}
run() {
  echo "== $1: configure, build, test" >&2
  cmake --workflow --preset "ci-$1"
}
fuzz() {
  echo "== fuzz: libFuzzer targets, ${DFROT_FUZZ_SECONDS:-20} s each" >&2
  DFROT_BIN=build/ci-release/bin/dfrot bash scripts/fuzz.sh
}
case "$which" in
  release) run release ;;
  asan) run asan ;;
  fuzz) fuzz ;;
  all) run release; run asan; fuzz ;;
  *) echo "usage: scripts/test.sh [release|asan|fuzz|all]" >&2; exit 2 ;;
esac
