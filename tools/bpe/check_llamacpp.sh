#!/bin/sh
# check_llamacpp.sh TOKENIZER.gguf TEXT... -- does llama.cpp (node-llama-cpp) load a
# bpe-train vocabulary and split every line of the TEXT files exactly as lmz does?
# Needs: bash ../shared/reference/setup.sh /tmp/llamacpp-ref-npm (NODE_PATH is set from
# LLAMACPP_NPM, default that folder).  Scratch files go to $WORK (/tmp/lmz-bpe-check).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export NODE_PATH=${LLAMACPP_NPM:-/tmp/llamacpp-ref-npm}/node_modules
WORK=${WORK:-/tmp/lmz-bpe-check}
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
mkdir -p "$WORK"
tok=$1
shift
cc -std=c11 -D_GNU_SOURCE -O2 -I"$ROOT/include" -I"$ROOT/src" -o "$WORK/tok_dump" \
    "$ROOT/tools/tok_dump.c" "$ROOT"/src/tokenizer/*.c "$ROOT"/src/gguf/gguf_*.c \
    "$ROOT"/src/kernels/f16.c -lxxhash -lm -pthread
"$py" "$ROOT/tools/bpe/model_with_tokenizer.py" "$tok" "$WORK/model.gguf"
status=0
for f in "$@"; do
    echo "== $f"
    "$WORK/tok_dump" "$tok" "$f" "$WORK/ours.bin" | tail -1
    node "$ROOT/tools/bpe/llamacpp_tokenize.mjs" "$WORK/model.gguf" "$f" "$WORK/ref.bin"
    "$py" "$ROOT/tools/bpe/compare_ids.py" "$WORK/ours.bin" "$WORK/ref.bin" || status=1
done
exit $status
