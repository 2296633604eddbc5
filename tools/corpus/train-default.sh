#!/usr/bin/env bash
# Rebuild lmz's C-trained model (models/lmz-s1.gguf, "lmz-s1"; the default before the GPU-trained lmz-s2) from Debian's packages:
# corpus -> tokenizer -> token stream -> training -> Q8_0 export.  models/README.md is its
# model card; the figures there came from exactly these commands.
#
#   bash tools/corpus/train-default.sh [WORKDIR]      (default /var/tmp/lmz-train)
#
# Resumable: rerun the same command after an interruption; the training continues from
# WORKDIR/ck.bin (written every 250 steps).  About 2 hours of training on one core of a
# Zen 4 (~3500-4600 tokens/s), plus ~20 minutes for the corpus.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${1:-/var/tmp/lmz-train}
CORPUS=${CORPUS:-/var/tmp/lmz-corpus}
LMZ=${LMZ:-./lmz}
mkdir -p "$WORK"

[ -d "$CORPUS/train" ] || bash tools/corpus/make-corpus.sh "$CORPUS"

# The vocabulary is learned from the whole training split (deterministic: the same corpus
# gives the same tokenizer, byte for byte).
[ -f "$WORK/tok4096.gguf" ] ||
    "$LMZ" --train-tokenizer --vocab 4096 --quiet --out "$WORK/tok4096.gguf" "$CORPUS"/train/*.txt
[ -f "$WORK/train.u32" ] ||
    "$LMZ" --tokenize --tokenizer "$WORK/tok4096.gguf" --out "$WORK/train.u32" "$CORPUS"/train/*.txt

# 6100 steps x 16 sequences x 256 tokens = 25.0 M tokens seen (~0.23 epochs of the
# 109.9 M-token stream).  The last 1 % of the stream (the tail of reference-vim-help.txt,
# the files being concatenated in name order) is the trainer's held-out set.
train=(--train-model --tokens "$WORK/train.u32" --tokenizer "$WORK/tok4096.gguf"
       --name lmz-s1 --dim 256 --layers 4 --heads 4 --kv-heads 4 --ff 768 --ctx 256
       --batch 16 --steps 6100 --lr 2e-3 --warmup 300 --eval-every 250 --threads 1
       --checkpoint "$WORK/ck.bin")
resume=()
[ -f "$WORK/ck.bin" ] && resume=(--resume)
"$LMZ" "${train[@]}" "${resume[@]}" --out "$WORK/lmz-s1.gguf"

# Export the final weights as Q8_0 (4.9 MB instead of 18 MB; the coded size changes by
# ~0.01 %, and the int8 path is faster).
"$LMZ" "${train[@]}" --resume --q8 --out "$WORK/lmz-s1-q8.gguf"
echo "trained: $WORK/lmz-s1-q8.gguf  (the committed models/lmz-s1.gguf)"
