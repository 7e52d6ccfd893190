#!/usr/bin/env bash
# The main job: installs dependencies, builds the release tool and runs it. Until the model
# pipeline lands this reports the Hadamard transforms of every model size dfrot targets
# (factorization, H_K construction, round-trip error, throughput); it then grows into
# "quantize the default model W4A4KV4 and report perplexity against FP".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target dfrot_cli
exec build/release/bin/dfrot hadamard "$@"
