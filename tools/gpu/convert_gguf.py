#!/usr/bin/env python3
"""Store a GGUF's matrices in another type: the BF16 model that a GPU run brings back
(tools/gpu/README.md) -> F32, or Q8_0 (half the size, and the faster one in lmz's
inference on the CPU).  Metadata is copied as it is (general.file_type updated);
1-D tensors (the norms) stay F32.

  convert_gguf.py IN.gguf OUT.gguf --dtype q8_0|f32|bf16 [--name NAME]

--name sets general.name (what `lmz -l` and `lmz -V` show); the identity hash that
streams record covers the weights, shape and tokenizer, not the name.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from gguf_io import DTYPES, FILE_TYPES, Reader, Writer, g  # noqa: E402


def convert(src, dst, dtype, name=None):
    r = Reader(src)
    w = Writer()
    for key in r.meta:
        if key == "general.file_type":
            w.add(key, g.u32(FILE_TYPES[dtype]))
        elif key == "general.name" and name:
            w.add(key, g.string(name))
        else:
            w.add(key, r.kv(key))
    for name in r.tensor_order:
        a = r.tensor(name)
        w.add_tensor(name, a, DTYPES[dtype] if a.ndim == 2 else g.GGML_F32)
    w.write(dst + ".tmp")
    os.replace(dst + ".tmp", dst)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--dtype", choices=("f32", "bf16", "q8_0"), required=True)
    p.add_argument("--name", help="new general.name")
    a = p.parse_args(argv)
    convert(a.src, a.dst, a.dtype, a.name)
    print(f"wrote {a.dst} ({os.path.getsize(a.dst) / 2**20:.1f} MiB, matrices {a.dtype})")


if __name__ == "__main__":
    main()
