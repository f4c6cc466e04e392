#!/usr/bin/python3
"""PyTorch DistributedDataParallel reference for bench_mpi (issue 14, BENCHMARKS.md).

    /usr/bin/python3 bench/torch_ddp_ref.py --ranks 2 --threads 1
    /usr/bin/python3 bench/torch_ddp_ref.py --ranks 1 --threads 2

The same work as bench_mpi: nn.LSTM(512, 256) + Linear(256, 2), 256 clips of
20-60 steps, global batch 32 split into contiguous per-rank parts, the last
valid output of each clip (gathered from the padded run, as torch_ref.py does
for unequal lengths: PyTorch's fastest correct form here), cross-entropy,
clip_grad_norm_(1.0), Adam; one epoch of 8 steps after one untimed warm-up
epoch. Ranks are local processes (torch.multiprocessing) joined by the gloo
backend over TCP on 127.0.0.1: DDP's gradient all-reduce (bucketed,
overlapped with backward). Prints one JSON line: ms per step, clips/s, and
the torch/thread settings. Run it with OPENBLAS_NUM_THREADS=1 (the "tuned"
variant of BENCHMARKS.md) so OpenBLAS's threads do not fight torch's.
"""
import argparse
import json
import os
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, a, q):
    torch.set_num_threads(a.threads)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(a.port)
    if a.ranks > 1:
        dist.init_process_group("gloo", rank=rank, world_size=a.ranks)
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(20, 61, (a.items,), generator=g)
    x = torch.randn(a.items, 60, a.input, generator=g)
    y = torch.randint(0, 2, (a.items,), generator=g)
    torch.manual_seed(7)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(a.input, a.hidden, batch_first=True)
            self.head = torch.nn.Linear(a.hidden, 2)

        def forward(self, xb, lb):
            out, _ = self.lstm(xb)
            return self.head(out[torch.arange(xb.shape[0]), lb - 1])

    net = Net()
    if a.ranks > 1:  # broadcasts rank 0's weights; all-reduces gradients in buckets during backward
        net = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    nb = a.items // a.batch
    times = []
    for epoch in range(2):
        perm = torch.randperm(a.items, generator=torch.Generator().manual_seed(epoch))
        for k in range(nb):
            idx = perm[k * a.batch:(k + 1) * a.batch]
            lo, hi = a.batch * rank // a.ranks, a.batch * (rank + 1) // a.ranks
            idx = idx[lo:hi]
            lb = lengths[idx]
            xb = x[idx, :int(lb.max())]
            t0 = time.perf_counter()
            opt.zero_grad()
            # DDP averages the ranks' mean losses; with equal parts (32 / 2) that is the global mean
            loss = lossf(net(xb, lb), y[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            if a.ranks > 1:
                dist.barrier()
            if epoch == 1:
                times.append(time.perf_counter() - t0)
    if rank == 0:
        times.sort()
        med = times[len(times) // 2]
        q.put({"bench": "torch_ddp_ref", "ranks": a.ranks, "threads": a.threads, "batch": a.batch,
               "step_ms": round(1e3 * med, 3), "clips_per_s": round(a.batch / med, 1),
               "torch": torch.__version__, "backend": "gloo" if a.ranks > 1 else "none",
               "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "")})
    if a.ranks > 1:
        dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--input", type=int, default=512)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--items", type=int, default=256)
    p.add_argument("--port", type=int, default=29611)
    a = p.parse_args()
    ctx = mp.get_context("spawn")
    q = ctx.SimpleQueue()
    procs = [ctx.Process(target=worker, args=(r, a, q)) for r in range(a.ranks)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join()
    print(json.dumps(q.get()))


if __name__ == "__main__":
    main()
