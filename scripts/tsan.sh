#!/usr/bin/env bash
# ThreadSanitizer run of the unit tests (preset `tsan`: clang, -fsanitize=thread, libomp with LLVM's
# Archer tool so OpenMP's barriers and reductions are understood; GCC's libgomp is not
# instrumented and gives false reports). Covers parallel_for, the threaded Hadamard rows, the
# GEMMs at 1 and 2 threads, GPTQ, the quantizers, calibration and the model's forward.
# libomp itself is not instrumented: tests/tsan.supp ignores the interceptor calls made from inside
# it (its own mutexes); dfrot's code in parallel regions is still checked (a deliberate race in a
# parallel_for body is reported, disjoint writes are not). Warnings are errors, as in the fuzz and CI presets
# (clang 14 warns about more than GCC 12, e.g. -Wdouble-promotion on float→double initializations).
# Usage: scripts/tsan.sh [ctest args]   (e.g. -R gemm)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
cmake --preset tsan >/dev/null
cmake --build --preset tsan
archer=$(ls /usr/lib/llvm-*/lib/libarcher.so 2>/dev/null | head -1 || true)
[[ -n "$archer" ]] && export OMP_TOOL_LIBRARIES="$archer"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp ${TSAN_OPTIONS:-}"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
ctest --test-dir build/tsan -L unit --output-on-failure "$@"
