#!/usr/bin/env bash
# The main job: installs dependencies, fetches the default model (SmolLM2-135M-Instruct), builds the
# release tool and reports the model's WikiText-2 test perplexity (papers' protocol, -c 2048).
# Until the quantization pipeline lands this is the FP32 reference; it then grows into
# "quantize the default model W4A4KV4 and report perplexity against FP".
# Environment: DFROT_CHUNKS (windows to evaluate, default 16 of 148; -1 = all, ~30 min on 2 cores),
# DFROT_SHARED_DIR (default ../shared). Extra arguments go to `dfrot ppl` (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
model=$(bash scripts/fetch_model.sh)
shared=${DFROT_SHARED_DIR:-../shared}
text="$shared/data/wikitext-2-raw/wiki.test.raw"
[[ -f "$text" ]] || { echo "main: $text not found (set DFROT_SHARED_DIR)" >&2; exit 1; }
cmake --preset release >/dev/null
cmake --build --preset release --target dfrot_cli
exec build/release/bin/dfrot ppl -m "$model" -f "$text" -c 2048 --chunks "${DFROT_CHUNKS:-16}" -t 2 "$@"
