#!/usr/bin/env bash
# Run the libFuzzer harnesses that `make fuzz-build` put in build/fuzz/ (fuzz/README.md).
#
#   bash fuzz/run.sh [-t SECONDS] [-j JOBS] [-d CORPUS_ROOT] [-o OUT] [-b BIN] [NAME...]
#
# NAME: gguf, container, tokenizer, options, model, adapter (default: every fuzz/fuzz_*.c).
# For each harness: every file of fuzz/regressions/NAME/ is replayed once (a crash there
# is a regression), then BIN/fuzz_NAME (default build/fuzz/) fuzzes for SECONDS (default
# 600) on
# CORPUS_ROOT/NAME (default build/fuzz/corpus/NAME), seeded with a copy of
# fuzz/corpus/NAME/ (plus small GGUF files for gguf and model), so the committed seeds
# never grow.  JOBS harnesses run at once (default 1).  One line per step:
#   ok fuzz-NAME: N runs in S s (R/s), cov C, ft F, corpus K files
#   not ok fuzz-NAME -- crash, input saved as OUT/artifacts/NAME-crash-...
# Full logs: OUT/logs/NAME.log (OUT default build/fuzz).  For long runs while others may
# rebuild build/fuzz, copy the binaries elsewhere and name that folder with -b.
# Environment: FUZZ_NICE (a nice level), FUZZ_ARGS (more libFuzzer flags).
set -u
cd "$(dirname "$0")/.."
seconds=600; jobs=1; corpus_root=build/fuzz/corpus; out=build/fuzz; bin=build/fuzz
while getopts t:j:d:o:b: o; do
    case $o in
    t) seconds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    d) corpus_root=$OPTARG ;;
    o) out=$OPTARG ;;
    b) bin=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in fuzz/fuzz_*.c; do n=${f#fuzz/fuzz_}; names+=("${n%.c}"); done
fi

export LMZ_FUZZ_ROOT=$PWD
# UBSan findings abort like ASan's (the harnesses are built without
# -fno-sanitize-recover: with it clang 14 needs minutes for the AVX-512 kernels)
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}
logs=$out/logs artifacts=$out/artifacts
mkdir -p "$logs" "$artifacts"
nice_cmd=()
[ -n "${FUZZ_NICE:-}" ] && nice_cmd=(nice -n "$FUZZ_NICE")

seeds() {  # the seed files of harness $1
    ls -d fuzz/corpus/"$1"/* 2>/dev/null
    case $1 in
    gguf) ls -d tests/fixtures/gguf/*.gguf fuzz/corpus/model/* 2>/dev/null ;;
    model) ls -d tests/fixtures/gguf/*.gguf 2>/dev/null ;;
    adapter) ls -d tests/fixtures/ref/lora/*.lora.gguf 2>/dev/null ;;
    esac
}

# libFuzzer flags of harness $1.  The container format lets a record claim up to
# 4 GiB of payload and 2^30 tokens, which a decoder may allocate before reading them
# (doc/format.md section 4): only allocations beyond that are reported.
harness_flags() {
    case $1 in
    container) echo -malloc_limit_mb=4100 ;;
    esac
}

# Replay the regression inputs of $1; prints its ok / not ok line (none if it has none).
# A regression input that hangs fails too (-timeout).
replay() {
    local name=$1 exe=$bin/fuzz_$1 files
    files=(fuzz/regressions/"$name"/*)
    [ -e "${files[0]}" ] || return 0
    # shellcheck disable=SC2046
    if "$exe" -timeout=20 $(harness_flags "$name") "${files[@]}" \
            >"$logs/$name-regressions.log" 2>&1; then
        echo "ok fuzz-regressions-$name: ${#files[@]} input(s) replayed"
    else
        echo "not ok fuzz-regressions-$name -- see $logs/$name-regressions.log"
        grep -E 'ERROR|invariant broken|runtime error|Running: ' "$logs/$name-regressions.log" | tail -5
        return 1
    fi
}

# Fuzz harness $1 for $seconds; writes its result line to $logs/$1.result.
fuzz_one() {
    local name=$1 exe=$bin/fuzz_$1 corpus=$corpus_root/$1 log=$logs/$1.log
    local dict=() start rc
    mkdir -p "$corpus"
    seeds "$name" | xargs -r cp -t "$corpus"
    [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
    start=$(date +%s)
    # shellcheck disable=SC2046,SC2086
    "${nice_cmd[@]}" "$exe" -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$name-" "${dict[@]}" $(harness_flags "$name") \
        ${FUZZ_ARGS:-} "$corpus" >"$log" 2>&1
    rc=$?
    local took=$(( $(date +%s) - start ))
    local runs cov ft files
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    files=$(find "$corpus" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        echo "ok fuzz-$name: ${runs:-?} runs in $took s ($(( ${runs:-0} / (took > 0 ? took : 1) ))/s), cov ${cov:-?}, ft ${ft:-?}, corpus $files files" >"$logs/$name.result"
    else
        local art
        art=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -1)
        { echo "not ok fuzz-$name -- exit $rc after $took s${art:+, input saved as $art} (log: $log)"
          grep -E 'ERROR|invariant broken|runtime error|SUMMARY' "$log" | head -5; } >"$logs/$name.result"
    fi
}

status=0
for name in "${names[@]}"; do
    if [ ! -x "$bin/fuzz_$name" ]; then
        echo "not ok fuzz-$name -- $bin/fuzz_$name missing (make fuzz-build)"
        status=1
        continue
    fi
    replay "$name" || status=1
done
running=0
for name in "${names[@]}"; do
    [ -x "$bin/fuzz_$name" ] || continue
    rm -f "$logs/$name.result"
    fuzz_one "$name" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
for name in "${names[@]}"; do
    [ -f "$logs/$name.result" ] || continue
    cat "$logs/$name.result"
    grep -q '^not ok' "$logs/$name.result" && status=1
done
exit $status
