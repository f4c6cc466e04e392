#!/usr/bin/env python3
"""Runs docs/model-format.md's PyTorch loader exactly as printed.

usage: doc_torch_snippet.py DOC MODEL.safetensors REFDIR X.npy [X.npy ...]

Takes the ```python blocks between <!-- torch-loader:begin --> and
<!-- torch-loader:end --> in DOC, runs them (in a scratch folder where
model.safetensors is MODEL), calls the snippet's predict() on each X [T, D]
and compares with REFDIR/<basename of X>.out.npy, what vl_model_predict gave
(tests/model_predict_npy.c), at 1e-5 relative error as tests/check.h.
Also runs all the sequences as one padded batch, which exercises the
snippet's lengths handling. Prints SKIP and exits 0 without torch/numpy.
"""
import os
import re
import shutil
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print("SKIP: doc_torch_snippet needs numpy and torch (%s)" % e)
    sys.exit(0)


def snippet(doc):
    text = open(doc, encoding="utf-8").read()
    m = re.search(r"<!-- torch-loader:begin[^>]*-->(.*?)<!-- torch-loader:end -->", text, re.S)
    if not m:
        raise SystemExit("FAIL: %s has no torch-loader:begin/end markers" % doc)
    blocks = re.findall(r"^```python\n(.*?)^```$", m.group(1), re.S | re.M)
    if len(blocks) < 2:
        raise SystemExit("FAIL: %s: expected the reader and the network blocks, found %d" % (doc, len(blocks)))
    return "\n".join(blocks)


def rel_err(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    floor = 0.1 * np.abs(b).max() + 1e-30
    return float((np.abs(a - b) / np.maximum(np.abs(b), floor)).max())


def main():
    if len(sys.argv) < 5:
        print(__doc__)
        return 2
    doc, model, refdir, xs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    code = snippet(doc)
    torch.set_num_threads(1)
    scratch = tempfile.mkdtemp(prefix="vl_doc_snippet.")
    cwd = os.getcwd()
    try:
        shutil.copy(model, os.path.join(scratch, "model.safetensors"))
        os.chdir(scratch)
        ns = {"__name__": "doc_snippet"}
        exec(compile(code, doc + " (torch-loader)", "exec"), ns)
    finally:
        os.chdir(cwd)
        shutil.rmtree(scratch)
    predict = ns["predict"]
    worst, seqs, refs = 0.0, [], []
    for xp in xs:
        x = np.load(xp).astype(np.float32)
        ref = np.load(os.path.join(refdir, os.path.basename(xp) + ".out.npy"))
        y = predict(torch.from_numpy(x)[None], torch.tensor([x.shape[0]], dtype=torch.int64))[0].numpy()
        if y.shape != ref.shape:
            print("FAIL %s: %s: snippet shape %s, vidlstm %s" % (os.path.basename(model), xp, y.shape, ref.shape))
            return 1
        worst = max(worst, rel_err(y, ref))
        seqs.append(x)
        refs.append(ref)
    # one padded batch of all of them
    T = max(len(x) for x in seqs)
    xb = np.zeros((len(seqs), T, seqs[0].shape[1]), np.float32)
    for i, x in enumerate(seqs):
        xb[i, : len(x)] = x
    yb = predict(torch.from_numpy(xb), torch.tensor([len(x) for x in seqs], dtype=torch.int64)).numpy()
    for i, ref in enumerate(refs):
        worst = max(worst, rel_err(yb[i, : len(ref)] if yb.ndim == 3 else yb[i], ref))
    ok = worst < 1e-5
    print("%s %-24s %d sequences, max rel err %.2g" % ("ok  " if ok else "FAIL", os.path.basename(model), len(xs),
                                                    worst))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
