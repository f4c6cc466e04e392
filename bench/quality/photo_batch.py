#!/usr/bin/env python3
"""Writes N photographs of the quality suite (build-cache/quality/photos.csv,
bench/quality/fetch_photos.sh) as one float32 [N, 3, 224, 224] .npy batch with
torchvision's ImageNet preprocessing (resize 256, centre crop 224, mean/std),
for bench_backbone --input: the features' error of reduced precision measured
on natural images rather than the fixtures' noise (docs/precision.md, int8).
usage: photo_batch.py PHOTOS_CSV OUT.npy [N=16]"""
import csv, sys
import numpy as np
import torch
from PIL import Image
from torchvision import transforms

rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) >= 2 and r[0] != "path"]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 16
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
x = torch.stack([tf(Image.open(p).convert("RGB")) for _, p in rows[:n]])
np.save(sys.argv[2], x.numpy().astype(np.float32))
print(f"{sys.argv[2]}: {tuple(x.shape)} from {min(n, len(rows))} photographs")
