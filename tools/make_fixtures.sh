#!/usr/bin/env bash
# Regenerate the llama.cpp reference fixtures of tests/fixtures/ref/ (or of DIR):
# random-weight GGUF models (tools/make_ref_model.py, fixed seeds), random token
# sequences (fixed seeds), llama.cpp's next-token distribution at every position
# (node-llama-cpp's prebuilt CPU build, F32 KV cache, no flash attention), stored
# as log p; then numpy checks and MANIFEST.tsv + the generated part of README.md.
# About a minute on 2 cores.
#
#   bash /work/shared/reference/setup.sh /tmp/llamacpp-ref-npm   # once
#   bash tools/make_fixtures.sh [DIR]
#
# Env: LMZ_SHARED (default ../shared), NODE_PATH (default
# /tmp/llamacpp-ref-npm/node_modules), PYTHON (a python3 with numpy).
# Fails if an F32 fixture's llama.cpp distributions differ from a numpy reference
# by 1e-4 or more.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/ref/env.sh"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LMZ_SHARED=${LMZ_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
REF=$LMZ_SHARED/reference
export NODE_PATH=${NODE_PATH:-/tmp/llamacpp-ref-npm/node_modules}
DIR=${1:-$ROOT/tests/fixtures/ref}
N_TOKENS=256

ref_need_node
ref_find_python
command -v zstd >/dev/null || { echo "zstd not found" >&2; exit 1; }

mkdir -p "$DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmz-fixtures.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
: >"$WORK/results.tsv"
rm -f "$DIR"/*.gguf "$DIR"/*.tokens.u32 "$DIR"/*.logp.f32.zst "$DIR/MANIFEST.tsv"

fixture() {  # NAME TOKEN_SEED MODEL_ARGS...
    local name=$1 seed=$2; shift 2
    "$PY" "$ROOT/tools/make_ref_model.py" --out "$DIR/$name.gguf" "$@"
    "$PY" "$ROOT/tools/ref/fixture.py" tokens "$DIR/$name.gguf" $N_TOKENS "$seed" \
        "$DIR/$name.tokens.u32" "$WORK/$name.tokens.json"
    node "$REF/llamacpp_logits.mjs" "$DIR/$name.gguf" "$WORK/$name" --tokens-file "$WORK/$name.tokens.json" \
        --kv f32 --threads 2
    "$PY" "$ROOT/tools/ref/fixture.py" pack "$WORK/$name" "$DIR/$name.tokens.u32" "$WORK/$name.logp.f32"
    zstd -19 -q -f "$WORK/$name.logp.f32" -o "$DIR/$name.logp.f32.zst"
    "$PY" "$ROOT/tools/ref/fixture.py" check "$name" "$DIR" "$WORK"
}

# F32 weights: the 1e-4 bar.  Odd sizes on purpose (n_ff 72, head_dim 8 and 24,
# vocab 265 and 300) so that SIMD tails get exercised.
fixture llama-mha-untied-gpt2 1 --arch llama --seed 101 --n-embd 64 --n-head 4 --n-head-kv 4 --n-ff 72
fixture llama-gqa-tied-gpt2   2 --arch llama --seed 102 --n-embd 64 --n-head 4 --n-head-kv 2 --n-ff 96 \
    --tied --pad-vocab-to 300
fixture llama-mqa-spm         3 --arch llama --seed 103 --n-embd 64 --n-head 8 --n-head-kv 1 --n-ff 96 \
    --rope-base 500000 --eps 1e-6 --tokenizer llama
fixture qwen2-gqa-gpt2        4 --arch qwen2 --seed 104 --n-embd 64 --n-head 4 --n-head-kv 2 --n-ff 96 \
    --rope-base 1000000 --eps 1e-6
fixture qwen3-gqa-gpt2        5 --arch qwen3 --seed 105 --n-embd 64 --n-head 4 --n-head-kv 2 --head-dim 24 \
    --n-ff 96 --rope-base 1000000 --eps 1e-6 --tied
# The same model in rounded weight types: llama.cpp then rounds activations too.
for dt in f16 bf16 q8_0; do
    fixture "llama-gqa-$dt" 6 --arch llama --seed 106 --n-embd 64 --n-head 4 --n-head-kv 2 --n-ff 96 --dtype "$dt"
done

"$PY" "$ROOT/tools/ref/fixture.py" finish "$DIR" "$WORK"
echo "fixtures in $DIR:"
column -t "$DIR/MANIFEST.tsv"
du -ch "$DIR"/* | tail -1
