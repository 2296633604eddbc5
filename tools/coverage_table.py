#!/usr/bin/env python3
"""coverage_table.py -- line, function and branch coverage of src/ per folder, from an
lcov tracefile (tools/coverage.sh, `make coverage`).

  python3 tools/coverage_table.py [--root DIR] [--files] build/coverage/coverage.info

Folders in floor order (tools/check_layers.py), then any other, then the total.  A file's
folder is its path's first component below DIR/src/ (DIR: the current directory).
--files adds one row per file below each folder.  --markdown prints a Markdown table.
"""
import argparse
import collections
import os
import sys

ORDER = ['util', 'gguf', 'kernels', 'tokenizer', 'coder', 'format', 'model', 'lib', 'train', 'cli']
KEYS = ('LH', 'LF', 'FNH', 'FNF', 'BRH', 'BRF')


def read_info(path):
    """{source file: {LH, LF, FNH, FNF, BRH, BRF}}, summed over records of the same file."""
    files = collections.defaultdict(lambda: dict.fromkeys(KEYS, 0))
    cur = None
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith('SF:'):
                cur = files[line[3:]]
            elif line == 'end_of_record':
                cur = None
            elif cur is not None and ':' in line:
                k, v = line.split(':', 1)
                if k in KEYS:
                    cur[k] += int(v)
    return files


def pct(hit, total):
    return '-' if total == 0 else f'{100.0 * hit / total:.1f}'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('info')
    ap.add_argument('--root', default='.')
    ap.add_argument('--files', action='store_true')
    ap.add_argument('--markdown', action='store_true')
    a = ap.parse_args()
    src = os.path.join(os.path.abspath(a.root), 'src')

    groups = collections.defaultdict(dict)
    for sf, c in read_info(a.info).items():
        rel = os.path.relpath(sf, src)
        if rel.startswith('..'):
            continue
        groups[rel.split(os.sep)[0] if os.sep in rel else '.'][rel] = c
    if not groups:
        sys.exit(f'coverage_table: no file of {src} in {a.info}')

    def total(cs):
        return {k: sum(c[k] for c in cs) for k in KEYS}

    head = ('folder', 'files', 'lines', 'line %', 'functions', 'func %', 'branches', 'branch %')
    rows = []
    for g in [g for g in ORDER if g in groups] + sorted(set(groups) - set(ORDER)):
        t = total(groups[g].values())
        rows.append((g, str(len(groups[g])), f"{t['LH']}/{t['LF']}", pct(t['LH'], t['LF']),
                     f"{t['FNH']}/{t['FNF']}", pct(t['FNH'], t['FNF']),
                     f"{t['BRH']}/{t['BRF']}", pct(t['BRH'], t['BRF'])))
        if a.files:
            for rel in sorted(groups[g]):
                c = groups[g][rel]
                rows.append(('  ' + rel, '', f"{c['LH']}/{c['LF']}", pct(c['LH'], c['LF']),
                             f"{c['FNH']}/{c['FNF']}", pct(c['FNH'], c['FNF']),
                             f"{c['BRH']}/{c['BRF']}", pct(c['BRH'], c['BRF'])))
    t = total([c for g in groups.values() for c in g.values()])
    rows.append(('src/ total', str(sum(len(g) for g in groups.values())),
                 f"{t['LH']}/{t['LF']}", pct(t['LH'], t['LF']),
                 f"{t['FNH']}/{t['FNF']}", pct(t['FNH'], t['FNF']),
                 f"{t['BRH']}/{t['BRF']}", pct(t['BRH'], t['BRF'])))

    if a.markdown:
        print('| ' + ' | '.join(head) + ' |')
        print('|---|' + '---:|' * (len(head) - 1))
        for r in rows:
            print('| ' + ' | '.join(r) + ' |')
        return
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]

    def fmt(r):
        return '  '.join(r[i].ljust(w[i]) if i == 0 else r[i].rjust(w[i]) for i in range(len(r)))
    print(fmt(head))
    for r in rows:
        if r[0] == 'src/ total':
            print('-' * (sum(w) + 2 * (len(w) - 1)))
        print(fmt(r))


if __name__ == '__main__':
    main()
