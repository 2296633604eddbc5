#!/usr/bin/env bash
# Large inputs (issue 6).  Too slow for `make test` (a few minutes, ~6 GB of disk for a
# while); run by `make test-large`, or:  LMZ=./lmz bash tests/large/run.sh
#
#  1. Generated streams of 64 MiB and 1 GiB -- 1 MiB blocks of random bytes (RAW chunks)
#     alternating with 1 MiB of zeros (ZSTD chunks); the tiny fixture model is skipped on
#     such chunks -- round-trip through pipes (lmz -c | lmz -dc) at -1 and at the default
#     level, byte for byte (md5).  Peak RSS of compressor and decompressor
#     (/usr/bin/time) must not grow with the input: 1 GiB within 16 MiB of 64 MiB.
#  2. A 1 GiB file compressed in place and back (temporary file, fsync, read-back
#     verification, rename, input removed), the same bytes, RSS likewise.
#  3. Above 4 GiB (64-bit sizes everywhere): a 5 GiB stream (4 GiB of zeros, 1 MiB of
#     random bytes, 1 GiB of zeros) through pipes, the same bytes out, listed (lmz -l) as
#     5368709120 bytes; a sparse 5 GiB file compressed in place, listed, tested (-t) and
#     decompressed to 5 GiB of zeros.
# Prints each measurement with its command, ok / not ok lines and "N passed, N failed".
# Environment: LMZ (default ./lmz), LMZ_TEST_MODEL, TMPDIR (where the big files go).
set -u
cd "$(dirname "$0")/../.."
export LMZ=${LMZ:-./lmz}
source tests/lib.sh
MODEL=$(realpath "${LMZ_TEST_MODEL:-tests/fixtures/ref/llama-gqa-tied-gpt2.gguf}")
unset LMZ_MODEL
passed=0; failed=0
ok()     { echo "ok $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok $1${2:+ -- $2}"; failed=$((failed + 1)); }
check()  { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n" "command failed: $*"; fi; }
TIME=/usr/bin/time
if [ ! -x $TIME ]; then
    echo "$TIME is missing (Debian package 'time'; tools/setup-debian.sh installs it)"
    exit 1
fi
echo "lmz: $LMZ ($("$LMZ" --version | head -1)), model $MODEL, files in $TMP"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

head -c 1048576 /dev/urandom >"$TMP/R"
# The peak RSS (KiB) and the seconds that /usr/bin/time -f '%M %e' wrote to a file.
rss()  { awk 'END { print $1 }' "$1"; }
secs() { awk 'END { print $2 }' "$1"; }
declare -A RSS

# ---------------------------------------------------------------- 1. pipes
for level in 1 5; do
    for mib in 64 1024; do
        want=$(gen_mixed $mib | md5sum | cut -d' ' -f1)
        gen_mixed $mib | $TIME -f '%M %e' -o "$TMP/c.time" "$LMZ" -m "$MODEL" -$level -c |
            tee >(wc -c >"$TMP/c.size") |
            $TIME -f '%M %e' -o "$TMP/d.time" "$LMZ" -m "$MODEL" -dc | md5sum | cut -d' ' -f1 >"$TMP/got"
        got=$(cat "$TMP/got")
        RSS[c$level-$mib]=$(rss "$TMP/c.time"); RSS[d$level-$mib]=$(rss "$TMP/d.time")
        printf 'pipe -%d %5d MiB -> %10d bytes: compress %6s s, peak RSS %6d KiB; decompress %6s s, peak RSS %6d KiB\n' \
            $level $mib "$(cat "$TMP/c.size")" "$(secs "$TMP/c.time")" "${RSS[c$level-$mib]}" \
            "$(secs "$TMP/d.time")" "${RSS[d$level-$mib]}"
        check "pipe-roundtrip-level$level-${mib}MiB" [ "$got" = "$want" ]
    done
    for side in c d; do
        small=${RSS[$side$level-64]} big=${RSS[$side$level-1024]}
        check "rss-bounded-level$level-$side (64 MiB: $small KiB, 1 GiB: $big KiB)" \
            [ $((big - small)) -lt 16384 ]
    done
done
echo "command: gen N | $TIME -f '%M %e' lmz -m MODEL -L -c | $TIME -f '%M %e' lmz -m MODEL -dc | md5sum"

# ---------------------------------------------------------------- 2. a file in place
D=$TMP/file; mkdir -p "$D"
gen_mixed 1024 >"$D/big"; want=$(md5sum <"$D/big")
$TIME -f '%M %e' -o "$TMP/c.time" "$LMZ" -m "$MODEL" -1 "$D/big"; rc1=$?
size=$(stat -c %s "$D/big.lmz" 2>/dev/null)
$TIME -f '%M %e' -o "$TMP/d.time" "$LMZ" -m "$MODEL" -d "$D/big.lmz"; rc2=$?
printf 'file -1 1024 MiB -> %10s bytes: compress %6s s, peak RSS %6d KiB; decompress %6s s, peak RSS %6d KiB\n' \
    "$size" "$(secs "$TMP/c.time")" "$(rss "$TMP/c.time")" "$(secs "$TMP/d.time")" "$(rss "$TMP/d.time")"
echo "command: lmz -m MODEL -1 big && lmz -m MODEL -d big.lmz (under $TIME -f '%M %e')"
check file-roundtrip-1GiB eval '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ ! -e "$D/big.lmz" ] &&
    [ "$(md5sum <"$D/big")" = "$want" ]'
fc=$(rss "$TMP/c.time") fd=$(rss "$TMP/d.time")
check "rss-bounded-file (1 GiB: compress $fc KiB, decompress $fd KiB)" \
    eval '[ $((fc - ${RSS[c1-64]})) -lt 16384 ] && [ $((fd - ${RSS[d1-64]})) -lt 16384 ]'
rm -rf "$D"

# ---------------------------------------------------------------- 3. above 4 GiB
big5() { head -c 4294967296 /dev/zero; cat "$TMP/R"; head -c 1073741824 /dev/zero; }
total=$((4294967296 + 1048576 + 1073741824))
want=$(big5 | md5sum | cut -d' ' -f1)
start=$(date +%s)
big5 | "$LMZ" -m "$MODEL" -1 -c | tee "$TMP/5g.lmz" |
    $TIME -f '%M %e' -o "$TMP/d.time" "$LMZ" -m "$MODEL" -dc | md5sum | cut -d' ' -f1 >"$TMP/got"
printf 'pipe -1 %d bytes (> 4 GiB) -> %d bytes in %d s; decompress peak RSS %d KiB\n' $total \
    "$(stat -c %s "$TMP/5g.lmz")" $(($(date +%s) - start)) "$(rss "$TMP/d.time")"
echo "command: { head -c 4G /dev/zero; cat R; head -c 1G /dev/zero; } | lmz -m MODEL -1 -c | lmz -m MODEL -dc | md5sum"
check "pipe-roundtrip-over-4GiB ($total bytes)" [ "$(cat "$TMP/got")" = "$want" ]
"$LMZ" -l "$TMP/5g.lmz" >"$TMP/list"
cat "$TMP/list"
check listed-size-over-4GiB grep -q " $total " "$TMP/list"
check_exit test-over-4GiB 0 "$LMZ" -m "$MODEL" -tq "$TMP/5g.lmz"
rm -f "$TMP/5g.lmz"

D=$TMP/sparse; mkdir -p "$D"
truncate -s 5G "$D/s"
start=$(date +%s)
"$LMZ" -m "$MODEL" -1 "$D/s"; rc1=$?
"$LMZ" -l "$D/s.lmz" | tee "$TMP/list"
check_exit test-sparse-5GiB 0 "$LMZ" -m "$MODEL" -tq "$D/s.lmz"
"$LMZ" -m "$MODEL" -d "$D/s.lmz"; rc2=$?
printf 'sparse 5 GiB file: compressed in place, listed, tested, decompressed in %d s\n' $(($(date +%s) - start))
check sparse-5GiB-file eval '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && grep -q " 5368709120 " "$TMP/list" &&
    [ "$(stat -c %s "$D/s")" = 5368709120 ] && cmp -s "$D/s" <(head -c 5G /dev/zero)'
rm -rf "$D"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
