#!/usr/bin/env bash
# The fast part of the large-input checks (issue 6; tests/large/run.sh has 1 GiB and
# > 4 GiB): a generated 64 MiB stream -- 1 MiB blocks of random bytes (RAW chunks)
# alternating with 1 MiB of zeros (ZSTD chunks) -- round-trips through pipes at -1, and the
# peak RSS of compressor and decompressor (/usr/bin/time) for 64 MiB stays within 16 MiB
# of that for 4 MiB: memory does not grow with the input.
set -u
source "$(dirname "$0")/lib.sh"
MODEL=$(realpath "${LMZ_TEST_MODEL:-tests/fixtures/ref/llama-gqa-tied-gpt2.gguf}")
unset LMZ_MODEL
# ASan keeps up to 256 MB of freed memory in quarantine, which would look like growth.
case "${BUILD:-}" in *asan*) export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1 ;; esac

head -c 1048576 /dev/urandom >"$TMP/R"
TIME=/usr/bin/time
[ -x $TIME ] || TIME=
declare -A RSS
for mib in 4 64; do
    want=$(gen_mixed $mib | md5sum)
    if [ -n "$TIME" ]; then
        gen_mixed $mib | $TIME -f %M -o "$TMP/c.rss" "$LMZ" -m "$MODEL" -1 -c >"$TMP/s.lmz"
        got=$($TIME -f %M -o "$TMP/d.rss" "$LMZ" -m "$MODEL" -dc "$TMP/s.lmz" | md5sum)
        RSS[c$mib]=$(tail -1 "$TMP/c.rss"); RSS[d$mib]=$(tail -1 "$TMP/d.rss")
    else
        gen_mixed $mib | "$LMZ" -m "$MODEL" -1 -c >"$TMP/s.lmz"
        got=$("$LMZ" -m "$MODEL" -dc "$TMP/s.lmz" | md5sum)
    fi
    check "stream-roundtrip-${mib}MiB" [ "$got" = "$want" ]
done
check stream-listed-64MiB eval '"$LMZ" -l "$TMP/s.lmz" | grep -q " 67108864 "'
if [ -n "$TIME" ]; then
    check "stream-rss-bounded (compress ${RSS[c4]} -> ${RSS[c64]} KiB, decompress ${RSS[d4]} -> ${RSS[d64]} KiB)" \
        eval '[ $((RSS[c64] - RSS[c4])) -lt 16384 ] && [ $((RSS[d64] - RSS[d4])) -lt 16384 ]'
else
    echo "skip stream-rss-bounded -- /usr/bin/time is missing (Debian package time)"
fi
