#!/usr/bin/env bash
# The main job: installs dependencies, fetches the default model (SmolLM2-135M-Instruct), builds the
# release tool, quantizes the model W4A4KV4 with the project's best uniform scheme
# (--preset best-w4a4kv4, ~5 minutes on 2 cores: randomized Hadamard R1; true-sequential GPTQ
# weights with the MSE clip search on 8 x 2048 calibration tokens of wiki.valid.tokens, calibrated
# on inputs quantized as at inference; activations sym per token with a clip ratio learned per
# layer and site; K/V asym per head clip 0.95) — runs it on the int4 engine (packed int4 weights,
# integer GEMMs, KV4 cache) and reports its WikiText-2 test perplexity against the FP model on the
# same windows (papers' protocol, -c 2048). `--preset quarot-paper --rotate hadamard --gptq
# --calib-windows 8` gives the QuaRot-GPTQ baseline.
# Environment: DFROT_CHUNKS (windows to evaluate, default 16 of 148; -1 = all, ~1 h on 2 cores),
# DFROT_SHARED_DIR (default ../shared). Extra arguments go to `dfrot ppl` and override the scheme
# (e.g. --rtn for RTN weights, --rotate random, --rotate R1.npy, --fake for the fake-quant path,
# --json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
model=$(bash scripts/fetch_model.sh)
shared=${DFROT_SHARED_DIR:-../shared}
text="$shared/data/wikitext-2-raw/wiki.test.raw"
[[ -f "$text" ]] || { echo "main: $text not found (set DFROT_SHARED_DIR)" >&2; exit 1; }
cmake --preset release >/dev/null
cmake --build --preset release --target dfrot_cli
exec build/release/bin/dfrot ppl -m "$model" -f "$text" -c 2048 --chunks "${DFROT_CHUNKS:-16}" -t 2 \
  --preset best-w4a4kv4 --with-fp "$@"
