#!/usr/bin/env python3
"""check_layers.py -- the architecture of src/ as a test (doc/layout.md).

Every folder of src/ sits on a floor; a file may use its own folder and the floors below,
never one above, and no files of src/ may call each other in a circle.  Two views are
checked, because either alone can be fooled:
  includes  every #include "folder/x.h" of src/**/*.{c,h};
  calls     every symbol an object file of BUILD/src needs and another one defines (nm),
            which also catches a function declared by hand instead of through a header.
Prints "ok NAME" / "not ok NAME -- why" lines (tests/lib.sh's convention).

  python3 tools/check_layers.py [BUILD]          (BUILD: build/release)
  python3 tools/check_layers.py --self-test      the checker finds planted violations
"""
import collections
import glob
import os
import re
import subprocess
import sys

# Floor of each folder; a folder may use floors <= its own.  The public header lmz.h
# (include/) is everyone's.  lib calls the progress callback that the CLI hands it,
# through a function pointer, which neither view sees as a call.
FLOORS = {
    'util': 0, 'gguf': 0,
    'kernels': 1,
    'tokenizer': 2, 'coder': 2, 'format': 2,
    'model': 3,
    'lib': 4,
    'train': 5,
    'cli': 6,
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folder(path):
    parts = path.split('/')
    return parts[1] if len(parts) > 2 and parts[0] == 'src' else None


def include_edges(root):
    """(from_file, to_file) for every quoted include inside src/."""
    edges = []
    for path in sorted(glob.glob(os.path.join(root, 'src/**/*.[ch]'), recursive=True)):
        rel = os.path.relpath(path, root)
        with open(path, encoding='utf-8', errors='replace') as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            if inc == 'lmz.h':
                continue
            target = 'src/' + inc if os.path.exists(os.path.join(root, 'src', inc)) else \
                os.path.normpath(os.path.join(os.path.dirname(rel), inc))
            edges.append((rel, target))
    return edges


def call_edges(root, build):
    """(from_file, to_file, symbol) for every symbol one object of src/ takes from another."""
    defs, needs = {}, {}
    objs = sorted(glob.glob(os.path.join(root, build, 'src/**/*.o'), recursive=True))
    for obj in objs:
        src = os.path.relpath(obj, os.path.join(root, build))[:-2] + '.c'
        if not os.path.exists(os.path.join(root, src)):
            continue            # left behind by a file since moved or removed
        out = subprocess.run(['nm', obj], capture_output=True, text=True, check=True).stdout
        needs[src] = set()
        for line in out.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in 'TDBRVW':
                defs[f[2]] = src
            elif len(f) == 2 and f[0] == 'U':
                needs[src].add(f[1])
    edges = []
    for src, syms in needs.items():
        for s in sorted(syms):
            if s in defs and defs[s] != src:
                edges.append((src, defs[s], s))
    return edges, len(objs)


def upward(edges):
    bad = []
    for e in edges:
        a, b = folder(e[0]), folder(e[1])
        if a is None or b is None:
            continue
        if a not in FLOORS or b not in FLOORS:
            bad.append(f'{e[0]} -> {e[1]}: folder not in FLOORS')
        elif FLOORS[b] > FLOORS[a]:
            bad.append(f'{e[0]} ({a}, floor {FLOORS[a]}) -> {e[1]} ({b}, floor {FLOORS[b]})'
                       + (f' [{e[2]}]' if len(e) > 2 else ''))
    return bad


def cycles(edges):
    """Strongly connected components of more than one file (Tarjan, iterative)."""
    adj = collections.defaultdict(set)
    for e in edges:
        if e[0] != e[1]:
            adj[e[0]].add(e[1])
    nodes = sorted(set(adj) | {b for v in adj.values() for b in v})
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(adj[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1
        stack.append(root); on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1
                    stack.append(w); on.add(w)
                    work.append((w, iter(sorted(adj[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def report(name, problems):
    if problems:
        print(f'not ok {name} -- ' + '; '.join(problems[:12]) +
              (f' (and {len(problems) - 12} more)' if len(problems) > 12 else ''))
        return 1
    print(f'ok {name}')
    return 0


def check(root, build):
    fails = 0
    inc = include_edges(root)
    fails += report('layers-includes-point-down', upward(inc))
    fails += report('layers-no-include-cycles', [' <-> '.join(c) for c in cycles(inc)])
    calls, n_objs = call_edges(root, build)
    if n_objs == 0:
        fails += report('layers-calls-point-down', [f'no objects under {build}/src: build first'])
        return fails
    fails += report('layers-calls-point-down', upward(calls))
    fails += report('layers-no-call-cycles', [' <-> '.join(c) for c in cycles(calls)])
    return fails


def self_test():
    """Planted violations must be found, and a clean graph must pass."""
    fails = 0
    up = upward([('src/kernels/a.c', 'src/model/b.c', 'f')])
    fails += report('layers-self-test-upward', [] if up else ['an upward call went unseen'])
    down = upward([('src/model/b.c', 'src/kernels/a.c', 'f')])
    fails += report('layers-self-test-downward', ['a downward call was refused'] if down else [])
    cyc = cycles([('a', 'b'), ('b', 'c'), ('c', 'a'), ('c', 'd')])
    fails += report('layers-self-test-cycle',
                    [] if cyc == [['a', 'b', 'c']] else [f'cycles found: {cyc}'])
    return fails


if __name__ == '__main__':
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if sys.argv[1:] == ['--self-test']:
        sys.exit(1 if self_test() else 0)
    sys.exit(1 if check(root, sys.argv[1] if len(sys.argv) > 1 else 'build/release') else 0)
