#!/usr/bin/env python3
"""Independent numpy forward pass (float64) of GGUF `llama`, `qwen2` and `qwen3`
models, to check llama.cpp's next-token distributions (and so the fixtures).

  python3 tools/ref/forward.py M.gguf --tokens-u32 T.u32 --logp L.logp.f32.zst [--emulate-ggml]
  python3 tools/ref/forward.py M.gguf --tokens-u32 T.u32 --llamacpp PREFIX  (llamacpp_logits.mjs output)

Written from the conventions llama.cpp documents in its model graphs, not from
the shared ref_forward.py (which handles `llama` only), so for llama models the
two are separate checks.  Per block, with W of numpy shape (n_out, n_in):

  h = rmsnorm(x) * attn_norm                   rmsnorm(x) = x / sqrt(mean(x^2) + eps)
  q, k, v = Wq h (+ bq), Wk h (+ bk), Wv h (+ bv)   biases: qwen2
  per head: q, k = rmsnorm(q) * q_norm, rmsnorm(k) * k_norm   qwen3, before RoPE
  RoPE(q, k) at positions 0.. ; angle_i = pos * base^(-2i/head_dim)
     llama: pairs (x[2i], x[2i+1]);  qwen2/qwen3: NEOX pairs (x[i], x[i + head_dim/2])
  query head h reads kv head h // (n_head / n_head_kv); softmax(q.k / sqrt(head_dim), causal) v
  x += Wo heads;  x += Wdown(silu(Wgate h2) * Wup h2) with h2 = rmsnorm(x) * ffn_norm
  logits = (output or token_embd) (rmsnorm(x) * output_norm)

--emulate-ggml rounds where llama.cpp's CPU backend rounds: the input of a matmul
is rounded to the weight's dot-product type (F32 -> float32, F16 -> fp16, BF16 ->
bf16, Q8_0 -> Q8_0 blocks of 32 with an fp16 scale), and the RoPE angles are
float32 running products (theta *= base^(-2/head_dim)).  KV cache assumed F32.

--lora A.gguf (Model.add_lora) applies a LoRA adapter in llama.cpp's GGUF convention
(llama_adapter_lora_init / build_lora_mm): for every blk.N.<w>.weight.lora_a (numpy
(rank, n_in)) and .lora_b ((n_out, rank)), y = W x + s B (A x) with s = user scale *
alpha / rank (alpha = adapter.lora.alpha; alpha 0: s = user scale).  The adapter path
reads the matmul input unrounded (its A and B are F32), so with --emulate-ggml only
the base product sees the weight type's rounding.
"""

import argparse
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_io import GGML_BF16, TYPE_NAMES, Reader, g, round_bf16  # noqa: E402

WRONG = ("rope-pairing", "gqa-modulo", "no-qk-norm", "no-bias")


def round_q8_0(x):
    """Activations -> Q8_0 -> float, as ggml's quantize_row_q8_0: per block of 32,
    id = 127/amax in float32, q = round-half-even(x*id), scale amax/127 stored as fp16."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, g.QK8_0)
    amax = np.abs(b).max(axis=1)
    with np.errstate(divide="ignore"):
        inv = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.rint(b * inv[:, None])
    d = (amax / np.float32(127)).astype(np.float32).astype(np.float16).astype(np.float64)
    return (q * d[:, None]).reshape(np.shape(x))


ROUND_INPUT = {
    g.GGML_F32: lambda h: h.astype(np.float32).astype(np.float64),
    g.GGML_F16: lambda h: h.astype(np.float16).astype(np.float64),
    GGML_BF16: lambda h: round_bf16(h).astype(np.float64),
    g.GGML_Q8_0: round_q8_0,
}


class Model:
    def __init__(self, path):
        r = Reader(path)
        m = r.meta
        self.arch = arch = m["general.architecture"]
        if arch not in ("llama", "qwen2", "qwen3"):
            sys.exit(f"{path}: architecture {arch!r} not handled")
        key = lambda k, default=None: m.get(f"{arch}.{k}", default)  # noqa: E731
        self.n_embd = key("embedding_length")
        self.n_layer = key("block_count")
        self.n_head = key("attention.head_count")
        self.n_head_kv = key("attention.head_count_kv", self.n_head)
        self.head_dim = key("attention.key_length", self.n_embd // self.n_head)
        if key("attention.value_length", self.head_dim) != self.head_dim:
            sys.exit("key_length != value_length not handled")
        if key("rope.dimension_count", self.head_dim) != self.head_dim:
            sys.exit("partial RoPE not handled")
        self.eps = key("attention.layer_norm_rms_epsilon")
        self.base = key("rope.freq_base", 10000.0)
        self.neox = arch in ("qwen2", "qwen3")
        self.W = {n: r.tensor(n).astype(np.float64) for n in r.tensor_order}
        self.T = {n: r.tensor_type(n) for n in r.tensor_order}
        self.head = "output.weight" if "output.weight" in self.W else "token_embd.weight"
        self.n_vocab = self.W["token_embd.weight"].shape[0]
        self.lora = {}  # weight name -> [(A, B, scale)], see add_lora

    def add_lora(self, path, user_scale=1.0):
        """Apply a LoRA adapter GGUF (llama.cpp's convention, see the module doc)."""
        r = Reader(path)
        m = r.meta
        if m.get("general.type") != "adapter" or m.get("adapter.type") != "lora":
            sys.exit(f"{path}: not a LoRA adapter (general.type {m.get('general.type')!r}, "
                     f"adapter.type {m.get('adapter.type')!r})")
        if m.get("general.architecture") != self.arch:
            sys.exit(f"{path}: adapter arch {m.get('general.architecture')!r} != model arch {self.arch!r}")
        alpha = float(m.get("adapter.lora.alpha", 0.0))
        names = {n[:-len(".lora_a")] for n in r.tensor_order if n.endswith(".lora_a")}
        names |= {n[:-len(".lora_b")] for n in r.tensor_order if n.endswith(".lora_b")}
        for n in r.tensor_order:
            if not n.endswith((".lora_a", ".lora_b")):
                sys.exit(f"{path}: tensor {n} not handled")
        for name in sorted(names):
            if name not in self.W or name == "token_embd.weight":  # embedding LoRA: a lookup, not a matmul
                sys.exit(f"{path}: LoRA for {name} not handled")
            if name + ".lora_a" not in r.tensor_info or name + ".lora_b" not in r.tensor_info:
                sys.exit(f"{path}: {name}: lora_a or lora_b missing")
            a, b = r.tensor(name + ".lora_a").astype(np.float64), r.tensor(name + ".lora_b").astype(np.float64)
            n_out, n_in = self.W[name].shape
            if a.ndim != 2 or b.ndim != 2 or a.shape[1] != n_in or b.shape[0] != n_out or a.shape[0] != b.shape[1]:
                sys.exit(f"{path}: {name}: lora_a {a.shape} / lora_b {b.shape} do not fit ({n_out}, {n_in})")
            rank = b.shape[1]
            scale = user_scale * alpha / rank if alpha else user_scale
            self.lora.setdefault(name, []).append((a, b, scale))
        return alpha, len(names)

    def describe(self):
        types = sorted({TYPE_NAMES[t] for t in self.T.values()})
        return (f"arch={self.arch} n_vocab={self.n_vocab} n_embd={self.n_embd} n_layer={self.n_layer} "
                f"n_head={self.n_head} n_head_kv={self.n_head_kv} head_dim={self.head_dim} "
                f"eps={self.eps:g} base={self.base:g} head={self.head} types={','.join(types)}")

    def angles(self, n, emulate):
        hd = self.head_dim
        if not emulate:
            return np.arange(n)[:, None] * self.base ** (-np.arange(0, hd, 2) / hd)
        step = np.float32(np.float32(self.base) ** np.float32(-2.0 / hd))
        theta = np.empty((n, hd // 2), dtype=np.float32)
        cur = np.arange(n, dtype=np.float32)
        for i in range(hd // 2):
            theta[:, i] = cur
            cur = cur * step
        return theta.astype(np.float64)

    def forward(self, tokens, emulate=False, noise=0.0, seed=0, wrong=None):
        """Logits (n_tokens, n_vocab), float64.  noise > 0 multiplies every matmul
        input by (1 + noise * N(0,1)): how much the result moves measures how far
        float32-level differences can carry in this model."""
        W, T = self.W, self.T
        rng = np.random.default_rng(seed)
        n, nh, nkv, hd = len(tokens), self.n_head, self.n_head_kv, self.head_dim

        def matmul(name, h):
            if noise:
                h = h * (1.0 + noise * rng.standard_normal(h.shape))
            y = (ROUND_INPUT[T[name]](h) if emulate else h) @ W[name].T
            for a, b, s in self.lora.get(name, ()):
                if emulate:  # F32 all the way: ggml_mul_mat(A, x), ggml_mul_mat(B, .), ggml_scale
                    ax = (h.astype(np.float32).astype(np.float64) @ a.T).astype(np.float32).astype(np.float64)
                    y = y + (np.float32(s) * (ax @ b.T).astype(np.float32)).astype(np.float64)
                else:
                    y = y + s * ((h @ a.T) @ b.T)
            return y

        def rmsnorm(x, w):
            return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

        theta = self.angles(n, emulate)
        cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
        neox = self.neox != (wrong == "rope-pairing")

        def rope(x):  # (n, heads, hd)
            if neox:
                a, b = x[..., :hd // 2], x[..., hd // 2:]
                return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)
            a, b = x[..., 0::2], x[..., 1::2]
            out = np.empty_like(x)
            out[..., 0::2] = a * cos - b * sin
            out[..., 1::2] = a * sin + b * cos
            return out

        def project(blk, what, h, heads):
            y = matmul(f"{blk}attn_{what}.weight", h)
            bias = f"{blk}attn_{what}.bias"
            if bias in W and wrong != "no-bias":
                y = y + W[bias]
            y = y.reshape(n, heads, hd)
            norm = f"{blk}attn_{what}_norm.weight"
            if norm in W and wrong != "no-qk-norm":
                y = rmsnorm(y, W[norm])
            return y

        causal = np.triu(np.full((n, n), -np.inf), 1)
        x = W["token_embd.weight"][np.asarray(tokens)]
        for layer in range(self.n_layer):
            blk = f"blk.{layer}."
            h = rmsnorm(x, W[blk + "attn_norm.weight"])
            q = rope(project(blk, "q", h, nh))
            k = rope(project(blk, "k", h, nkv))
            v = project(blk, "v", h, nkv)
            out = np.empty((n, nh, hd))
            for head in range(nh):
                kvh = head % nkv if wrong == "gqa-modulo" else head // (nh // nkv)
                s = q[:, head] @ k[:, kvh].T / np.sqrt(hd) + causal
                p = np.exp(s - s.max(axis=1, keepdims=True))
                out[:, head] = (p / p.sum(axis=1, keepdims=True)) @ v[:, kvh]
            x = x + matmul(blk + "attn_output.weight", out.reshape(n, nh * hd))
            h = rmsnorm(x, W[blk + "ffn_norm.weight"])
            gate = matmul(blk + "ffn_gate.weight", h)
            x = x + matmul(blk + "ffn_down.weight", gate / (1.0 + np.exp(-gate)) * matmul(blk + "ffn_up.weight", h))
        return matmul(self.head, rmsnorm(x, W["output_norm.weight"]))


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def read_f32(path):
    """Raw little-endian float32, zstd-compressed if the name ends in .zst."""
    if path.endswith(".zst"):
        raw = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
        return np.frombuffer(raw, dtype="<f4")
    return np.fromfile(path, dtype="<f4")


def llamacpp_logp(probs):
    """log p from llama.cpp's float32 probabilities, in float64 after renormalising
    (their float32 sum is 1 only to ~1e-7)."""
    p = probs.astype(np.float64)
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        sys.exit("llama.cpp returned a zero or non-finite probability: log p undefined")
    return np.log(p / p.sum(axis=1, keepdims=True))


def compare(lp_ref, lp_cpp):
    d = np.abs(lp_ref - lp_cpp)
    return {"max": d.max(), "mean": d.mean(),
            "argmax": (lp_ref.argmax(axis=1) == lp_cpp.argmax(axis=1)).mean()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--tokens-u32", required=True, help="little-endian uint32 token ids")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--logp", help="fixture log p: float32 n_tokens x n_vocab (.zst or raw)")
    src.add_argument("--llamacpp", metavar="PREFIX", help="llamacpp_logits.mjs output PREFIX.f32")
    p.add_argument("--emulate-ggml", action="store_true")
    p.add_argument("--noise-floor", action="store_true",
                   help="rerun with 1e-7 relative noise on every matmul input; report how far log p moves")
    p.add_argument("--wrong", choices=WRONG, help="negative control: compute with one convention broken")
    p.add_argument("--lora", action="append", default=[], metavar="ADAPTER.gguf",
                   help="apply a LoRA adapter (llama.cpp GGUF convention; repeatable)")
    p.add_argument("--lora-scale", type=float, default=1.0, help="user scale of every --lora (default 1)")
    a = p.parse_args(argv)

    m = Model(a.model)
    for path in a.lora:
        m.add_lora(path, a.lora_scale)
    tokens = np.fromfile(a.tokens_u32, dtype="<u4").astype(np.int64)
    if tokens.size == 0 or tokens.max() >= m.n_vocab:
        sys.exit(f"{a.tokens_u32}: empty or token id >= n_vocab {m.n_vocab}")
    logits = m.forward(tokens, emulate=a.emulate_ggml, wrong=a.wrong)
    lp = log_softmax(logits)
    entropy = -(np.exp(lp) * lp).sum(axis=1).mean()
    print(f"model: {m.describe()}" + (f" lora={len(m.lora)} weights" if m.lora else ""))
    res = {"logits_std": logits.std(axis=1).mean(), "entropy": entropy}
    if a.noise_floor:
        lp_n = log_softmax(m.forward(tokens, emulate=a.emulate_ggml, noise=1e-7, seed=1, wrong=a.wrong))
        res["noise_floor"] = np.abs(lp_n - lp).max()
    if a.logp or a.llamacpp:
        shape = (tokens.size, m.n_vocab)
        if a.logp:
            lp_cpp = read_f32(a.logp).astype(np.float64)
        else:
            lp_cpp = llamacpp_logp(read_f32(a.llamacpp + ".f32").reshape(shape))
        if lp_cpp.size != tokens.size * m.n_vocab:
            sys.exit(f"log p has {lp_cpp.size} values, want {tokens.size} x {m.n_vocab}")
        res.update(compare(lp, lp_cpp.reshape(shape)))
    print("RESULT " + " ".join(f"{k}={v:.3e}" if k != "argmax" else f"{k}={v:.4f}" for k, v in res.items()))


if __name__ == "__main__":
    main()
