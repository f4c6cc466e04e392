#!/usr/bin/env python3
"""Structure metrics for issue 15's before/after: lines per module (src/<dir>),
functions over 80 lines (a function runs from its `{` at column 0 to the next
`}` at column 0, the house style clang-format keeps), and the largest files.
usage: scripts/metrics.py [SRC_DIR]   (default: src)"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else "src"
mods, funcs, files = {}, [], []
for d, _, names in os.walk(root):
    for n in sorted(names):
        if not n.endswith((".c", ".h")):
            continue
        p = os.path.join(d, n)
        lines = open(p, encoding="utf-8", errors="replace").read().split("\n")
        mod = os.path.relpath(p, root).split(os.sep)[0]
        mods[mod] = mods.get(mod, 0) + len(lines)
        files.append((len(lines), p))
        start = None
        for i, l in enumerate(lines):
            if l.startswith("{"):
                start = i
                # the name: the identifier before '(' on the signature's first
                # line (the nearest line above at column 0 that has a '(')
                name = "?"
                for j in range(i - 1, max(-1, i - 8), -1):
                    if lines[j][:1].isalpha() and "(" in lines[j]:
                        name = re.findall(r"([A-Za-z_]\w*)\s*\(", lines[j])[0]
                        break
            elif l.startswith("}") and start is not None:
                n_lines = i - start + 1
                if n_lines > 80 and not l.startswith("};"):
                    funcs.append((n_lines, p, name))
                start = None
print("lines per module:")
for m in sorted(mods):
    print(f"  {m:10s} {mods[m]:6d}")
print(f"  {'total':10s} {sum(mods.values()):6d}")
print(f"functions over 80 lines: {len(funcs)}")
for n, p, name in sorted(funcs, reverse=True):
    print(f"  {n:5d} {p}: {name}")
print("largest files:")
for n, p in sorted(files, reverse=True)[:10]:
    print(f"  {n:5d} {p}")
