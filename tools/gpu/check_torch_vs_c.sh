#!/bin/sh
# PyTorch (tools/gpu/train_torch.py) against the C inference, on the CPU.
#
#   tools/gpu/check_torch_vs_c.sh                 the check (~2-4 minutes on one core)
#   tools/gpu/check_torch_vs_c.sh --returned DIR  check what a GPU run brought back
#
# The check trains tiny models with the torch script on text of this repository (its
# docs and sources: no corpus or ../shared/data needed), exports GGUFs and compares
# torch's log p with the C inference's at every position x the whole vocabulary of a
# held-out text (bound 1e-4, F32 weights; BF16 exports against torch with the weights
# rounded the same way):
#   A  tied head, GQA 4/2, F32 export
#   B  untied head, MHA 3/3 (head_dim 32), ctx 128, BF16 export
#   C  the GPU run's own path in miniature: pack_corpus.sh on a small corpus, then
#      run_gpu.sh with RUN_GPU_TEST=1 (deadline, planning, checkpoints, GGUF in parts,
#      verification tokens), then the --returned check of its output folder, which also
#      converts the BF16 model to F32 (compared again) and Q8_0 (loaded)
# Needs: `make` first (./lmz, build/release/liblmz.a), a C compiler, and a python3
# with torch and numpy (Debian: apt-get install python3-torch; /usr/bin/python3 is
# used when present).  Exit status 0 when every comparison is within the bound.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
py=${PY:-python3}
[ -z "${PY:-}" ] && [ -x /usr/bin/python3 ] && py=/usr/bin/python3
"$py" -c 'import torch, numpy' 2>/dev/null || {
    echo "check_torch_vs_c: $py has no torch/numpy (Debian: apt-get install python3-torch)" >&2
    exit 2
}
if [ ! -x lmz ] || [ ! -f build/release/liblmz.a ]; then
    echo "check_torch_vs_c: run make first" >&2
    exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The flags of the library's own build (Makefile BASEFLAGS), so the same code paths run.
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -ffp-contract=off -fno-fast-math -pthread -Iinclude -Isrc \
    -Wall -Wextra -Werror -o "$tmp/c_logits" "$here/c_logits.c" build/release/liblmz.a \
    -lzstd -lxxhash -lm -pthread

# Compare torch's log p (TORCH.f32) with the C inference's on MODEL for TOKENS.
compare() {
    "$tmp/c_logits" "$1" "$2" "$tmp/c.f32"
    "$py" "$here/compare.py" logp "$3" "$tmp/c.f32" --model "$1" --tokens "$2"
}

# The model that came back from a GPU run, against the log p computed there.
# Then the same model converted to F32 (exact from BF16) and to Q8_0 (loads; lossy).
check_returned() {
    "$py" "$here/compare.py" returned "$1" "$tmp/ret.gguf" "$tmp/ret.u32" "$tmp/ret.f32"
    compare "$tmp/ret.gguf" "$tmp/ret.u32" "$tmp/ret.f32"
    "$py" "$here/convert_gguf.py" "$tmp/ret.gguf" "$tmp/ret-f32.gguf" --dtype f32
    compare "$tmp/ret-f32.gguf" "$tmp/ret.u32" "$tmp/ret.f32"
    "$py" "$here/convert_gguf.py" "$tmp/ret.gguf" "$tmp/ret-q8.gguf" --dtype q8_0
    "$tmp/c_logits" "$tmp/ret-q8.gguf" "$tmp/ret.u32" "$tmp/c.f32"
}

if [ "${1:-}" = "--returned" ]; then
    check_returned "${2:?usage: check_torch_vs_c.sh --returned DIR}"
    exit
fi

# A small corpus made of this repository's text; doc/format.md is held out.
corpus=$tmp/corpus
mkdir -p "$corpus/train" "$corpus/heldout"
join_docs() { for f in "$@"; do cat "$f"; printf '\n\036\n'; done; }
join_docs README.md doc/training.md doc/determinism.md doc/coder.md src/tokenizer/README.md \
    fuzz/README.md tests/fixtures/ref/README.md > "$corpus/train/prose-repo.txt"
join_docs src/model/*.c src/train/*.c > "$corpus/train/code-repo.txt"
join_docs doc/format.md > "$corpus/heldout/prose-repo.txt"
join_docs src/coder/*.c > "$corpus/heldout/code-repo.txt"

./lmz --train-tokenizer --vocab 512 --quiet --out "$tmp/tok.gguf" "$corpus"/train/*.txt
./lmz --tokenize --quiet --tokenizer "$tmp/tok.gguf" --out "$tmp/train.u32" "$corpus"/train/*.txt
./lmz --tokenize --quiet --tokenizer "$tmp/tok.gguf" --out "$tmp/held.u32" "$corpus/heldout/prose-repo.txt"
head -c 256 "$tmp/held.u32" > "$tmp/held64.u32"      # 64 tokens
head -c 512 "$tmp/held.u32" > "$tmp/held128.u32"     # 128 tokens

train() {
    nice -n 10 "$py" "$here/train_torch.py" --tokens "$tmp/train.u32" --tokenizer "$tmp/tok.gguf" \
        --device cpu --tiny --threads 1 --batch 8 --warmup 10 --lr 3e-3 "$@"
}

echo "== A: tied head, GQA 4/2, F32"
train --out "$tmp/a" --steps 80 --logp-tokens "$tmp/held64.u32" --logp-out "$tmp/a.f32"
compare "$tmp/a/model.gguf" "$tmp/held64.u32" "$tmp/a.f32"

echo "== B: untied head, MHA 3/3, head_dim 32, ctx 128, BF16 export"
train --out "$tmp/b" --steps 40 --untied --dim 96 --heads 3 --kv-heads 3 --ctx 128 --export-dtype bf16 \
    --logp-tokens "$tmp/held128.u32" --logp-out "$tmp/b.f32"
compare "$tmp/b/model.gguf" "$tmp/held128.u32" "$tmp/b.f32"

echo "== C: the GPU run's path on the CPU (pack_corpus.sh, run_gpu.sh, --returned)"
LMZ_CORPUS=$corpus WORK=$tmp/packwork VOCAB=512 SHARD_TOKENS=20000 \
    sh "$here/pack_corpus.sh" "$tmp/pack"
# LMZ_SHARED: the pack's copy of the shared GGUF module, as on the GPU machine
RUN_GPU_TEST=1 OUT=$tmp/out PACK=$tmp/pack PY=$py BUDGET_S=${BUDGET_S:-50} TMPDIR=$tmp \
    LMZ_SHARED=$tmp/pack/shared sh "$here/run_gpu.sh"
check_returned "$tmp/out"
echo "check_torch_vs_c: all comparisons within 1e-4"
