#!/usr/bin/python3
"""Summary of bench/pipeline/run.sh's JSON lines: medians over the rounds and
ratios vidlstm / PyTorch (speed-ups: PyTorch's time over vidlstm's, > 1 means
vidlstm is faster), as a markdown table and one JSON summary line.

    /usr/bin/python3 bench/pipeline/summarize.py results.jsonl
"""
import json
import statistics
import sys


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def main():
    runs, frames, long_frames = {}, None, None
    for line in open(sys.argv[1]):
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        if r["run"] == "frames":
            frames = r["frames"]
        elif r["run"] == "long frames":
            long_frames = r["frames"]
        else:
            runs.setdefault(r["run"], {})[r["round"]] = r

    def col(name, f):
        return [f(r) for r in runs.get(name, {}).values()]

    def per_round(a, b, fa, fb):
        """median over rounds of fb(b) / fa(a): interleaved runs, same load"""
        ra, rb = runs.get(a, {}), runs.get(b, {})
        return med([fb(rb[k]) / fa(ra[k]) for k in ra if k in rb and fa(ra[k]) and fb(rb[k])])

    S = {"frames": frames}
    rows = []
    fmt = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
    x = lambda v: "-" if v is None else f"**{v:.2f}x**"
    pt = "pytorch tuned"
    pt_ext = col(pt, lambda r: r["out"]["extract_s"])
    cnn = med(col("cnn alone (bench_backbone)", lambda r: r["out"]["frames_per_s"]))
    S["cnn_alone_fps"] = cnn
    S["pytorch"] = {"extract_s": med(pt_ext), "cnn_fps_in_pipeline": med(col(pt, lambda r: r["out"]["cnn_fps"])),
                    "decode_convert_s": med(col(pt, lambda r: r["out"]["decode_convert_s"])),
                    "train_s": med(col(pt, lambda r: r["out"].get("train_s"))), "total_s": med(col(pt, lambda r: r["wall_s"])),
                    "peak_rss_mb": med(col(pt, lambda r: r["peak_rss_mb"])),
                    "peak_rss_extract_mb": med(col(pt, lambda r: r["out"]["peak_rss_extract_mb"]))}
    P = S["pytorch"]
    rows.append(("PyTorch tuned: extraction", fmt(P["extract_s"]), fmt(frames / P["extract_s"] if frames and P["extract_s"] else None),
                 fmt(P["peak_rss_extract_mb"], 0), f"its CNN {fmt(P['cnn_fps_in_pipeline'])} f/s, decode+convert {fmt(P['decode_convert_s'])} s", "1.00x"))
    for name in sorted(n for n in runs if n.startswith("vidlstm extract")):
        w = med(col(name, lambda r: r["wall_s"]))
        fps = frames / w if frames and w else None
        sp = per_round(name, pt, lambda r: r["wall_s"], lambda r: r["out"]["extract_s"])
        frac = fps / cnn if fps and cnn else None
        S[name] = {"wall_s": w, "fps": fps, "of_cnn_alone": frac, "speedup_vs_pytorch": sp,
                   "peak_rss_mb": med(col(name, lambda r: r["peak_rss_mb"]))}
        rows.append((name, fmt(w), fmt(fps), fmt(S[name]["peak_rss_mb"], 0),
                     f"{fmt(100 * frac if frac else None, 0)}% of the CNN alone", x(sp)))
    if "vidlstm train (features)" in runs:
        n = "vidlstm train (features)"
        w = med(col(n, lambda r: r["wall_s"]))
        sp = per_round(n, pt, lambda r: r["wall_s"], lambda r: r["out"]["train_s"])
        S["train"] = {"vidlstm_s": w, "pytorch_s": P["train_s"], "speedup_vs_pytorch": sp,
                      "peak_rss_mb": med(col(n, lambda r: r["peak_rss_mb"]))}
        rows.append(("PyTorch tuned: training", fmt(P["train_s"]), "-", "-", "3 members x 30 epochs", "1.00x"))
        rows.append((n + ": training alone", fmt(w), "-", fmt(S["train"]["peak_rss_mb"], 0), "", x(sp)))
    if "vidlstm train (videos)" in runs:
        n = "vidlstm train (videos)"
        w = med(col(n, lambda r: r["wall_s"]))
        sp = per_round(n, pt, lambda r: r["wall_s"], lambda r: r["wall_s"])
        S["total"] = {"vidlstm_s": w, "pytorch_s": P["total_s"], "speedup_vs_pytorch": sp,
                      "peak_rss_mb": med(col(n, lambda r: r["peak_rss_mb"])), "pytorch_peak_rss_mb": P["peak_rss_mb"]}
        rows.append(("PyTorch tuned: whole script", fmt(P["total_s"]), "-", fmt(P["peak_rss_mb"], 0), "decode + CNN + LSTM, one process", "1.00x"))
        rows.append((n + ": whole pipeline", fmt(w), "-", fmt(S["total"]["peak_rss_mb"], 0), "", x(sp)))
    if "long: vidlstm extract" in runs:
        a, b = "long: vidlstm extract", "long: pytorch tuned"
        wa = med(col(a, lambda r: r["wall_s"]))
        wb = med(col(b, lambda r: r["out"]["extract_s"]))
        sp = per_round(a, b, lambda r: r["wall_s"], lambda r: r["out"]["extract_s"])
        S["long"] = {"frames": long_frames, "vidlstm_s": wa, "pytorch_s": wb, "speedup_vs_pytorch": sp,
                     "vidlstm_fps": long_frames / wa if long_frames and wa else None,
                     "of_cnn_alone": long_frames / wa / cnn if long_frames and wa and cnn else None,
                     "vidlstm_peak_rss_mb": med(col(a, lambda r: r["peak_rss_mb"])),
                     "pytorch_peak_rss_mb": med(col(b, lambda r: r["peak_rss_mb"]))}
        L = S["long"]
        rows.append((b + ": extraction", fmt(wb), fmt(long_frames / wb if long_frames and wb else None),
                     fmt(L["pytorch_peak_rss_mb"], 0), f"its CNN {fmt(med(col(b, lambda r: r['out']['cnn_fps'])))} f/s", "1.00x"))
        rows.append((a, fmt(wa), fmt(L["vidlstm_fps"]), fmt(L["vidlstm_peak_rss_mb"], 0),
                     f"{fmt(100 * L['of_cnn_alone'] if L['of_cnn_alone'] else None, 0)}% of the CNN alone", x(sp)))
    nround = max((len(v) for v in runs.values()), default=0)
    loads = [r["load1"] for v in runs.values() for r in v.values()]
    print(f"\n{frames} sampled frames (clips); CNN alone (bench_backbone, batch 16): {fmt(cnn)} frames/s; "
          f"medians of {nround} round(s); load average during runs {fmt(min(loads) if loads else None)}-{fmt(max(loads) if loads else None)}\n")
    print("| run | seconds | frames/s | peak RSS (MB) | note | speed-up vs PyTorch (per-round median) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    print(json.dumps({"summary": S}))


if __name__ == "__main__":
    main()
