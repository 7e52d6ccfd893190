#!/usr/bin/env python3
"""Prints the results tables of docs/RESULTS.md from the JSON lines of scripts/results.sh."""
import json
import sys

CONFIGS = ["W4A4KV4", "W4A4KV16", "W4A8KV16"]


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                rows[r["key"]] = r
    return rows


def ppl(r):
    return r["report"]["rows"][0]["ppl"]


def fmt(x):
    if x is None:
        return "–"
    return f"{x:,.2f}" if x < 1000 else f"{x:,.0f}"


def main(path):
    rows = load(path)
    fp = rows.get("fp")
    if fp:
        rep = fp["report"]
        print(f"FP32: PPL **{ppl(fp):.3f}** ({rep['rows'][0]['windows']} windows, "
              f"eval {rep['rows'][0]['eval_s']:.0f} s)\n")
    # QuaRot table (DFRot README layout): methods × configs.
    methods = [("RTN", "-", "rtn-none"), ("QuaRot-RTN", "RO", "rtn-random"),
               ("QuaRot-RTN", "RH", "rtn-hadamard"), ("GPTQ", "-", "gptq-none"),
               ("QuaRot-GPTQ", "RO", "gptq-random"), ("QuaRot-GPTQ", "RH", "gptq-hadamard")]
    learned = [("DFRot-RTN", "RH→Procrustes", "rtn-dfrot_rh"), ("DFRot-RTN", "RO→Procrustes", "rtn-dfrot_ro"),
               ("DFRot-GPTQ", "RH→Procrustes", "gptq-dfrot_rh"), ("DFRot-GPTQ", "RO→Procrustes", "gptq-dfrot_ro"),
               ("Cayley-RTN", "RH→SGD quant-error", "rtn-cayley_qerr"),
               ("Cayley-RTN", "RH→SGD kurtosis", "rtn-cayley_kurt")]
    print("| method | R1 | " + " | ".join(CONFIGS) + " | offline time |")
    print("|---|---|" + "---|" * len(CONFIGS) + "---|")
    for name, rot, key in methods + learned:
        cells, offline = [], None
        for cfg in CONFIGS:
            r = rows.get(f"{key}-{cfg}")
            cells.append(fmt(ppl(r)) if r else "–")
            if r:
                rep = r["report"]
                prep = rep["rows"][0].get("prepare_s") or 0
                offline = r.get("offline_s") if r.get("offline_s") is not None else prep
        print(f"| {name} | {rot} | " + " | ".join(cells) + f" | {fmt(offline) + ' s' if offline is not None else '–'} |")
    print()
    # --auto-asym beside the fixed symmetries.
    print("| method | R1 | W4A4KV4 | W4A4KV4 --auto-asym | asymmetric quantizers chosen (of 30 layers) |")
    print("|---|---|---|---|---|")
    for name, rot, key in [("QuaRot-RTN", "RH", "rtn-hadamard"), ("QuaRot-GPTQ", "RH", "gptq-hadamard")] + learned:
        base, auto = rows.get(f"{key}-W4A4KV4"), rows.get(f"{key}-W4A4KV4-auto")
        chosen = "–"
        if auto and "auto_asym_layers" in auto["report"]:
            chosen = ", ".join(f"{k} {v}" for k, v in auto["report"]["auto_asym_layers"].items())
        print(f"| {name} | {rot} | {fmt(ppl(base)) if base else '–'} | {fmt(ppl(auto)) if auto else '–'} | {chosen} |")
    print()
    # The learned rotations themselves (dfrot optimize reports).
    import os
    base = os.path.dirname(path)
    print("| rotation | method | massive tokens | iterations / steps | stop | RMS per-token error: start → result | weighted error: start → best | time |")
    print("|---|---|---|---|---|---|---|---|")
    for name, f in [("DFRot from RH", "r1_dfrot_rh"), ("DFRot from RO", "r1_dfrot_ro"),
                    ("Cayley quant-error (from RH)", "r1_cayley_qerr"), ("Cayley kurtosis P=4 per token (from RH)", "r1_cayley_kurt")]:
        fp = os.path.join(base, f + ".npy.json")
        if not os.path.exists(fp) or os.path.getsize(fp) == 0:
            continue
        r = json.load(open(fp))
        it = r.get("iterations_run", r.get("best_step"))
        rows_ = r.get("rows", [])
        if "iterations_run" in r:
            w = f"{rows_[0]['weighted_error']:.1f} → {rows_[r['best_iteration']]['weighted_error']:.1f}"
            steps = f"{r['iterations_run']} (best {r['best_iteration']})"
        else:
            w = "–"
            steps = f"{len(rows_) - 1} (batch 8192)"
        print(f"| {name} | {r['method']} | {r['massive_tokens']} of {r.get('calibration_rows', 122880)} | {steps} | {r.get('stop', '–')} | "
              f"{r['start_rms_token_error']:.4f} → {r['result_rms_token_error']:.4f} | {w} | {r['total_s']:.0f} s |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/results/rows.jsonl")
