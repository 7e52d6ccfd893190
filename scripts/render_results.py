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


def main(path, work):
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
    base = work
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
    print()
    render_keep(rows)
    render_zeroshot(rows)
    render_seeds(rows)
    render_calib(rows)


def render_keep(rows):
    """DFRot README's QuaRot.FP16() rows: RO/RH with and without the massive tokens quantized."""
    if not any(k.endswith("-keep") and not k.startswith("zs-") for k in rows):
        return
    print("| method | W4A4KV4 | W4A4KV16 | kept tokens per window (W4A4KV4) |")
    print("|---|---|---|---|")
    for rot, name in [("random", "RO"), ("hadamard", "RH")]:
        for tag, label in [("", "QuaRot"), ("-keep", "QuaRot.FP16()")]:
            cells = []
            for cfg in ["W4A4KV4", "W4A4KV16"]:
                r = rows.get(f"gptq-{rot}-{cfg}{tag}")
                cells.append(fmt(ppl(r)) if r else "–")
            r = rows.get(f"gptq-{rot}-W4A4KV4{tag}")
            kept = r["report"].get("kept_tokens_per_window") if r else None
            print(f"| ({name}) {label} | " + " | ".join(cells) + f" | {f'{kept:.2f}' if kept is not None else '–'} |")
    print()


ZS_COLUMNS = [("piqa", "PQ", "acc"), ("winogrande", "WG", "acc"), (None, "HS", None), ("arc_easy", "A-e", "acc"),
              ("arc_challenge", "A-c", "acc_norm"), ("lambada_openai", "LA", "acc")]


def zs_metric(r, task, metric):
    for row in r["report"]["rows"]:
        if row["task"] == task and row["metric"] == metric:
            return row["value"], row["stderr"]
    return None


def render_zeroshot(rows):
    zs = [(k, r) for k, r in rows.items() if k.startswith("zs-")]
    if not zs:
        return
    print("| method | R1 | W-A-KV | " + " | ".join(c for _, c, _ in ZS_COLUMNS) + " | Avg (5) | LA PPL | eval time |")
    print("|---|---|---|" + "---|" * len(ZS_COLUMNS) + "---|---|---|")
    for key, r in zs:
        cells, vals = [], []
        for task, _, metric in ZS_COLUMNS:
            m = zs_metric(r, task, metric) if task else None
            if task is None:
                cells.append("n/a")
            elif m is None:
                cells.append("–")
            else:
                cells.append(f"{100 * m[0]:.1f} ± {100 * m[1]:.1f}")
                vals.append(m[0])
        avg = f"{100 * sum(vals) / len(vals):.1f}" if len(vals) == 5 else "–"
        la = zs_metric(r, "lambada_openai", "ppl")
        la_txt = f"{la[0]:,.1f} ± {la[1]:,.1f}" if la else "–"
        print(f"| {r['method']} | {r['rotation']} | {r['config']} | " + " | ".join(cells) +
              f" | {avg} | {la_txt} | {r['report'].get('eval_s', 0):.0f} s |")
    print()


def mean_std(xs):
    m = sum(xs) / len(xs)
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else float("nan")
    return m, var ** 0.5


def spread_windows(rows, marker):
    """The window count N of the spread rows (keys ending in -wN), or None."""
    ns = {k.rsplit("-w", 1)[1] for k in rows if marker in k and "-w" in k}
    return sorted(ns)[0] if ns else None


def render_seeds(rows):
    n = spread_windows(rows, "-seed")
    if n is None:
        return
    print(f"Seed spread (first {n} windows; seed s sets the Hadamard signs / random rotation and the GPTQ "
          "calibration windows):\n")
    print("| method | R1 | W4A4KV4, seed 0 | seed 1 | seed 2 | mean ± std |")
    print("|---|---|---|---|---|---|")
    for method, key in [("QuaRot-RTN", "rtn"), ("QuaRot-GPTQ", "gptq")]:
        for rot, name in [("random", "RO"), ("hadamard", "RH")]:
            vals = [rows.get(f"{key}-{rot}-W4A4KV4-seed{s}-w{n}") for s in range(3)]
            cells = [fmt(ppl(v)) if v else "–" for v in vals]
            got = [ppl(v) for v in vals if v]
            ms = mean_std(got) if len(got) > 1 else None
            print(f"| {method} | {name} | " + " | ".join(cells) + f" | {f'{ms[0]:.2f} ± {ms[1]:.2f}' if ms else '–'} |")
    print()


def render_calib(rows):
    n = spread_windows(rows, "-calib")
    if n is None:
        return
    print(f"GPTQ calibration size (first {n} windows):\n")
    print("| GPTQ calibration windows (× 2048 tokens) | QuaRot-GPTQ RH W4A4KV4 PPL | dfrot quantize time |")
    print("|---|---|---|")
    for c in [8, 32, 128]:
        r = rows.get(f"gptq-hadamard-W4A4KV4-calib{c}-w{n}")
        print(f"| {c} | {fmt(ppl(r)) if r else '–'} | {fmt(r.get('offline_s')) + ' s' if r and r.get('offline_s') else '–'} |")
    print()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/results/rows.jsonl",
         sys.argv[2] if len(sys.argv) > 2 else "build/results")
