#!/usr/bin/python3
"""Checks that bench/pipeline/torch_pipeline.py does the same job as vidlstm:
the same sampled frames, preprocessing and weights give the same features.

    build/vidlstm extract --data CLIPS --backbone resnet18.onnx --out VL --no-cache
    /usr/bin/python3 bench/pipeline/torch_pipeline.py --data CLIPS --onnx resnet18.onnx \\
        --extract-only --save-features PT
    /usr/bin/python3 bench/pipeline/check_same.py VL PT [--tol 1e-4]

Fails (exit 1) when a clip's frame count differs or the relative L2 difference
of its features exceeds --tol; prints one line per clip.
"""
import argparse
import csv
import os
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vl", help="vidlstm extract --out folder (manifest.csv)")
    ap.add_argument("pt", help="torch_pipeline.py --save-features folder")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    bad = n = 0
    worst = 0.0
    for r in csv.DictReader(open(os.path.join(a.vl, "manifest.csv"))):
        v = np.load(os.path.join(a.vl, r["path"]))
        name = os.path.splitext(os.path.basename(r["group"]))[0]
        t = np.load(os.path.join(a.pt, r["label"], name + ".npy"))
        n += 1
        if v.shape != t.shape:
            print(f"{r['group']}: vidlstm {v.shape}, pytorch {t.shape}: different frames")
            bad += 1
            continue
        rel = float(np.linalg.norm(v - t) / max(np.linalg.norm(v), 1e-30))
        worst = max(worst, rel)
        ok = rel <= a.tol
        bad += not ok
        print(f"{r['group']}: {v.shape[0]} frames, relative difference {rel:.3g}{'' if ok else '  > tol'}")
    print(f"{n} clips, {bad} differ, worst relative difference {worst:.3g} (tol {a.tol:g})")
    sys.exit(1 if bad or n == 0 else 0)


if __name__ == "__main__":
    main()
