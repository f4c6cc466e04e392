#!/usr/bin/env python3
"""Markdown table from bench/run_bench.sh's JSON lines: ours next to each
PyTorch variant, with speed-up ratios. Usage: bench/summarize.py results.jsonl
With ROUNDS > 1 every run kind appears several times (interleaved): the table
shows the median of their medians, and the ratio of those medians. The
fraction of peak uses the GEMM peaks on the settings line (sgemm for fp32 runs,
the bf16 GEMM for bf16 runs); "% of peak (done)" counts only the GEMM work
either side performs (the FLOP formula also counts the first layer's input
gradient, which neither computes)."""
import json, re, statistics, sys

lines = open(sys.argv[1]).read().splitlines()
rows = [json.loads(l.replace(": nan", ": null")) for l in lines if l.startswith("{")]
peak = {"fp32": None, "bf16": None}
for l in lines:
    m = re.search(r"sgemm peak \(2048\^3\): ([0-9.]+)", l)
    if m: peak["fp32"] = float(m.group(1))
    m = re.search(r"bf16 GEMM peak \(2048\^3, fp32 accumulation\): ([0-9.]+)", l)
    if m and float(m.group(1)) > 0: peak["bf16"] = float(m.group(1))
key = lambda r: (r["config"], r["mode"])
ours, ref, before = {}, {}, {}
for r in rows:
    if r["impl"] == "vidlstm":
        ours.setdefault(key(r) + (r.get("precision", "fp32"),), []).append(r)
    elif r["impl"] == "vidlstm-before":
        before.setdefault(key(r), []).append(r)
    else:
        ref.setdefault(key(r), {}).setdefault(r["variant"], []).append(r)
med = lambda rs, f: statistics.median(r[f] for r in rs)
variants = ["as-installed", "tuned", "tuned-avx512"]
if peak["fp32"]:
    print("GEMM peaks (2048^3, our backend, this session): fp32 %.1f GFLOP/s" % peak["fp32"] +
          (", bf16 %.1f GFLOP/s" % peak["bf16"] if peak["bf16"] else "") + "\n")
bcol = bool(before)
print("| config | mode | precision | runs | vidlstm ms | GFLOP/s | % of peak | % of peak (done) | RSS MB | " +
      ("before (BASE_BIN) ms | speed-up vs before | " if bcol else "") +
      " | ".join("PyTorch %s ms (RSS MB) | speed-up" % v for v in variants) + " | speed-up vs best PyTorch |")
print("|" + "---|" * (10 + 2 * bcol + 2 * len(variants)))
for k, rs in sorted(ours.items()):
    ms = med(rs, "median_ms")
    gf = med(rs, "gflops")
    pk = peak.get(k[2][:4]) if k[2] in ("fp32", "bf16") else None
    cells = ["(%s)" % k[0], k[1], k[2], str(len(rs)), "%.1f" % ms, "%.0f" % gf,
             "%.0f%%" % (100 * gf / pk) if pk else "-",
             "%.0f%%" % (100 * med(rs, "gflops_done") / pk) if pk and "gflops_done" in rs[0] else "-",
             "%.0f" % med(rs, "peak_rss_mb")]
    if bcol:
        bs = before.get(k[:2])
        cells += ["%.1f" % med(bs, "median_ms"), "%.2fx" % (med(bs, "median_ms") / ms)] if bs else ["-", "-"]
    best = None
    for v in variants:
        ps = ref.get(k[:2], {}).get(v)
        if ps:
            pm = med(ps, "median_ms")
            best = pm if best is None else min(best, pm)
            cells += ["%.1f (%.0f)" % (pm, med(ps, "peak_rss_mb")), "%.2fx" % (pm / ms)]
        else:
            cells += ["-", "-"]
    cells.append("**%.2fx**" % (best / ms) if best else "-")
    print("| " + " | ".join(cells) + " |")
