#!/usr/bin/env python3
"""vidlstm's training loop against PyTorch: a few full-batch SGD-momentum steps.

usage: torch_train_step.py MANIFEST INIT.safetensors TRAINED.safetensors STEPS LR

INIT is the network as vidlstm initialised it (a run with a learning rate so
small that no weight moves), TRAINED the network after STEPS iterations of
`vidlstm train --optimizer sgdm --lr LR --momentum 0.9 --l2 0 --batch ALL
--shuffle never --no-bucket --no-normalize` on MANIFEST (path,label rows;
classes sorted by name). This script loads INIT into nn.LSTM/nn.GRU + Linear
(tests/torch_load_model.py's VidlstmNet), runs the same steps with
torch.optim.SGD(momentum=0.9) and the mean cross-entropy over clips, and
compares every tensor with TRAINED (relative error 1e-4 of the tensor's
largest change scale: float32 sums in different orders).

Exits 0 with a SKIP line when torch or numpy cannot be imported.
"""
import csv
import json
import os
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover
    print("SKIP: torch_train_step needs numpy and torch (%s)" % e)
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_load_model import VidlstmNet, read_safetensors  # noqa: E402


def main():
    manifest, init, trained, steps, lr = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    base = os.path.dirname(manifest)
    rows = []
    with open(manifest) as f:
        for r in csv.reader(f):
            if not r or r[0].startswith("#") or r[0] == "path":
                continue
            rows.append((os.path.join(base, r[0]), r[1]))
    classes = sorted({lab for _, lab in rows})
    xs = [np.load(p).astype(np.float32) for p, _ in rows]
    T = max(x.shape[0] for x in xs)
    X = np.zeros((len(xs), T, xs[0].shape[1]), np.float32)
    for i, x in enumerate(xs):
        X[i, : x.shape[0]] = x
    X = torch.from_numpy(X)
    L = torch.tensor([x.shape[0] for x in xs])
    y = torch.tensor([classes.index(lab) for _, lab in rows])

    t0, meta = read_safetensors(init)
    arch = json.loads(meta["architecture"])
    net = VidlstmNet(arch)
    net.load_vidlstm(t0)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(X, L), y)
        loss.backward()
        opt.step()

    t1, _ = read_safetensors(trained)
    # the torch network's tensors under vidlstm's names
    ours = {}
    k = 0
    for i, m in enumerate(net.rnns):
        if isinstance(m, torch.nn.Dropout):
            continue
        for n, p in m.named_parameters():
            ours[n.replace("_l0", "_l%d" % k)] = p.detach().numpy()
        k += 1
    ours["fc.weight"] = net.fc.weight.detach().numpy()
    ours["fc.bias"] = net.fc.bias.detach().numpy()
    worst, moved = 0.0, 0.0
    for n, a in ours.items():
        b, a0 = t1[n], t0[n]
        scale = max(np.abs(a - a0).max(), 1e-12)  # how far the weights moved
        moved = max(moved, scale)
        err = np.abs(a - b).max() / scale
        worst = max(worst, err)
        if err > 1e-3:
            print("FAIL %s: max |torch - vidlstm| %.3g, %.3g of the change %.3g" % (n, np.abs(a - b).max(), err, scale))
    print("%d SGD-momentum steps: weights moved up to %.3g; vidlstm vs PyTorch: worst %.3g of the change"
          % (steps, moved, worst))
    ok = worst <= 1e-3 and moved > 1e-4
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
