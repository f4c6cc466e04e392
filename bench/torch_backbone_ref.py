#!/usr/bin/python3
"""PyTorch reference for bench_backbone: frames/s of the same torchvision CNN.

Run with Debian's interpreter (the one that has python3-torch / python3-torchvision):

    /usr/bin/python3 bench/torch_backbone_ref.py resnet18|mobilenet_v2|... \
        [--batch 16] [--iters 10] [--warmup 2] [--size 224] [--threads 2] \
        [--variants plain,channels_last] [--full]

The model is the torchvision architecture that tests/fixtures/onnx/gen_onnx.py
exports (weights=None, random init; values don't change the work), in eval()
mode, run under torch.no_grad() with torch.set_num_threads(T).  By default it is
truncated to the feature that bench_backbone taps (the classifier's input:
resnet/googlenet fc = Identity, mobilenet_v2/efficientnet classifier = Identity,
so dropout and the Linear go); --full keeps the classifier (logits).

Variants (one JSON line each, same process, same input):
    plain          what a PyTorch user writes: model.eval(), torch.no_grad(), NCHW
    channels_last  the same with model and input in torch.channels_last
    frozen         torch.jit.freeze(torch.jit.script(model)) + optimize_for_inference
                   (not in the default list)
The reported time is the median wall time of one forward over --iters runs
after --warmup untimed ones (the same median index as bench_backbone.c).
"""
import argparse
import json
import os
import sys
import time
import warnings

import torch
import torch.nn as nn
import torchvision
import torchvision.models as tvm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ref import blas_info  # noqa: E402  (the BLAS/OpenMP libraries mapped in)

warnings.filterwarnings("ignore", category=UserWarning)


def build(name, full):
    if name == "googlenet":
        m = tvm.googlenet(weights=None, aux_logits=False, init_weights=True)
    else:
        m = getattr(tvm, name)(weights=None)
    if not full:
        if hasattr(m, "fc"):
            m.fc = nn.Identity()
        elif hasattr(m, "classifier"):
            m.classifier = nn.Identity()
        else:
            raise SystemExit(f"torch_backbone_ref: don't know how to truncate {name}")
    return m.eval()


def timed(fn, x, iters, warmup):
    t = []
    with torch.no_grad():
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            y = fn(x)
            dt = time.perf_counter() - t0
            if i >= warmup:
                t.append(dt)
    t.sort()
    return t[iters // 2], tuple(y.shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variants", default="plain,channels_last")
    ap.add_argument("--full", action="store_true", help="keep the classifier (logits)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build(a.model, a.full)
    x = torch.rand(a.batch, 3, a.size, a.size) - 0.5
    info = blas_info()
    for v in a.variants.split(","):
        if v == "plain":
            fn, xin = model, x
        elif v == "channels_last":
            fn, xin = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
        elif v == "frozen":
            m = build(a.model, a.full)  # fresh NCHW copy
            with torch.no_grad():
                fn = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(m)))
            xin = x
        else:
            raise SystemExit(f"torch_backbone_ref: unknown variant {v}")
        med, oshape = timed(fn, xin, a.iters, a.warmup)
        print(json.dumps(dict(
            impl="pytorch", variant=v, version=torch.__version__, torchvision=torchvision.__version__,
            model=a.model, batch=a.batch, size=a.size, threads=torch.get_num_threads(),
            graph="full (logits)" if a.full else "feature (classifier = Identity)",
            output=list(oshape), mkldnn=torch.backends.mkldnn.is_available(), blas=info["blas"],
            median_ms=round(med * 1e3, 2), frames_per_s=round(a.batch / med, 1))), flush=True)


if __name__ == "__main__":
    main()
