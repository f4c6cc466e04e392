#!/usr/bin/env python3
"""Load vidlstm model files into PyTorch and check their outputs.

usage: torch_load_model.py DIR [DIR ...]

For every DIR/<name>.safetensors that has <name>.x.npy, <name>.lengths.npy
and <name>.logits.npy beside it (test_modelfile writes them: the logits are
what vidlstm's C code computed), this builds the network in PyTorch from the
"architecture" metadata with a dependency-free reader (json + struct +
numpy; the `safetensors` package is not needed), runs it and compares with
the logits at 1e-5 relative error (the C tests' rel_err).

Exits 0 with a SKIP line when torch or numpy cannot be imported (CI has no
PyTorch). It is written independently of docs/model-format.md's snippet
(doc_torch_snippet.py runs that one as printed) and stricter: every tensor
must be used.
"""
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
except ImportError as e:  # pragma: no cover
    print("SKIP: torch_load_model needs numpy and torch (%s)" % e)
    sys.exit(0)

DT = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I32": "<i4", "I64": "<i8"}


def read_safetensors(path):
    """Returns ({name: float32 ndarray}, {metadata key: str}) from a .safetensors file."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError("%s: header length %d exceeds the file" % (path, n))
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = buf[8 + n:]
    out, end = {}, 0
    for name, t in header.items():
        b, e = t["data_offsets"]
        raw = data[b:e]
        if t["dtype"] == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, DT[t["dtype"]])
        out[name] = a.astype(np.float32).reshape(t["shape"])
        end = max(end, e)
    if end != len(data):
        raise ValueError("%s: %d bytes of data, tensors cover %d" % (path, len(data), end))
    return out, meta


class VidlstmNet(nn.Module):
    """A vidlstm network in PyTorch: one nn.LSTM/nn.GRU per recurrent layer
    (vidlstm's weight_ih_l{k} is the k-th recurrent layer's weight_ih_l0),
    nn.Dropout for dropout layers, nn.Linear head `fc`."""

    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        mods, width = [], arch["input"]
        for L in arch["layers"]:
            if L["type"] in ("lstm", "gru"):
                R = nn.LSTM if L["type"] == "lstm" else nn.GRU
                bi = bool(L.get("bidirectional", False))
                mods.append(R(width, L["hidden"], batch_first=True, bidirectional=bi))
                width = L["hidden"] * (2 if bi else 1)
            elif L["type"] == "dropout":
                mods.append(nn.Dropout(L["p"]))
            else:
                raise ValueError("layer type %s has no PyTorch counterpart here" % L["type"])
        self.rnns = nn.ModuleList(mods)
        self.fc = nn.Linear(width, arch["outputs"])

    def load_vidlstm(self, tensors):
        """Copies vidlstm-named tensors in; every one (but norm.*) must be used."""
        sd, used, k = {}, set(), 0
        for i, m in enumerate(self.rnns):
            if isinstance(m, nn.Dropout):
                continue
            for n, _ in m.named_parameters():
                ours = n.replace("_l0", "_l%d" % k)  # weight_ih_l0_reverse -> weight_ih_l{k}_reverse
                sd["rnns.%d.%s" % (i, n)] = torch.from_numpy(tensors[ours].copy())
                used.add(ours)
            k += 1
        for n in ("fc.weight", "fc.bias"):
            sd[n] = torch.from_numpy(tensors[n].copy())
            used.add(n)
        self.load_state_dict(sd, strict=True)
        unused = {n for n in tensors if not n.startswith("norm.")} - used
        if unused:
            raise ValueError("tensors the architecture does not use: %s" % sorted(unused))

    def forward(self, x, lengths):
        """x [B,T,D] batch-first, lengths [B] (any order). Returns [B,C] (mode last)
        or [B,T,C] with zeros at padded steps (mode sequence)."""
        T = x.shape[1]
        h = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        hn, bi = None, False
        for m in self.rnns:
            if isinstance(m, nn.Dropout):
                h = h._replace(data=m(h.data))
                continue
            h, state = m(h)
            hn = state[0] if isinstance(m, nn.LSTM) else state
            bi = m.bidirectional
        if self.arch["mode"] == "last":
            # h_n: forward direction at each sequence's last valid step,
            # backward direction at t = 0 -- vidlstm's "last" summary.
            return self.fc(torch.cat((hn[-2], hn[-1]), dim=1) if bi else hn[-1])
        out, _ = pad_packed_sequence(h, batch_first=True, total_length=T)
        mask = (torch.arange(T)[None, :] < lengths[:, None])[:, :, None]
        return self.fc(out).masked_fill(~mask, 0.0)


def rel_err(a, b):
    """As tests/check.h: |a-b| / max(|b|, 0.1 * max|b|)."""
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    floor = 0.1 * np.abs(b).max() + 1e-30
    return float((np.abs(a - b) / np.maximum(np.abs(b), floor)).max())


def check(path):
    base = path[: -len(".safetensors")]
    tensors, meta = read_safetensors(path)
    arch = json.loads(meta["architecture"])
    # an ensemble (metadata "ensemble" = K): member 1 under the plain names,
    # member k+1 under "ensemble.k."; the prediction averages the members'
    # softmax probabilities (regression: outputs), and vidlstm's "logits"
    # are the log of that average
    K = int(meta.get("ensemble", "1"))
    nets = []
    for k in range(K):
        p = "ensemble.%d." % k
        part = {n: t for n, t in tensors.items() if not n.startswith("ensemble.")} if k == 0 else \
            {n[len(p):]: t for n, t in tensors.items() if n.startswith(p)}
        net = VidlstmNet(arch).eval()
        net.load_vidlstm(part)
        nets.append(net)
    for key in ("classes", "backbone", "training"):
        if key in meta:
            json.loads(meta[key])  # each is valid JSON
    if "classes" in meta:
        assert len(json.loads(meta["classes"])) == arch["outputs"], "class count"
    x = torch.from_numpy(np.load(base + ".x.npy"))
    lengths = torch.from_numpy(np.load(base + ".lengths.npy").astype(np.int64))
    ref = np.load(base + ".logits.npy")
    with torch.no_grad():
        if K == 1:
            y = nets[0](x, lengths).numpy()
        else:
            outs = [n(x, lengths) for n in nets]
            if arch["task"] == "classify":
                y = torch.log(torch.stack([torch.softmax(o, -1) for o in outs]).mean(0))
            else:
                y = torch.stack(outs).mean(0)
            if arch["mode"] == "sequence":  # padded steps are zero, as vidlstm writes them
                T = x.shape[1]
                mask = (torch.arange(T)[None, :] < lengths[:, None])[:, :, None]
                y = y.masked_fill(~mask, 0.0)
            y = y.numpy()
    if y.shape != ref.shape:
        return False, "shape %s vs %s" % (y.shape, ref.shape)
    e = rel_err(y, ref)
    return e < 1e-5, "rel err %.2g" % e


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    torch.set_num_threads(1)
    passed = failed = 0
    for d in sys.argv[1:]:
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".safetensors") or not os.path.exists(os.path.join(d, fn[:-12] + ".logits.npy")):
                continue
            try:
                ok, msg = check(os.path.join(d, fn))
            except Exception as e:  # report and go on
                ok, msg = False, "%s: %s" % (type(e).__name__, e)
            print("%s %-32s %s" % ("ok  " if ok else "FAIL", fn, msg))
            passed += ok
            failed += not ok
    if passed + failed == 0:
        print("FAIL: no models found in %s" % " ".join(sys.argv[1:]))
        return 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
