#!/usr/bin/env python3
"""compare_ids.py A.bin B.bin -- per-line agreement of two tok_dump-format id files."""
import struct
import sys


def read(path):
    data = open(path, "rb").read()
    out, p = [], 0
    while p < len(data):
        (n,) = struct.unpack_from("<I", data, p)
        out.append(list(struct.unpack_from(f"<{n}i", data, p + 4)))
        p += 4 + 4 * n
    return out


a, b = read(sys.argv[1]), read(sys.argv[2])
if len(a) != len(b):
    sys.exit(f"line counts differ: {len(a)} vs {len(b)}")
same = sum(x == y for x, y in zip(a, b))
toks = sum(len(y) for x, y in zip(a, b) if x == y)
print(f"{same}/{len(a)} lines identical ({toks}/{sum(len(y) for y in b)} tokens)")
for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
        print(f"first difference at line {i}: {x[:20]} vs {y[:20]}")
        break
sys.exit(0 if same == len(a) else 1)
