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
    print("| method | R1 | W4A4KV4 | W4A4KV4 --auto-asym | W4A4KV16 | W4A4KV16 --auto-asym |")
    print("|---|---|---|---|---|---|")
    for name, rot, key in [("QuaRot-RTN", "RH", "rtn-hadamard"), ("QuaRot-GPTQ", "RH", "gptq-hadamard")] + learned:
        cells = []
        for cfg in ["W4A4KV4", "W4A4KV16"]:
            for tag in ["", "-auto"]:
                r = rows.get(f"{key}-{cfg}{tag}")
                cells.append(fmt(ppl(r)) if r else "–")
        print(f"| {name} | {rot} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/results/rows.jsonl")
