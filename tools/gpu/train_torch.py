#!/usr/bin/env python3
"""Train lmz's `llama` model with PyTorch (CUDA or CPU) and export the GGUF that lmz
loads.  The GPU counterpart of the C trainer (`lmz --train-model`, doc/training.md):
same architecture, same conventions, same option names, so that a model from either
is the same kind of file.  tools/gpu/README.md says how it is run.

  train_torch.py --pack gpu-pack --out DIR [--device cuda] [--deadline EPOCH] [options]
  train_torch.py --tokens T.u32 --tokenizer TOK.gguf --out DIR --device cpu --tiny --steps 30

What it computes (doc/training.md, src/model/forward.c):
  h = RMSNorm(x) * w                      x / sqrt(mean(x^2) + eps), eps 1e-5, weight after
  q, k, v = Wq h, Wk h, Wv h; RoPE(q, k)  adjacent pairs (2i, 2i+1), angles of src/model/rope.c
  causal attention, scale 1/sqrt(head_dim), head_dim = dim / heads, GQA: head h reads kv
  head h / (heads / kv-heads);  x += Wo a;  x += Wdown(silu(Wgate h2) * Wup h2)
  logits = Woutput RMSNorm(x) * output_norm  (Woutput = token_embd when tied, the default)
Training: init N(0, 0.02), attn_output and ffn_down x 1/sqrt(2 layers), norms 1; AdamW
beta 0.9/0.95, eps 1e-8, decoupled weight decay on matrices and embeddings only; lr
linear warmup then cosine to lr-min (lr/10) at --steps; gradient clipping to norm 1;
windows of ctx+1 tokens at uniformly random offsets.  On CUDA the products run in bf16
(autocast) with fp32 master weights, like the C trainer's bf16 products.

With a deadline (the GPU run), --steps 0 picks the number of steps that fits: it times
the first steps and an early export, then fixes the cosine's end; training stops at
the deadline whatever happens, and the model is exported.

Works with torch 1.13 (CPU tests here) and 2.x: F.scaled_dot_product_attention and
torch.compile are used when present (compile only on CUDA, and dropped if it fails).
"""

import argparse
import contextlib
import hashlib
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pack as tokpack  # noqa: E402

T0 = time.time()
# The proposed GPU model (tools/gpu/README.md, "Model size") and the CPU test model.
GPU_SHAPE = dict(dim=512, layers=8, heads=8, kv_heads=4, ff=1536, ctx=1024)
TINY_SHAPE = dict(dim=64, layers=2, heads=4, kv_heads=2, ff=160, ctx=64)
FILE_TYPES = {"f32": 0, "bf16": 32, "q8_0": 7}   # general.file_type (llama_ftype)


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


# ---------------------------------------------------------------- model

class Config:
    def __init__(self, n_vocab, dim, layers, heads, kv_heads, ff, ctx, tied=True,
                 rope_base=10000.0, norm_eps=1e-5):
        self.n_vocab, self.dim, self.layers, self.heads = n_vocab, dim, layers, heads
        self.kv_heads, self.ff, self.ctx, self.tied = kv_heads, ff, ctx, tied
        self.rope_base, self.norm_eps = rope_base, norm_eps
        # the C trainer's tm_config_check, the parts that matter here
        if dim % heads or heads % kv_heads or (dim // heads) % 2:
            sys.exit(f"shape: dim {dim} must divide by heads {heads}, heads by kv-heads {kv_heads}, "
                     "and dim/heads must be even")
        self.head_dim = dim // heads

    def as_dict(self):
        return {k: v for k, v in vars(self).items()}

    def n_params(self):
        E, F_, kv = self.dim, self.ff, self.kv_heads * self.head_dim
        layer = 2 * E + E * E + 2 * E * kv + E * E + 3 * E * F_
        return self.n_vocab * E * (1 if self.tied else 2) + E + self.layers * layer

    def flops_per_token(self, seq_len):
        """The C trainer's trainer_flops_per_token: 6 x (matrix MACs + causal attention)."""
        E, F_, qd, kvd = self.dim, self.ff, self.dim, self.kv_heads * self.head_dim
        linear = self.layers * (E * (qd + 2 * kvd) + qd * E + 3 * E * F_) + E * self.n_vocab
        attn = self.layers * 2.0 * (seq_len / 2.0) * qd
        return 6.0 * linear + 6.0 * attn


def rope_table(n_pos, head_dim, base):
    """cos, sin (n_pos, head_dim/2) exactly as src/model/rope.c builds them: the angle
    of pair i is a float32 running product pos * s^i with s = float(pow(base, -2/hd)),
    then cos/sin in double rounded to float.  (Exact powers differ by up to ~1e-3 rad at
    position 1000, enough to move log-probs by more than 1e-4.)"""
    step = np.float32(np.float64(np.float32(base)) ** np.float64(np.float32(-2.0) / np.float32(head_dim)))
    theta = np.empty((n_pos, head_dim // 2), dtype=np.float32)
    cur = np.arange(n_pos, dtype=np.float32)
    for i in range(head_dim // 2):
        theta[:, i] = cur
        cur = cur * step
    th = theta.astype(np.float64)
    return torch.from_numpy(np.cos(th).astype(np.float32)), torch.from_numpy(np.sin(th).astype(np.float32))


def rope(x, cos, sin):
    """x (B, T, heads, head_dim): rotate the adjacent pairs (2i, 2i+1), in float32."""
    x32 = x.float()
    a, b = x32[..., 0::2], x32[..., 1::2]
    c, s = cos[None, :x.shape[1], None, :], sin[None, :x.shape[1], None, :]
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2).type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()  # in float32 also under autocast
        return x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


USE_SDPA = False   # set by check_sdpa(): F.scaled_dot_product_attention, where it agrees


def manual_attention(q, k, v):
    """q, k, v (B, H, T, hd) -> (B, H, T, hd): causal softmax(q k^T / sqrt(hd)) v."""
    T = q.shape[-2]
    s = torch.matmul(q, k.transpose(-2, -1)).float() / math.sqrt(q.shape[-1])
    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return torch.matmul(torch.softmax(s, dim=-1).type_as(v), v)


def causal_attention(q, k, v):
    if USE_SDPA:   # torch >= 2.0: flash / memory-efficient kernels, same scale and mask
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return manual_attention(q, k, v)


def check_sdpa(device):
    """Use F.scaled_dot_product_attention only where it exists and agrees with the manual
    attention on this device (float32, random inputs): it cannot be tried on the CPU
    here (torch 1.13), so the GPU run tries it before relying on it."""
    global USE_SDPA
    if not hasattr(F, "scaled_dot_product_attention"):
        return "absent"
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 70, 32, generator=g).to(device) for _ in range(3))
    try:
        diff = (F.scaled_dot_product_attention(q, k, v, is_causal=True) - manual_attention(q, k, v)).abs().max().item()
    except Exception as e:  # noqa: BLE001  (any failure: keep the manual attention)
        return f"failed ({type(e).__name__}: {e}); manual attention"
    USE_SDPA = diff < 1e-4
    return f"max diff to manual {diff:.1e}: {'used' if USE_SDPA else 'NOT used'}"


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        kv = c.kv_heads * c.head_dim
        self.attn_norm = RMSNorm(c.dim, c.norm_eps)
        self.attn_q = nn.Linear(c.dim, c.dim, bias=False)
        self.attn_k = nn.Linear(c.dim, kv, bias=False)
        self.attn_v = nn.Linear(c.dim, kv, bias=False)
        self.attn_output = nn.Linear(c.dim, c.dim, bias=False)
        self.ffn_norm = RMSNorm(c.dim, c.norm_eps)
        self.ffn_gate = nn.Linear(c.dim, c.ff, bias=False)
        self.ffn_up = nn.Linear(c.dim, c.ff, bias=False)
        self.ffn_down = nn.Linear(c.ff, c.dim, bias=False)

    def forward(self, x, cos, sin):
        c = self.c
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = rope(self.attn_q(h).view(B, T, c.heads, c.head_dim), cos, sin)
        k = rope(self.attn_k(h).view(B, T, c.kv_heads, c.head_dim), cos, sin)
        v = self.attn_v(h).view(B, T, c.kv_heads, c.head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if c.kv_heads != c.heads:  # [k0, k0, k1, k1, ...]: head h reads kv head h // group
            k = k.repeat_interleave(c.heads // c.kv_heads, dim=1)
            v = v.repeat_interleave(c.heads // c.kv_heads, dim=1)
        a = causal_attention(q, k, v).transpose(1, 2).reshape(B, T, c.dim)
        x = x + self.attn_output(a)
        h = self.ffn_norm(x)
        return x + self.ffn_down(F.silu(self.ffn_gate(h)) * self.ffn_up(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.token_embd = nn.Embedding(c.n_vocab, c.dim)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.output_norm = RMSNorm(c.dim, c.norm_eps)
        self.output = None if c.tied else nn.Linear(c.dim, c.n_vocab, bias=False)
        cos, sin = rope_table(c.ctx, c.head_dim, c.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, idx):
        x = self.token_embd(idx)
        for b in self.blocks:
            x = b(x, self.rope_cos, self.rope_sin)
        h = self.output_norm(x)
        w = self.token_embd.weight if self.output is None else self.output.weight
        return F.linear(h, w)

    def gguf_tensors(self):
        """(GGUF name, parameter) in the C exporter's order (src/train/train_model.c)."""
        out = [("token_embd.weight", self.token_embd.weight), ("output_norm.weight", self.output_norm.weight)]
        if self.output is not None:
            out.append(("output.weight", self.output.weight))
        names = ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate",
                 "ffn_up", "ffn_down")
        for i, b in enumerate(self.blocks):
            out += [(f"blk.{i}.{n}.weight", getattr(b, n).weight) for n in names]
        return out


def init_params(model, seed):
    """tm_init_params' distribution (not its random numbers): matrices N(0, 0.02), the
    residual projections scaled by 1/sqrt(2 layers), norms 1."""
    g = torch.Generator().manual_seed(seed)
    resid = 1.0 / math.sqrt(2.0 * model.c.layers)
    with torch.no_grad():
        for name, p in model.gguf_tensors():
            if p.dim() == 1:
                p.fill_(1.0)
                continue
            std = 0.02 * (resid if ("attn_output" in name or "ffn_down" in name) else 1.0)
            p.copy_(torch.randn(p.shape, generator=g) * std)


# ---------------------------------------------------------------- data

class PackData:
    """The token pack (pack.py): one uint16 stream per group; a training window comes
    from group g with the manifest's weight (or --weights), uniformly inside it."""

    def __init__(self, pack, weights=None):
        self.pack, self.m = pack, tokpack.load_manifest(pack)
        self.train, self.heldout, w = {}, {}, {}
        for name in sorted(self.m["groups"]):
            self.train[name] = tokpack.load_tokens(pack, self.m, name, "train")
            self.heldout[name] = tokpack.load_tokens(pack, self.m, name, "heldout")
            w[name] = self.m["groups"][name]["weight"] if weights is None else weights.get(name, 0.0)
        names = [n for n in self.train if w[n] > 0 and self.train[n].size > 0]
        self.names, total = names, sum(w[n] for n in names)
        self.weights = np.array([w[n] / total for n in names])
        self.n_vocab, self.tokenizer = self.m["n_vocab"], os.path.join(pack, self.m["tokenizer"])

    def describe(self):
        n = sum(a.size for a in self.train.values())
        parts = ", ".join(f"{k} {self.train[k].size / 1e6:.1f}M (p={w:.3f})" for k, w in zip(self.names, self.weights))
        return f"pack {self.pack}: {n / 1e6:.1f}M training tokens: {parts}"

    def n_train_tokens(self):
        return sum(self.train[n].size for n in self.names)

    def batch(self, n, T, rng):
        """(n, T+1) int64 windows."""
        groups = rng.choice(len(self.names), size=n, p=self.weights)
        out = np.empty((n, T + 1), dtype=np.int64)
        for gi in range(len(self.names)):
            rows = np.flatnonzero(groups == gi)
            if rows.size:
                data = self.train[self.names[gi]]
                off = rng.integers(0, data.size - T - 1, size=rows.size)
                out[rows] = data[off[:, None] + np.arange(T + 1)]
        return out

    def eval_sets(self, T, max_windows):
        """{group: (k, T+1) consecutive held-out windows}, and text bytes per token."""
        sets, bpt = {}, {}
        for name, ids in self.heldout.items():
            k = min(max_windows, ids.size // (T + 1))
            if k:
                sets[name] = ids[:k * (T + 1)].reshape(k, T + 1).astype(np.int64)
                h = self.m["groups"][name]["heldout"]
                bpt[name] = h["text_bytes"] / max(1, h["tokens"] - h["documents"])
        return sets, bpt


class StreamData:
    """A .u32 token stream, as the C trainer reads it (src/train/data.c): the last
    --heldout fraction is held out."""

    def __init__(self, path, tokenizer, heldout_frac, T):
        ids = np.fromfile(path, dtype="<u4").astype(np.int64)
        held = max(int(ids.size * heldout_frac), T + 1)
        if ids.size < held + T + 1:
            sys.exit(f"{path}: {ids.size} tokens are too few for windows of {T + 1} plus {held} held out")
        self.train_ids, self.held_ids = ids[:-held], ids[-held:]
        self.tokenizer, self.n_vocab = tokenizer, None
        self.names, self.weights = ["stream"], np.array([1.0])

    def describe(self):
        return f"stream: {self.train_ids.size} training tokens, {self.held_ids.size} held out"

    def n_train_tokens(self):
        return self.train_ids.size

    def batch(self, n, T, rng):
        off = rng.integers(0, self.train_ids.size - T - 1, size=n)
        return self.train_ids[off[:, None] + np.arange(T + 1)]

    def eval_sets(self, T, max_windows):
        k = min(max_windows, self.held_ids.size // (T + 1))
        return {"heldout": self.held_ids[:k * (T + 1)].reshape(k, T + 1)}, {}


# ---------------------------------------------------------------- export

def gguf_module():
    """tools/ref/gguf_io.py (which imports the shared gguf_min.py: ../shared here, the
    pack's copy on the GPU machine)."""
    sys.path.insert(0, os.path.join(HERE, "..", "ref"))
    import gguf_io  # noqa: E402
    return gguf_io


def export_gguf(model, tokenizer, path, dtype="f32", name="lmz-torch"):
    """The GGUF of src/train/export.c: same keys, tokenizer.* copied from the tokenizer
    GGUF, same tensor order; norms stay F32.  Written to PATH.tmp, then renamed."""
    gio = gguf_module()
    g, c = gio.g, model.c
    tok = gio.Reader(tokenizer)
    n_tok = len(tok.meta["tokenizer.ggml.tokens"])
    if n_tok != c.n_vocab:
        sys.exit(f"export: the tokenizer has {n_tok} tokens but the model's vocabulary is {c.n_vocab}")
    w = gio.Writer()
    w.add("general.architecture", g.string("llama"))
    w.add("general.name", g.string(name))
    w.add("general.file_type", g.u32(FILE_TYPES[dtype]))
    for key, val in (("context_length", c.ctx), ("embedding_length", c.dim), ("block_count", c.layers),
                     ("feed_forward_length", c.ff), ("attention.head_count", c.heads),
                     ("attention.head_count_kv", c.kv_heads), ("rope.dimension_count", c.head_dim),
                     ("vocab_size", c.n_vocab)):
        w.add(f"llama.{key}", g.u32(val))
    w.add("llama.rope.freq_base", g.f32(c.rope_base))
    w.add("llama.attention.layer_norm_rms_epsilon", g.f32(c.norm_eps))
    for key in tok.meta:
        if key.startswith("tokenizer."):
            w.add(key, tok.kv(key))
    wtype = gio.DTYPES[dtype]
    for tname, p in model.gguf_tensors():
        a = p.detach().float().cpu().numpy()
        w.add_tensor(tname, a, wtype if a.ndim == 2 else g.GGML_F32)
    w.write(path + ".tmp")
    os.replace(path + ".tmp", path)


def split_file(path, out_dir, part_bytes):
    """path -> out_dir/BASENAME.partNN (the GPU machine returns files of <= 16 MiB)."""
    base, parts = os.path.basename(path), []
    with open(path, "rb") as f:
        while True:
            chunk = f.read(part_bytes)
            if not chunk:
                break
            name = f"{base}.part{len(parts):02d}"
            with open(os.path.join(out_dir, name + ".tmp"), "wb") as o:
                o.write(chunk)
            parts.append(name)
    for name in parts:
        os.replace(os.path.join(out_dir, name + ".tmp"), os.path.join(out_dir, name))
    return parts


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


@torch.no_grad()
def logp_rows(model, tokens, round_bf16=False):
    """float32 log-softmax (n, vocab) of the next token at every position of tokens,
    computed in float32 on the CPU from a copy of the weights (rounded to bf16 first,
    as a bf16 export stores them, if asked)."""
    m = Llama(model.c)
    src = dict(model.gguf_tensors())
    for name, p in m.gguf_tensors():
        w = src[name].detach().float().cpu()
        p.copy_(w.bfloat16().float() if (round_bf16 and w.dim() == 2) else w)
    m.eval()
    idx = torch.as_tensor(np.asarray(tokens, dtype=np.int64))[None]
    return torch.log_softmax(m(idx)[0].double(), dim=-1).float().numpy()


# ---------------------------------------------------------------- training

def lr_at(a, step, total):
    """src/train/optimizer.c tr_lr_at; total 0 (not planned yet): the peak lr."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    if total == 0:
        return a.lr
    span = total - a.warmup if total > a.warmup else 1
    progress = min(1.0, (step - a.warmup) / span)
    return a.lr_min + (a.lr - a.lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_optimizer(model, a, device):
    """AdamW; weight decay on matrices and embeddings, not on norms (optimizer.c)."""
    decay = [p for _, p in model.gguf_tensors() if p.dim() == 2]
    other = [p for _, p in model.gguf_tensors() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": a.weight_decay}, {"params": other, "weight_decay": 0.0}]
    kw = dict(lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    if device.type == "cuda":
        try:
            return torch.optim.AdamW(groups, fused=True, **kw)   # torch >= 2.0
        except (TypeError, RuntimeError):
            pass
    return torch.optim.AdamW(groups, **kw)


class Runner:
    """One training run: model, optimizer, data, the step loop and its bookkeeping."""

    def __init__(self, a, data, cfg, device):
        self.a, self.data, self.c, self.device = a, data, cfg, device
        self.model = Llama(cfg).to(device)
        init_params(self.model, a.seed)
        self.opt = make_optimizer(self.model, a, device)
        self.fwd = self.model                 # replaced by the compiled model when it works
        self.rng = np.random.default_rng(a.seed)
        self.step, self.tokens_seen = 0, 0
        self.total = a.steps
        self.amp = device.type == "cuda" and not a.fp32
        self.eval_sets, self.bytes_per_token = data.eval_sets(cfg.ctx, a.eval_windows)
        self.history = []

    def loss_of(self, xy, model):
        # torch 1.13 asks the CUDA driver about bf16 even for a disabled autocast: no context
        amp = torch.autocast(device_type="cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()
        with amp:
            logits = model(xy[:, :-1])
        return F.cross_entropy(logits.float().reshape(-1, self.c.n_vocab), xy[:, 1:].reshape(-1))

    def to_device(self, arr):
        t = torch.from_numpy(arr)
        if self.device.type == "cuda":
            return t.pin_memory().to(self.device, non_blocking=True)
        return t

    def train_step(self):
        """One optimizer step over --batch sequences in micro-batches; returns the mean loss
        (a device tensor: no sync) and the gradient norm before clipping."""
        a = self.a
        lr = lr_at(a, self.step, self.total)
        for group in self.opt.param_groups:
            group["lr"] = lr
        n_micro = a.batch // a.micro_batch
        total = torch.zeros((), device=self.device)
        for _ in range(n_micro):
            xy = self.to_device(self.data.batch(a.micro_batch, self.c.ctx, self.rng))
            loss = self.loss_of(xy, self.fwd)
            (loss / n_micro).backward()
            total += loss.detach() / n_micro
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), a.clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += a.batch * self.c.ctx
        return total, norm, lr

    @torch.no_grad()
    def evaluate(self):
        """Mean held-out loss per group (nats/token) and, where the text size is known,
        bits per byte."""
        self.model.eval()
        res = {}
        for name, windows in self.eval_sets.items():
            losses = []
            for i in range(0, len(windows), self.a.micro_batch):
                xy = self.to_device(np.ascontiguousarray(windows[i:i + self.a.micro_batch]))
                # the eager model: other shapes and no_grad would make the compiled one recompile
                losses.append(self.loss_of(xy, self.model).item() * len(xy))
            res[name] = sum(losses) / len(windows)
        self.model.train()
        return res

    def try_compile(self):
        """torch.compile on CUDA when present; a failure (at the first step) falls back."""
        if self.a.compile == "off" or not hasattr(torch, "compile") or (
                self.a.compile == "auto" and self.device.type != "cuda"):
            return False
        try:
            self.fwd = torch.compile(self.model)
            return True
        except Exception as e:  # noqa: BLE001  (any failure: keep the eager model)
            log(f"torch.compile unavailable ({type(e).__name__}: {e}); eager")
            self.fwd = self.model
            return False


def describe_eval(res, bpt):
    parts = []
    for name, loss in sorted(res.items()):
        s = f"{name} {loss:.4f}"
        if name in bpt:
            s += f" ({loss / math.log(2) / bpt[name]:.3f} bpb)"
        parts.append(s)
    return "  ".join(parts)


class Checkpointer:
    """Exports the model (and, where asked, the training state) to --out, and keeps
    model.json current.  With --split-mib the GGUF goes out in parts (the GPU machine
    returns files of at most 16 MiB) and the whole file stays in --scratch."""

    def __init__(self, a, runner, tokenizer):
        self.a, self.r, self.tokenizer = a, runner, tokenizer
        self.cost = 0.0            # seconds the last checkpoint took
        os.makedirs(a.out, exist_ok=True)
        self.verify_tokens = None

    def save(self, final, evals):
        t = time.time()
        a, r = self.a, self.r
        gguf_dir = a.scratch if a.split_mib else a.out
        os.makedirs(gguf_dir, exist_ok=True)
        path = os.path.join(gguf_dir, "model.gguf")
        export_gguf(r.model, self.tokenizer, path, a.export_dtype, a.name)
        info = {"step": r.step, "total_steps": r.total, "tokens_seen": r.tokens_seen, "final": final,
                "elapsed_s": round(time.time() - T0, 1), "config": r.c.as_dict(), "args": vars(a),
                "export_dtype": a.export_dtype, "gguf_bytes": os.path.getsize(path),
                "gguf_sha256": sha256_file(path), "heldout_loss": evals, "history": r.history}
        if a.split_mib:
            info["parts"] = split_file(path, a.out, a.split_mib << 20)
        if final and a.verify_tokens:
            info.update(self.verification(a.verify_tokens))
        if a.state:
            torch.save({"model": r.model.state_dict(), "opt": r.opt.state_dict(), "step": r.step,
                        "total": r.total, "tokens_seen": r.tokens_seen, "rng": r.rng.bit_generator.state,
                        "config": r.c.as_dict()}, a.state + ".tmp")
            os.replace(a.state + ".tmp", a.state)
        with open(os.path.join(a.out, "model.json.tmp"), "w") as f:
            json.dump(info, f, indent=1, default=str)
        os.replace(os.path.join(a.out, "model.json.tmp"), os.path.join(a.out, "model.json"))
        self.cost = time.time() - t
        log(f"checkpoint step {r.step}: {path} ({info['gguf_bytes'] / 2**20:.1f} MiB {a.export_dtype}"
            f"{', %d parts' % len(info['parts']) if a.split_mib else ''}) in {self.cost:.1f}s")

    def verification(self, n):
        """log p of the exported weights on the first n held-out tokens, for the check
        against the C inference once the model is back (check_torch_vs_c.sh --verify)."""
        r = self.r
        name = "prose" if "prose" in r.eval_sets else sorted(r.eval_sets)[0]
        tokens = r.eval_sets[name][0][:min(n, r.c.ctx)].tolist()
        lp = logp_rows(r.model, tokens, round_bf16=self.a.export_dtype == "bf16")
        lp.astype("<f4").tofile(os.path.join(self.a.out, "verify.logp.f32"))
        return {"verify_tokens": tokens, "verify_logp": "verify.logp.f32"}


class CompileTimeout(Exception):
    pass


@contextlib.contextmanager
def compile_watchdog(active, a, now):
    """The first compiled step may not take more than --compile-timeout seconds (nor run
    into the deadline's last minute): SIGALRM interrupts it, and the run goes on eager."""
    if not active or not hasattr(signal, "SIGALRM"):
        yield
        return
    limit = a.compile_timeout
    if a.deadline:
        limit = min(limit, max(1, a.deadline - now - 60))

    def fire(signum, frame):
        raise CompileTimeout(f"first compiled step over {limit:.0f} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(int(limit))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def plan_steps(a, r, ck, step_s, now):
    """Steps that fit before the deadline: time left after the final export and eval
    (their measured cost x 2, + 15 s), less the periodic checkpoints' cost, / step time."""
    reserve = 2 * ck.cost + 15
    left = a.deadline - now - reserve
    n_ck = max(0, left / a.checkpoint_every)
    return r.step + max(1, int((left - n_ck * ck.cost) / step_s))


def train(a, data, cfg, device):
    r = Runner(a, data, cfg, device)
    ck = Checkpointer(a, r, data.tokenizer)
    compiled = r.try_compile()
    fpt = cfg.flops_per_token(cfg.ctx)
    log(f"model: {cfg.n_params()} parameters ({cfg.n_params() / 1e6:.2f}M), {fpt / 1e6:.1f} MFLOP/token; "
        f"batch {a.batch} x {cfg.ctx} tokens (micro {a.micro_batch}); {data.describe()}")
    log(f"device {device}, torch {torch.__version__}, bf16 autocast {r.amp}, compile {compiled}, "
        f"scaled_dot_product_attention: {check_sdpa(device)}")
    if r.total == 0 and not a.deadline:
        sys.exit("--steps 0 (auto) needs --deadline")
    t_last_ck, t_mark, step_mark, paused = time.time(), None, 0, 0.0
    run_loss, run_n = torch.zeros((), device=device), 0
    while True:
        now = time.time()
        if a.deadline and now > a.deadline - (2 * ck.cost + 15):
            log(f"deadline: stopping at step {r.step}")
            break
        if r.total and r.step >= r.total:
            break
        try:
            with compile_watchdog(compiled and r.step == 0, a, time.time()):
                loss, norm, lr = r.train_step()
        except Exception as e:  # noqa: BLE001  (out of memory; a compiled model that fails or hangs)
            if r.step == 0 and "out of memory" in str(e).lower() and a.micro_batch > 1:
                a.micro_batch = a.micro_batch // 2     # the same steps in more, smaller pieces
                while a.batch % a.micro_batch:
                    a.micro_batch -= 1
                log(f"out of memory at the first step: micro-batch now {a.micro_batch}")
                r.opt.zero_grad(set_to_none=True)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            if not compiled or r.step > 0:
                raise
            log(f"torch.compile failed at the first step ({type(e).__name__}: {str(e)[:300]}); eager")
            r.fwd, compiled = r.model, False
            r.opt.zero_grad(set_to_none=True)
            continue
        run_loss += loss
        run_n += 1
        if r.step == a.calib_start:             # compilation and warm-up are behind us
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_mark, step_mark = time.time(), r.step
        if r.step == a.calib_end and a.deadline:
            if device.type == "cuda":
                torch.cuda.synchronize()
            step_s = (time.time() - t_mark) / (r.step - step_mark)
            t_pause = time.time()
            ck.save(False, {})                  # an early export: fails fast, and times it
            t_last_ck = time.time()
            paused += t_last_ck - t_pause
            planned = plan_steps(a, r, ck, step_s, time.time())
            r.total = planned if a.steps == 0 else min(a.steps, planned)
            log(f"timing: {step_s:.3f} s/step, {a.batch * cfg.ctx / step_s:.0f} tok/s, "
                f"{a.batch * cfg.ctx / step_s * fpt / 1e12:.1f} TFLOP/s; planned {r.total} steps "
                f"({r.total * a.batch * cfg.ctx / 1e6:.0f}M tokens, "
                f"{r.total * a.batch * cfg.ctx / max(1, data.n_train_tokens()):.2f} epochs)")
        if r.step % a.log_every == 0 or r.step == r.total:
            mean = (run_loss / max(1, run_n)).item()
            run_loss, run_n = torch.zeros((), device=device), 0
            el = time.time() - (t_mark or T0) - paused   # training time: checkpoints left out
            tps = (r.step - step_mark) * a.batch * cfg.ctx / el if t_mark and r.step > step_mark else 0.0
            eta = (r.total - r.step) * el / max(1, r.step - step_mark) if t_mark and r.total else 0
            r.history.append([r.step, round(mean, 4)])
            log(f"step {r.step}/{r.total or '?'}  loss {mean:.4f}  lr {lr:.2e}  grad norm {float(norm):.3f}  "
                f"{tps:.0f} tok/s  {tps * fpt / 1e12:.2f} TFLOP/s  ETA {int(eta) // 60}m{int(eta) % 60:02d}s")
        if a.deadline and r.step > a.calib_end and time.time() - t_last_ck > a.checkpoint_every:
            t_pause = time.time()
            evals = r.evaluate()
            log(f"held-out loss at step {r.step}: {describe_eval(evals, r.bytes_per_token)}")
            ck.save(False, evals)
            t_last_ck = time.time()
            paused += t_last_ck - t_pause      # plan_steps counts checkpoints apart from steps
            if r.total > r.step + 1:            # behind plan (slower steps): end the cosine sooner
                step_s = (t_last_ck - t_mark - paused) / max(1, r.step - step_mark)
                planned = plan_steps(a, r, ck, step_s, t_last_ck)
                if planned < r.total:
                    log(f"re-planned: {r.total} -> {planned} steps")
                    r.total = planned
    evals = r.evaluate()
    log(f"final held-out loss at step {r.step}: {describe_eval(evals, r.bytes_per_token)}")
    ck.save(True, evals)
    if a.logp_tokens:
        tokens = np.fromfile(a.logp_tokens, dtype="<u4")
        if tokens.size > cfg.ctx:
            sys.exit(f"--logp-tokens: {tokens.size} tokens, more than the context {cfg.ctx}")
        bf16 = a.export_dtype == "bf16"   # the weights as the exported GGUF holds them
        logp_rows(r.model, tokens, round_bf16=bf16).astype("<f4").tofile(a.logp_out)
        log(f"wrote {a.logp_out}: log p of {tokens.size} positions x {cfg.n_vocab} (float32 forward on CPU"
            f"{', weights rounded to bf16' if bf16 else ''})")
    log(f"done: {r.step} steps, {r.tokens_seen} tokens in {time.time() - T0:.1f}s")


# ---------------------------------------------------------------- command line

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("data")
    src.add_argument("--pack", help="token pack folder (pack_corpus.sh)")
    src.add_argument("--tokens", help="or: a .u32 token stream (lmz --tokenize), with --tokenizer")
    src.add_argument("--tokenizer", help="tokenizer GGUF (default: the pack's)")
    src.add_argument("--heldout", type=float, default=0.01, help="held-out fraction of --tokens")
    src.add_argument("--weights", help="group sampling weights, e.g. prose=0.4,reference=0.4,code=0.2")
    m = p.add_argument_group("model (C trainer names; defaults: the proposed GPU model, --tiny: a test model)")
    for k in ("dim", "layers", "heads", "kv_heads", "ff", "ctx"):
        m.add_argument("--" + k.replace("_", "-"), type=int)
    m.add_argument("--tiny", action="store_true")
    m.add_argument("--untied", action="store_true")
    m.add_argument("--rope-base", type=float, default=10000.0)
    m.add_argument("--norm-eps", type=float, default=1e-5)
    t = p.add_argument_group("training")
    t.add_argument("--batch", type=int, default=128, help="sequences per optimizer step")
    t.add_argument("--micro-batch", type=int, default=0, help="sequences per forward (default: batch)")
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--lr-min", type=float, help="default lr/10")
    t.add_argument("--warmup", type=int, default=100)
    t.add_argument("--steps", type=int, default=0, help="0: as many as fit before --deadline")
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--clip", type=float, default=1.0)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--deadline", type=float, default=0, help="unix time: stop training and export before it")
    t.add_argument("--calib-start", type=int, default=5, help="step from which the timing counts")
    t.add_argument("--calib-end", type=int, default=25, help="step at which the run is planned")
    t.add_argument("--checkpoint-every", type=float, default=120, help="seconds (with --deadline)")
    t.add_argument("--eval-windows", type=int, default=64, help="held-out windows per group")
    t.add_argument("--log-every", type=int, default=10)
    x = p.add_argument_group("device")
    x.add_argument("--device", default="auto", help="cuda, cpu or auto")
    x.add_argument("--threads", type=int, default=0, help="CPU threads (torch.set_num_threads)")
    x.add_argument("--compile", choices=("auto", "on", "off"), default="auto", help="auto: on CUDA")
    x.add_argument("--compile-timeout", type=float, default=180, help="seconds for the first compiled step")
    x.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    o = p.add_argument_group("output")
    o.add_argument("--out", required=True, help="folder: model.gguf (or its parts), model.json")
    o.add_argument("--name", default="lmz-torch", help="general.name")
    o.add_argument("--export-dtype", choices=sorted(FILE_TYPES), default="f32")
    o.add_argument("--split-mib", type=int, default=0, help="write the GGUF to --out in parts of this size")
    o.add_argument("--scratch", default="/tmp/lmz-torch-scratch", help="the whole GGUF when split")
    o.add_argument("--state", help="also save the training state (model, AdamW, sampler) here")
    o.add_argument("--verify-tokens", type=int, default=0,
                   help="at the end, log p of the first N held-out tokens -> OUT/verify.logp.f32")
    o.add_argument("--logp-tokens", help="at the end, log p (float32, n x vocab) of this .u32 sequence...")
    o.add_argument("--logp-out", help="...written here")
    a = p.parse_args(argv)
    if bool(a.pack) == bool(a.tokens) or (a.tokens and not a.tokenizer):
        p.error("give --pack, or --tokens with --tokenizer")
    shape = TINY_SHAPE if a.tiny else GPU_SHAPE
    for k, v in shape.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    a.micro_batch = a.micro_batch or a.batch
    if a.batch % a.micro_batch:
        p.error("--batch must be a multiple of --micro-batch")
    if a.lr_min is None:
        a.lr_min = a.lr / 10
    if bool(a.logp_tokens) != bool(a.logp_out):
        p.error("--logp-tokens and --logp-out go together")
    return a


def setup_shared(a):
    """tools/ref/gguf_io.py needs the shared GGUF module: ../shared here, a copy in the
    pack on the GPU machine (../shared does not travel)."""
    if os.environ.get("LMZ_SHARED"):
        return
    beside = os.path.join(HERE, "..", "..", "..", "shared", "reference", "gguf_min.py")
    if not os.path.exists(beside) and a.pack and os.path.isdir(os.path.join(a.pack, "shared")):
        os.environ["LMZ_SHARED"] = os.path.join(a.pack, "shared")


def main(argv=None):
    a = parse_args(argv)
    setup_shared(a)
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = a.device if a.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(dev)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(a.seed)
    if a.pack:
        weights = None
        if a.weights:
            weights = {k: float(v) for k, v in (kv.split("=") for kv in a.weights.split(","))}
        data = PackData(a.pack, weights)
        if a.tokenizer:
            data.tokenizer = a.tokenizer
    else:
        data = StreamData(a.tokens, a.tokenizer, a.heldout, a.ctx)
    tok = gguf_module().Reader(data.tokenizer)
    n_vocab = len(tok.meta["tokenizer.ggml.tokens"])
    cfg = Config(n_vocab, a.dim, a.layers, a.heads, a.kv_heads, a.ff, a.ctx, not a.untied,
                 a.rope_base, a.norm_eps)
    log(f"loaded data in {time.time() - T0:.1f}s")
    train(a, data, cfg, device)


if __name__ == "__main__":
    main()
