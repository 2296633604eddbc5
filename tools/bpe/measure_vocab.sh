#!/bin/sh
# measure_vocab.sh CORPUS_DIR [VOCAB...] -- train a BPE per vocabulary size and pre-
# tokenizer on CORPUS_DIR/train (MAX_BYTES of it, default 100M, sampled evenly), then
# print bytes per token on the corpus's held-out split and on every ../shared/data file
# (evaluation data: measured, never trained on).  PRES (default "llama3 gpt-2").
# Output: a table on stdout; tokenizers in $WORK (/tmp/lmz-bpe-measure).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${LMZ_SHARED:-$ROOT/../shared}
WORK=${WORK:-/tmp/lmz-bpe-measure}
corpus=$1
shift
VOCABS=${*:-2048 4096 8192 16384}
mkdir -p "$WORK"
cc -std=c11 -D_GNU_SOURCE -O2 -pthread -I"$ROOT/include" -I"$ROOT/src" -o "$WORK/bpe_tool" \
    "$ROOT/tools/bpe/bpe_tool.c" "$ROOT"/src/tokenizer/*.c "$ROOT"/src/gguf/gguf_*.c \
    "$ROOT"/src/kernels/f16.c -lxxhash -lm
bpt() {     # bytes per token of text of files $2... under tokenizer $1
    t=$1
    shift
    "$WORK/bpe_tool" tokenize --tokenizer "$t" --out "$WORK/tmp.u32" "$@" 2>&1 |
        sed -n 's/.*(\([0-9.]*\) bytes\/token.*/\1/p'
}
printf '%-7s %5s %6s %7s' pre vocab train_s heldout
for f in "$SHARED"/data/*.txt; do printf ' %s' "$(basename "$f" .txt | cut -c1-14)"; done
echo
for pre in ${PRES:-llama3 gpt-2}; do
    for v in $VOCABS; do
        tok="$WORK/$pre-$v.gguf"
        t0=$(date +%s.%N)
        "$WORK/bpe_tool" train --quiet --pre "$pre" --vocab "$v" --max-bytes "${MAX_BYTES:-100M}" \
            --out "$tok" "$corpus"/train/*.txt
        t1=$(date +%s.%N)
        printf '%-7s %5s %6.1f %7s' "$pre" "$v" "$(echo "$t1 - $t0" | bc)" "$(bpt "$tok" "$corpus"/heldout/*.txt)"
        for f in "$SHARED"/data/*.txt; do printf ' %14s' "$(bpt "$tok" "$f")"; done
        echo
    done
done
