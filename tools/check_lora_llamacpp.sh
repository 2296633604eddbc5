#!/usr/bin/env bash
# llama.cpp's next-token log-probabilities for MODEL with a LoRA adapter applied, on
# given token ids: the reference to compare lmz's own log p with (e.g. an adapter that
# lmz trained for models/lmz-s2.gguf).
#
#   bash tools/check_lora_llamacpp.sh MODEL.gguf ADAPTER.lora.gguf TOKENS.u32 OUTPREFIX
#
# TOKENS.u32: little-endian uint32 token ids, fed as they are (no BOS added), positions
# 0, 1, 2, ...  Writes OUTPREFIX.logp.f32: n_tokens x n_vocab little-endian float32,
# row-major, row i = log P(next token | tokens[0..i]) (the layout of the fixtures'
# NAME.logp.f32.zst, uncompressed), and prints the code length of tokens[1..] in bits.
# With ALSO_BASE=1 it also writes OUTPREFIX.base.logp.f32 (the same without the adapter).
#
# llama.cpp = npm node-llama-cpp's prebuilt CPU build (tools/ref/llamacpp_lora_logits.mjs):
# one sequence, F32 KV cache, no flash attention, adapter user scale 1 (LORA_SCALE=...),
# THREADS (default 2).  Env as tools/make_fixtures.sh: LMZ_SHARED, NODE_PATH (default
# /tmp/llamacpp-ref-npm/node_modules; bash ../shared/reference/setup.sh /tmp/llamacpp-ref-npm
# installs it), PYTHON (a python3 with numpy).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ref/env.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LMZ_SHARED=${LMZ_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
export NODE_PATH=${NODE_PATH:-/tmp/llamacpp-ref-npm/node_modules}
THREADS=${THREADS:-2}
LORA_SCALE=${LORA_SCALE:-1}

if [ $# -ne 4 ]; then
    sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
MODEL=$1 ADAPTER=$2 TOKENS=$3 OUT=$4
for f in "$MODEL" "$ADAPTER" "$TOKENS"; do [ -f "$f" ] || { echo "$f: no such file" >&2; exit 1; }; done
ref_need_node
ref_find_python

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmz-lora-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

run() {  # PREFIX [--lora ...]
    local prefix=$1; shift
    node "$ROOT/tools/ref/llamacpp_lora_logits.mjs" "$MODEL" "$WORK/$prefix" --tokens-u32 "$TOKENS" \
        --kv f32 --threads "$THREADS" "$@"
}
summary() {  # LOGP.f32 LABEL
    "$PY" - "$MODEL" "$TOKENS" "$1" "$2" <<'EOF'
import os, sys
import numpy as np
sys.dont_write_bytecode = True
model, tokens, logp, label = sys.argv[1:]
toks = np.fromfile(tokens, dtype="<u4").astype(np.int64)
lp = np.fromfile(logp, dtype="<f4").astype(np.float64).reshape(len(toks), -1)
bits = -lp[np.arange(len(toks) - 1), toks[1:]].sum() / np.log(2)
print(f"{label}: {logp}: {lp.shape[0]} x {lp.shape[1]} log p; tokens[1..{len(toks) - 1}]: "
      f"{bits:.2f} bits ({bits / max(len(toks) - 1, 1):.3f} bits/token)")
EOF
}

N_CTX=$("$PY" - "$MODEL" "$TOKENS" <<'EOF'
import os, sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.environ["LMZ_SHARED"], "reference"))
import gguf_min
m = gguf_min.GGUFReader(sys.argv[1]).meta
print(m.get(m["general.architecture"] + ".context_length", 0))
EOF
)
N_TOK=$(( $(stat -c %s "$TOKENS") / 4 ))
if [ "$N_CTX" -gt 0 ] && [ "$N_TOK" -gt "$N_CTX" ]; then
    echo "warning: $N_TOK tokens > the model's context_length $N_CTX (llama.cpp evaluates them anyway)" >&2
fi

run lora --lora "$ADAPTER" --lora-scale "$LORA_SCALE"
"$PY" "$ROOT/tools/ref/fixture.py" pack "$WORK/lora" "$TOKENS" "$OUT.logp.f32"
summary "$OUT.logp.f32" "with $(basename "$ADAPTER") (scale $LORA_SCALE)"
if [ "${ALSO_BASE:-0}" = 1 ]; then
    run base
    "$PY" "$ROOT/tools/ref/fixture.py" pack "$WORK/base" "$TOKENS" "$OUT.base.logp.f32"
    summary "$OUT.base.logp.f32" "without adapter"
fi
