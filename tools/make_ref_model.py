#!/usr/bin/env python3
"""Write a random-weight GGUF model of llama.cpp's `llama`, `qwen2` or `qwen3`
architecture, laid out exactly as llama.cpp loads it.

  python3 tools/make_ref_model.py --arch qwen3 --out m.gguf --n-embd 64 \
      --n-head 4 --n-head-kv 2 --head-dim 32 --dtype f32

What each architecture adds (llama.cpp: src/models/{llama,qwen2,qwen3}.cpp,
rope type from llama_model_rope_type):
  llama : RoPE "normal" (adjacent pairs x[2i], x[2i+1]); head_dim may differ from
          n_embd/n_head (then {arch}.attention.key_length/value_length are written).
  qwen2 : RoPE NEOX (pairs x[i], x[i + head_dim/2]); biases blk.N.attn_{q,k,v}.bias
          added after the projections; head_dim = n_embd/n_head (llama.cpp sizes
          attn_output as n_embd x n_embd for qwen2).
  qwen3 : RoPE NEOX; blk.N.attn_q_norm.weight / attn_k_norm.weight (head_dim,):
          RMSNorm of each head of Q and K (eps = layer_norm_rms_epsilon) before
          RoPE; no biases; head_dim from {arch}.attention.key_length (= value_length),
          free to differ from n_embd/n_head.
Common: token_embd (n_vocab, n_embd); blk.N.{attn_norm, attn_q, attn_k, attn_v,
attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}; output_norm; output (absent
with --tied: the head reuses token_embd).  Numpy shapes are (n_out, n_in), GGUF
dims the reverse; norms and biases are always F32, every 2-D weight has --dtype.

Tokenizer metadata comes from the shared make_model.py builders (gpt2 byte-level
BPE or llama SPM with byte fallback); token ids are fed to the models directly.
"""

import argparse
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
from gguf_io import DTYPES, FILE_TYPES, Writer, g, make_model  # noqa: E402

ARCHS = ("llama", "qwen2", "qwen3")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=ARCHS, default="llama")
    p.add_argument("--out", required=True)
    p.add_argument("--n-embd", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-head-kv", type=int, default=2)
    p.add_argument("--head-dim", type=int, default=0, help="default n_embd/n_head (llama, qwen3 only)")
    p.add_argument("--n-ff", type=int, default=128)
    p.add_argument("--ctx", type=int, default=512, help="{arch}.context_length")
    p.add_argument("--rope-base", type=float, default=10000.0)
    p.add_argument("--eps", type=float, default=1e-5, help="RMSNorm epsilon")
    p.add_argument("--tokenizer", choices=["gpt2", "llama"], default="gpt2")
    p.add_argument("--pad-vocab-to", type=int, default=0, help="append unused tokens up to this vocab size")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32", help="type of the 2-D weights")
    p.add_argument("--tied", action="store_true", help="no output.weight: the head reuses token_embd")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--qk-gain", type=float, default=1.0,
                   help="scale of Q/K weights; >1 sharpens attention (and makes the network more "
                        "sensitive to rounding)")
    p.add_argument("--bias-scale", type=float, default=0.5, help="std of the qwen2 q/k/v biases")
    p.add_argument("--head-gain", type=float, default=3.0,
                   help="logit std ~ this: scale of output.weight, or of token_embd when tied")
    p.add_argument("--embd-scale", type=float, default=0.0,
                   help="std of token_embd (default 0.5; tied: head-gain/sqrt(n_embd))")
    a = p.parse_args(argv)
    if a.head_dim and a.arch == "qwen2" and a.head_dim * a.n_head != a.n_embd:
        p.error("qwen2: llama.cpp requires head_dim = n_embd/n_head")
    if not a.head_dim:
        if a.n_embd % a.n_head:
            p.error("n_embd must divide by n_head (or give --head-dim)")
        a.head_dim = a.n_embd // a.n_head
    if not a.embd_scale:
        a.embd_scale = a.head_gain / np.sqrt(a.n_embd) if a.tied else 0.5
    if a.n_head % a.n_head_kv:
        p.error("n_head must divide by n_head_kv")
    if a.head_dim % 2:
        p.error("head_dim must be even (RoPE rotates pairs)")
    if a.dtype == "q8_0":
        for what, n in (("n_embd", a.n_embd), ("n_head*head_dim", a.n_head * a.head_dim), ("n_ff", a.n_ff)):
            if n % g.QK8_0:
                p.error(f"q8_0: {what}={n} must be a multiple of {g.QK8_0} (block size along the input dim)")
    return a


def build(a):
    builder = make_model.tokenizer_gpt2 if a.tokenizer == "gpt2" else make_model.tokenizer_llama
    tokens, tok_kv = builder(a.pad_vocab_to)
    n_vocab = len(tokens)
    arch, hd, wtype = a.arch, a.head_dim, DTYPES[a.dtype]
    rng = np.random.default_rng(a.seed)

    def lin(n_out, n_in, gain=1.0):
        # rows of unit-variance inputs give outputs of std ~ gain
        return (rng.standard_normal((n_out, n_in)) * (gain / np.sqrt(n_in))).astype(np.float32)

    def norm_weight(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    def bias(n):
        return (a.bias_scale * rng.standard_normal(n)).astype(np.float32)

    w = Writer()
    tag = f"{a.n_embd}x{a.n_layer}-{a.n_head}q{a.n_head_kv}kv-hd{hd}-{a.dtype}{'-tied' if a.tied else ''}"
    w.add("general.architecture", g.string(arch))
    w.add("general.name", g.string(f"random-{arch}-{tag}"))
    w.add("general.file_type", g.u32(FILE_TYPES[a.dtype]))
    if a.dtype == "q8_0":
        w.add("general.quantization_version", g.u32(2))
    w.add(f"{arch}.vocab_size", g.u32(n_vocab))
    w.add(f"{arch}.context_length", g.u32(a.ctx))
    w.add(f"{arch}.embedding_length", g.u32(a.n_embd))
    w.add(f"{arch}.block_count", g.u32(a.n_layer))
    w.add(f"{arch}.feed_forward_length", g.u32(a.n_ff))
    w.add(f"{arch}.attention.head_count", g.u32(a.n_head))
    w.add(f"{arch}.attention.head_count_kv", g.u32(a.n_head_kv))
    if hd * a.n_head != a.n_embd or arch == "qwen3":
        # llama.cpp's default is n_embd/n_head; qwen3 converters always write both
        w.add(f"{arch}.attention.key_length", g.u32(hd))
        w.add(f"{arch}.attention.value_length", g.u32(hd))
    w.add(f"{arch}.rope.dimension_count", g.u32(hd))
    w.add(f"{arch}.rope.freq_base", g.f32(a.rope_base))
    w.add(f"{arch}.attention.layer_norm_rms_epsilon", g.f32(a.eps))
    for k, v in tok_kv:
        w.add(k, v)

    q_dim, kv_dim = a.n_head * hd, a.n_head_kv * hd
    w.add_tensor("token_embd.weight", (a.embd_scale * rng.standard_normal((n_vocab, a.n_embd))).astype(np.float32), wtype)
    w.add_tensor("output_norm.weight", norm_weight(a.n_embd))
    if not a.tied:
        w.add_tensor("output.weight", lin(n_vocab, a.n_embd, a.head_gain), wtype)
    for i in range(a.n_layer):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", norm_weight(a.n_embd))
        w.add_tensor(b + "attn_q.weight", lin(q_dim, a.n_embd, a.qk_gain), wtype)
        w.add_tensor(b + "attn_k.weight", lin(kv_dim, a.n_embd, a.qk_gain), wtype)
        w.add_tensor(b + "attn_v.weight", lin(kv_dim, a.n_embd), wtype)
        if arch == "qwen2":
            w.add_tensor(b + "attn_q.bias", bias(q_dim))
            w.add_tensor(b + "attn_k.bias", bias(kv_dim))
            w.add_tensor(b + "attn_v.bias", bias(kv_dim))
        if arch == "qwen3":
            w.add_tensor(b + "attn_q_norm.weight", norm_weight(hd))
            w.add_tensor(b + "attn_k_norm.weight", norm_weight(hd))
        w.add_tensor(b + "attn_output.weight", lin(a.n_embd, q_dim), wtype)
        w.add_tensor(b + "ffn_norm.weight", norm_weight(a.n_embd))
        w.add_tensor(b + "ffn_gate.weight", lin(a.n_ff, a.n_embd), wtype)
        w.add_tensor(b + "ffn_up.weight", lin(a.n_ff, a.n_embd), wtype)
        w.add_tensor(b + "ffn_down.weight", lin(a.n_embd, a.n_ff), wtype)
    return w, n_vocab


def main(argv=None):
    a = parse_args(argv)
    w, n_vocab = build(a)
    w.write(a.out)
    n_params = sum(int(np.prod(d)) for _, d, _, _ in w.tensors)
    print(f"wrote {a.out}: arch={a.arch} n_vocab={n_vocab} n_embd={a.n_embd} n_layer={a.n_layer} "
          f"n_head={a.n_head} n_head_kv={a.n_head_kv} head_dim={a.head_dim} n_ff={a.n_ff} "
          f"dtype={a.dtype} tied={int(a.tied)} tokenizer={a.tokenizer} params={n_params / 1e6:.3f}M")


if __name__ == "__main__":
    main()
