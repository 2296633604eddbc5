#!/usr/bin/env python3
"""PyTorch against the C inference, for tools/gpu/check_torch_vs_c.sh.

  compare.py logp TORCH.f32 C_LOGITS.f32 --model M.gguf --tokens T.u32 [--bound 1e-4]
      TORCH.f32: float32 log p (n x vocab) written by train_torch.py; C_LOGITS.f32: the
      float32 logits of tools/gpu/c_logits.c, turned into log p in float64 here (as the
      `model` test does).  Prints max and mean |log p(torch) - log p(C)| over every
      position x the whole vocabulary and the argmax agreement, and the independent
      float64 numpy forward pass (tools/ref/forward.py) against both, with a negative
      control (numpy with NEOX RoPE pairs, a convention the check must catch).
      Exit status 1 when |torch - C| exceeds the bound.
  compare.py returned DIR OUT.gguf OUT.tokens.u32 OUT.logp.f32
      DIR is what a GPU run (run_gpu.sh) brought back: joins model.gguf.partNN into
      OUT.gguf, checks size and sha256 against model.json, writes the verification
      tokens and a copy of the run's log p of them, and prints the run's summary.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import forward  # noqa: E402  (tools/ref/forward.py: numpy reference, log_softmax, compare)


def cmd_logp(a):
    tokens = np.fromfile(a.tokens, dtype="<u4").astype(np.int64)
    ref = forward.Model(a.model)
    shape = (tokens.size, ref.n_vocab)
    lp_torch = np.fromfile(a.torch_f32, dtype="<f4").astype(np.float64).reshape(shape)
    lp_c = forward.log_softmax(np.fromfile(a.c_logits, dtype="<f4").astype(np.float64).reshape(shape))
    lp_np = forward.log_softmax(ref.forward(tokens))
    lp_wrong = forward.log_softmax(ref.forward(tokens, wrong="rope-pairing"))
    res = forward.compare(lp_torch, lp_c)
    print(f"model: {ref.describe()}; {tokens.size} positions")
    print(f"  torch vs C:       max |d log p| {res['max']:.3e}  mean {res['mean']:.3e}  argmax {100 * res['argmax']:.1f}%")
    for name, other in (("torch", lp_torch), ("C", lp_c)):
        r = forward.compare(lp_np, other)
        print(f"  numpy vs {name:6s}   max |d log p| {r['max']:.3e}  mean {r['mean']:.3e}  argmax {100 * r['argmax']:.1f}%")
    w = forward.compare(lp_wrong, lp_c)
    print(f"  negative control (numpy, NEOX RoPE pairs) vs C: max {w['max']:.3e} (must be far above the bound)")
    entropy = -(np.exp(lp_c) * lp_c).sum(axis=1).mean()
    print(f"  C's mean entropy {entropy:.3f} nats (log vocab {np.log(ref.n_vocab):.3f}): the model is not uniform")
    ok = res["max"] <= a.bound and w["max"] > 10 * a.bound
    print(f"RESULT torch_vs_c_max={res['max']:.3e} bound={a.bound:g} {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def cmd_returned(a):
    with open(os.path.join(a.dir, "model.json")) as f:
        info = json.load(f)
    h, size = hashlib.sha256(), 0
    with open(a.out_gguf, "wb") as o:
        for part in info["parts"]:
            with open(os.path.join(a.dir, part), "rb") as f:
                data = f.read()
            o.write(data)
            h.update(data)
            size += len(data)
    if size != info["gguf_bytes"] or h.hexdigest() != info["gguf_sha256"]:
        sys.exit(f"{a.dir}: joined parts are {size} bytes, sha256 {h.hexdigest()}; model.json says "
                 f"{info['gguf_bytes']}, {info['gguf_sha256']}")
    c = info["config"]
    print(f"joined {len(info['parts'])} parts -> {a.out_gguf} ({size} bytes, sha256 ok); step {info['step']}"
          f"/{info['total_steps']}, {info['tokens_seen'] / 1e6:.1f}M tokens, {info['elapsed_s']} s, "
          f"{'final' if info['final'] else 'NOT final (cut short)'}; dim {c['dim']} layers {c['layers']} "
          f"heads {c['heads']}/{c['kv_heads']} ff {c['ff']} ctx {c['ctx']} vocab {c['n_vocab']}")
    print(f"held-out loss: {info['heldout_loss']}")
    if "verify_tokens" not in info:
        sys.exit("model.json has no verification tokens (--verify-tokens)")
    np.asarray(info["verify_tokens"], dtype="<u4").tofile(a.out_tokens)
    lp = np.fromfile(os.path.join(a.dir, info["verify_logp"]), dtype="<f4")
    lp.tofile(a.out_logp)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("logp")
    lp.add_argument("torch_f32")
    lp.add_argument("c_logits")
    lp.add_argument("--model", required=True)
    lp.add_argument("--tokens", required=True)
    lp.add_argument("--bound", type=float, default=1e-4)
    rt = sub.add_parser("returned")
    rt.add_argument("dir")
    rt.add_argument("out_gguf")
    rt.add_argument("out_tokens")
    rt.add_argument("out_logp")
    a = p.parse_args(argv)
    return cmd_logp(a) if a.cmd == "logp" else cmd_returned(a)


if __name__ == "__main__":
    sys.exit(main())
