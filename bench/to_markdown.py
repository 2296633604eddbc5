#!/usr/bin/env python3
"""Turn `bash bench/bench.sh` output into the README's Markdown tables: lmz's bits per
byte beside xz, zstd -19, brotli, ppmd and zpaq from ../shared/bench/baselines-dev.md,
and lmz's ratio to the best of them.

    bash bench/bench.sh | python3 bench/to_markdown.py [--compare NAME=FILE]... [SHARED_DIR]

--compare adds a column of coded bits per byte from another bench.sh output FILE (an
earlier model, say), headed NAME; the files given under one NAME share its column.
"""
import os
import sys

COLUMNS = ("xz", "zstd19", "brotli", "ppmd", "zpaq")


def baselines(path):
    """{section title: {file: {compressor: bpb}}} from the bpb tables of the baselines."""
    tables, section, header = {}, None, None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("## "):
            section, header = line[3:], None
            continue
        if header and not line.startswith("|"):
            section = None          # only a section's first table is in bits per byte
        if not line.startswith("| ") or section is None or "bits per byte" not in section:
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "file":
            header = cells
        elif header and not cells[0].startswith("---"):
            name = cells[0].split(" (")[0]
            row = {}
            for h, c in zip(header, cells):
                try:
                    row[h] = float(c.strip("*"))
                except ValueError:
                    pass
            tables.setdefault(section, {})[name] = row
    return tables


def find(tables, key, name):
    for title, rows in tables.items():
        if title.startswith(key) and name in rows:
            return rows[name]
    return None


def coded_bpb(path):
    """{(setting key, file): coded bpb} from a bench.sh output."""
    out, key = {}, None
    for line in open(path, encoding="utf-8"):
        key = setting_of(line) or key
        f = line.split()
        if key and len(f) > 6 and not line.startswith("#") and f[0] != "file" and f[3] != "-":
            out[(key, f[0])] = float(f[3])
    return out


def setting_of(line):
    if line.startswith("## Whole file"):
        return "Whole-file"
    if line.startswith("## Each response"):
        return "Per-response"
    return None


def main():
    args, named = sys.argv[1:], {}
    while len(args) >= 2 and args[0] == "--compare":
        name, _, path = args[1].partition("=")
        named.setdefault(name, {}).update(coded_bpb(path))
        args = args[2:]
    compare = list(named.items())
    shared = args[0] if args else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")
    tables = baselines(os.path.join(shared, "bench", "baselines-dev.md"))
    key, started = None, set()
    for line in sys.stdin:
        line = line.rstrip("\n")
        if setting_of(line):
            key = setting_of(line)
        else:
            if line.startswith("# model") or line.startswith("# machine"):
                print(line.lstrip("# ") + "\n")
            if line.startswith("#") or not line.strip() or line.startswith("file "):
                continue
            f = line.split()
            if f[2] == "-":         # an empty file: nothing to measure
                continue
            name, size, ce, bpb, comp, dec = f[0], int(f[1]), float(f[2]), float(f[3]), f[5], f[6]
            base = find(tables, key, name) or {}
            others = " | ".join(f"{c[(key, name)]:.3f}" if (key, name) in c else ""
                                for _, c in compare)
            best = min((base[c], c) for c in COLUMNS if c in base) if base else None
            if name.endswith(".jsonl") and key == "Whole-file":
                name += " (texts joined)"
            if key not in started:
                started.add(key)
                print(f"**{key} setting**\n")
                print("| file | bytes | lmz model bpb | lmz coded bpb | " +
                      "".join(f"{n} coded bpb | " for n, _ in compare) +
                      " | ".join(COLUMNS) + " | lmz / best | comp KB/s | dec KB/s |")
                print("|---|---:|---:|---:|" + "---:|" * (len(compare) + len(COLUMNS)) +
                      "---:|---:|---:|")
            cols = " | ".join(f"{base[c]:.3f}" if c in base else "" for c in COLUMNS)
            ratio = f"{bpb / best[0]:.2f} ({best[1]})" if best else ""
            print(f"| {name} | {size} | {ce:.3f} | **{bpb:.3f}** | " +
                  (others + " | " if compare else "") + f"{cols} | {ratio} | {comp} | {dec} |")
    print()


if __name__ == "__main__":
    main()
