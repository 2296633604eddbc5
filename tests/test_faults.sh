#!/usr/bin/env bash
# Faults around the lmz CLI (issue 6), beyond tests/test_cli.sh (ulimit -f, /proc as an
# unwritable place, SIGTERM midway): a really full file system and a read-only one
# (tmpfs, in a private mount namespace: tests/faults_tmpfs.sh), a directory the user may
# not write (as an unprivileged user), SIGINT and SIGHUP midway, signals while blocked
# reading a pipe or writing to one, and model files that are missing, not regular,
# truncated or damaged.  After each: the right exit status (1 for an error, 128+N for
# signal N), a message, no output under the final name, no temporary file, the input
# intact.  A check that cannot run here prints "skip NAME -- why" (not counted as a pass).
set -u
source "$(dirname "$0")/lib.sh"

MODEL=$(realpath "${LMZ_TEST_MODEL:-tests/fixtures/ref/llama-gqa-tied-gpt2.gguf}")
unset LMZ_MODEL
lmz() { "$LMZ" -m "$MODEL" "$@"; }
quiet() { "$@" >/dev/null 2>&1; }
skip() { echo "skip $1 -- $2"; }
# Passes when the directory holds no leftover temporary file ".NAME.XXXXXX".
no_temp() { [ -z "$(find "$1" -maxdepth 1 -name '.*.??????' 2>/dev/null)" ]; }
fresh() { local d="$TMP/$1"; rm -rf "$d"; mkdir -p "$d"; echo "$d"; }
# The size of the (single) temporary file in a directory, 0 if none.
temp_size() { local f; f=$(find "$1" -maxdepth 1 -name '.*.??????' | head -1); [ -n "$f" ] && stat -c %s "$f" 2>/dev/null || echo 0; }
case "${BUILD:-}" in *asan*) SLOW=4 ;; *) SLOW=1 ;; esac

IN=$(fresh inputs)
head -c 3000 "$SHARED/data/prose-canterbury-alice29.txt" >"$IN/text"
for f in "$SHARED"/data/*.txt; do cat "$f"; done | head -c 4000000 >"$IN/big-text"
head -c 3000000 /dev/urandom >"$IN/random"
lmz -1 -c "$IN/random" >"$IN/random.lmz"
lmz --lm-always -c "$IN/text" >"$IN/text.lmz"
head -c 300 "$IN/text" >"$IN/short"
lmz --lm-always -c "$IN/short" >"$IN/short.lmz"

# ---------------------------------------------------------------- full and read-only file systems
if [ "$(id -u)" -ne 0 ]; then
    skip tmpfs "not root: cannot mount a small tmpfs"
elif ! unshare --mount --propagation private true 2>/dev/null; then
    skip tmpfs "unshare --mount is not permitted here"
else
    LMZ="$LMZ" MODEL="$MODEL" IN="$IN" \
        unshare --mount --propagation private bash "$(dirname "$0")/faults_tmpfs.sh"
fi

# ---------------------------------------------------------------- a directory we may not write
# Root writes anywhere (test_cli.sh uses /proc); here the same as an unprivileged user.
D=$(fresh noperm); mkdir "$D/ro"; cp "$IN/text" "$D/ro/a"; cp "$IN/text" "$D/b"
chmod 555 "$D/ro"; chmod 644 "$D/ro/a" "$D/b"
as_user=()
# Copies of lmz and the model in $TMP: the checkout may sit under a directory that user
# 65534 cannot enter (a fresh clone under mktemp -d is 0700).
ulmz="$TMP/lmz-as-user" umodel="$TMP/model-as-user.gguf"
cp "$LMZ" "$ulmz" && cp "$MODEL" "$umodel" && chmod 755 "$ulmz" && chmod 644 "$umodel"
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null && chmod 711 "$TMP" "$D" &&
        setpriv --reuid=65534 --regid=65534 --clear-groups "$ulmz" --version >/dev/null 2>&1 &&
        setpriv --reuid=65534 --regid=65534 --clear-groups test -r "$umodel"; then
        as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    else
        skip unwritable-directory-as-user "cannot run lmz as user 65534 here"
    fi
fi
if [ "$(id -u)" -ne 0 ] || [ ${#as_user[@]} -gt 0 ]; then
    "${as_user[@]}" "$ulmz" -m "$umodel" "$D/ro/a" 2>"$D/err1"; rc1=$?
    "${as_user[@]}" "$ulmz" -m "$umodel" -k -o "$D/ro/b.lmz" "$D/b" 2>"$D/err2"; rc2=$?
    check unwritable-directory-in-place eval '[ $rc1 -eq 1 ] && grep -q "Permission denied" "$D/err1" &&
        cmp -s "$D/ro/a" "$IN/text" && [ "$(ls -A "$D/ro")" = a ]'
    check unwritable-directory-output eval '[ $rc2 -eq 1 ] && grep -q "Permission denied" "$D/err2" &&
        cmp -s "$D/b" "$IN/text" && [ "$(ls -A "$D/ro")" = a ]'
fi
chmod 755 "$D/ro"

# ---------------------------------------------------------------- signals
# Background jobs of a script ignore SIGINT; env --default-signal gives lmz the default
# disposition a terminal's lmz has.
if env --default-signal=INT true 2>/dev/null; then
    sigenv=(env --default-signal=INT,TERM,HUP)
else
    sigenv=()
fi
# wait_until COND: poll COND (a shell expression) for up to 20 s.
wait_until() { local i; for i in $(seq 400); do eval "$1" && return 0; sleep 0.05; done; return 1; }
# stop PID SIGNAL: send it, wait up to 60 s for the exit; the exit status goes to $rc.
stop() {
    local pid=$1 i
    kill -"$2" "$pid" 2>/dev/null
    for i in $(seq 1200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null; rc=$?
}

# Compressing a large text (the model codes it: slow), in place: SIGINT and SIGHUP once
# the temporary file exists.
for sig in INT HUP; do
    if [ $sig = INT ] && [ ${#sigenv[@]} -eq 0 ]; then
        skip sigint-compress-midway "env --default-signal is missing"; continue
    fi
    D=$(fresh sig-$sig); cp "$IN/big-text" "$D/big"
    "${sigenv[@]}" "$LMZ" -m "$MODEL" "$D/big" 2>"$D/err" & pid=$!
    wait_until '[ -n "$(find "$D" -maxdepth 1 -name ".big.lmz.*")" ]'; sleep 0.3
    stop $pid $sig
    want=$((128 + $(kill -l $sig)))
    check "sig${sig,,}-compress-midway" eval '[ "$rc" -eq $want ] && [ ! -e "$D/big.lmz" ] && no_temp "$D" &&
        cmp -s "$D/big" "$IN/big-text"'
done

# Decompressing from a pipe that stalls midway: part of the output is in the temporary
# file when SIGINT comes; lmz is blocked in read().
if [ ${#sigenv[@]} -gt 0 ]; then
    D=$(fresh sig-pipe-in); mkfifo "$D/fifo"
    "${sigenv[@]}" "$LMZ" -m "$MODEL" -d -o "$D/out" <"$D/fifo" 2>"$D/err" & pid=$!
    exec 3<>"$D/fifo"      # read-write: opening cannot block
    head -c 1500000 "$IN/random.lmz" >&3
    wait_until '[ "$(temp_size "$D")" -gt 0 ]'; sleep 0.2
    stop $pid INT
    exec 3>&-
    check sigint-decompress-blocked-reading eval '[ "$rc" -eq 130 ] && [ ! -e "$D/out" ] && no_temp "$D"'
else
    skip sigint-decompress-blocked-reading "env --default-signal is missing"
fi

# Compressing from a pipe that stalls after 1.5 MB (one group of -1's 64 KiB chunks is
# written): SIGTERM.
D=$(fresh sig-pipe-in2); mkfifo "$D/fifo"
"$LMZ" -m "$MODEL" -1 -o "$D/out.lmz" <"$D/fifo" 2>"$D/err" & pid=$!
exec 3<>"$D/fifo"
head -c 1500000 "$IN/random" >&3
wait_until '[ "$(temp_size "$D")" -gt 0 ]'; sleep 0.2
stop $pid TERM
exec 3>&-
check sigterm-compress-blocked-reading eval '[ "$rc" -eq 143 ] && [ ! -e "$D/out.lmz" ] && no_temp "$D"'

# Writing to a pipe nobody reads: lmz is blocked in write() when SIGINT comes.
if [ ${#sigenv[@]} -gt 0 ]; then
    D=$(fresh sig-pipe-out); mkfifo "$D/fifo"
    exec 4<>"$D/fifo"      # a reader that never reads (read-write: opening cannot block)
    cp "$IN/random.lmz" "$D/r.lmz"
    "${sigenv[@]}" "$LMZ" -m "$MODEL" -dc "$D/r.lmz" >"$D/fifo" 2>"$D/err" & pid=$!
    sleep $((SLOW / 2)).5
    stop $pid INT
    exec 4>&-
    check sigint-blocked-writing eval '[ "$rc" -eq 130 ] && cmp -s "$D/r.lmz" "$IN/random.lmz"'
else
    skip sigint-blocked-writing "env --default-signal is missing"
fi

# ---------------------------------------------------------------- models missing, not files, damaged
D=$(fresh model); cp "$IN/text" "$D/a"; cp "$IN/text.lmz" "$D/z.lmz"; M=$(fresh models)
# model_fails NAME MODEL: compressing in place and decompressing with MODEL both fail
# with a message naming the model, and leave every file as it was.
model_fails() {
    local m=$2 rc1 rc2
    timeout 60 "$LMZ" -m "$m" "$D/a" 2>"$D/err1"; rc1=$?
    timeout 60 "$LMZ" -m "$m" -d "$D/z.lmz" 2>"$D/err2"; rc2=$?
    [ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] && grep -q "cannot load the model" "$D/err1" &&
        grep -q "cannot load the model" "$D/err2" && ! grep -q "(null)" "$D/err1" &&
        cmp -s "$D/a" "$IN/text" && cmp -s "$D/z.lmz" "$IN/text.lmz" &&
        [ "$(ls -A "$D" | grep -v '^err' | sort | tr '\n' ' ')" = "a z.lmz " ] ||
        { echo "  $1: exits $rc1 $rc2: $(cat "$D/err1" "$D/err2")"; return 1; }
}
check model-missing model_fails missing "$D/nope.gguf"
check model-is-a-directory model_fails directory "$M"
check model-is-dev-zero model_fails dev-zero /dev/zero
: >"$M/empty.gguf"
check model-empty model_fails empty "$M/empty.gguf"
# A FIFO: opening it used to wait for a writer forever (regression, src/gguf/gguf_read.c).
mkfifo "$M/fifo.gguf"
check model-is-a-fifo-no-hang model_fails fifo "$M/fifo.gguf"
if [ "$(id -u)" -ne 0 ]; then
    cp "$MODEL" "$M/noread.gguf"; chmod 000 "$M/noread.gguf"
    check model-unreadable model_fails unreadable "$M/noread.gguf"
fi

# Truncated at every structure boundary of the GGUF header and a few places in the
# weights.
size=$(stat -c %s "$MODEL"); n=0; bad=0
for cut in 0 1 3 4 7 8 15 16 23 24 40 100 657 4044 5599 6000 6763 6764 6784 \
           $((size / 2)) $((size - 4)) $((size - 1)); do
    head -c "$cut" "$MODEL" >"$M/cut.gguf"
    n=$((n + 1))
    model_fails "cut at $cut" "$M/cut.gguf" || bad=$((bad + 1))
done
check "truncated-model ($n cut points, compress and decompress each)" [ $bad -eq 0 ]

# Single-bit flips all over the model's header and in its weights: each damaged model is
# refused, or recognised as another model by the streams, or is the same model (tests/
# model_damage.py).  Every 13th byte of the header here, every 29th under ASan.
python3 "$(dirname "$0")/model_damage.py" "$LMZ" "$MODEL" "$IN/short" "$IN/short.lmz" "$M" \
    "${LMZ_DAMAGE_STRIDE:-$((SLOW == 1 ? 13 : 29))}"
