#!/usr/bin/env bash
# End-to-end tests of the lmz command-line program ($LMZ, set by tests/run.sh) with a
# tiny model from tests/fixtures/ref/ (or $LMZ_TEST_MODEL): round trips, the file
# conventions (-k -c -o -f, suffixes, stdin/stdout, tar -I), -t and -l, and the safety
# promises: a failed or interrupted run never leaves a partial output under the final
# name and never loses the input.
set -u
source "$(dirname "$0")/lib.sh"

MODEL=${LMZ_TEST_MODEL:-}
if [ -z "$MODEL" ]; then
    if [ -f tests/fixtures/ref/llama-gqa-tied-gpt2.gguf ]; then
        MODEL=tests/fixtures/ref/llama-gqa-tied-gpt2.gguf
    else
        MODEL=$(ls tests/fixtures/ref/*.gguf 2>/dev/null | head -1)
    fi
fi
if [ -z "$MODEL" ] || [ ! -f "$MODEL" ]; then
    not_ok model-fixture "no model in tests/fixtures/ref/*.gguf (or \$LMZ_TEST_MODEL)"
    exit 1
fi
MODEL=$(realpath "$MODEL")
unset LMZ_MODEL

lmz() { "$LMZ" -m "$MODEL" "$@"; }
# Passes when the directory holds no leftover temporary file ".NAME.XXXXXX".
no_temp() { [ -z "$(find "$1" -maxdepth 1 -name '.*.??????' 2>/dev/null)" ]; }
# Flip the bits of the byte in the middle of a file.
corrupt() {
    local f=$1 off b
    off=$(( $(stat -c %s "$f") / 2 ))
    b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
    printf "\\$(printf %03o $(( b ^ 0xff )))" | dd of="$f" bs=1 seek="$off" conv=notrunc 2>/dev/null
}
# Run a command with its output discarded (check_exit's own "ok" line must still show).
quiet() { "$@" >/dev/null 2>&1; }
# Print a fresh empty directory under $TMP.
fresh() { local d="$TMP/$1"; rm -rf "$d"; mkdir -p "$d"; echo "$d"; }

# ---------------------------------------------------------------- round trips
# Compress FILE in place (input removed, mode and mtime kept), decompress it back.
roundtrip() {
    local name=$1 src=$2 d
    d=$(fresh "rt-$name")
    cp "$src" "$d/f"; cp "$src" "$d/orig"
    chmod 640 "$d/f"; touch -d '2001-02-03 04:05:06' "$d/f"
    lmz "$d/f" && [ ! -e "$d/f" ] && [ -f "$d/f.lmz" ] &&
        [ "$(stat -c '%a %Y' "$d/f.lmz")" = "640 $(date -d '2001-02-03 04:05:06' +%s)" ] &&
        lmz -d "$d/f.lmz" && [ ! -e "$d/f.lmz" ] && cmp -s "$d/f" "$d/orig" &&
        [ "$(stat -c '%a' "$d/f")" = 640 ] && no_temp "$d"
}
IN=$(fresh inputs)
for f in prose-canterbury-alice29.txt code-c-glibc-headers.txt llm-gpt-4o-2024-05-13.jsonl; do
    head -c 20000 "$SHARED/data/$f" >"$IN/$f"
    check "roundtrip-$f" roundtrip "$f" "$IN/$f"
done
: >"$IN/empty"
printf 'x' >"$IN/one"
head -c 5000 /dev/urandom >"$IN/random"
check roundtrip-empty roundtrip empty "$IN/empty"
check roundtrip-1-byte roundtrip one "$IN/one"
check roundtrip-random-binary roundtrip random "$IN/random"
# The other checks are about files and options, not the model: a small text keeps them
# fast (under ASan too).
TEXT="$IN/text"
head -c 3000 "$IN/prose-canterbury-alice29.txt" >"$TEXT"

# The random-weight fixture models never beat zstd, so --lm-always makes the model code
# the chunks: the LM path must round-trip too, and give the same bytes whatever the thread
# count or SIMD path (the format's core promise; the scalar path is slow, so 500 bytes;
# 1 KiB chunks so that threads have several chunks to share).
D=$(fresh lm); cp "$TEXT" "$D/a"
check roundtrip-lm-chunks eval 'lmz --lm-always -k "$D/a" && "$LMZ" -l "$D/a.lmz" | grep -q " [1-9][0-9]*/0/0 " &&
    lmz -dc "$D/a.lmz" | cmp -s - "$TEXT"'
head -c 500 "$TEXT" >"$D/small"
check deterministic-threads-simd bash -c '
    a=$("$0" -m "$1" --lm-always -c -T1 --simd=scalar "$2" | md5sum)
    b=$("$0" -m "$1" --lm-always -c -T2 "$2" | md5sum)
    c=$("$0" -m "$1" --lm-always --chunk-size=1K -c -T1 "$3" | md5sum)
    d=$("$0" -m "$1" --lm-always --chunk-size=1K -c -T2 "$3" | md5sum)
    [ "$a" = "$b" ] && [ "$c" = "$d" ]' "$LMZ" "$MODEL" "$D/small" "$TEXT"
check levels-1-and-9 bash -c '
    for l in 1 9; do "$0" -m "$1" -$l -c "$2" | "$0" -m "$1" -dc | cmp -s - "$2" || exit 1; done' \
    "$LMZ" "$MODEL" "$TEXT"

# ---------------------------------------------------------------- built-in models
# Without -m the level picks the built-in model (-1 lmz-t1, -2..-7 lmz-s2, -8 and -9
# lmz-m1), and
# decompression finds each stream's own, whatever level the decompressor was given.
# A short text: lmz-m1 codes ~2 KB/s, and ~10x slower under ASan.
D=$(fresh builtin); head -c 300 "$TEXT" >"$D/t"
if "$LMZ" -V | grep -q "built-in model: lmz-m1 (" && "$LMZ" -V | grep -q "built-in model: lmz-s2 (" &&
   "$LMZ" -V | grep -q "built-in model: lmz-t1 ("; then
    check builtin-level-picks-model eval '"$LMZ" -1 --lm-always -c "$D/t" >"$D/1.lmz" &&
        "$LMZ" -2 --lm-always -c "$D/t" >"$D/2.lmz" &&
        "$LMZ" -9 --lm-always -c "$D/t" >"$D/9.lmz" &&
        "$LMZ" -l "$D/1.lmz" | grep -q " lmz-t1 " && "$LMZ" -l "$D/2.lmz" | grep -q " lmz-s2 " &&
        "$LMZ" -l "$D/9.lmz" | grep -q " lmz-m1 "'
    check builtin-decodes-any-level eval '"$LMZ" -dc "$D/9.lmz" | cmp -s - "$D/t" &&
        "$LMZ" -1 -dc "$D/9.lmz" | cmp -s - "$D/t" && "$LMZ" -9 -dc "$D/1.lmz" | cmp -s - "$D/t" &&
        "$LMZ" -5 -dc "$D/1.lmz" | cmp -s - "$D/t" && "$LMZ" -1 -dc "$D/2.lmz" | cmp -s - "$D/t"'
    # Concatenated streams of the three models: the decoder switches model between them.
    check builtin-switches-model eval 'cat "$D/1.lmz" "$D/9.lmz" "$D/2.lmz" "$D/1.lmz" >"$D/cat.lmz" &&
        "$LMZ" -dc "$D/cat.lmz" >"$D/cat" && cat "$D/t" "$D/t" "$D/t" "$D/t" | cmp -s - "$D/cat"'
    # Streams of earlier versions (F32 KV cache, no KV_F16 flag) still decode, and today's
    # streams are byte for byte those of tests/fixtures/streams (README there).
    FX=tests/fixtures/streams/alice-1000
    check builtin-decodes-f32-kv-streams bash -c 'for l in 1 5 8; do
        "$0" -dc "$1.f32kv-l$l.lmz" | cmp -s - "$1.txt" || exit 1; done' "$LMZ" "$FX"
    check builtin-writes-fixture-streams bash -c 'for l in 1 5 8; do
        "$0" -$l --no-compact --lm-always -T $((l % 3 + 1)) -c "$1.txt" | cmp -s - "$1.mix3-l$l.lmz" || exit 1
        "$0" -dc "$1.mix3-l$l.lmz" | cmp -s - "$1.txt" || exit 1; done' "$LMZ" "$FX"
    # writes_mix_version V FULL COMPACT: at -1, -5 and -8, --mix-version=V writes the
    # fixtures $FX.FULL-lN.lmz (--no-compact) and $FX.COMPACT-lN.lmz byte for byte, and
    # the first decodes to the text.
    writes_mix_version() {
        local v=$1 full=$2 compact=$3 l
        for l in 1 5 8; do
            "$LMZ" -$l --mix-version=$v --no-compact --lm-always -T $((l % 3 + 1)) -c "$FX.txt" |
                cmp -s - "$FX.$full-l$l.lmz" || return 1
            "$LMZ" -$l --mix-version=$v --lm-always -T $((l % 3 + 1)) -c "$FX.txt" |
                cmp -s - "$FX.$compact-l$l.lmz" || return 1
            "$LMZ" -dc "$FX.$full-l$l.lmz" | cmp -s - "$FX.txt" || return 1
        done
    }
    # Mixed coding version 2, which lmz before version 3 reads, and the first, which lmz
    # before version 2 reads.
    check builtin-writes-mix-version-2 writes_mix_version 2 mix2 compact-mix2
    check builtin-writes-mix-version-1 writes_mix_version 1 mix compact
    check builtin-writes-fixture-streams-no-mix bash -c 'for l in 1 5 8; do
        "$0" -$l --no-compact --no-mix --lm-always -T $((l % 3 + 1)) -c "$1.txt" | cmp -s - "$1.l$l.lmz" || exit 1
        "$0" -dc "$1.l$l.lmz" | cmp -s - "$1.txt" || exit 1; done' "$LMZ" "$FX"
    # Compact streams (doc/format.md 11): what lmz writes by default for a short text.
    check builtin-writes-compact-fixtures bash -c 'for l in 1 5 8; do
        "$0" -$l --lm-always -T $((l % 3 + 1)) -c "$1.txt" | cmp -s - "$1.compact-mix3-l$l.lmz" || exit 1
        "$0" -$l --no-mix --lm-always -T $((l % 3 + 1)) -c "$1.txt" |
            cmp -s - "$1.compact-nomix-l$l.lmz" || exit 1
        "$0" -dc "$1.compact-l$l.lmz" | cmp -s - "$1.txt" || exit 1
        "$0" -dc "$1.compact-mix2-l$l.lmz" | cmp -s - "$1.txt" || exit 1
        "$0" -dc "$1.compact-mix3-l$l.lmz" | cmp -s - "$1.txt" || exit 1
        "$0" -dc "$1.compact-nomix-l$l.lmz" | cmp -s - "$1.txt" || exit 1; done' "$LMZ" "$FX"
    # The container of a short text coded by a built-in level: the full layout's 64 bytes
    # (41-byte header with the name, 15-byte record, 8-byte End; mixed coding version 2
    # adds its version byte, as 3 does) become 11 (tag, profile, model check, two 2-byte
    # sizes, check) around the same payload: 53 bytes less, 54 with versions 2 and 3
    # (profiles 14 and 23: -5's second and third).
    check builtin-compact-container-bytes bash -c '[ "$(head -c 3 "$1.compact-l5.lmz" | xxd -p)" = ab0590 ] &&
        [ $(( $(stat -c %s "$1.mix-l5.lmz") - $(stat -c %s "$1.compact-l5.lmz") )) -eq 53 ] &&
        [ "$(head -c 3 "$1.compact-mix2-l5.lmz" | xxd -p)" = ab0e90 ] &&
        [ $(( $(stat -c %s "$1.mix2-l5.lmz") - $(stat -c %s "$1.compact-mix2-l5.lmz") )) -eq 54 ] &&
        [ "$(head -c 3 "$1.compact-mix3-l5.lmz" | xxd -p)" = ab1790 ] &&
        [ $(( $(stat -c %s "$1.mix3-l5.lmz") - $(stat -c %s "$1.compact-mix3-l5.lmz") )) -eq 54 ]' "$LMZ" "$FX"
    # A stream of another model: a clear error naming both, exit 1, nothing written.
    lmz --lm-always -c "$D/t" >"$D/other.lmz"
    check_exit builtin-foreign-stream-fails 1 quiet "$LMZ" -d -o "$D/other.out" "$D/other.lmz"
    check builtin-foreign-stream-message eval '[ ! -e "$D/other.out" ] &&
        ! "$LMZ" -dc "$D/other.lmz" 2>"$D/err" >/dev/null &&
        grep -q "compressed with model .*, but the loaded model is" "$D/err"'
else
    not_ok builtin-models "lmz -V does not list both built-in models: $("$LMZ" -V | tr '\n' ' ')"
fi

# ---------------------------------------------------------------- adapters: --train, -A
D=$(fresh adapters)
head -c 12000 "$SHARED/data/prose-canterbury-alice29.txt" >"$D/train.txt"
train() { "$LMZ" --train -m "$MODEL" --steps 6 --batch 2 --ctx 64 -T 1 -q "$@"; }
check train-writes-adapter eval 'train "$D/train.txt" -o "$D/a.lora.gguf" && [ -s "$D/a.lora.gguf" ] &&
    no_temp "$D"'
check train-deterministic eval 'train --name a "$D/train.txt" -o "$D/b.lora.gguf" &&
    cmp -s "$D/a.lora.gguf" "$D/b.lora.gguf"'
check_exit train-keeps-existing-output 1 quiet train "$D/train.txt" -o "$D/a.lora.gguf"
check train-seed-changes-adapter eval 'train --name a --seed 9 -f "$D/train.txt" -o "$D/b.lora.gguf" &&
    ! cmp -s "$D/a.lora.gguf" "$D/b.lora.gguf"'
check adapter-round-trip eval 'lmz --no-compact -A "$D/a.lora.gguf" -c "$D/train.txt" >"$D/x.lmz" &&
    lmz -A "$D/a.lora.gguf" -dc "$D/x.lmz" | cmp -s - "$D/train.txt" &&
    lmz -lv "$D/x.lmz" | grep -q "adapter id [0-9a-f]* (a)"'
check_exit adapter-missing-fails 1 quiet lmz -d -o "$D/x.out" "$D/x.lmz"
check adapter-missing-message eval '[ ! -e "$D/x.out" ] && [ -f "$D/x.lmz" ] &&
    ! lmz -dc "$D/x.lmz" 2>"$D/err" >/dev/null &&
    grep -q "compressed with the adapter .a. (adapter id [0-9a-f]*), which was not given" "$D/err"'
# A compact stream stores the adapter's id, not its name: the message gives the id.
check adapter-compact-round-trip eval 'lmz -A "$D/a.lora.gguf" -c "$D/train.txt" >"$D/xc.lmz" &&
    [ $(stat -c %s "$D/xc.lmz") -lt $(stat -c %s "$D/x.lmz") ] &&
    lmz -A "$D/a.lora.gguf" -dc "$D/xc.lmz" | cmp -s - "$D/train.txt" &&
    ! lmz -dc "$D/xc.lmz" 2>"$D/err" >/dev/null &&
    grep -q "adapter .(name not stored). (adapter id [0-9a-f]*), which was not given" "$D/err"'
mkdir -p "$D/dir" && cp "$D/a.lora.gguf" "$D/b.lora.gguf" "$D/dir/"
check adapter-directory eval 'lmz -A "$D/dir" -c "$D/train.txt" >"$D/y.lmz" &&
    lmz -A "$D/dir" -dc "$D/y.lmz" | cmp -s - "$D/train.txt" &&
    lmz -A "$D/dir" -dc "$D/x.lmz" | cmp -s - "$D/train.txt"'
# 40 short samples: every 20th would hold out too little, so the stream's tail is held out
for i in $(seq 40); do printf '{"text": "Sample %d says hi."}\n' "$i"; done >"$D/short.jsonl"
check train-short-samples eval 'train "$D/short.jsonl" -o "$D/s.lora.gguf" && [ -s "$D/s.lora.gguf" ]'
printf '{"text": "x"}\n{"txt": "y"}\n' >"$D/bad.jsonl"
check train-bad-jsonl eval '! train "$D/bad.jsonl" -o "$D/c.lora.gguf" 2>"$D/err" &&
    grep -q "bad.jsonl, line 2" "$D/err" && [ ! -e "$D/c.lora.gguf" ]'
check_exit adapter-not-an-adapter 1 quiet lmz -A "$MODEL" -c "$D/train.txt"
# -n: no names stored, the same payload, still decodable and still required
check no-name-drops-names eval 'lmz --no-compact -n -A "$D/a.lora.gguf" -c "$D/train.txt" >"$D/n.lmz" &&
    [ $(( $(stat -c %s "$D/x.lmz") - $(stat -c %s "$D/n.lmz") )) -eq \
      $(( 1 + $(lmz -lv "$D/x.lmz" | awk "NR == 2 {print length(\$7)}") + 1 + 1 )) ] &&
    lmz -A "$D/a.lora.gguf" -dc "$D/n.lmz" | cmp -s - "$D/train.txt" &&
    ! lmz -dc "$D/n.lmz" 2>"$D/err" >/dev/null && grep -q "(name not stored)" "$D/err"'
# An adapter of the -9 model decodes its streams whatever level the decoder is given,
# and is refused up front for compressing at a level of the other model.
if "$LMZ" -V | grep -q lmz-m1; then
    head -c 3000 "$D/train.txt" >"$D/short.txt"
    check builtin-adapter-any-level eval '"$LMZ" -9 --train --steps 1 --batch 1 --ctx 16 -T 1 -q \
        "$D/train.txt" -o "$D/m1.lora.gguf" && "$LMZ" -9 -A "$D/m1.lora.gguf" -c "$D/short.txt" >"$D/m1.lmz" &&
        "$LMZ" -A "$D/m1.lora.gguf" -dc "$D/m1.lmz" | cmp -s - "$D/short.txt"'
    check builtin-adapter-wrong-level eval '! "$LMZ" -5 -A "$D/m1.lora.gguf" -c "$D/short.txt" 2>"$D/err" >/dev/null &&
        grep -q "trained for another model" "$D/err"'
fi

# ---------------------------------------------------------------- -k -c -o -f
D=$(fresh keep); cp "$TEXT" "$D/a"
check keep-input eval 'lmz -k "$D/a" && [ -f "$D/a" ] && [ -f "$D/a.lmz" ] && rm "$D/a" &&
    lmz -dk "$D/a.lmz" && [ -f "$D/a.lmz" ] && cmp -s "$D/a" "$TEXT"'

D=$(fresh stdout); cp "$TEXT" "$D/a"
check stdout-keeps-input eval 'lmz -c "$D/a" >"$D/out" && [ -f "$D/a" ] && [ ! -e "$D/a.lmz" ] &&
    lmz -dc "$D/out" | cmp -s - "$TEXT"'

D=$(fresh output); cp "$TEXT" "$D/a"
check output-file eval 'lmz -k -o "$D/x.bin" "$D/a" && [ -f "$D/a" ] &&
    lmz -d -o "$D/y" "$D/x.bin" && [ ! -e "$D/x.bin" ] && cmp -s "$D/y" "$TEXT"'
check output-file-removes-input eval 'lmz -o "$D/x2" "$D/a" && [ ! -e "$D/a" ] &&
    lmz -dc "$D/x2" | cmp -s - "$TEXT"'
check_exit output-needs-single-input 1 quiet lmz -o "$D/z" "$D/a" "$D/a"

D=$(fresh overwrite); cp "$TEXT" "$D/a"; echo old >"$D/a.lmz"
lmz -k "$D/a" 2>"$D/err"; rc=$?
check refuse-overwrite eval '[ $rc -eq 1 ] && [ "$(cat "$D/a.lmz")" = old ] && [ -f "$D/a" ] &&
    grep -q "already exists" "$D/err" && no_temp "$D"'
check force-overwrite eval 'lmz -kf "$D/a" && lmz -dc "$D/a.lmz" | cmp -s - "$TEXT"'

# One refused file does not stop the others; the exit status still says so.
D=$(fresh continue); cp "$TEXT" "$D/a"; cp "$TEXT" "$D/b"; echo old >"$D/a.lmz"
lmz "$D/a" "$D/b" 2>/dev/null; rc=$?
check continue-after-error eval '[ $rc -eq 1 ] && [ -f "$D/a" ] && [ -f "$D/b.lmz" ] && [ ! -e "$D/b" ]'

# ---------------------------------------------------------------- names and operands
D=$(fresh suffix); cp "$TEXT" "$D/a"
lmz -d "$D/a" 2>"$D/err"; rc=$?
check unknown-suffix eval '[ $rc -eq 2 ] && grep -q "unknown suffix -- ignored" "$D/err" &&
    cmp -s "$D/a" "$TEXT" && [ "$(ls "$D")" = "a
err" ]'
cp "$TEXT" "$D/b.lmz"
check_exit already-has-suffix 2 lmz -q "$D/b.lmz"
check_exit directory-skipped 2 lmz -q "$D"

D=$(fresh pipe)
check stdin-stdout-pipe eval 'lmz <"$TEXT" | lmz -d >"$D/out" && cmp -s "$D/out" "$TEXT"'
check dash-operand eval 'lmz - <"$TEXT" >"$D/c" && lmz -dc - <"$D/c" | cmp -s - "$TEXT"'
check stdin-to-output-file eval 'lmz -o "$D/o.lmz" <"$TEXT" && lmz -dc "$D/o.lmz" | cmp -s - "$TEXT"'
ln -s "$LMZ" "$D/unlmz"; ln -s "$LMZ" "$D/lmzcat"; cp "$D/c" "$D/x.lmz"
check unlmz-lmzcat eval '"$D/lmzcat" -m "$MODEL" "$D/x.lmz" | cmp -s - "$TEXT" && [ -f "$D/x.lmz" ] &&
    "$D/unlmz" -m "$MODEL" "$D/x.lmz" && cmp -s "$D/x" "$TEXT" && [ ! -e "$D/x.lmz" ]'
if command -v script >/dev/null; then
    D=$(fresh tty); cp "$TEXT" "$D/a"
    script -qec "'$LMZ' -m '$MODEL' -c '$D/a'; echo rc=\$?" /dev/null >"$D/log" 2>&1
    check refuse-terminal-output eval 'grep -q "not written to a terminal" "$D/log" && grep -q "rc=1" "$D/log"'
fi

D=$(fresh tar); mkdir -p "$D/src/sub" "$D/out"
cp "$IN"/*.txt "$D/src/"; cp "$IN/random" "$IN/empty" "$D/src/sub/"
check tar-roundtrip eval 'tar -I "$LMZ -m $MODEL" -cf "$D/x.tar.lmz" -C "$D/src" . &&
    tar -I "$LMZ -m $MODEL" -xf "$D/x.tar.lmz" -C "$D/out" && diff -r "$D/src" "$D/out"'

# Concatenated streams decompress to the concatenation (as gzip); data after a stream
# that is no stream is an error: nothing may be silently dropped.
D=$(fresh concat); head -c 1000 "$TEXT" >"$D/a"; tail -c 1500 "$TEXT" >"$D/b"
lmz -c "$D/a" "$D/b" >"$D/ab.lmz"
check concatenated-streams eval 'lmz -dc "$D/ab.lmz" >"$D/out" && cat "$D/a" "$D/b" | cmp -s - "$D/out" &&
    "$LMZ" -l "$D/ab.lmz" | grep -q " 2500 "'
lmz -c "$D/a" >"$D/g.lmz"; echo garbage >>"$D/g.lmz"
lmz -t "$D/g.lmz" 2>/dev/null; rc=$?
check trailing-garbage eval '[ $rc -eq 2 ]'

# ---------------------------------------------------------------- -t and -l
D=$(fresh test); cp "$TEXT" "$D/a"; lmz "$D/a"; cp "$TEXT" "$D/lm"; lmz --lm-always "$D/lm"
check_exit test-good 0 lmz -tq "$D/a.lmz"
check_exit test-good-lm-chunks 0 lmz -tq "$D/lm.lmz"
cp "$D/lm.lmz" "$D/badlm.lmz"; corrupt "$D/badlm.lmz"
check_exit test-corrupt-lm-chunk 1 quiet lmz -t "$D/badlm.lmz"
cp "$D/a.lmz" "$D/bad.lmz"; corrupt "$D/bad.lmz"; cp "$D/bad.lmz" "$D/bad.copy"
lmz -t "$D/bad.lmz" 2>/dev/null; rc=$?
check test-corrupt eval '[ $rc -eq 1 ] && cmp -s "$D/bad.lmz" "$D/bad.copy"'
lmz -d "$D/bad.lmz" 2>/dev/null; rc=$?
check decompress-corrupt-keeps-input eval '[ $rc -eq 1 ] && [ ! -e "$D/bad" ] &&
    cmp -s "$D/bad.lmz" "$D/bad.copy" && no_temp "$D"'
head -c 100 "$D/a.lmz" >"$D/trunc.lmz"
check_exit decompress-truncated 1 quiet lmz -d "$D/trunc.lmz"
cp "$TEXT" "$D/plain.lmz"
check_exit decompress-not-lmz 1 quiet lmz -d "$D/plain.lmz"

"$LMZ" -l "$D/a.lmz" >"$D/list" 2>&1; rc=$?
check list-sizes eval '[ $rc -eq 0 ] && grep -q "$(stat -c %s "$D/a.lmz")  *3000 " "$D/list" &&
    [ $(wc -l <"$D/list") -eq 2 ]'
cp "$D/a.lmz" "$D/b.lmz"
check list-totals eval '"$LMZ" -l "$D/a.lmz" "$D/b.lmz" | grep -q " 6000 .*totals"'
check_exit list-not-lmz 1 quiet "$LMZ" -l "$D/plain.lmz"

"$LMZ" -v -m "$MODEL" -k -c "$TEXT" 2>"$D/verbose" >/dev/null
check verbose-summary grep -q ": 3000 -> [0-9]* bytes, [0-9.]* bpb, [0-9.]* KB/s" "$D/verbose"
check verbose-decompress eval 'lmz -dv -c "$D/a.lmz" 2>"$D/verbose" | cmp -s - "$TEXT" &&
    grep -q "a.lmz: [0-9]* -> 3000 bytes" "$D/verbose"'

# ---------------------------------------------------------------- models and options
D=$(fresh model); cp "$TEXT" "$D/a"
"$LMZ" -m "$D/nope.gguf" "$D/a" 2>"$D/err"; rc=$?
check missing-model eval '[ $rc -eq 1 ] && grep -q "nope.gguf" "$D/err" && [ -f "$D/a" ] &&
    [ ! -e "$D/a.lmz" ]'
LMZ_MODEL="$D/nope2.gguf" "$LMZ" "$D/a" 2>"$D/err"; rc=$?
check missing-model-env eval '[ $rc -eq 1 ] && grep -q "nope2.gguf" "$D/err" && [ -f "$D/a" ]'
check model-from-env eval 'LMZ_MODEL="$MODEL" "$LMZ" -c "$D/a" | lmz -dc | cmp -s - "$TEXT"'
OTHER=$(ls tests/fixtures/ref/*.gguf 2>/dev/null | grep -v "$(basename "$MODEL")" | head -1)
if [ -n "$OTHER" ]; then
    lmz -k --lm-always "$D/a"
    check_exit wrong-model 1 quiet "$LMZ" -m "$OTHER" -d -o "$D/w" "$D/a.lmz"
fi
check_exit help 0 quiet "$LMZ" --help
check_exit version 0 quiet "$LMZ" --version
check_exit bad-option 1 quiet "$LMZ" --no-such-option
check_exit bad-simd 1 quiet "$LMZ" --simd=sse9

# ---------------------------------------------------------------- the CLI as a new user meets it
# (issue 15) --help's model list comes from the level table; zstd's -19 and --fast=N are
# refused with the range; -T's limit is the library's, in one message.
check help-level-models eval '"$LMZ" --help | grep -q "built-in models: -1 lmz-t1, -2\.\.-7 lmz-s2, -8\.\.-9 lmz-m1"'
D=$(fresh newuser); cp "$TEXT" "$D/a"
check level-19-refused eval '! "$LMZ" -19 -c "$D/a" 2>"$D/err" >"$D/out" && [ ! -s "$D/out" ] &&
    grep -q "invalid level .-19.: levels are -1 (fastest) .. -9 (smallest)" "$D/err"'
check level-22-refused eval '! "$LMZ" -k -22 "$D/a" 2>"$D/err" && [ ! -e "$D/a.lmz" ] &&
    grep -q "invalid level .-22." "$D/err"'
check fast-value-refused eval '! "$LMZ" --fast=3 -c "$D/a" 2>"$D/err" >/dev/null &&
    grep -q "option .--fast=3. takes no value" "$D/err"'
check mix-version-range eval '! "$LMZ" --mix-version=4 -c "$D/a" 2>"$D/err" >/dev/null &&
    grep -q "invalid --mix-version .4. (1, 2 or 3)" "$D/err" &&
    "$LMZ" --mix-version=1 -c "$D/a" | "$LMZ" -dc | cmp -s - "$D/a"'
check threads-limit-one-message eval '! "$LMZ" -T -1 -c "$D/a" 2>"$D/e1" >/dev/null &&
    ! "$LMZ" -T 1000 -c "$D/a" 2>"$D/e2" >/dev/null &&
    grep -q "(0\.\.256; 0 = one per CPU)" "$D/e1" && grep -q "(0\.\.256; 0 = one per CPU)" "$D/e2"'
# Tiny chunks with two threads: a group of chunks no longer waits out a 20 ms poll (the
# timeout only guards against the old minutes-long runs; speed lives in make bench).
head -c 3000 "$TEXT" >"$D/small"
check tiny-chunks-threads eval 'timeout 120 "$LMZ" -m "$MODEL" -T 2 --chunk-size=16 -c "$D/small" >"$D/small.lmz" &&
    "$LMZ" -m "$MODEL" -dc "$D/small.lmz" | cmp -s - "$D/small"'
# The progress line (-v) shows the output size, bpb and time left while compressing.
head -c 100000 "$SHARED/data/llm-gpt-4o-2024-05-13.txt" >"$D/big"
check progress-shows-output eval 'lmz -v -T 1 -c "$D/big" 2>"$D/err" >/dev/null &&
    tr "\r" "\n" <"$D/err" | grep -q "%.* -> [1-9][0-9.]* [KM]*i*B, [0-9.]* bpb"'
# Trailing bytes that start no stream: decoded, a warning, exit 2 (gzip's behaviour).
check trailing-data-warns eval 'lmz -c "$D/a" >"$D/t.lmz" && printf garbage >>"$D/t.lmz" &&
    { lmz -dc "$D/t.lmz" >"$D/t.out" 2>"$D/err"; [ $? -eq 2 ]; } && cmp -s "$D/t.out" "$D/a" &&
    grep -q "trailing data at byte [0-9]* ignored" "$D/err"'
check trailing-data-d-keeps-output eval 'rm -f "$D/t" && { lmz -d -k "$D/t.lmz" 2>/dev/null; [ $? -eq 2 ]; } &&
    cmp -s "$D/t" "$D/a"'
# -r: every file under a directory, links not followed; -dr undoes it.
mkdir -p "$D/tree/sub" && cp "$D/a" "$D/tree/one" && cp "$D/small" "$D/tree/sub/two" &&
    ln -s "$D/a" "$D/tree/link"
check recursive-compress eval 'lmz -r "$D/tree" && [ -f "$D/tree/one.lmz" ] && [ -f "$D/tree/sub/two.lmz" ] &&
    [ ! -e "$D/tree/one" ] && [ -L "$D/tree/link" ] && [ ! -e "$D/tree/link.lmz" ]'
check recursive-decompress eval 'lmz -dr "$D/tree" && cmp -s "$D/tree/one" "$D/a" &&
    cmp -s "$D/tree/sub/two" "$D/small" && [ -z "$(find "$D/tree" -name "*.lmz")" ]'
# Many small files (lmz -k *.txt) go through lmz_compress_many side by side: each .lmz
# is byte for byte the file compressed alone; a large file, a missing one and an
# existing output among them are handled one by one as usual.
mkdir -p "$D/many" "$D/alone"
for i in 1 2 3 4 5 6; do head -c $((i * 300)) "$TEXT" | tail -c 250 >"$D/many/f$i.txt"; done
printf 'x' >"$D/many/one.txt"; : >"$D/many/empty.txt"; head -c 70000 "$TEXT" >"$D/many/big.txt"
cp "$D/many/"*.txt "$D/alone/"
for f in "$D/alone/"*.txt; do lmz -c "$f" >"$f.lmz"; done
: >"$D/many/f6.txt.lmz"
check many-files-batch-output eval '{ lmz "$D/many/"*.txt "$D/many/missing.txt" 2>"$D/err"; [ $? -eq 1 ]; } &&
    for f in f1 f2 f3 f4 f5 one empty big; do cmp -s "$D/many/$f.txt.lmz" "$D/alone/$f.txt.lmz" &&
        [ ! -e "$D/many/$f.txt" ] || exit 1; done &&
    [ -f "$D/many/f6.txt" ] && [ ! -s "$D/many/f6.txt.lmz" ] &&
    grep -q "missing.txt" "$D/err" && grep -q "f6.txt.lmz: already exists" "$D/err"'
check many-files-decode eval 'lmz -d "$D/many/"f[1-5].txt.lmz "$D/many/one.txt.lmz" &&
    for f in f1 f2 f3 f4 f5 one; do cmp -s "$D/many/$f.txt" "$D/alone/$f.txt" || exit 1; done'
# Decoding many goes side by side too (lmz_decompress_many).  A damaged file and one with
# trailing data among them go the usual way: the damaged one is named and kept, the other
# decodes with a warning, and the rest decode as they would alone.
mkdir -p "$D/many2"
for f in f1 f2 f3 f4 f5 big; do cp "$D/alone/$f.txt.lmz" "$D/many2/"; done
n=$(wc -c <"$D/many2/f2.txt.lmz"); printf '\x55' | dd of="$D/many2/f2.txt.lmz" bs=1 seek=$((n - 3)) conv=notrunc 2>/dev/null
printf 'junk' >>"$D/many2/f3.txt.lmz"
check many-files-decode-damaged eval '{ lmz -d "$D/many2/"*.lmz 2>"$D/err2"; [ $? -eq 1 ]; } &&
    for f in f1 f3 f4 f5 big; do cmp -s "$D/many2/$f.txt" "$D/alone/$f.txt" || exit 1; done &&
    [ -f "$D/many2/f2.txt.lmz" ] && [ ! -e "$D/many2/f2.txt" ] && grep -q "f2.txt.lmz" "$D/err2" &&
    grep -q "f3.txt.lmz: trailing data" "$D/err2" && [ $(grep -c "lmz:" "$D/err2") -eq 2 ]'
check many-files-test eval 'lmz -t "$D/alone/"f[1-5].txt.lmz "$D/alone/big.txt.lmz" 2>"$D/out3" &&
    [ $(grep -c ": OK" "$D/out3") -eq 6 ] && { lmz -t "$D/alone/f1.txt.lmz" "$D/many2/f2.txt.lmz" 2>/dev/null; [ $? -eq 1 ]; }'

# Short inputs: the compact layout (doc/format.md 11).
check empty-input-5-bytes eval '[ $(lmz -c </dev/null | wc -c) -eq 5 ] &&
    [ -z "$(lmz -c </dev/null | lmz -dc | head -c 1)" ]'
check one-byte-input-7-bytes eval '[ $(printf x | lmz -c | wc -c) -eq 7 ] &&
    [ "$(printf x | lmz -c | lmz -dc)" = x ]'

# ---------------------------------------------------------------- failures stay safe
# A file size limit: the write fails with EFBIG (lmz ignores SIGXFSZ) after part of the
# output went to the temporary file.
D=$(fresh full); head -c 200000 /dev/urandom >"$D/big"; cp "$D/big" "$D/copy"
(ulimit -f 16; lmz "$D/big") 2>"$D/err"; rc=$?
check file-size-limit eval '[ $rc -eq 1 ] && [ ! -e "$D/big.lmz" ] && cmp -s "$D/big" "$D/copy" &&
    no_temp "$D" && grep -q "File too large" "$D/err"'

D=$(fresh unwritable); cp "$TEXT" "$D/a"
if [ "$(id -u)" -eq 0 ]; then
    lmz -o /proc/lmz-test.lmz "$D/a" 2>/dev/null; rc=$?   # root writes anywhere else
else
    mkdir "$D/ro"; chmod 555 "$D/ro"
    lmz -o "$D/ro/a.lmz" "$D/a" 2>/dev/null; rc=$?
fi
check unwritable-directory eval '[ $rc -eq 1 ] && cmp -s "$D/a" "$TEXT" && no_temp "$D"'

# SIGTERM mid-compression: once the temporary file exists, stop; lmz must die by SIGTERM
# with the temporary file removed and the input intact.
D=$(fresh sigterm)
for f in "$SHARED"/data/*.txt; do cat "$f"; done | head -c 4000000 >"$D/big"
cp "$D/big" "$D/copy"
"$LMZ" -m "$MODEL" "$D/big" 2>/dev/null & pid=$!
for _ in $(seq 200); do
    [ -n "$(find "$D" -maxdepth 1 -name '.big.lmz.*')" ] && break
    sleep 0.05
done
sleep 0.3
kill -TERM "$pid" 2>/dev/null
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$pid" 2>/dev/null
wait "$pid"; rc=$?
check sigterm-cleans-up eval '[ $rc -eq 143 ] && [ ! -e "$D/big.lmz" ] && no_temp "$D" &&
    cmp -s "$D/big" "$D/copy"'
