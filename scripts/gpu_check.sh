#!/usr/bin/env bash
# The GPU check (issue: CUDA backends): builds the CUDA test and benchmark binaries (cuda preset:
# sm_80;86;89;90), runs every GPU test, then the GPU benchmarks, and writes one JSON file and a
# short table to OUT (default build/gpu_check). Sized to finish in ≤ 8 minutes on one GPU so that a
# 15-minute device budget allows a rerun.
# Usage: scripts/gpu_check.sh            (configure + build + run)
#        PREBUILT=build/cuda scripts/gpu_check.sh   (run binaries built elsewhere, e.g. carried to
#                                                     a device machine that cannot install packages)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu_check}
mkdir -p "$out"
bin=${PREBUILT:-build/cuda}
if [[ -z "${PREBUILT:-}" ]]; then
  cmake --preset cuda >/dev/null
  cmake --build "$bin" -j"$(nproc)" --target dfrot_test_cuda dfrot_bench_cuda
fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,compute_cap,memory.total,driver_version --format=csv,noheader >"$out/gpu.txt" 2>&1 || true
else
  echo "no nvidia-smi on this machine" >"$out/gpu.txt"
fi
echo "GPU: $(cat "$out/gpu.txt")" >&2

set +e
timeout 240 "$bin/tests/dfrot_test_cuda" --no-version --reporters=console --duration=true >"$out/tests.txt" 2>&1
test_rc=$?
timeout 240 "$bin/bench/dfrot_bench_cuda" --benchmark_out="$out/bench.json" --benchmark_out_format=json \
  >"$out/bench.txt" 2>&1
bench_rc=$?
set -e

python3 - "$out" "$test_rc" "$bench_rc" <<'PY'
import json, os, sys
out, test_rc, bench_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
gpu = open(os.path.join(out, "gpu.txt")).read().strip()
bench = []
path = os.path.join(out, "bench.json")
if os.path.exists(path) and os.path.getsize(path) > 0:
    for b in json.load(open(path)).get("benchmarks", []):
        bench.append({k: b.get(k) for k in ("name", "label", "real_time", "time_unit", "TOPS", "x_cublas_fp16",
                                             "error_occurred", "error_message")})
tests_tail = open(os.path.join(out, "tests.txt")).read().splitlines()[-5:]
report = {"gpu": gpu, "tests_rc": test_rc, "tests_tail": tests_tail, "bench_rc": bench_rc, "benchmarks": bench}
json.dump(report, open(os.path.join(out, "gpu_check.json"), "w"), indent=1)
print(f"GPU: {gpu}\ntests: rc {test_rc} ({'passed' if test_rc == 0 else 'skipped' if test_rc == 77 else 'FAILED'})")
print("| benchmark | path | time | TOPS | × cuBLAS FP16 |\n|---|---|---|---|---|")
for b in bench:
    if b.get("error_occurred"):
        print(f"| {b['name']} | – | {b.get('error_message')} | | |")
    else:
        print(f"| {b['name']} | {b['label']} | {b['real_time']:.1f} {b['time_unit']} | {b['TOPS']:.1f} | {b['x_cublas_fp16']:.2f} |")
PY
[[ $test_rc == 0 || $test_rc == 77 ]]
