#!/usr/bin/env bash
# Regenerate the LoRA reference fixtures of tests/fixtures/ref/lora/ (or of DIR):
# random LoRA adapters in llama.cpp's GGUF adapter convention (tools/make_ref_lora.py,
# fixed seeds) for base fixtures of tests/fixtures/ref/ (BASE_DIR), llama.cpp's
# next-token distribution with the adapter applied at every position of the base
# fixture's tokens (node-llama-cpp's prebuilt CPU build, F32 KV cache, no flash
# attention), stored as log p; then numpy checks, MANIFEST.tsv and the generated
# part of README.md.  About 15 s on 2 cores.
#
# One more fixture, llama-gqa-tied-gpt2-lmz-trained, has an adapter WRITTEN BY LMZ'S OWN
# TRAINER (`$LMZ --train`, src/train/lora.c) with a fixed command (below: 40 steps on the
# first 20000 bytes of $LMZ_SHARED/data/prose-canterbury-alice29.txt, one thread, seed 1),
# to prove that llama.cpp loads lmz's files and applies them as lmz does.  Training is
# deterministic for a seed and thread count on one machine, but its products are
# rounded to bf16, so on another CPU (another SIMD path, another compiler) regenerating
# may give a different, equally valid adapter; llama.cpp's log p is then recorded for
# that adapter and the numpy check applies as for the others.  The tests read the stored
# adapter file, never retrain, so they do not depend on this.
#
#   bash /work/shared/reference/setup.sh /tmp/llamacpp-ref-npm   # once
#   make                                                          # for $LMZ
#   bash tools/make_lora_fixtures.sh [DIR]
#
# Env: LMZ_SHARED (default ../shared), NODE_PATH (default
# /tmp/llamacpp-ref-npm/node_modules), PYTHON (a python3 with numpy), BASE_DIR
# (default tests/fixtures/ref: the base fixtures, left untouched), LMZ (the lmz binary
# that trains the lmz-trained adapter, default ./lmz of the repository root).
# Fails if a fixture's llama.cpp distributions differ from numpy (tools/ref/forward.py
# with the adapter) by the base fixture's tolerance or more (F32: 1e-4), or if an
# adapter changes the distributions too little to be tested.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ref/env.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LMZ_SHARED=${LMZ_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
export NODE_PATH=${NODE_PATH:-/tmp/llamacpp-ref-npm/node_modules}
DIR=${1:-$ROOT/tests/fixtures/ref/lora}
LMZ=${LMZ:-$ROOT/lmz}
BASE_DIR=${BASE_DIR:-$ROOT/tests/fixtures/ref}

ref_need_node
ref_find_python
command -v zstd >/dev/null || { echo "zstd not found" >&2; exit 1; }
[ -x "$LMZ" ] || { echo "lmz binary not found: LMZ=$LMZ (make, or set LMZ)" >&2; exit 1; }
LMZ=$(cd "$(dirname "$LMZ")" && pwd)/$(basename "$LMZ")
TRAIN_TEXT=$LMZ_SHARED/data/prose-canterbury-alice29.txt
[ -f "$TRAIN_TEXT" ] || { echo "$TRAIN_TEXT missing (LMZ_SHARED=$LMZ_SHARED)" >&2; exit 1; }

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
BASE_DIR=$(cd "$BASE_DIR" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmz-lora-fixtures.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
: >"$WORK/results.tsv"
rm -f "$DIR"/*.lora.gguf "$DIR"/*.logp.f32.zst "$DIR/MANIFEST.tsv"

base_check() {  # BASE
    [ -f "$BASE_DIR/$1.gguf" ] && [ -f "$BASE_DIR/$1.tokens.u32" ] && [ -f "$BASE_DIR/$1.logp.f32.zst" ] || {
        echo "base fixture $1 missing in $BASE_DIR (bash tools/make_fixtures.sh)" >&2; exit 1; }
}

fixture() {  # NAME BASE LORA_ARGS...   random adapter by tools/make_ref_lora.py
    local name=$1 base=$2; shift 2
    base_check "$base"
    "$PY" "$ROOT/tools/make_ref_lora.py" "$BASE_DIR/$base.gguf" "$DIR/$name.lora.gguf" "$@"
    record "$name" "$base"
}

fixture_lmz() {  # NAME BASE TEXT LMZ_TRAIN_ARGS...   adapter trained by `$LMZ --train` on TEXT
    local name=$1 base=$2 text=$3; shift 3
    base_check "$base"
    (set -x; "$LMZ" --train -m "$BASE_DIR/$base.gguf" "$@" -f -q "$text" -o "$DIR/$name.lora.gguf")
    record "$name" "$base"
}

record() {  # NAME BASE   llama.cpp's log p with DIR/NAME.lora.gguf on the base fixture's tokens, numpy check
    local name=$1 base=$2
    local model=$BASE_DIR/$base.gguf tokens=$BASE_DIR/$base.tokens.u32
    node "$ROOT/tools/ref/llamacpp_lora_logits.mjs" "$model" "$WORK/$name" --lora "$DIR/$name.lora.gguf" \
        --tokens-u32 "$tokens" --kv f32 --threads 2
    "$PY" "$ROOT/tools/ref/fixture.py" pack "$WORK/$name" "$tokens" "$WORK/$name.logp.f32"
    zstd -19 -q -f "$WORK/$name.logp.f32" -o "$DIR/$name.logp.f32.zst"
    "$PY" "$ROOT/tools/ref/lora_fixture.py" check "$name" "$base" "$BASE_DIR" "$DIR" "$WORK"
}

# All 7 targets in both layers, rank 4, alpha 8: scale alpha/rank = 2.
# --strength 0.1: each adapted weight moves by ~10 % (Frobenius) of itself.
fixture llama-gqa-tied-gpt2-lora llama-gqa-tied-gpt2 --rank 4 --alpha 8 --seed 201 --strength 0.1
fixture llama-gqa-q8_0-lora      llama-gqa-q8_0      --rank 4 --alpha 8 --seed 202 --strength 0.1
# Partial adapter: 3 of 7 targets in layer 1 only, odd rank, alpha 0 (llama.cpp: scale 1).
fixture llama-gqa-tied-gpt2-lora-partial llama-gqa-tied-gpt2 --rank 3 --alpha 0 --seed 203 --strength 0.1 \
    --layers 1 --targets attn_k,attn_output,ffn_up
# Trained by lmz itself (the fixed command; see the top): rank 4, alpha 8, all 7 targets,
# 40 steps of 4 x 64 tokens from the first 20000 bytes of Alice in Wonderland, 1 thread.
head -c 20000 "$TRAIN_TEXT" >"$WORK/train.txt"
fixture_lmz llama-gqa-tied-gpt2-lmz-trained llama-gqa-tied-gpt2 "$WORK/train.txt" \
    --steps 40 --batch 4 --ctx 64 --rank 4 --alpha 8 --seed 1 -T 1 --name lmz-trained

"$PY" "$ROOT/tools/ref/lora_fixture.py" finish "$DIR" "$BASE_DIR" "$WORK"
echo "LoRA fixtures in $DIR:"
column -t "$DIR/MANIFEST.tsv"
du -ch "$DIR"/* | tail -1
