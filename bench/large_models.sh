#!/usr/bin/env bash
# Large-model benchmark (issue 14): for each shape, a synthetic LLaMA GGUF of that shape with random
# F16 weights (`dfrot synth`, generated here, never committed), quantized W4A4KV4 with the
# layer-streamed pipeline (`dfrot quantize`, RTN, QuaRot Hadamard), then `dfrot bench` on the int4
# file. Prints one JSON report per step; peak RSS and wall time are in the reports.
#
#   SHAPES="llama-3.2-1b llama-2-7b" bash bench/large_models.sh [extra quantize flags]
#   SHAPES=llama-2-7b LAYERS=4 METHOD=gptq bash bench/large_models.sh --calib-windows 8
#
# METHOD is rtn (default) or gptq; LAYERS keeps only the first N decoder layers of the shape (time
# per layer and peak memory of a model too big for the disk). WORK (default data/large) holds the
# files; KEEP=1 keeps them; BENCH=0 skips the bench (a file larger than the RAM pages from disk). A shape is skipped with a message
# when the disk there lacks room for the synthetic model and its int4 file.
set -euo pipefail
cd "$(dirname "$0")/.."
dfrot=${DFROT:-build/release/bin/dfrot}
work=${WORK:-data/large}
threads=${THREADS:-2}
type=${TYPE:-f16}
shapes=${SHAPES:-"llama-3.2-1b llama-2-7b"}
method=${METHOD:-rtn}
layers=()
[[ -n ${LAYERS:-} ]] && layers=(--layers "$LAYERS")
mkdir -p "$work"
[[ -x $dfrot ]] || { echo "no $dfrot: build first (cmake --build --preset release --target dfrot_cli)" >&2; exit 1; }

for shape in $shapes; do
  tag=$shape${LAYERS:+-${LAYERS}layers}
  src="$work/$tag.$type.gguf" out="$work/$tag.w4a4kv4-$method.gguf"
  dry() { "$dfrot" synth --shape "$shape" --type "$1" "${layers[@]}" --dry-run --json 2>/dev/null; }
  need=$(dry "$type" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows"][0]["bytes"])')
  # The int4 file: the F16 embeddings (and lm_head when untied) as they are, the decoder's F16
  # bytes × 0.28 (4-bit codes, scales, row sums, panel padding), whatever the source's own type.
  out_need=$(dry f16 | python3 -c 'import json,sys
r = json.load(sys.stdin); dense = r["vocab"] * r["hidden"] * 2 * (1 if r["tied"] else 2)
print(int(0.28 * (r["rows"][0]["bytes"] - dense) + dense))')
  free=$(df --output=avail -B1 "$work" | tail -1)
  have=0; [[ -f $src ]] && have=$need
  if (( free + have < need + out_need )); then
    echo "== $tag: skipped, needs $(( (need + out_need) / 1000000000 )) GB in $work, $(( free / 1000000000 )) GB free" >&2
    continue
  fi
  echo "== $tag ($method)" >&2
  [[ -f $src ]] || "$dfrot" synth --shape "$shape" --type "$type" "${layers[@]}" -o "$src" -t "$threads" --json
  "$dfrot" quantize -m "$src" -o "$out" -t "$threads" --preset quarot-paper --rotate hadamard "--$method" \
    --pipeline streamed --json "$@"
  [[ ${BENCH:-1} == 1 ]] && "$dfrot" bench -m "$out" -p "${PP:-128}" -n "${TG:-32}" -r "${REPS:-2}" -t "$threads" --json
  [[ ${KEEP:-0} == 1 ]] || rm -f "$src" "$out"
done
