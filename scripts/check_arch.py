#!/usr/bin/env python3
"""Checks every module's #include lines against docs/ARCHITECTURE.md's table
(issue 15): a file in src/M/ may include its own module's headers, the public
`vidlstm.h`, and what M's "may include" cell lists. A cell entry is a module
name, optionally followed by a parenthesis naming the only headers allowed
from it (`name.h`, comma separated); "every module" allows all. A header
called *_internal.h may be included from another module only where the cell
names it. Prints each violation as FILE:LINE: ...; the last line is the
summary `N passed, N failed`. usage: scripts/check_arch.py [REPO_ROOT]"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else "."
doc = open(os.path.join(root, "docs", "ARCHITECTURE.md"), encoding="utf-8").read()
allowed = {}  # module -> {module: None (any header) or set of header names}
for line in doc.splitlines():
    m = re.match(r"\|\s*(\w+)\s*\|\s*`src/(\w+)/`\s*\|.*\|\s*([^|]*)\|\s*$", line)
    if not m:
        continue
    mod, cell = m.group(2), m.group(3)
    rule = {}
    if "every module" in cell:
        rule = None
    else:
        # split on commas outside parentheses
        depth, cur, parts = 0, "", []
        for ch in cell:
            depth += ch == "("
            depth -= ch == ")"
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for p in parts:
            p = p.strip()
            w = re.match(r"`?(\w+)`?", p)
            if not w:
                continue
            name = w.group(1)
            hdrs = re.findall(r"`(\w+\.h)`", p[w.end():]) if "(" in p else []
            rule[name] = set(hdrs) if hdrs else None
    allowed[mod] = rule

failed, checked = [], 0
src = os.path.join(root, "src")
for mod in sorted(os.listdir(src)):
    d = os.path.join(src, mod)
    if not os.path.isdir(d):
        continue
    if mod not in allowed:
        failed.append(f"src/{mod}/: module missing from docs/ARCHITECTURE.md's table")
        continue
    rule = allowed[mod]
    for dp, _, names in os.walk(d):
        for n in sorted(names):
            if not n.endswith((".c", ".h")):
                continue
            p = os.path.join(dp, n)
            for i, l in enumerate(open(p, encoding="utf-8", errors="replace"), 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', l)
                if not m:
                    continue
                inc = m.group(1)
                checked += 1
                if "/" not in inc:
                    continue  # vidlstm.h, the generated onnx.pb-c.h, same-folder headers
                to, hdr = inc.split("/", 1)[0], os.path.basename(inc)
                where = f"{os.path.relpath(p, root)}:{i}"
                if to == mod or rule is None:
                    continue
                if to not in rule:
                    failed.append(f"{where}: {mod} includes {inc}; its row allows {sorted(rule) or 'nothing'}")
                elif rule[to] is not None and hdr not in rule[to]:
                    failed.append(f"{where}: {mod} may include only {sorted(rule[to])} from {to}, not {hdr}")
                elif hdr.endswith("_internal.h") and (rule[to] is None or hdr not in rule[to]):
                    failed.append(f"{where}: {mod} reaches into {inc} (internal to {to})")
for f in failed:
    print(f)
print(f"{checked - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
