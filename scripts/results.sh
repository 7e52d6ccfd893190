#!/usr/bin/env bash
# Regenerates the results table of docs/RESULTS.md on the default model (SmolLM2-135M-Instruct)
# and WikiText-2 test (-c 2048, all 148 windows unless CHUNKS says otherwise): FP; RTN and GPTQ without rotation, with a
# random orthogonal (RO) and a randomized Hadamard (RH) R1 (QuaRot); DFRot (weighted Procrustes
# from RH and from RO) and Cayley SGD (per-token 4-bit error loss; per-token kurtosis loss) R1;
# for W4A4KV4, W4A4KV16 and W4A8KV16 (learned rotations: W4A4KV4 and W4A4KV16; --auto-asym rows
# for W4A4KV4); with the time each step took.
# Settings: --preset quarot-paper (weights sym per channel + MSE clip; activations sym per token
# clip 0.9; K/V asym per head clip 0.95), seed SEED. GPTQ calibrates on CALIB windows of 2048
# tokens of wiki.valid.tokens (the papers use 128 windows of the train split, absent here).
# Rows are appended as JSON lines to OUT (default docs/results/rows.jsonl, kept in the repository so
# that a regeneration spread over several sessions resumes: rows already there are skipped); the
# quantized files and rotations go to WORK (default build/results; rebuilt when absent).
# scripts/render_results.py prints the tables.
# Sections (SECTIONS, default all): `ppl` the QuaRot rows above; `learned` the DFRot / Cayley rows;
# `keep` / `keep16` DFRot's QuaRot.FP16() ablation (QuaRot-GPTQ RO/RH with --keep-massive-tokens,
# W4A4KV4 / W4A4KV16); `zeroshot`
# lm-eval zero-shot tasks (dfrot eval) of the main rows; `seeds` seeds 0, 1, 2 of the QuaRot RTN /
# GPTQ RH and RO W4A4KV4 rows (Hadamard signs / random rotation and GPTQ calibration windows change
# together); `calib` GPTQ RH W4A4KV4 on 8 / 32 / 128 calibration windows. Both spreads run on the
# first SPREAD_CHUNKS windows (same windows for every seed, so the spread is the seed's alone).
# Environment: CHUNKS (-1 = all 148 windows), SPREAD_CHUNKS (32), CALIB (8), THREADS (2), SEED (0),
# OUT, WORK, SECTIONS, LIMIT (zero-shot documents per task, 0 = all), SKIP_BUILD=1, DFROT_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
chunks=${CHUNKS:--1}
spread_chunks=${SPREAD_CHUNKS:-32}
calib=${CALIB:-8}
threads=${THREADS:-2}
seed=${SEED:-0}
out=${OUT:-docs/results/rows.jsonl}
work=${WORK:-build/results}
mkdir -p "$work" "$(dirname "$out")"
touch "$out"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  bash scripts/install_deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target dfrot_cli >&2
fi
model=$(bash scripts/fetch_model.sh)
text="${DFROT_SHARED_DIR:-../shared}/data/wikitext-2-raw/wiki.test.raw"
dfrot=${DFROT_BIN:-build/release/bin/dfrot}
common=(-c 2048 -t "$threads" --json)

config_flags() {  # W4A4KV4 | W4A4KV16 | W4A8KV16 → run-time bit flags
  case "$1" in
    W4A4KV4) echo "--a-bits 4 --k-bits 4 --v-bits 4" ;;
    W4A4KV16) echo "--a-bits 4 --k-bits 16 --v-bits 16" ;;
    W4A8KV16) echo "--a-bits 8 --k-bits 16 --v-bits 16" ;;
  esac
}
have() { grep -qF "\"key\": \"$1\"" "$out"; }
record() {  # record KEY METHOD ROTATION CONFIG EXTRA_JSON REPORT_JSON
  python3 - "$@" >>"$out" <<'PY'
import json, sys
key, method, rotation, config, extra, report = sys.argv[1:7]
row = {"key": key, "method": method, "rotation": rotation, "config": config}
row.update(json.loads(extra))
row["report"] = json.loads(report)
print(json.dumps(row))
PY
}
ppl() {  # [ROW_CHUNKS=N] [ROW_SEED=S] ppl KEY METHOD ROTATION CONFIG EXTRA_JSON ARGS...
  local key=$1 method=$2 rotation=$3 config=$4 extra=$5
  shift 5
  if have "$key"; then return; fi
  echo "== $key" >&2
  local report
  report=$("$dfrot" ppl -f "$text" "${common[@]}" --chunks "${ROW_CHUNKS:-$chunks}" -s "${ROW_SEED:-$seed}" "$@")
  record "$key" "$method" "$rotation" "$config" "$extra" "$report"
}
quantize() {  # [ROW_SEED=S] quantize FILE ARGS... (GPTQ weights once; reused for every run-time config)
  local file=$1
  shift
  if [[ -f "$file" ]]; then return; fi
  echo "== quantize $file" >&2
  "$dfrot" quantize -m "$model" -o "$file.tmp" -t "$threads" -s "${ROW_SEED:-$seed}" --json "$@" >"$file.json"
  mv "$file.tmp" "$file"
}
optimize() {  # optimize FILE ARGS...
  local file=$1
  shift
  if [[ -f "$file" ]]; then return; fi
  echo "== optimize $file" >&2
  "$dfrot" optimize -m "$model" -o "$file.tmp.npy" -t "$threads" -s "$seed" --json "$@" >"$file.json"
  mv "$file.tmp.npy" "$file"
}
zeroshot() {  # zeroshot KEY METHOD ROTATION CONFIG EXTRA_JSON ARGS... (rows keyed zs-KEY)
  local key="zs-$1" method=$2 rotation=$3 config=$4 extra=$5
  shift 5
  if have "$key"; then return; fi
  echo "== $key" >&2
  local report
  report=$("$dfrot" eval -t "$threads" -s "$seed" --limit "${LIMIT:-0}" --json "$@")
  record "$key" "$method" "$rotation" "$config" "$extra" "$report"
}
sections=${SECTIONS:-"ppl learned keep zeroshot keep16 seeds calib"}
want() { [[ " $sections " == *" $1 "* ]]; }
extra_of() {  # seconds of the offline step that produced FILE, as JSON
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({"offline_s": r.get("total_s") or r["rows"][0].get("quantize_s"), "offline": sys.argv[1]}))' "$1.json"
}

if want ppl; then ppl fp FP - FP32 '{}' -m "$model"; fi
declare -A rot_name=([none]="-" [random]=RO [hadamard]=RH)
for rot in hadamard random none; do
  if [[ $rot == none ]] && ! want ppl; then continue; fi  # only the ppl section has an unrotated GPTQ row
  # The seed and calibration spreads quantize their own files only for rows still missing.
  if [[ $rot != hadamard ]] && ! { want ppl || want keep || want zeroshot || want keep16; }; then continue; fi
  quantize "$work/gptq_$rot.gguf" --preset quarot-paper --rotate "$rot" --gptq --calib-windows "$calib"
done
if want ppl; then
for cfg in W4A4KV4 W4A4KV16 W4A8KV16; do
  for rot in none random hadamard; do
    method=RTN; [[ $rot != none ]] && method=QuaRot-RTN
    # shellcheck disable=SC2046
    ppl "rtn-$rot-$cfg" "$method" "${rot_name[$rot]}" "$cfg" '{}' -m "$model" --preset quarot-paper \
      --rotate "$rot" $(config_flags "$cfg")
    method=GPTQ; [[ $rot != none ]] && method=QuaRot-GPTQ
    # shellcheck disable=SC2046
    ppl "gptq-$rot-$cfg" "$method" "${rot_name[$rot]}" "$cfg" "$(extra_of "$work/gptq_$rot.gguf")" \
      -m "$work/gptq_$rot.gguf" $(config_flags "$cfg")
  done
done

fi

# Learned rotations (issue: DFRot and learned rotations).
if want learned; then
optimize "$work/r1_dfrot_rh.npy" --method dfrot --start hadamard
optimize "$work/r1_dfrot_ro.npy" --method dfrot --start random
optimize "$work/r1_cayley_qerr.npy" --method cayley --loss quant-error --lr 1e-5 --steps 300 --batch 8192
optimize "$work/r1_cayley_kurt.npy" --method cayley --loss outlier --outlier-stats per-token --outlier-p 4 \
  --lr 1.5 --steps 300 --batch 8192
for r in dfrot_rh dfrot_ro; do
  quantize "$work/gptq_$r.gguf" --preset quarot-paper --rotate "$work/r1_$r.npy" --gptq --calib-windows "$calib"
done
declare -A learned=([dfrot_rh]="DFRot|RH→Procrustes" [dfrot_ro]="DFRot|RO→Procrustes"
                    [cayley_qerr]="Cayley|RH→SGD quant-error" [cayley_kurt]="Cayley|RH→SGD kurtosis (P=4, per token)")
# W4A4KV4, then the --auto-asym rows (QuaRot RH baseline first), then W4A4KV16 (2 CPU cores: the
# full cross product would take hours).
learned_row() {  # learned_row ROTATION CONFIG [--auto-asym]
  local r=$1 cfg=$2 asym=${3:-} name rot tag
  IFS='|' read -r name rot <<<"${learned[$r]}"
  tag=${asym:+-auto}
  # shellcheck disable=SC2046
  ppl "rtn-$r-$cfg$tag" "$name-RTN" "$rot" "$cfg$tag" "$(extra_of "$work/r1_$r.npy")" -m "$model" \
    --preset quarot-paper --rotate "$work/r1_$r.npy" $(config_flags "$cfg") $asym
  if [[ $r == dfrot_* ]]; then
    # shellcheck disable=SC2046
    ppl "gptq-$r-$cfg$tag" "$name-GPTQ" "$rot" "$cfg$tag" "$(extra_of "$work/gptq_$r.gguf")" \
      -m "$work/gptq_$r.gguf" $(config_flags "$cfg") $asym
  fi
}
for r in dfrot_rh dfrot_ro cayley_qerr cayley_kurt; do learned_row "$r" W4A4KV4; done
# QuaRot RH with --auto-asym, the baseline of the skew rows.
ppl rtn-hadamard-W4A4KV4-auto QuaRot-RTN RH W4A4KV4-auto '{}' -m "$model" --preset quarot-paper \
  --rotate hadamard --a-bits 4 --k-bits 4 --v-bits 4 --auto-asym
ppl gptq-hadamard-W4A4KV4-auto QuaRot-GPTQ RH W4A4KV4-auto "$(extra_of "$work/gptq_hadamard.gguf")" \
  -m "$work/gptq_hadamard.gguf" --a-bits 4 --k-bits 4 --v-bits 4 --auto-asym
for r in dfrot_rh cayley_kurt dfrot_ro cayley_qerr; do learned_row "$r" W4A4KV4 --auto-asym; done
for r in dfrot_rh cayley_kurt dfrot_ro cayley_qerr; do learned_row "$r" W4A4KV16; done
fi

# DFRot's QuaRot.FP16() rows: the massive-activation tokens keep unquantized activations
# (`keep` W4A4KV4; `keep16` W4A4KV16, after the zero-shot rows).
keep_rows() {  # keep_rows CONFIG
  local cfg=$1 rot
  for rot in random hadamard; do
    # shellcheck disable=SC2046
    ppl "gptq-$rot-$cfg" QuaRot-GPTQ "${rot_name[$rot]}" "$cfg" "$(extra_of "$work/gptq_$rot.gguf")" \
      -m "$work/gptq_$rot.gguf" $(config_flags "$cfg")
    # shellcheck disable=SC2046
    ppl "gptq-$rot-$cfg-keep" QuaRot-GPTQ.FP16 "${rot_name[$rot]}" "$cfg" "$(extra_of "$work/gptq_$rot.gguf")" \
      -m "$work/gptq_$rot.gguf" $(config_flags "$cfg") --keep-massive-tokens
  done
}
if want keep; then keep_rows W4A4KV4; fi

# Zero-shot tasks of the main rows (lm-eval 0.4 scoring; HellaSwag is not available here).
if want zeroshot; then
  zeroshot fp FP - FP32 '{}' -m "$model"
  for tag in "" -keep; do
    for rot in hadamard random; do
      method=QuaRot-GPTQ; [[ -n $tag ]] && method=QuaRot-GPTQ.FP16
      # shellcheck disable=SC2046
      zeroshot "gptq-$rot-W4A4KV4$tag" "$method" "${rot_name[$rot]}" W4A4KV4 \
        "$(extra_of "$work/gptq_$rot.gguf")" -m "$work/gptq_$rot.gguf" ${tag:+--keep-massive-tokens}
    done
  done
  for rot in hadamard random; do
    zeroshot "gptq-$rot-W4A4KV16" QuaRot-GPTQ "${rot_name[$rot]}" W4A4KV16 "$(extra_of "$work/gptq_$rot.gguf")" \
      -m "$work/gptq_$rot.gguf" --k-bits 16 --v-bits 16
    zeroshot "rtn-$rot-W4A4KV4" QuaRot-RTN "${rot_name[$rot]}" W4A4KV4 '{}' -m "$model" --preset quarot-paper \
      --rotate "$rot"
  done
  for r in dfrot_rh dfrot_ro; do
    if [[ -f "$work/gptq_$r.gguf" ]]; then
      zeroshot "gptq-$r-W4A4KV4" DFRot-GPTQ "${r#dfrot_}" W4A4KV4 "$(extra_of "$work/gptq_$r.gguf")" -m "$work/gptq_$r.gguf"
    fi
  done
fi
if want keep16; then keep_rows W4A4KV16; fi

# Seed spread on the first SPREAD_CHUNKS windows: seeds 0, 1, 2 (mean ± std in the rendered table).
if want seeds; then
  for s in 0 1 2; do
    for rot in random hadamard; do
      file="$work/gptq_$rot.gguf"; [[ $s != 0 ]] && file="$work/gptq_${rot}_seed$s.gguf"
      have "gptq-$rot-W4A4KV4-seed$s-w$spread_chunks" ||
        ROW_SEED=$s quantize "$file" --preset quarot-paper --rotate "$rot" --gptq --calib-windows "$calib"
      ROW_CHUNKS=$spread_chunks ROW_SEED=$s ppl "rtn-$rot-W4A4KV4-seed$s-w$spread_chunks" QuaRot-RTN \
        "${rot_name[$rot]}" W4A4KV4 "{\"seed\": $s}" -m "$model" --preset quarot-paper --rotate "$rot"
      ROW_CHUNKS=$spread_chunks ppl "gptq-$rot-W4A4KV4-seed$s-w$spread_chunks" QuaRot-GPTQ "${rot_name[$rot]}" \
        W4A4KV4 "$(extra_of "$file" | sed "s/}\$/, \"seed\": $s}/")" -m "$file"
    done
  done
fi

# GPTQ calibration size on the first SPREAD_CHUNKS windows: 8 (the main rows' file), 32 and 128
# windows of wiki.valid.tokens.
if want calib; then
  for n in 8 32 128; do
    file="$work/gptq_hadamard_calib$n.gguf"; [[ $n == "$calib" ]] && file="$work/gptq_hadamard.gguf"
    have "gptq-hadamard-W4A4KV4-calib$n-w$spread_chunks" ||
      quantize "$file" --preset quarot-paper --rotate hadamard --gptq --calib-windows "$n"
    ROW_CHUNKS=$spread_chunks ppl "gptq-hadamard-W4A4KV4-calib$n-w$spread_chunks" QuaRot-GPTQ RH W4A4KV4 \
      "$(extra_of "$file" | sed "s/}\$/, \"calib_windows\": $n}/")" -m "$file"
  done
fi
python3 scripts/render_results.py "$out" "$work"
