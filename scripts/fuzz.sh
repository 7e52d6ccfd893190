#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets (`fuzz` preset: clang, ASan + UBSan), writes the seed
# corpora and dictionaries (scripts/fuzz_seeds.py; the int4 model file's seeds come from
# `dfrot quantize` on stories260K when a built tool and ../shared are there), then runs every
# target for DFROT_FUZZ_SECONDS seconds (default 20) and prints its execution count.
# A crash, sanitizer report, leak, timeout (> 10 s per input) or allocation over 1 GiB fails the
# run; the failing input is left in build/fuzz/findings/.
# Usage: scripts/fuzz.sh [TARGET ...]   (default: all; names as in fuzz/, e.g. fuzz_gguf)
# Environment: DFROT_FUZZ_SECONDS, DFROT_FUZZ_RUNS (a number of executions instead of a time, for
# the long runs recorded in fuzz/RESULTS.md), DFROT_SHARED_DIR (default ../shared), DFROT_BIN (a dfrot tool
# for the int4 seeds; default build/ci-release/bin/dfrot or build/release/bin/dfrot).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${DFROT_FUZZ_SECONDS:-20}
shared=${DFROT_SHARED_DIR:-../shared}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
bin=build/fuzz/fuzz
corpus=build/fuzz/corpus
findings=build/fuzz/findings
mkdir -p "$corpus" "$findings"
python3 scripts/fuzz_seeds.py "$corpus" "$shared" >/dev/null

dfrot=${DFROT_BIN:-}
for candidate in build/ci-release/bin/dfrot build/release/bin/dfrot; do
  [[ -z "$dfrot" && -x "$candidate" ]] && dfrot=$candidate
done
stories="$shared/models/stories260K"
if [[ -n "$dfrot" && -f "$stories/stories260K.bin" && ! -f "$corpus/fuzz_int4_model/seed_q8.gguf" ]]; then
  mkdir -p "$corpus/fuzz_int4_model"
  for dense in f16 q8; do
    "$dfrot" quantize -m "$stories/stories260K.bin" --tokenizer "$stories/tok512.bin" -c 64 \
      --preset quarot-paper --rotate hadamard --dense "$dense" -t 2 \
      -o "$corpus/fuzz_int4_model/seed_$dense.gguf" >/dev/null 2>&1 ||
      echo "fuzz: could not write the $dense int4 seed" >&2
  done
fi

targets=("$@")
if ((${#targets[@]} == 0)); then
  for t in "$bin"/dfrot_fuzz_*; do targets+=("$(basename "$t" | sed 's/^dfrot_//')"); done
fi
status=0
printf '%-24s %12s %s\n' target executions result
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t"
  dict=()
  [[ -s "$corpus/$t.dict" ]] && dict=("-dict=$corpus/$t.dict")
  log="build/fuzz/$t.log"
  rc=0
  budget=(-max_total_time="$seconds")
  [[ -n "${DFROT_FUZZ_RUNS:-}" ]] && budget=(-runs="$DFROT_FUZZ_RUNS")
  "$bin/dfrot_$t" "${budget[@]}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$findings/$t-" "${dict[@]}" "$corpus/$t" >"$log" 2>&1 || rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  if ((rc == 0)); then
    printf '%-24s %12s ok\n' "$t" "$runs"
  else
    printf '%-24s %12s FAILED (exit %d, see %s)\n' "$t" "$runs" "$rc" "$log"
    grep -m3 -E 'ERROR|SUMMARY|fuzz:' "$log" >&2 || true
    status=1
  fi
done
exit $status
