#!/usr/bin/env bash
# make bench: lmz on every file of ../shared/data, beside the classical compressors.
#
#   bash bench/bench.sh                  default model (or a fixture model if none is built in)
#   MODEL=path.gguf LEVEL=5 THREADS=2 bash bench/bench.sh
#   FILES='a.txt b.txt' bash bench/bench.sh
#   TABLES=whole|per|real bash bench/bench.sh  only one of the tables (default: all)
#   MIX=0 bash bench/bench.sh            the LM alone (--no-mix), for comparison
#   MIX=1 bash bench/bench.sh            mixed coding version 1 (--mix-version 1); MIX=2: 2
#   DECODE=0 bash bench/bench.sh         sizes and compression speed only (no decoding)
#
# Prints three tables (whole file; each .jsonl response on its own; the files of
# ../shared/data/real, against ../shared/bench/baselines-dev-real.md), each row with the
# model's cross-entropy and the coded size in bits per byte, the coder's overhead,
# compression and decompression speed, and the best classical compressor's bits per
# byte from ../shared/bench/baselines-dev.md (made by ../shared/bench/baselines.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LMZ_SHARED:-$(cd .. && pwd)/shared}
BENCH=build/release/bench/lmz_bench
LEVEL=${LEVEL:-5}
THREADS=${THREADS:-2}
args=(-l "$LEVEL" -T "$THREADS")
case "${MIX:-}" in
    0) args+=(--no-mix) ;;
    1|2) args+=(--mix-version "$MIX") ;;
esac
if [ "${DECODE:-1}" = 0 ]; then args+=(--no-decode); fi
if [ -n "${MODEL:-}" ]; then
    args+=(-m "$MODEL")
elif ./lmz -V 2>/dev/null | grep -q "built-in model: lmz-s2 is not built in"; then
    MODEL=tests/fixtures/ref/llama-gqa-tied-gpt2.gguf
    echo "# NOTE: no trained default model is built in yet; measuring with the random-weight"
    echo "# fixture $MODEL, forced through the model (--lm-always).  These figures show the"
    echo "# machinery's speed and overhead, not lmz's compression."
    args+=(-m "$MODEL" --lm-always)
fi
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ); commit $(git rev-parse --short HEAD 2>/dev/null || echo none)"

baseline() {  # file column-title [baselines file] -> best classical bpb ("best" column)
    local file=$1 section=$2 table=${3:-$SHARED/bench/baselines-dev.md}
    awk -v f="$file" -v sec="$section" '
        index($0, sec) == 1 { on = 1; next }
        on && /^## / { on = 0 }
        on && index($0, "| " f) == 1 { n = split($0, c, "|"); print c[n-1]; exit }
    ' "$table" | sed 's/^ *//; s/ *$//'
}

run_table() {  # title section-of-baselines baselines-file [--per-response] files...
    local title=$1 section=$2 table=$3; shift 3
    local mode=()
    if [ "${1:-}" = --per-response ]; then mode=(--per-response); shift; fi
    echo
    echo "## $title"
    "$BENCH" "${args[@]}" "${mode[@]}" "$@" | while IFS= read -r line; do
        case "$line" in
            "#"*) echo "$line" ;;
            file*) echo "$line   best_classical" ;;
            *) f=$(echo "$line" | awk '{print $1}')
               echo "$line   $(baseline "$f" "$section" "$table")" ;;
        esac
    done
}

real=()
if [ -n "${FILES:-}" ]; then
    read -r -a whole <<<"$FILES"
    per=()
else
    for f in "$SHARED"/data/real/*.txt; do real+=("$f"); done
    whole=(); per=()
    for f in "$SHARED"/data/*.txt "$SHARED"/data/llm-adapt-*.jsonl; do whole+=("$f"); done
    for f in "$SHARED"/data/*.jsonl; do
        case "$f" in *-train.jsonl) ;; *) per+=("$f") ;; esac
    done
fi
TABLES=${TABLES:-all}
B=$SHARED/bench/baselines-dev.md
if [ "$TABLES" = all ] || [ "$TABLES" = whole ]; then
    run_table "Whole file" "## Whole-file (corpus) setting, bits per byte" "$B" "${whole[@]}"
fi
brotli_bytes() {  # file -> brotli -q 11's per-response bytes from the baselines
    awk -v f="$1" '
        /^Per-response compressed bytes/ { on = 1; next }
        on && /^## / { on = 0 }
        on && /^\| file/ {
            n = split($0, h, "|")
            for (i = 1; i <= n; i++) { gsub(/ /, "", h[i]); if (h[i] == "brotli") col = i }
            next
        }
        on && col && index($0, "| " f " ") == 1 { split($0, c, "|"); print c[col] + 0; exit }
    ' "$B"
}

# Per response, beside brotli -q 11 (../shared/bench) and zstd -19 with a dictionary
# trained on the other responses (bench/zstd_dict.py): the coded bytes in total.
per_response_summary() {  # the per-response table's lines on stdin
    echo
    echo "| file | responses' bytes | lmz | container/response | brotli -q 11 | zstd -19 -D (2-fold) | lmz/brotli |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    local tl=0 tb=0 tz=0
    while read -r f bytes _ _ _ _ _ coded cont _; do
        local br zd
        br=$(brotli_bytes "$f")
        zd=$(python3 bench/zstd_dict.py "$SHARED/data/$f" | awk '{print $3}')
        echo "| $f | $bytes | $coded | $cont | $br | $zd | $(awk -v a="$coded" -v b="$br" 'BEGIN { printf "%.3f", a / b }') |"
        tl=$((tl + coded)); tb=$((tb + br)); tz=$((tz + zd))
    done
    echo "| total | | $tl | | $tb | $tz | $(awk -v a="$tl" -v b="$tb" 'BEGIN { printf "%.3f", a / b }') |"
}

if [ ${#per[@]} -gt 0 ] && { [ "$TABLES" = all ] || [ "$TABLES" = per ]; }; then
    run_table "Each response on its own (.jsonl lines)" "## Per-response setting" "$B" \
        --per-response "${per[@]}" | tee "${TMPDIR:-/tmp}/lmz-per-response.$$"
    grep -v '^#\|^file\|^$\|^##' "${TMPDIR:-/tmp}/lmz-per-response.$$" | per_response_summary
    rm -f "${TMPDIR:-/tmp}/lmz-per-response.$$"
fi
if [ ${#real[@]} -gt 0 ] && { [ "$TABLES" = all ] || [ "$TABLES" = real ]; }; then
    run_table "Real files (../shared/data/real)" "## Whole-file (corpus) setting, bits per byte" \
        "$SHARED/bench/baselines-dev-real.md" "${real[@]}"
fi
