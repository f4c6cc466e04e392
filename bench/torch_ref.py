#!/usr/bin/python3
"""PyTorch reference for bench_rnn: the same training step with nn.LSTM/nn.GRU.

Run with Debian's interpreter (the one that has python3-torch):

    /usr/bin/python3 bench/torch_ref.py --input 512 --hidden 256 --batch 32 \
        --steps 60 --classes 2 --threads 2 [--cell lstm|gru] [--layers L] \
        [--bidirectional 0|1] [--lengths-uniform LO HI] [--mode train|infer] \
        [--iters N] [--warmup W] [--json]
    /usr/bin/python3 bench/torch_ref.py --config b      # bench_rnn's configurations a-e
    /usr/bin/python3 bench/torch_ref.py --config all    # (or a comma list: a,c)

One training step = opt.zero_grad() -> forward -> last valid step h_n
(bidirectional: cat(h_n[-2], h_n[-1])) -> Linear ->
CrossEntropyLoss -> backward -> clip_grad_norm_(params, 1.0) -> Adam step.
The input is packed (pack_padded_sequence, enforce_sorted=False) only when
lengths differ, as a PyTorch user would: with equal lengths the padded tensor
goes straight in, PyTorch's fast path. (Packed training is ~10x slower here:
its backward allocates and zeroes full-size buffers every step, so the profile
is page faults and memset, not GEMM.) --pack always|never overrides; never
with unequal lengths gathers each clip's last valid output from the padded
run, which is only correct for a unidirectional net.
Inference (--mode infer) = the forward only, under torch.no_grad().
The reported time is the median wall time of one step over --iters steps
after --warmup untimed ones.

FLOPs (the same formula as bench_rnn.c, recurrent GEMMs only):
    G     = 4H (LSTM) or 3H (GRU)
    D_1   = input, D_l = H * dirs for l > 1      (dirs = 2 if bidirectional)
    N     = sum of the batch's valid lengths (padded steps are not counted)
    fwd   = sum over layers l of  dirs * 2 * N * G * (D_l + H)
    train = 3 * fwd    (forward + input/state gradients + weight gradients;
                        this counts layer 1's input gradient, which PyTorch
                        skips because x does not require grad)
    infer = fwd
The head Linear, the loss, element-wise work, clipping and Adam are not
counted. GFLOP/s = FLOPs / median step time.

Lengths and labels are drawn exactly as bench_rnn.c draws them (xoshiro256**
seeded with 7 through splitmix64, after the B*T*D draws it spends on x), so
both see the same N; without --lengths-uniform every length is --steps.
x itself comes from torch's generator (its values do not change the work).

Environment: the run reports OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and LD_PRELOAD as given, plus the BLAS library actually
mapped into the process (and OpenBLAS's core name); these must be set before
the process starts, OpenBLAS reads them when it is loaded. The variant label
comes from VIDLSTM_REF_VARIANT (default "as-installed"). bench/run_torch_ref.sh
runs the as-installed and tuned variants.
"""
import argparse
import ctypes
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

# bench_rnn.c's standard configurations
STANDARD = {
    "a": dict(input=512, hidden=1500, layers=1, bidirectional=0, batch=16, steps=60, classes=2),
    "b": dict(input=512, hidden=256, layers=1, bidirectional=0, batch=32, steps=60, classes=2),
    "c": dict(input=512, hidden=512, layers=2, bidirectional=1, batch=16, steps=60, classes=2),
    "d": dict(input=128, hidden=128, layers=1, bidirectional=0, batch=64, steps=20, classes=3),
    "e": dict(input=512, hidden=1500, layers=1, bidirectional=0, batch=16, steps=60, classes=2, lengths=(20, 60)),
}
DEFAULT = STANDARD["b"]
SHAPE_KEYS = ("input", "hidden", "layers", "bidirectional", "batch", "steps", "classes")
ENV_KEYS = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "LD_PRELOAD")

M64 = (1 << 64) - 1


class VlRng:
    """src/core/rng.c: xoshiro256** seeded through splitmix64."""

    def __init__(self, seed):
        self.s = []
        for _ in range(4):
            seed = (seed + 0x9E3779B97F4A7C15) & M64
            z = seed
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def skip(self, n):
        s0, s1, s2, s3 = self.s
        for _ in range(n):
            t = (s1 << 17) & M64
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = ((s3 << 45) | (s3 >> 19)) & M64
        self.s = [s0, s1, s2, s3]

    def next(self):
        v = (self.s[1] * 5) & M64
        r = ((((v << 7) | (v >> 57)) & M64) * 9) & M64
        self.skip(1)
        return r

    def below(self, n):
        if n <= 1:
            return 0
        limit = M64 - M64 % n
        while True:
            x = self.next()
            if x < limit:
                return x % n


def draw_lengths_labels(B, T, D, C, lengths):
    rng = VlRng(7)
    rng.skip(B * T * D)  # bench_rnn.c draws x first
    lens, labs = [], []
    for _ in range(B):
        lens.append(lengths[0] + rng.below(lengths[1] - lengths[0] + 1) if lengths else T)
        labs.append(rng.below(C))
    return torch.tensor(lens, dtype=torch.int64), torch.tensor(labs, dtype=torch.int64)


def forward_flops(cell, D, H, L, bi, nvalid):
    G = (4 if cell == "lstm" else 3) * H
    dirs = 2 if bi else 1
    flops, din = 0.0, D
    for _ in range(L):
        flops += dirs * 2.0 * nvalid * G * (din + H)
        din = H * dirs
    return flops


def blas_info():
    """The BLAS/OpenMP/allocator libraries mapped into this process."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if p.startswith("/") and any(k in p for k in ("blas", "blis", "lapack", "dnnl", "gomp", "jemalloc", "mkl")):
                libs.add(os.path.realpath(p))
    core = None
    for p in sorted(libs):
        if "openblas" in os.path.basename(p):
            try:
                lib = ctypes.CDLL(p)  # already loaded: same handle, no re-initialisation
                lib.openblas_get_corename.restype = ctypes.c_char_p
                core = "%s, %d threads" % (lib.openblas_get_corename().decode(), lib.openblas_get_num_threads())
            except (OSError, AttributeError):
                pass
    blas = [p for p in sorted(libs) if any(k in os.path.basename(p) for k in ("blas", "blis", "mkl"))]
    return dict(blas=" ".join(blas) or "(none mapped)", openblas_core=core or "",
                jemalloc=any("jemalloc" in p for p in libs))


class Net(nn.Module):
    def __init__(self, cell, D, H, L, bi, C):
        super().__init__()
        self.bi = bi
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(D, H, L, batch_first=True, bidirectional=bool(bi))
        self.fc = nn.Linear(H * (2 if bi else 1), C)

    def forward(self, x, lengths, pack, last_idx):
        if pack:
            h = self.rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))[1]
        else:
            seq, h = self.rnn(x)
            if last_idx is not None:  # unequal lengths, unidirectional: each clip's last valid step
                return self.fc(seq[torch.arange(x.shape[0]), last_idx])
        if isinstance(h, tuple):  # LSTM: (h_n, c_n)
            h = h[0]
        return self.fc(torch.cat([h[-2], h[-1]], 1) if self.bi else h[-1])


def run(name, cfg, a):
    B, T, D, H, C, L, bi = (cfg[k] for k in ("batch", "steps", "input", "hidden", "classes", "layers", "bidirectional"))
    lengths = cfg.get("lengths")
    if lengths and not 1 <= lengths[0] <= lengths[1] <= T:
        sys.exit("torch_ref: --lengths-uniform needs 1 <= LO <= HI <= steps")
    torch.manual_seed(0)
    net = Net(a.cell, D, H, L, bi, C)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    x = torch.rand(B, T, D) * 2 - 1
    lens, y = draw_lengths_labels(B, T, D, C, lengths)
    nvalid = int(lens.sum())
    equal = bool((lens == T).all())
    pack = a.pack == "always" or (a.pack == "auto" and not equal)
    if not pack and not equal and bi:
        sys.exit("torch_ref: --pack never with unequal lengths is wrong for a bidirectional net")
    last_idx = None if (pack or equal) else lens - 1
    flops = forward_flops(a.cell, D, H, L, bi, nvalid) * (3 if a.mode == "train" else 1)

    times = []
    for i in range(a.warmup + a.iters):
        t0 = time.perf_counter()
        if a.mode == "train":
            opt.zero_grad()
            loss = lossf(net(x, lens, pack, last_idx), y)
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
        else:
            with torch.no_grad():
                net(x, lens, pack, last_idx)
        t = time.perf_counter() - t0
        if i >= a.warmup:
            times.append(t)
    med = statistics.median(times)
    res = dict(impl="pytorch", variant=os.environ.get("VIDLSTM_REF_VARIANT", "as-installed"), config=name,
               cell=a.cell, input=D, hidden=H, layers=L, bidirectional=bi, batch=B, steps=T, classes=C,
               lengths="uniform %d %d" % tuple(lengths) if lengths else "fixed", n_valid=nvalid,
               threads=a.threads, mode=a.mode, iters=a.iters, warmup=a.warmup,
               packed=pack, median_ms=round(med * 1e3, 3), min_ms=round(min(times) * 1e3, 3),
               seq_per_s=round(B / med, 1), gflops=round(flops / med / 1e9, 1),
               peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="bench_rnn configuration a-e, a comma list, or 'all'; "
                    "explicit shape options override it")
    for k in SHAPE_KEYS:
        ap.add_argument("--" + k, type=int)
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    ap.add_argument("--lengths-uniform", nargs=2, type=int, metavar=("LO", "HI"))
    ap.add_argument("--mode", default="train", choices=["train", "infer"])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true", help="one JSON line per result")
    ap.add_argument("--pack", default="auto", choices=["auto", "always", "never"],
                    help="pack the input: auto = only when lengths differ (default)")
    a = ap.parse_args()
    if a.iters < 1 or a.warmup < 0 or a.threads < 1:
        sys.exit("torch_ref: need --iters >= 1, --warmup >= 0, --threads >= 1")

    names = ["custom"]
    if a.config:
        names = list(STANDARD) if a.config == "all" else a.config.split(",")
        bad = [n for n in names if n not in STANDARD]
        if bad:
            sys.exit("torch_ref: unknown configuration %s (have %s)" % (",".join(bad), ",".join(STANDARD)))

    torch.set_num_threads(a.threads)
    env = {k: os.environ.get(k, "(unset)") for k in ENV_KEYS}
    info = dict(torch=torch.__version__, torch_threads=torch.get_num_threads(), **env, **blas_info())
    if not a.json:
        print("# torch %s  torch threads %d  BLAS %s%s  jemalloc %s" % (
            info["torch"], info["torch_threads"], info["blas"],
            " (%s)" % info["openblas_core"] if info["openblas_core"] else "", "yes" if info["jemalloc"] else "no"))
        print("# " + "  ".join("%s=%s" % (k, env[k]) for k in ENV_KEYS))
    for name in names:
        cfg = dict(STANDARD.get(name, DEFAULT))
        for k in SHAPE_KEYS:
            if getattr(a, k) is not None:
                cfg[k] = getattr(a, k)
        if a.lengths_uniform:
            cfg["lengths"] = tuple(a.lengths_uniform)
        res = run(name, cfg, a)
        if a.json:
            res.update(info)
            print(json.dumps(res), flush=True)
        else:
            print("pytorch[%s] (%s) %s %s in=%d hid=%d L=%d bi=%d B=%d T=%d C=%d lengths=%s: "
                  "%smedian %.2f ms  %.0f seq/s  %.1f GFLOP/s  peak RSS %.0f MB" % (
                      res["variant"], name, a.cell, a.mode, res["input"], res["hidden"], res["layers"],
                      res["bidirectional"], res["batch"], res["steps"], res["classes"], res["lengths"],
                      "packed  " if res["packed"] else "", res["median_ms"], res["seq_per_s"], res["gflops"], res["peak_rss_mb"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
