#!/usr/bin/env python3
"""Markdown table from bench/run_bench.sh's JSON lines: ours next to each
PyTorch variant, with speed-up ratios. Usage: bench/summarize.py results.jsonl"""
import json, sys

rows = [json.loads(l.replace(": nan", ": null")) for l in open(sys.argv[1]) if l.startswith("{")]
key = lambda r: (r["config"], r["mode"])
ours = {key(r): r for r in rows if r["impl"] == "vidlstm"}
ref = {}
for r in rows:
    if r["impl"] == "pytorch":
        ref.setdefault(key(r), {})[r["variant"]] = r
variants = ["as-installed", "tuned", "tuned-avx512"]
print("| config | mode | vidlstm ms | GFLOP/s | RSS MB | " +
      " | ".join("PyTorch %s ms (RSS MB) | speed-up" % v for v in variants) + " | speed-up vs best PyTorch |")
print("|" + "---|" * (6 + 2 * len(variants)))
for k, o in sorted(ours.items()):
    cells = ["(%s)" % k[0], k[1], "%.1f" % o["median_ms"], "%.0f" % o["gflops"], "%.0f" % o["peak_rss_mb"]]
    for v in variants:
        p = ref.get(k, {}).get(v)
        cells += ["%.1f (%.0f)" % (p["median_ms"], p["peak_rss_mb"]), "%.2fx" % (p["median_ms"] / o["median_ms"])] if p else ["-", "-"]
    best = min((p["median_ms"] for p in ref.get(k, {}).values()), default=None)
    cells.append("**%.2fx**" % (best / o["median_ms"]) if best else "-")
    print("| " + " | ".join(cells) + " |")
