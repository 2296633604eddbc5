#!/usr/bin/env bash
# make bench-vs-llamacpp: lmz's tokens/s beside llama.cpp's on the same GGUF models, CPU,
# 2 threads each.  For each model it prints
#   compress ratio   = lmz compression tokens/s   / llama.cpp prompt-processing tokens/s
#   decompress ratio = lmz decompression tokens/s / llama.cpp single-sequence decode tokens/s
# (issue 4's targets: >= 1 and >= 3).
#
#   bash bench/vs_llamacpp.sh                     the default model, and a random-weight
#                                                 model at SmolLM2-135M's shape if SMOL is
#                                                 set or /tmp/smol.gguf exists
#   SMOL=path.gguf THREADS=2 bash bench/vs_llamacpp.sh
#
# llama.cpp comes from ../shared/reference (node-llama-cpp from the npm registry: run
# `bash ../shared/reference/setup.sh` once).  lmz's tokens are the ones it coded (`lmz -lv`),
# every chunk through the model (--lm-always), timed by the shell around one command.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LMZ_SHARED:-$(cd .. && pwd)/shared}
THREADS=${THREADS:-2}
export NODE_PATH=${NODE_PATH:-${TMPDIR:-/tmp}/llamacpp-ref-npm/node_modules}
[ -d "$NODE_PATH/node-llama-cpp" ] || {
    echo "vs_llamacpp: node-llama-cpp is not under NODE_PATH=$NODE_PATH; run bash $SHARED/reference/setup.sh" >&2
    exit 1; }
LMZ=./lmz
TEXT="$SHARED/data/llm-gpt-4o-2024-05-13.txt"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmz-vs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
now() { date +%s.%N; }

# measure NAME MODEL SAMPLE_BYTES PP LMZ_ARGS...
measure() {
    local name=$1 model=$2 bytes=$3 pp=$4; shift 4
    head -c "$bytes" "$TEXT" >"$WORK/in"
    local t0 t1 t2
    t0=$(now)
    "$LMZ" -m "$model" --lm-always -T "$THREADS" "$@" -c "$WORK/in" >"$WORK/z"
    t1=$(now)
    "$LMZ" -m "$model" -T "$THREADS" -dc "$WORK/z" >"$WORK/out"
    t2=$(now)
    cmp -s "$WORK/in" "$WORK/out" || { echo "vs_llamacpp: $name did not round-trip" >&2; exit 1; }
    local tokens chunks
    tokens=$("$LMZ" -lv "$WORK/z" | sed -n 's/.*context [0-9]* tokens, \([0-9]*\) tokens.*/\1/p')
    chunks=$("$LMZ" -l "$WORK/z" | awk 'NR == 2 { print $5 }')
    local json
    json=$(node "$SHARED/reference/bench.mjs" "$model" --threads "$THREADS" --pp "$pp" --tg 64 \
               --reps 3 --kv f16 2>/dev/null | tail -1)
    local pp_s tg_s
    pp_s=$(echo "$json" | sed -n 's/.*"pp_tok_s_llama":"\([0-9.]*\)".*/\1/p')
    tg_s=$(echo "$json" | sed -n 's/.*"tg_tok_s_llama":"\([0-9.]*\)".*/\1/p')
    awk -v n="$name" -v tok="$tokens" -v ch="$chunks" -v b="$bytes" -v t0="$t0" -v t1="$t1" \
        -v t2="$t2" -v pp="$pp_s" -v tg="$tg_s" 'BEGIN {
        c = tok / (t1 - t0); d = tok / (t2 - t1)
        printf "%-14s %7d bytes %6d tokens %3d chunks | lmz compress %8.1f tok/s, llama.cpp pp %8.1f tok/s: %.2fx | lmz decompress %8.1f tok/s, llama.cpp tg %6.1f tok/s: %.2fx\n",
               n, b, tok, ch, c, pp, c / pp, d, tg, d / tg }'
}

echo "# $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $THREADS threads; $(date -u +%Y-%m-%dT%H:%MZ)"
measure default models/lmz-s2.gguf 262144 192
SMOL=${SMOL:-/tmp/smol.gguf}
if [ -f "$SMOL" ]; then
    measure smollm2-shape "$SMOL" 16384 256 --chunk-size=2K
else
    echo "# no SmolLM2-shape model at $SMOL: make one with /usr/bin/python3 $SHARED/reference/make_model.py --out $SMOL --n-embd 576 --n-layer 30 --n-head 9 --n-head-kv 3 --n-ff 1536 --pad-vocab-to 49152 --tied"
fi
