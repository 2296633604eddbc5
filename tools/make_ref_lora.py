#!/usr/bin/env python3
"""Write a random LoRA adapter, in llama.cpp's GGUF adapter convention, for a
given base GGUF model (e.g. a tests/fixtures/ref model, or models/lmz-s2.gguf).

  python3 tools/make_ref_lora.py BASE.gguf OUT.lora.gguf --rank 4 --alpha 8 --seed 201 \
      [--targets attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down] [--layers 0,1] \
      [--strength 0.1]

The file (GGUF v3, what llama.cpp's llama_adapter_lora_init reads):
  general.architecture  string   the base model's (llama.cpp refuses a mismatch)
  general.type          string   "adapter"
  adapter.type          string   "lora"
  adapter.lora.alpha    float32  scale = alpha / rank (alpha 0: scale 1), times the
                                 user's adapter scale
  per adapted weight blk.N.<target>.weight, numpy shape (n_out, n_in), two F32 tensors:
    blk.N.<target>.weight.lora_a  numpy (rank, n_in)   GGUF ne = [n_in, rank]
    blk.N.<target>.weight.lora_b  numpy (n_out, rank)  GGUF ne = [rank, n_out]
  effect: y = W x + scale * B (A x)

Weights (numpy PCG64, default_rng(seed)), drawn layer by layer, target by target in
the order of --targets, A then B:
  A ~ N(0, 1/n_in)                      (so A x has unit-variance entries for unit x)
  B ~ N(0, sigma_B^2), sigma_B = strength * rms(W) * sqrt(n_in) / (scale * sqrt(rank))
so that E|scale * B A|_F = strength * |W|_F: the adapter moves every adapted
projection by about `strength` of the base weight's size, whatever the base model's
gains.  (A real LoRA starts with B = 0, which would test nothing.)
"""

import argparse
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
from gguf_io import Reader, Writer, g  # noqa: E402

TARGETS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def int_list(s):
    return [int(x) for x in s.split(",") if x != ""]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("base", help="base model GGUF")
    p.add_argument("out", help="adapter GGUF to write")
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--alpha", type=float, default=8.0, help="adapter.lora.alpha (0: llama.cpp uses scale 1)")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"comma-separated subset of {','.join(TARGETS)} (default all)")
    p.add_argument("--layers", default="", help="comma-separated layer indices (default all)")
    p.add_argument("--strength", type=float, default=0.1,
                   help="expected |scale*B*A|_F / |W|_F of each adapted weight")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--name", default="", help="general.name (default: derived)")
    a = p.parse_args(argv)
    a.targets = [t for t in a.targets.split(",") if t]
    bad = [t for t in a.targets if t not in TARGETS]
    if bad or not a.targets:
        p.error(f"--targets: unknown {bad} (choose from {','.join(TARGETS)})")
    if len(set(a.targets)) != len(a.targets):
        p.error("--targets: duplicates")
    if a.rank < 1:
        p.error("--rank must be >= 1")
    return a


def lora_scale(alpha, rank, user_scale=1.0):
    """llama.cpp's llama_adapter_lora_weight::get_scale (rank = lora_b's ne0)."""
    return user_scale * alpha / rank if alpha else user_scale


def build(a):
    base = Reader(a.base)
    arch = base.meta["general.architecture"]
    n_layer = base.meta[f"{arch}.block_count"]
    layers = int_list(a.layers) if a.layers else list(range(n_layer))
    if not layers or any(not 0 <= i < n_layer for i in layers) or len(set(layers)) != len(layers):
        sys.exit(f"--layers {a.layers!r}: need distinct indices in 0..{n_layer - 1}")
    scale = lora_scale(a.alpha, a.rank)
    rng = np.random.default_rng(a.seed)

    w = Writer()
    w.add("general.architecture", g.string(arch))
    w.add("general.type", g.string("adapter"))
    w.add("general.name", g.string(a.name or f"random-lora-r{a.rank}-a{a.alpha:g}-seed{a.seed}"))
    w.add("adapter.type", g.string("lora"))
    w.add("adapter.lora.alpha", g.f32(a.alpha))
    for i in layers:
        for t in a.targets:
            name = f"blk.{i}.{t}.weight"
            if name not in base.tensor_info:
                sys.exit(f"{a.base}: no tensor {name}")
            W = base.tensor(name).astype(np.float64)
            n_out, n_in = W.shape
            if a.rank > min(n_out, n_in):
                sys.exit(f"--rank {a.rank} > min(n_out, n_in) = {min(n_out, n_in)} of {name}")
            sigma_b = a.strength * np.sqrt(np.mean(W * W)) * np.sqrt(n_in) / (scale * np.sqrt(a.rank))
            A = (rng.standard_normal((a.rank, n_in)) / np.sqrt(n_in)).astype(np.float32)
            B = (rng.standard_normal((n_out, a.rank)) * sigma_b).astype(np.float32)
            w.add_tensor(name + ".lora_a", A)   # GGUF ne = [n_in, rank]
            w.add_tensor(name + ".lora_b", B)   # GGUF ne = [rank, n_out]
    return w, arch, layers, scale


def main(argv=None):
    a = parse_args(argv)
    w, arch, layers, scale = build(a)
    w.write(a.out)
    n_params = sum(int(np.prod(d)) for _, d, _, _ in w.tensors)
    print(f"wrote {a.out}: arch={arch} rank={a.rank} alpha={a.alpha:g} scale={scale:g} "
          f"layers={','.join(map(str, layers))} targets={','.join(a.targets)} strength={a.strength:g} "
          f"seed={a.seed} tensors={len(w.tensors)} params={n_params}")


if __name__ == "__main__":
    main()
