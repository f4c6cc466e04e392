#!/usr/bin/env python3
"""Writes the committed seed corpora of the libFuzzer targets (tests/fuzz/*/seeds):
small valid inputs and edge cases, no randomness, so rerunning gives the same
files. Model-file seeds are the committed model fixtures (tests/fixtures/model,
made by PyTorch's reference) plus hand-made containers. Needs only the standard
library. Usage: python3 tests/fuzz/gen_seeds.py"""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def out(target, name, data):
    d = os.path.join(HERE, target, "seeds")
    os.makedirs(d, exist_ok=True)
    os.makedirs(os.path.join(HERE, target, "regress"), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy(descr, shape, payload, version=1, fortran=False):
    hdr = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False",
        "(%s)" % "".join("%d," % s for s in shape) if len(shape) != 1 else "(%d,)" % shape[0])
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(hdr) + 1) % 64) % 64
    hdr = hdr + " " * pad + "\n"
    lenf = struct.pack("<H", len(hdr)) if version == 1 else struct.pack("<I", len(hdr))
    return b"\x93NUMPY" + bytes([version, 0]) + lenf + hdr.encode() + payload


# .npy: each dtype the reader accepts, versions 1-3, scalars, empty, and bad headers.
f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
out("npy", "f4_2x3.npy", npy("<f4", (2, 3), f32))
out("npy", "f8_3.npy", npy("<f8", (3,), struct.pack("<3d", 1.5, -2, 1e300)))
out("npy", "i4_2x2.npy", npy("<i4", (2, 2), struct.pack("<4i", 1, -2, 3, 2**31 - 1)))
out("npy", "i8_2.npy", npy("<i8", (2,), struct.pack("<2q", 5, -(2**40))))
out("npy", "v2_f4.npy", npy("<f4", (1, 2), struct.pack("<2f", 0.5, 1), version=2))
out("npy", "v3_f4.npy", npy("<f4", (2,), struct.pack("<2f", 0.5, 1), version=3))
out("npy", "scalar.npy", npy("<f4", (), struct.pack("<f", 7)))
out("npy", "empty.npy", npy("<f4", (0, 4), b""))
out("npy", "fortran.npy", npy("<f4", (2, 3), f32, fortran=True))
out("npy", "bigendian.npy", npy(">f4", (2,), struct.pack(">2f", 1, 2)))
out("npy", "truncated.npy", npy("<f4", (4, 4), f32))
out("npy", "huge_shape.npy", npy("<f4", (2**40, 2**40), f32))
out("npy", "u1.npy", npy("|u1", (3,), b"\x01\x02\x03"))
out("npy", "8dims.npy", npy("<f4", (1,) * 8, struct.pack("<f", 1)))

# safetensors: the model fixtures, and containers with edge cases.
for f in sorted(os.listdir(os.path.join(ROOT, "tests", "fixtures", "model"))):
    if f.endswith(".safetensors"):
        with open(os.path.join(ROOT, "tests", "fixtures", "model", f), "rb") as src:
            out("safetensors", f, src.read())


def st(header, buf):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + buf


out("safetensors", "empty.st", st({}, b""))
out("safetensors", "meta_only.st", st({"__metadata__": {"format": "pt", "k": "v"}}, b""))
out("safetensors", "dtypes.st", st({
    "a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
    "b": {"dtype": "BF16", "shape": [1], "data_offsets": [4, 6]},
    "c": {"dtype": "F64", "shape": [1], "data_offsets": [6, 14]},
    "d": {"dtype": "I8", "shape": [2], "data_offsets": [14, 16]},
    "e": {"dtype": "BOOL", "shape": [], "data_offsets": [16, 17]},
    "f": {"dtype": "F8_E4M3", "shape": [1, 1], "data_offsets": [17, 18]}}, bytes(range(18))))
out("safetensors", "zero_dim.st", st({"z": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}}, b""))
out("safetensors", "overlap.st", st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                     "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4))
out("safetensors", "short_header.st", b"\x08\0\0\0\0\0\0\0{}")

# JSON: every value type, escapes, nesting, numbers at the edges, and the
# objects the readers on top take (architecture, backbone record).
for i, t in enumerate([
        '{"a": [1, -2.5e-3, 1E+308, 0, -0], "b": {"c": null, "d": true, "e": false}, "s": "x\\"\\\\\\/\\b\\f\\n\\r\\t"}',
        '"\\u00e9\\ud83d\\ude00\\u0000"', '[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]', '  123  ', '[1e999]', '{"a":1,"a":2}',
        '"\xc3\xa9 \xf0\x9f\x98\x80"', '[1,]', '{"k" 1}', '"\\ud800"', '-', '1.', '01', '[]', '{}', 'null',
        '{"input": 4, "outputs": 3, "mode": "last", "task": "classify", "layers": [{"kind": "lstm", "hidden": 8, '
        '"bidirectional": true}, {"kind": "dropout", "p": 0.5}, {"kind": "gru", "hidden": 4}]}',
        '{"input": 2, "outputs": 1, "mode": "sequence", "task": "regress", "layers": [{"kind": "gru", "hidden": 2}]}',
        '{"name": "resnet18", "kind": "onnx", "file": "r.onnx", "sha256": "' + "0" * 64 + '", "dim": 512, '
        '"size": [224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "fps": 5}']):
    out("json", "s%02d.json" % i, t)
with open(os.path.join(ROOT, "tests", "fixtures", "model", "lstm_last_cls.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    hdr = json.loads(f.read(n))
for k, v in sorted(hdr.get("__metadata__", {}).items()):
    if v.startswith("{"):
        out("json", "meta_%s.json" % k, v)

# Manifests and label files: the first byte picks the parser (fuzz_manifest.c:
# 0 csv, 1-5 feature manifests, 6 split file, 7 clip manifest, 8 per-frame
# labels, 9 video-data front end); a.npy, b.npy, a.csv, b.csv exist beside them.
M = {
    0: ['a,b,c\n"q ""x"" y",2,\n\n# comment\r\n\xef\xbb\xbfz,"multi\nline"\n', ' sp , "" ,x\n', '"unterminated\n',
        'a,b"c\n', '\xef\xbb\xbf'],
    1: ['a.npy,x\nb.npy,y\n', 'path,label,group\na.npy,x,g\nb.npy,y,h\n', 'label,path\nx,a.npy\ny,b.npy\n',
        'a.npy,x\n', 'missing.npy,x\nb.npy,y\n', 'a.npy\n'],
    2: ['a.npy,a.csv\nb.npy,b.csv\n', 'path,labels\na.npy,a.csv\n'],
    3: ['a.npy,1.5\nb.npy,-2\n', 'path,target\na.npy,nan\n'],
    4: ['a.npy,a.csv\n', 'a.npy,x\n'],
    5: ['a.npy,x\nb.npy,y\n', 'a.npy,z\n', 'path\na.npy\n'],
    6: ['a.npy\n', 'b.npy,val\na.npy,train\n', 'nope.npy\n', 'path,split\na.npy,val\n'],
    7: ['v.mp4,x,0,1.5\nw.mp4,y\n', 'path,label,start,end\nv.mp4,x,2,1\n', 'v.mp4\n', 'path,label,group\nv.mp4,x,g\n'],
    8: ['frame,label\n0,x\n1,y\n5,x\n', 'start,end,label\n0,1.5,x\n1.5,3,y\n', '0-4,x\n5-9,y\n', 'x\ny\nx\n',
        'frame,label\n3,x\n1,y\n', 'start,end,label\n0,2,x\n1,3,y\n',
        'start_frame,end_frame,label\n0,4,x\n5,9223372036854775807,y\n', 'label,frame,extra\nx,0,1\n'],
    9: ['v.mp4,x\n', 'a.npy,x\n'],
}
for k, items in M.items():
    for i, t in enumerate(items):
        out("manifest", "p%d_%d.csv" % (k, i), bytes([k]) + t.encode("latin-1"))
