#!/usr/bin/env bash
# lmz's log-probabilities against llama.cpp's, with and without a LoRA adapter, on given
# token ids: e.g. an adapter that `lmz --train` made for models/lmz-s2.gguf.
#
#   bash tools/compare_lora_llamacpp.sh MODEL.gguf ADAPTER.lora.gguf TOKENS.u32 OUTDIR
#
# TOKENS.u32: little-endian uint32 token ids, fed as they are (no BOS added), one
# sequence (`lmz --tokenize --tokenizer MODEL.gguf --out T.u32 FILE` writes them with
# the BOS first; `head -c $((4 * N))` keeps the first N).  Builds tools/lmz_logp.c
# against build/release/liblmz.a (`make` first) into OUTDIR, then writes, in OUTDIR,
#   lmz.logp.f32, lmz.base.logp.f32            tools/lmz_logp (lmz), with / without
#   llamacpp.logp.f32, llamacpp.base.logp.f32  tools/check_lora_llamacpp.sh (ALSO_BASE=1)
# (n_tokens x n_vocab float32 log p each) and prints max and mean |log p lmz - llama.cpp|
# with and without the adapter over all positions x the vocabulary, and the code length
# of tokens[1..] in bits under each of the four, all from the float32 files.
# For a Q8_0 model the two differ by the activations' rounding (lmz's Q8_0 rounding is
# not ggml's), so compare what the adapter changes: the code length difference
# adapter - base of lmz against llama.cpp's.
#
# Env: THREADS (default 1, for both; neither result depends on it), LMZ_SHARED,
# NODE_PATH, PYTHON as for tools/check_lora_llamacpp.sh, CC (default cc).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ref/env.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ $# -ne 4 ]; then
    sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
MODEL=$1 ADAPTER=$2 TOKENS=$3 OUT=$4
for f in "$MODEL" "$ADAPTER" "$TOKENS"; do [ -f "$f" ] || { echo "$f: no such file" >&2; exit 1; }; done
[ -f "$ROOT/build/release/liblmz.a" ] || { echo "$ROOT/build/release/liblmz.a missing: run make" >&2; exit 1; }
export THREADS=${THREADS:-1}
ref_find_python
export PYTHON=$PY
mkdir -p "$OUT"

"${CC:-cc}" -std=c11 -D_GNU_SOURCE -O2 -I"$ROOT/include" -I"$ROOT/src" -o "$OUT/lmz_logp" \
    "$ROOT/tools/lmz_logp.c" "$ROOT/build/release/liblmz.a" -lzstd -lxxhash -lm -pthread
"$OUT/lmz_logp" -T "$THREADS" "$MODEL" "$ADAPTER" "$TOKENS" "$OUT/lmz.logp.f32"
"$OUT/lmz_logp" -T "$THREADS" "$MODEL" - "$TOKENS" "$OUT/lmz.base.logp.f32"
ALSO_BASE=1 bash "$ROOT/tools/check_lora_llamacpp.sh" "$MODEL" "$ADAPTER" "$TOKENS" "$OUT/llamacpp"

"$PY" - "$TOKENS" "$OUT" <<'EOF'
import os, sys
import numpy as np
tokens, out = sys.argv[1:]
toks = np.fromfile(tokens, dtype="<u4").astype(np.int64)
n = len(toks)
def load(name):
    return np.fromfile(os.path.join(out, name), dtype="<f4").astype(np.float64).reshape(n, -1)
lp = {(who, what): load(f"{who}{'.base' if what == 'base' else ''}.logp.f32")
      for who in ("lmz", "llamacpp") for what in ("base", "adapter")}
def bits(a):
    return -a[np.arange(n - 1), toks[1:]].sum() / np.log(2)
print(f"{n} tokens, vocabulary {lp['lmz', 'base'].shape[1]}; |log p lmz - llama.cpp| over all "
      f"positions x vocabulary (nats), code length of tokens[1..{n - 1}] (bits):")
print("| | max \\|Δ log p\\| | mean \\|Δ log p\\| | argmax agreement | lmz bits | llama.cpp bits | lmz - llama.cpp bits |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for what, label in (("base", "base model"), ("adapter", "with the adapter")):
    a, b = lp["lmz", what], lp["llamacpp", what]
    d = np.abs(a - b)[np.isfinite(b)]  # skips llama.cpp probabilities that underflowed to 0 (as the tests do)
    agree = (a.argmax(1) == b.argmax(1)).mean()
    print(f"| {label} | {d.max():.3e} | {d.mean():.3e} | {100 * agree:.1f}% | {bits(a):.2f} | {bits(b):.2f} | "
          f"{bits(a) - bits(b):+.2f} |")
dl, dc = bits(lp["lmz", "adapter"]) - bits(lp["lmz", "base"]), bits(lp["llamacpp", "adapter"]) - bits(lp["llamacpp", "base"])
print(f"| adapter - base, bits | | | | {dl:+.2f} | {dc:+.2f} | {dl - dc:+.2f} |")
fin = np.isfinite(lp["llamacpp", "adapter"]) & np.isfinite(lp["llamacpp", "base"])
eff_l = (lp["lmz", "adapter"] - lp["lmz", "base"])[fin]
eff_c = (lp["llamacpp", "adapter"] - lp["llamacpp", "base"])[fin]
print(f"the adapter's effect on log p (adapter - base): lmz mean |.| {np.abs(eff_l).mean():.3e}, "
      f"llama.cpp {np.abs(eff_c).mean():.3e}; |lmz's effect - llama.cpp's| max {np.abs(eff_l - eff_c).max():.3e}, "
      f"mean {np.abs(eff_l - eff_c).mean():.3e}")
EOF
