#!/usr/bin/python3
"""PyTorch reference for the whole-pipeline benchmark (issue 13): the job of
`vidlstm extract` + `vidlstm train --backbone resnet18.onnx` done the way a
PyTorch user would, in its best configuration on this machine.

    /usr/bin/python3 bench/pipeline/torch_pipeline.py --data CLIPS_DIR [--onnx resnet18.onnx]
    /usr/bin/python3 bench/pipeline/torch_pipeline.py --video LONG.mp4 --extract-only

Prints '#' lines (settings) and one JSON line: extraction and training
seconds, sampled frames, frames/s, the decode / CNN split, peak RSS.
Run it as bench/pipeline/run.sh does (OPENBLAS_NUM_THREADS=1, jemalloc) for
the tuned variant; VIDLSTM_REF_VARIANT labels the line.

What it does, matched to vidlstm (file:function in brackets):
- data: DIR/<class>/<video> with vidlstm's video extensions, classes and
  files in byte order [src/video/clips.c vl_clips_from_folders];
- decode: PyAV, frame threads as FFmpeg picks (thread_type AUTO, count 0),
  as vidlstm's decoder does with one job [src/video/video.c];
- sampling: at --fps (10) by timestamps: target k at t = k/fps takes the
  frame on screen (the last frame with pts <= t), up to the end of the last
  frame (its pts + one frame duration) [video.c producer/emit_targets];
  only sampled frames are converted;
- preprocessing: torchvision's ImageNet evaluation transform as vidlstm
  does it for an ONNX backbone: one bilinear swscale from the decoder's
  format to RGB24 with the shorter side 256 (PyAV's reformat, the same
  libswscale call), centre crop 224x224, /255, ImageNet mean/std
  [video.c conv_init/conv_frame, vl_preproc_imagenet];
- CNN: torchvision.models.resnet18, fc = Identity (the 512-d pooled
  feature vidlstm taps), eval() and torch.no_grad(), batches of --batch
  (16, vidlstm's) that span clips (PyTorch has no per-shape plans; this is
  its fastest form), weights loaded from the same ONNX file when --onnx is
  given (the initializer names are torchvision's state-dict keys);
- training, vidlstm train's defaults [src/cli/cmd_train.c parse]:
  features standardised per dimension over all clips; an ensemble of 3
  members (seeds 1, 2, 3), each holding out 20% of each class's clips
  (stratified, as vl_dataset_split) and keeping the weights of its best
  validation loss; network dropout:0.5, bilstm:128, dropout:0.2, Linear to
  the classes, the last step (forward direction at the end, backward at
  step 0: h_n of a packed sequence); Adam lr 1e-3, L2 1e-4 (weight_decay),
  batch 32, 30 epochs, shuffled every epoch, batches of similar lengths
  (sorted, then whole batches shuffled), padded to the batch's longest and
  packed (pack_padded_sequence: the correct form for a bidirectional LSTM).
"""
import argparse
import json
import os
import platform
import resource
import sys
import time

import av
import numpy as np
import torch
import torch.nn as nn
import torchvision
from torch.nn.utils.rnn import pack_padded_sequence

VIDEO_EXT = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
TEPS = 1e-6


def list_clips(root):
    items, classes = [], []
    for c in sorted(os.listdir(root), key=lambda s: s.encode()):
        d = os.path.join(root, c)
        if not os.path.isdir(d):
            continue
        files = [f for f in sorted(os.listdir(d), key=lambda s: s.encode()) if f.lower().endswith(VIDEO_EXT)]
        if not files:
            continue
        classes.append(c)
        items += [(os.path.join(d, f), len(classes) - 1) for f in files]
    return items, classes


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_cnn(onnx_path):
    model = torchvision.models.resnet18()
    loaded = "random init"
    if onnx_path:
        import onnx
        from onnx import numpy_helper
        m = onnx.load(onnx_path)
        sd = model.state_dict()
        got = 0
        for init in m.graph.initializer:
            if init.name in sd:
                a = torch.from_numpy(numpy_helper.to_array(init).copy())
                if a.shape != sd[init.name].shape:
                    sys.exit(f"{onnx_path}: {init.name} has shape {tuple(a.shape)}, torchvision {tuple(sd[init.name].shape)}")
                sd[init.name] = a
                got += 1
        need = sum(1 for k in sd if not k.endswith("num_batches_tracked"))
        if got != need:
            sys.exit(f"{onnx_path}: {got} of the {need} torchvision resnet18 tensors found; not torchvision's export")
        model.load_state_dict(sd)
        loaded = f"weights from {os.path.basename(onnx_path)}"
        del m
    model.fc = nn.Identity()
    model.eval()
    return model, loaded


class Extractor:
    """Decodes, samples, preprocesses and runs the CNN in batches that span clips."""

    def __init__(self, model, batch, fps, decode_threads):
        self.model, self.batch, self.fps, self.decode_threads = model, batch, fps, decode_threads
        self.pending = []           # (clip index, step, uint8 [224, 224, 3])
        self.feats = {}             # clip index -> list of 512-d rows
        self.t_cnn = 0.0
        self.frames = 0
        self.mean = torch.tensor(MEAN).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(STD).view(1, 3, 1, 1) * 255.0

    def flush(self):
        if not self.pending:
            return
        t = time.perf_counter()
        x = torch.from_numpy(np.stack([p[2] for p in self.pending]))            # [B, 224, 224, 3] uint8
        x = x.permute(0, 3, 1, 2).float().sub_(self.mean).div_(self.std).contiguous()
        with torch.no_grad():
            y = self.model(x).numpy()
        for (ci, _, _), row in zip(self.pending, y):
            self.feats.setdefault(ci, []).append(row)
        self.frames += len(self.pending)
        self.pending = []
        self.t_cnn += time.perf_counter() - t

    def add(self, ci, img):
        self.pending.append((ci, 0, img))
        if len(self.pending) >= self.batch:
            self.flush()

    def clip(self, ci, path):
        with av.open(path) as c:
            st = c.streams.video[0]
            st.thread_type = "AUTO"
            st.thread_count = self.decode_threads
            tb = float(st.time_base)
            t0 = st.start_time if st.start_time is not None else 0
            rate = float(st.average_rate) if st.average_rate else 0.0
            fdur = 1.0 / rate if rate > 0 else 0.04
            W, H = st.codec_context.width, st.codec_context.height
            s = 256.0 / min(W, H)
            dw, dh = max(224, round(W * s)), max(224, round(H * s))  # C lround: no .5 ties at these sizes
            ox, oy = (dw - 224) // 2, (dh - 224) // 2

            def conv(fr):
                a = fr.to_ndarray(width=dw, height=dh, format="rgb24", interpolation="BILINEAR")
                return a[oy:oy + 224, ox:ox + 224]

            k, next_t = 0, 0.0
            prev, prev_pts, last_pts = None, 0.0, -float("inf")
            for fr in c.decode(st):
                ts = fr.pts
                pts = (ts - t0) * tb if ts is not None else last_pts + fdur
                if pts <= last_pts:
                    pts = last_pts + fdur * 1e-3
                if last_pts > -float("inf") and 0 < pts - last_pts < 10.0:
                    fdur = pts - last_pts
                last_pts = pts
                if prev is not None:
                    img = None
                    while next_t < pts - TEPS:
                        if img is None:
                            img = conv(prev)
                        self.add(ci, img)
                        k += 1
                        next_t = k / self.fps
                prev, prev_pts = fr, pts
            if prev is not None:
                end = last_pts + fdur
                img = None
                while next_t < end - TEPS:
                    if img is None:
                        img = conv(prev)
                    self.add(ci, img)
                    k += 1
                    next_t = k / self.fps
            return k


def split(labels, nclasses, frac, seed):
    """Stratified hold-out of about frac of each class (every item its own group)."""
    g = np.random.default_rng(seed)
    val = np.zeros(len(labels), bool)
    for c in range(nclasses):
        idx = np.flatnonzero(labels == c)
        nv = int(round(frac * len(idx)))
        if len(idx) >= 2 and nv >= 1:
            val[g.permutation(idx)[:nv]] = True
    return val


class Net(nn.Module):
    def __init__(self, d, hidden, classes):
        super().__init__()
        self.drop_in = nn.Dropout(0.5)
        self.lstm = nn.LSTM(d, hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, x, lengths):
        x = self.drop_in(x)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.fc(self.drop(torch.cat([h[-2], h[-1]], 1)))


def batches(order, lengths, B, g):
    """vidlstm's bucketing: sort (chunks of 50 batches) by length, longest first, then shuffle whole batches."""
    order = list(order)
    out = []
    for c0 in range(0, len(order), 50 * B):
        chunk = sorted(order[c0:c0 + 50 * B], key=lambda i: -lengths[i])
        out += [chunk[i:i + B] for i in range(0, len(chunk), B)]
    g.shuffle(out)
    return out


def run_batch(net, feats, lengths, idx):
    T = max(lengths[i] for i in idx)
    x = torch.zeros(len(idx), T, feats[0].shape[1])
    for j, i in enumerate(idx):
        x[j, :lengths[i]] = feats[i]
    return net(x, torch.tensor([lengths[i] for i in idx]))


def train(feats, labels, nclasses, a):
    allx = torch.cat(feats)
    mean, std = allx.mean(0), allx.std(0, unbiased=False).clamp_min(1e-6)
    feats = [(f - mean) / std for f in feats]
    lengths = [f.shape[0] for f in feats]
    y = torch.tensor(labels)
    lossf = nn.CrossEntropyLoss()
    accs = []
    for k in range(a.ensemble):
        seed = a.seed + k
        torch.manual_seed(seed)
        g = np.random.default_rng(seed)
        isval = split(np.array(labels), nclasses, a.val_fraction, seed)
        tr, va = np.flatnonzero(~isval), np.flatnonzero(isval)
        net = Net(feats[0].shape[1], a.hidden, nclasses)
        opt = torch.optim.Adam(net.parameters(), lr=a.lr, weight_decay=a.l2)
        best, best_state, best_acc = float("inf"), None, float("nan")
        for e in range(a.epochs):
            net.train()
            for idx in batches(g.permutation(tr), lengths, a.train_batch, g):
                opt.zero_grad()
                loss = lossf(run_batch(net, feats, lengths, idx), y[idx])
                loss.backward()
                opt.step()
            if len(va):
                net.eval()
                with torch.no_grad():
                    out = run_batch(net, feats, lengths, list(va))
                    vl = lossf(out, y[va]).item()
                if vl < best:
                    best, best_acc = vl, (out.argmax(1) == y[va]).float().mean().item()
                    best_state = {n: p.detach().clone() for n, p in net.state_dict().items()}
        if best_state is not None:
            net.load_state_dict(best_state)
        accs.append(best_acc)
    return accs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="class folders (DIR/<class>/<video>)")
    ap.add_argument("--video", help="one video (extraction only)")
    ap.add_argument("--onnx", help="torchvision resnet18 ONNX export to take the weights from (else random init)")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=16, help="CNN batch (vidlstm's: 16)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--decode-threads", type=int, default=0, help="PyAV/FFmpeg decoder threads (0: FFmpeg picks)")
    ap.add_argument("--extract-only", action="store_true")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--ensemble", type=int, default=3)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save-features", metavar="DIR", help="write each clip's features as DIR/<class>/<name>.npy (checks)")
    a = ap.parse_args()
    if bool(a.data) == bool(a.video):
        ap.error("give --data DIR or --video FILE")
    if a.video:
        a.extract_only = True

    torch.set_num_threads(a.threads)
    env = {k: os.environ.get(k, "") for k in ("OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS",
                                               "LD_PRELOAD", "MALLOC_CONF")}
    print(f"# torch {torch.__version__} torchvision {torchvision.__version__} av {av.__version__} "
          f"threads {torch.get_num_threads()} python {platform.python_version()} env {json.dumps(env)}", flush=True)

    t_start = time.perf_counter()
    model, loaded = build_cnn(a.onnx)
    with torch.no_grad():  # one warm-up batch, as vidlstm plans before its first batch
        model(torch.zeros(a.batch, 3, 224, 224))
    t_setup = time.perf_counter() - t_start

    items, classes = ([(a.video, 0)], ["video"]) if a.video else list_clips(a.data)
    if not items:
        sys.exit(f"{a.data}: no class folders with videos")
    ex = Extractor(model, a.batch, a.fps, a.decode_threads)
    t0 = time.perf_counter()
    for ci, (path, _) in enumerate(items):
        ex.clip(ci, path)
    ex.flush()
    t_extract = time.perf_counter() - t0
    rss_extract = peak_rss_mb()
    feats = [torch.from_numpy(np.stack(ex.feats[i])) for i in range(len(items))]
    if a.save_features:
        for (path, lab), f in zip(items, feats):
            d = os.path.join(a.save_features, classes[lab])
            os.makedirs(d, exist_ok=True)
            np.save(os.path.join(d, os.path.splitext(os.path.basename(path))[0] + ".npy"), f.numpy())
    r = {"impl": "pytorch", "variant": os.environ.get("VIDLSTM_REF_VARIANT", "as-installed"),
         "data": a.video or a.data, "clips": len(items), "frames": ex.frames, "weights": loaded,
         "threads": a.threads, "batch": a.batch, "setup_s": round(t_setup, 3),
         "extract_s": round(t_extract, 3), "extract_fps": round(ex.frames / t_extract, 2),
         "cnn_s": round(ex.t_cnn, 3), "cnn_fps": round(ex.frames / ex.t_cnn, 2) if ex.t_cnn else None,
         "decode_convert_s": round(t_extract - ex.t_cnn, 3), "peak_rss_extract_mb": round(rss_extract, 1)}
    if not a.extract_only:
        del model, ex
        t1 = time.perf_counter()
        accs = train(feats, [lab for _, lab in items], len(classes), a)
        r["train_s"] = round(time.perf_counter() - t1, 3)
        r["val_acc"] = [round(x, 3) for x in accs]
    r["total_s"] = round(time.perf_counter() - t_start, 3)
    r["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
