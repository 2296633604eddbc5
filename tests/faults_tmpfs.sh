#!/usr/bin/env bash
# Full and read-only file systems, for tests/test_faults.sh, which runs this script in a
# private mount namespace (unshare --mount): the small tmpfs mounts it makes vanish with
# it, whatever happens.  Needs LMZ, MODEL and IN (test_faults.sh's inputs) in the
# environment.  Prints ok / not ok / skip lines.
set -u
source "$(dirname "$0")/lib.sh"
trap 'umount "$TMP/full" "$TMP/ro" 2>/dev/null; rm -rf "$TMP"' EXIT
lmz() { "$LMZ" -m "$MODEL" "$@"; }
no_temp() { [ -z "$(find "$1" -maxdepth 1 -name '.*.??????' 2>/dev/null)" ]; }

F=$TMP/full; mkdir -p "$F" "$TMP/ro"
if ! mount -t tmpfs -o size=512k,mode=755 lmz-test-full "$F" 2>"$TMP/mount.err"; then
    echo "skip full-file-system -- cannot mount a tmpfs: $(cat "$TMP/mount.err")"
    exit 0
fi
# 1 MB of random bytes does not fit the 512 KiB file system; stored RAW, neither does its
# .lmz.  An .lmz of 2 MB of zeros is tiny, its content does not fit.
head -c 1000000 "$IN/random" >"$TMP/r1m"; cp "$TMP/r1m" "$TMP/r1m.copy"
head -c 2000000 /dev/zero >"$TMP/zeros"
lmz -c "$TMP/zeros" >"$TMP/zeros.lmz"

# Compressing into the full file system: ENOSPC while writing the temporary file.
lmz -k -o "$F/r.lmz" "$TMP/r1m" 2>"$TMP/err"; rc=$?
check full-fs-compress-output eval '[ $rc -eq 1 ] && grep -q "No space left on device" "$TMP/err" &&
    [ -z "$(ls -A "$F")" ] && cmp -s "$TMP/r1m" "$TMP/r1m.copy"'

# Compressing in place, the input on the full file system (300 KB of 512 KiB used).
head -c 300000 "$TMP/r1m" >"$F/in"; cp "$F/in" "$TMP/in.copy"
lmz "$F/in" 2>"$TMP/err"; rc=$?
check full-fs-compress-in-place eval '[ $rc -eq 1 ] && grep -q "No space left on device" "$TMP/err" &&
    [ "$(ls -A "$F")" = in ] && cmp -s "$F/in" "$TMP/in.copy"'

# Several files: the one that does not fit fails, the next small one still succeeds.
head -c 3000 "$IN/text" >"$F/small"
lmz "$F/in" "$F/small" 2>"$TMP/err"; rc=$?
check full-fs-continue-with-next-file eval '[ $rc -eq 1 ] && cmp -s "$F/in" "$TMP/in.copy" &&
    [ ! -e "$F/in.lmz" ] && [ ! -e "$F/small" ] && lmz -dc "$F/small.lmz" | cmp -s - "$IN/text" &&
    no_temp "$F"'
rm -f "$F"/*

# Decompressing in place: the .lmz is small, its content is not.
cp "$TMP/zeros.lmz" "$F/z.lmz"
lmz -d "$F/z.lmz" 2>"$TMP/err"; rc=$?
check full-fs-decompress-in-place eval '[ $rc -eq 1 ] && grep -q "No space left on device" "$TMP/err" &&
    [ "$(ls -A "$F")" = z.lmz ] && cmp -s "$F/z.lmz" "$TMP/zeros.lmz"'
# Testing writes nothing, so a full file system does not matter.
check_exit full-fs-test-still-works 0 lmz -tq "$F/z.lmz"

# Standard output on the full file system: a write error, exit 1.
lmz -dc "$F/z.lmz" >"$F/out" 2>"$TMP/err"; rc=$?
check full-fs-stdout eval '[ $rc -eq 1 ] && grep -q "write error: No space left on device" "$TMP/err" &&
    cmp -s "$F/z.lmz" "$TMP/zeros.lmz"'
rm -f "$F"/*

# A read-only file system: nothing can be created there, even by root.
R=$TMP/ro
if mount -t tmpfs -o size=64k lmz-test-ro "$R" 2>/dev/null && cp "$IN/text" "$R/a" &&
    mount -o remount,ro "$R" 2>/dev/null; then
    lmz -k -o "$R/x.lmz" "$IN/text" 2>"$TMP/err1"; rc1=$?
    lmz "$R/a" 2>"$TMP/err2"; rc2=$?
    check read-only-fs eval '[ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] && grep -q "Read-only file system" "$TMP/err1" &&
        grep -q "Read-only file system" "$TMP/err2" && [ "$(ls -A "$R")" = a ] && cmp -s "$R/a" "$IN/text"'
else
    echo "skip read-only-fs -- cannot mount a read-only tmpfs"
fi
