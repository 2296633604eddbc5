#!/usr/bin/env bash
# The CLI against damaged and foreign .lmz files (issue 6): every bit flip and every
# truncation point of small streams with LM, ZSTD and RAW chunks, payload damage that
# passes the record check, random garbage, other format versions, another model, an
# adapter the decoder does not have.  Each case runs `lmz -t`, `lmz -dc` or `lmz -d -k`
# under `timeout`; tests/corruption_matrix.py holds the cases and the checks (exit status
# 1, a message naming the file and the damaged chunk, nothing written by -t, no output or
# temporary file left by -d, the input untouched, no crash, no hang) and prints how many
# cases were tried.  The library-level matrix is tests/test_container.c.
set -u
source "$(dirname "$0")/lib.sh"

MODEL=$(realpath "${LMZ_TEST_MODEL:-tests/fixtures/ref/llama-gqa-tied-gpt2.gguf}")
OTHER=$(realpath tests/fixtures/ref/llama-mqa-spm.gguf)
unset LMZ_MODEL
if ! command -v python3 >/dev/null; then
    not_ok corruption-matrix "python3 is needed (tools/setup-debian.sh installs it)"
    exit 1
fi
lmz() { "$LMZ" -m "$MODEL" "$@"; }

W=$TMP/streams; mkdir -p "$W"
# One LM chunk of a short text: a ~100-byte stream (header with the model's name, record,
# payload, End record).
printf 'The quick brown fox jumps.\n' >"$W/lm.txt"
# 32-byte chunks: zstd-friendly runs and the (random) weights at the end of the model
# file give ZSTD and RAW chunks, the same bytes on every run.  --no-mix: a mixed stream
# keeps every text chunk LM (doc/format.md 6.5), so only the LM alone falls back to zstd
# on text; lm.lmz is a mixed stream.
{ head -c 32 /dev/zero | tr "\0" a; tail -c 32 "$MODEL"; head -c 20 /dev/zero | tr "\0" c; } >"$W/mixed.bin"
for i in $(seq 30); do printf 'abc'; done >"$W/zstd.txt"
tail -c 12 "$MODEL" >"$W/raw.bin"
# --no-compact: the full layout (doc/format.md 3-5); the .c.lmz streams below are the
# same contents in the compact layout (section 11), the one without a name (-n).
lmz --no-compact --lm-always -c "$W/lm.txt" >"$W/lm.lmz" &&
    lmz --no-mix --chunk-size=32 -c "$W/mixed.bin" >"$W/mixed.lmz" &&
    lmz --no-compact --no-mix -c "$W/zstd.txt" >"$W/zstd.lmz" &&
    lmz --no-compact --no-mix -c "$W/raw.bin" >"$W/raw.lmz" &&
    lmz -n --lm-always -c "$W/lm.txt" >"$W/lm.c.lmz" && lmz -c "$W/zstd.txt" >"$W/zstd.c.lmz" &&
    lmz -c "$W/raw.bin" >"$W/raw.c.lmz" && lmz -c </dev/null >"$W/empty.c.lmz"
check corruption-sample-streams [ $? -eq 0 ]

# The sanitizer build starts ~8x slower: there, every 4th case of the large groups.
case "${BUILD:-}" in *asan*) export LMZ_MATRIX_STRIDE=${LMZ_MATRIX_STRIDE:-4} ;; esac
python3 "$(dirname "$0")/corruption_matrix.py" "$LMZ" "$MODEL" "$OTHER" "$W"
