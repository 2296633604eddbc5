#!/usr/bin/env bash
# make frontier: the compression-compute frontier.  Bits per byte against compression
# speed for every level of lmz (built-in models) and for the classical compressors, on the
# same sample of ../shared/data, drawn as bench/out/frontier.png (gnuplot) with the
# figures in bench/out/frontier.tsv.
#
#   bash bench/frontier.sh                   first 128 KiB of four LLM and prose files
#   SAMPLE_BYTES=0 bash bench/frontier.sh    whole files (hours at the strong levels)
#   FILES='a.txt b.txt' LEVELS='1 5 9' THREADS=2 bash bench/frontier.sh
#
# Needs: gnuplot (gnuplot-nox), xz-utils, zstd, brotli, bzip3, zpaq from Debian.
# Speeds are wall-clock, for the whole sample, compressing and decompressing (KB of
# input per second); each compressor runs single-threaded except lmz, which gets THREADS.
# The plot shows compression speed.  Every lmz run is decompressed and
# compared by lmz_bench; the classical ones are decompressed and compared here.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${LMZ_SHARED:-$(cd .. && pwd)/shared}
SAMPLE_BYTES=${SAMPLE_BYTES:-131072}
LEVELS=${LEVELS:-1 2 3 4 5 6 7 8 9}
THREADS=${THREADS:-2}
FILES=${FILES:-"$SHARED/data/llm-gpt-4o-2024-05-13.txt $SHARED/data/llm-claude-3-opus-20240229.txt $SHARED/data/prose-brown-sample-a.txt $SHARED/data/prose-canterbury-lcet10.txt"}
OUT=bench/out
BENCH=build/release/bench/lmz_bench
mkdir -p "$OUT"
for tool in gnuplot xz zstd brotli bzip3 zpaq; do
    command -v "$tool" >/dev/null ||
        { echo "frontier: $tool is missing (apt-get install gnuplot-nox xz-utils zstd brotli bzip3 zpaq)" >&2; exit 1; }
done
[ -x "$BENCH" ] || { echo "frontier: build $BENCH first (make bench-build)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lmz-frontier.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
samples=()
for f in $FILES; do
    s="$WORK/$(basename "$f")"
    if [ "$SAMPLE_BYTES" -gt 0 ]; then head -c "$SAMPLE_BYTES" "$f" >"$s"; else cp "$f" "$s"; fi
    samples+=("$s")
done
total=$(cat "${samples[@]}" | wc -c)

now() { date +%s.%N; }
tsv="$OUT/frontier.tsv"
printf "compressor\tsetting\tbpb\tcompress_KB_s\tdecompress_KB_s\n" >"$tsv"

# Classical: compress each sample file on its own (timed), then decompress and compare.
# The commands read $in and write $out.
classical() {  # name setting compress-cmd decompress-cmd
    local name=$1 setting=$2 comp=$3 decomp=$4 bytes=0 t0 t1 t2 s in out
    t0=$(now)
    for s in "${samples[@]}"; do
        in=$s out="$WORK/$name.$(basename "$s")"
        eval "$comp"
        bytes=$((bytes + $(wc -c <"$out")))
    done
    t1=$(now)
    for s in "${samples[@]}"; do
        in="$WORK/$name.$(basename "$s")" out="$WORK/$name.out.$(basename "$s")"
        eval "$decomp"
    done
    t2=$(now)
    for s in "${samples[@]}"; do
        cmp -s "$WORK/$name.out.$(basename "$s")" "$s" ||
            { echo "frontier: $name did not round-trip $s" >&2; exit 1; }
    done
    awk -v n="$name" -v s="$setting" -v b="$bytes" -v raw="$total" -v t0="$t0" -v t1="$t1" \
        -v t2="$t2" 'BEGIN { printf "%s\t%s\t%.4f\t%.1f\t%.1f\n", n, s, 8 * b / raw,
                             raw / 1024 / (t1 - t0), raw / 1024 / (t2 - t1) }' >>"$tsv"
}
classical xz "-9e" 'xz -9e -T1 -c "$in" >"$out"' 'xz -dc "$in" >"$out"'
classical zstd "-19" 'zstd -q -19 -c "$in" >"$out"' 'zstd -q -dc "$in" >"$out"'
classical brotli "-q 11" 'brotli -q 11 -w 24 -c "$in" >"$out"' 'brotli -dc "$in" >"$out"'
classical bzip3 "" 'bzip3 -c -e "$in" >"$out"' 'bzip3 -c -d "$in" >"$out"'
# zpaq writes archives (with ~1 KB of model description each, counted as in the
# baselines); extraction recreates the stored path under -to.
classical zpaq "-m5" 'rm -f "$out.zpaq"; zpaq a "$out.zpaq" "$in" -m5 -t1 -noattributes >/dev/null 2>&1 && mv "$out.zpaq" "$out"' \
    'rm -rf "$WORK/x"; cp "$in" "$WORK/x.zpaq"; zpaq x "$WORK/x.zpaq" -to "$WORK/x" >/dev/null 2>&1; find "$WORK/x" -type f -exec cat {} + >"$out"'

# lmz: every level over the same sample (lmz_bench sums the files).
for l in $LEVELS; do
    "$BENCH" --no-ce -l "$l" -T "$THREADS" "${samples[@]}" >"$WORK/lmz.$l"
    awk -v l="$l" '!/^#/ && !/^file/ { raw += $2; bits += $4 * $2; t += $2 / 1024 / $6
                                      td += $2 / 1024 / $7 }
        END { printf "lmz\t-%s\t%.4f\t%.1f\t%.1f\n", l, bits / raw, raw / 1024 / t,
                     raw / 1024 / td }' "$WORK/lmz.$l" >>"$tsv"
done

cat "$tsv"
gnuplot <<EOF
set terminal pngcairo size 1000,640 noenhanced
set output "$OUT/frontier.png"
set datafile separator "\t"
set title "lmz levels (-1 lmz-t1, -2..-7 lmz-s2, -8/-9 lmz-m1; $THREADS threads) and classical compressors\\n$(echo $FILES | wc -w) files of ../shared/data, first $SAMPLE_BYTES bytes of each"
set xlabel "compression speed, KB/s (log scale)"
set ylabel "bits per byte (lower is better)"
set logscale x
set grid
set key off
lmz(y) = strcol(1) eq "lmz" ? y : 1/0
other(y) = strcol(1) ne "lmz" ? y : 1/0
plot "$tsv" every ::1 using 4:(lmz(\$3)) with linespoints lw 2 pt 7 lc rgb "#c03020", \
     "" every ::1 using 4:(lmz(\$3)):2 with labels offset 1.8,0.7 tc rgb "#c03020", \
     "" every ::1 using 4:(other(\$3)) with points pt 5 ps 1.3 lc rgb "#2050a0", \
     "" every ::1 using 4:(other(\$3)):(strcol(1)." ".strcol(2)) with labels offset 0,-1.1 tc rgb "#2050a0"
EOF
echo "frontier: $OUT/frontier.png, $tsv"
