#!/bin/sh
# tok_compare.sh -- compare lmz's tokenizer with real ones, and time it.
#
#   sh tools/tok_compare.sh [NAME...]        NAME: r50k cl100k llama3 llama2 (default: all)
#
# Needs node and the npm registry once:
#   mkdir -p /tmp/tokcmp && cd /tmp/tokcmp && npm init -y &&
#   npm install --ignore-scripts gpt-tokenizer@4.0.0 llama3-tokenizer-js@1.2.0 llama-tokenizer-js@1.2.2
# (elsewhere: TOKCMP_NPM=that folder).  Nothing is written inside the repository: the
# vocabularies (GGUF, tokenizer metadata only) and the ids go to $WORK (/tmp/tokcmp/work).
# For every .txt file of $LMZ_SHARED/data (default ../shared) and every vocabulary it
# prints lmz's whole-file encode speed, then the per-line agreement with the npm package:
# the share of lines whose ids are identical, and of the reference tokens in those lines.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${LMZ_SHARED:-$ROOT/../shared}
export TOKCMP_NPM=${TOKCMP_NPM:-/tmp/tokcmp}
WORK=${WORK:-$TOKCMP_NPM/work}
NAMES=${*:-r50k cl100k llama3 llama2}
mkdir -p "$WORK"

# tok_dump from the library sources it needs, optimized like a release build
cc -std=c11 -D_GNU_SOURCE -O2 -I"$ROOT/include" -I"$ROOT/src" -o "$WORK/tok_dump" \
    "$ROOT/tools/tok_dump.c" "$ROOT"/src/tokenizer/*.c "$ROOT"/src/gguf/gguf_*.c \
    "$ROOT"/src/kernels/f16.c -lxxhash -lm

for name in $NAMES; do
    [ -f "$WORK/$name.gguf" ] || node "$ROOT/tools/tok_compare.mjs" export "$name" "$WORK/$name.gguf"
    for f in "$SHARED"/data/*.txt; do
        "$WORK/tok_dump" "$WORK/$name.gguf" "$f" "$WORK/ours.bin"
        node "$ROOT/tools/tok_compare.mjs" compare "$name" "$f" "$WORK/ours.bin"
    done
done
