#!/usr/bin/env python3
"""check_layers.py [BUILD_DIR] — the C code reads downward only.

Layers, top to bottom:
  bindings  the Lua bindings: src/l*.c, src/l*.h, src/main.c
  engine    finding and holding adapters: src/registry.[ch]
  adapters  the adapter interface (src/adapters.h), the adapters
            (adapters/*/*), the code some of them share (src/remotefs.[ch],
            src/notice.[ch])
  bytes     everything else in src/ (mb.h, util, pump, zstd, age, fileio,
            curlxfer, process, sigv4, s3client...): a new file lands here,
            the strictest layer, until it is listed above.

A file may include a header of its own layer or of a layer below, never of
one above, and no two modules (a .c and the .h of the same name are one
module) may reach each other through includes.  With BUILD_DIR, the same
holds for calls: an object file that uses a symbol another one defines
(nm) depends on it, which shows what a shared header such as src/lmb.h
hides from the include graph (lsource.c and lstorage.c calling each other).
Prints TAP lines; exits non-zero on a failure.
"""
import fnmatch
import os
import re
import subprocess
import sys

LAYERS = ["bytes", "adapters", "engine", "bindings"]  # bottom to top
PATTERNS = [
    ("bindings", ["src/l*.c", "src/l*.h", "src/main.c"]),
    ("engine", ["src/registry.c", "src/registry.h", "src/interrupt.c", "src/interrupt.h"]),
    ("adapters", ["src/adapters.h", "src/remotefs.c", "src/remotefs.h", "src/notice.c",
                  "src/notice.h", "adapters/*/*"]),
]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

failures = 0


def report(name, problems):
    global failures
    if problems:
        failures += 1
        print("not ok - " + name)
        for p in problems:
            print("#   " + p)
    else:
        print("ok - " + name)


def layer_of(path):
    for layer, patterns in PATTERNS:
        if any(fnmatch.fnmatch(path, p) for p in patterns):
            return layer
    return "bytes"


def module_of(path):
    return os.path.splitext(path)[0]


def sources():
    out = []
    for top in ("src", "adapters"):
        for dirpath, _, names in os.walk(top):
            out += [os.path.join(dirpath, n) for n in names if n.endswith((".c", ".h"))]
    return sorted(out)


def resolve(including, name):
    """The file an #include "name" of including reads: its own folder first, then -Isrc."""
    for base in (os.path.dirname(including), "src"):
        path = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(path):
            return path
    return None


def include_edges(files):
    edges = []
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            for name in INCLUDE.findall(fh.read()):
                target = resolve(f, name)
                if target and target != f:
                    edges.append((f, target, "#include \"%s\"" % name))
    return edges


def symbol_edges(build):
    """(user object's source, definer's source, symbol) for every symbol one object
    takes from another."""
    objects = {}
    for top in ("src", "adapters"):
        for dirpath, _, names in os.walk(os.path.join(build, top)):
            for n in names:
                if n.endswith(".o"):
                    obj = os.path.join(dirpath, n)
                    objects[obj] = os.path.relpath(obj, build)[:-2] + ".c"
    defined, used = {}, {}
    for obj, src in objects.items():
        out = subprocess.run(["nm", "-g", obj], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                used.setdefault(src, set()).add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRCVW":
                defined[parts[2]] = src
    edges = []
    for src, symbols in used.items():
        for sym in sorted(symbols):
            if sym in defined and defined[sym] != src:
                edges.append((src, defined[sym], "uses " + sym))
    return edges


def upward(edges):
    problems = []
    for a, b, why in edges:
        la, lb = layer_of(a), layer_of(b)
        if LAYERS.index(lb) > LAYERS.index(la):
            problems.append("%s (%s) -> %s (%s): %s" % (a, la, b, lb, why))
    return sorted(set(problems))


def cycles(edges):
    """The modules that reach each other, one line per strongly connected set."""
    graph = {}
    for a, b, _ in edges:
        ma, mb = module_of(a), module_of(b)
        if ma != mb:
            graph.setdefault(ma, set()).add(mb)
            graph.setdefault(mb, set())
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):  # Tarjan; the graphs are a few dozen modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(" <-> ".join(sorted(group)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    edges = include_edges(sources())
    report("layers: no #include reaches a layer above", upward(edges))
    report("layers: no two modules include each other, even through others", cycles(edges))
    if len(sys.argv) > 1:
        calls = symbol_edges(sys.argv[1])
        report("layers: no object calls into a layer above", upward(calls))
        report("layers: no two objects call each other, even through others", cycles(calls))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
