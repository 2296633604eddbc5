#!/usr/bin/env bash
# The model-building path end to end: learn a tokenizer, tokenize, train a tiny model,
# then compress and decompress with it (lmz --train-tokenizer / --tokenize /
# --train-model).  The data is ../shared/data's prose, so this checks the machinery,
# not the model's quality.
source "$(dirname "$0")/lib.sh"
text=$SHARED/data/prose-calgary-book1.txt
head -c 200000 "$text" > "$TMP/train.txt"
head -c 8000 "$SHARED/data/llm-claude-3-opus-20240229.txt" > "$TMP/sample.txt"

check tokenizer-trains "$LMZ" --train-tokenizer --vocab 600 --quiet --out "$TMP/tok.gguf" "$TMP/train.txt"
check tokenize "$LMZ" --tokenize --tokenizer "$TMP/tok.gguf" --out "$TMP/train.u32" "$TMP/train.txt"
n=$(( $(stat -c %s "$TMP/train.u32") / 4 ))
if [ "$n" -gt 20000 ] && [ "$n" -lt 200000 ]; then ok token-count; else not_ok token-count "$n tokens"; fi

"$LMZ" --train-model --tokens "$TMP/train.u32" --tokenizer "$TMP/tok.gguf" --out "$TMP/m.gguf" \
    --dim 32 --layers 1 --heads 2 --kv-heads 1 --ff 64 --ctx 64 --batch 4 --steps 60 \
    --lr 3e-3 --warmup 10 --threads 1 2> "$TMP/train.log"
check model-trains test -s "$TMP/m.gguf"
# The loss must fall: the first step's loss is about ln(600) = 6.4 nats.
first=$(grep -m1 -o 'loss [0-9.]*' "$TMP/train.log" | cut -d' ' -f2)
last=$(grep -o 'loss [0-9.]*' "$TMP/train.log" | tail -1 | cut -d' ' -f2)
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }'; then ok loss-falls
else not_ok loss-falls "first $first last $last"; fi

check compress-with-trained "$LMZ" -q -k -m "$TMP/m.gguf" --lm-always "$TMP/sample.txt"
"$LMZ" -q -d -c -m "$TMP/m.gguf" "$TMP/sample.txt.lmz" > "$TMP/back.txt"
check decompress-identical cmp -s "$TMP/sample.txt" "$TMP/back.txt"
