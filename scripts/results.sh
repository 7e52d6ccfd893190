#!/usr/bin/env bash
# Regenerates the perplexity rows of docs/RESULTS.md on the default model (SmolLM2-135M-Instruct)
# and WikiText-2 test: FP32, and W4A4KV4 with RTN weights (quarot-paper settings) without rotation,
# with a random orthogonal (RO) and with a randomized Hadamard (RH) rotation. Prints one JSON report
# per row to stdout. CHUNKS (default 8; -1 = all 148 windows), THREADS (default 2), SEED (default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
model=$(bash scripts/fetch_model.sh)
text="${DFROT_SHARED_DIR:-../shared}/data/wikitext-2-raw/wiki.test.raw"
cmake --preset release >/dev/null
cmake --build --preset release --target dfrot_cli >&2
dfrot=build/release/bin/dfrot
common=(-m "$model" -f "$text" -c 2048 --chunks "${CHUNKS:-8}" -t "${THREADS:-2}" -s "${SEED:-0}" --json)
"$dfrot" ppl "${common[@]}"
for rotate in none random hadamard; do
  "$dfrot" ppl "${common[@]}" --preset quarot-paper --rotate "$rotate"
done
