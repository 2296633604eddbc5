"""GGUF access for the reference tools: the shared minimal GGUF writer/reader
(../shared/reference/gguf_min.py, imported, not copied) plus BF16 tensors,
which that module does not handle.

The shared folder is $LMZ_SHARED, default ../shared relative to the repo root.
"""

import os
import struct
import sys

import numpy as np

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("LMZ_SHARED") or os.path.join(REPO_ROOT, "..", "shared")
SHARED_REFERENCE = os.path.join(os.path.abspath(SHARED), "reference")
if not os.path.isfile(os.path.join(SHARED_REFERENCE, "gguf_min.py")):
    sys.exit(f"gguf_min.py not found in {SHARED_REFERENCE}; set LMZ_SHARED to the shared folder")
sys.path.insert(0, SHARED_REFERENCE)

import gguf_min as g  # noqa: E402  (needs the path above)
import make_model  # noqa: E402,F401  (tokenizer builders, re-exported for callers)

GGML_BF16 = 30          # ggml's type id for bfloat16
TYPE_NAMES = {**g.TYPE_NAMES, GGML_BF16: "BF16"}
DTYPES = {"f32": g.GGML_F32, "f16": g.GGML_F16, "bf16": GGML_BF16, "q8_0": g.GGML_Q8_0}
# general.file_type values (llama_ftype): ALL_F32, MOSTLY_F16, MOSTLY_Q8_0, MOSTLY_BF16
FILE_TYPES = {"f32": 0, "f16": 1, "q8_0": 7, "bf16": 32}


def f32_to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns, round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def round_bf16(a):
    """Round float values to the nearest bfloat16 (the value, as float32)."""
    return bf16_bits_to_f32(f32_to_bf16_bits(np.asarray(a, dtype=np.float32)))


class Writer(g.GGUFWriter):
    """gguf_min's writer plus BF16 tensors."""

    def add_tensor(self, name, array, ggml_type=g.GGML_F32):
        if ggml_type != GGML_BF16:
            return super().add_tensor(name, array, ggml_type)
        a = np.ascontiguousarray(array, dtype=np.float32)
        raw = f32_to_bf16_bits(a).astype("<u2").tobytes()
        self.tensors.append((name, list(reversed(a.shape)), GGML_BF16, raw))
        return None


class _Array(list):
    """An array value that remembers its GGUF element type (gguf_min's reader drops it)."""

    def __init__(self, values, elem_type):
        super().__init__(values)
        self.elem_type = elem_type


class Reader(g.GGUFReader):
    """gguf_min's reader plus BF16 tensors (returned as float32), and metadata values
    typed as in the file (kv), so that they can be copied to another GGUF."""

    def _value(self, vtype):
        elem = struct.unpack_from("<I", self.buf, self.pos)[0] if vtype == g.T_ARR else None
        v = super()._value(vtype)
        return v if elem is None else _Array(v, elem)

    def kv(self, key):
        """The value of key as a gguf_min Val with the file's types, for Writer.add."""
        v = self.meta[key]
        return g.Val(self.meta_types[key], v, getattr(v, "elem_type", None))

    def tensor(self, name):
        dims, gtype, off = self.tensor_info[name]
        if gtype != GGML_BF16:
            return super().tensor(name)
        n = int(np.prod(dims))
        start = self.data_start + off
        bits = np.frombuffer(self.buf[start:start + 2 * n], dtype="<u2")
        return bf16_bits_to_f32(bits).reshape(list(reversed(dims)))
