#!/usr/bin/env bash
# Regenerate the generated seed corpora (run from the repository root after `make`):
#   fuzz/corpus/container/  small valid .lmz files made with the fixture models: LM (BPE
#                           and SPM), ZSTD and RAW chunks, a sliding window, one and
#                           several chunks, the empty content, several streams back to back;
#   fuzz/corpus/model/      tiny llama/qwen2/qwen3 models (F32, F16, BF16, Q8_0; BPE and
#                           SPM tokenizers) from tools/make_ref_model.py (needs numpy).
#   bash fuzz/make_seeds.sh            (LMZ=path/to/lmz, PYTHON=python3 with numpy)
# ZSTD payloads depend on the libzstd version, so regenerating may change those bytes.
# The other corpora (tokenizer, options) are small hand-written files.
set -euo pipefail
cd "$(dirname "$0")/.."
LMZ=${LMZ:-./lmz}
BPE=tests/fixtures/ref/llama-gqa-tied-gpt2.gguf
SPM=tests/fixtures/ref/llama-mqa-spm.gguf
OUT=fuzz/corpus/container
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"
rm -f "$OUT"/*.lmz

printf 'The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs.\n' >"$TMP/text"
printf 'héllo wörld — ünïcödé ✓ 12345\n' >"$TMP/utf8"
for i in 1 2 3 4 5 6 7 8; do printf 'abcabcabc %d\n' "$i"; done >"$TMP/repeat"
# incompressible and deterministic: random weights from a fixture
head -c 200 tests/fixtures/ref/llama-gqa-f16.gguf | tail -c 96 >"$TMP/binary"
cat "$TMP/text" "$TMP/binary" "$TMP/repeat" >"$TMP/mixed"
: >"$TMP/empty"

z() { "$LMZ" -q -c "$@"; }
# LM chunks; --context 16 makes the window slide inside a chunk
z -m "$BPE" --no-mix --lm-always --chunk-size=40 --context=16 "$TMP/text" >"$OUT/lm-bpe-3chunks.lmz"
z -m "$BPE" --no-compact --no-mix --lm-always "$TMP/utf8" >"$OUT/lm-bpe-1chunk.lmz"
z -m "$SPM" --no-mix --lm-always --chunk-size=48 --context=12 "$TMP/text" >"$OUT/lm-spm-2chunks.lmz"
z -m "$SPM" --no-compact --no-mix --lm-always "$TMP/utf8" >"$OUT/lm-spm-1chunk.lmz"
# mixed streams (doc/format.md 6.5): shared adaptive models across chunks
z -m "$BPE" --lm-always --chunk-size=40 --context=16 "$TMP/text" >"$OUT/lm-bpe-3chunks-mix.lmz"
z -m "$SPM" --lm-always --chunk-size=48 --context=12 "$TMP/mixed" >"$OUT/lm-spm-mix.lmz"
# the first mixed coding (mix version 1), full and compact
z -m "$BPE" --mix-version=1 --lm-always --chunk-size=40 --context=16 "$TMP/text" >"$OUT/lm-bpe-3chunks-mix1.lmz"
z -m "$BPE" --mix-version=1 --lm-always "$TMP/utf8" >"$OUT/compact-lm-bpe-mix1.lmz"
# mix version 2, full and compact (the default is version 3)
z -m "$BPE" --mix-version=2 --lm-always --chunk-size=40 --context=16 "$TMP/text" >"$OUT/lm-bpe-3chunks-mix2.lmz"
z -m "$BPE" --mix-version=2 --lm-always "$TMP/utf8" >"$OUT/compact-lm-bpe-mix2.lmz"
# the fallback methods
z -m "$BPE" --no-compact -9 "$TMP/repeat" >"$OUT/zstd-1chunk.lmz"
z -m "$BPE" --no-compact -1 "$TMP/binary" >"$OUT/raw-1chunk.lmz"
z -m "$BPE" --chunk-size=64 "$TMP/mixed" >"$OUT/mixed-chunks.lmz"
z -m "$BPE" --no-compact "$TMP/empty" >"$OUT/empty.lmz"
# compact streams (doc/format.md 11): LM (mixed and not, CR LF), ZSTD, RAW, empty
z -m "$BPE" --lm-always "$TMP/utf8" >"$OUT/compact-lm-bpe.lmz"
z -m "$SPM" --no-mix --lm-always "$TMP/text" >"$OUT/compact-lm-spm.lmz"
printf 'one\r\ntwo\r\n' | z -m "$BPE" --lm-always >"$OUT/compact-lm-crlf.lmz"
z -m "$BPE" -9 "$TMP/repeat" >"$OUT/compact-zstd.lmz"
z -m "$BPE" "$TMP/binary" >"$OUT/compact-raw.lmz"
z -m "$BPE" "$TMP/empty" >"$OUT/compact-empty.lmz"
cat "$OUT/compact-lm-bpe.lmz" "$OUT/zstd-1chunk.lmz" "$OUT/compact-empty.lmz" >"$OUT/streams-compact.lmz"
# several streams, like concatenated gzip members (the last one of the other model)
cat "$OUT/lm-bpe-3chunks.lmz" "$OUT/zstd-1chunk.lmz" "$OUT/empty.lmz" >"$OUT/streams-3.lmz"
cat "$OUT/raw-1chunk.lmz" "$OUT/lm-spm-1chunk.lmz" >"$OUT/streams-2-models.lmz"

for f in "$OUT"/*.lmz; do
    case $f in *streams-2-models*) continue ;; esac
    m=$BPE; case $f in *spm*) m=$SPM ;; esac
    "$LMZ" -q -t -m "$m" "$f" || { echo "seed $f does not decode" >&2; exit 1; }
done
wc -c "$OUT"/*.lmz

PYTHON=${PYTHON:-/usr/bin/python3}
MODELS=fuzz/corpus/model
mkdir -p "$MODELS"
rm -f "$MODELS"/*.gguf
model() {  # NAME, then make_ref_model.py arguments
    local name=$1; shift
    "$PYTHON" tools/make_ref_model.py "$@" --n-layer 1 --n-ff 32 --ctx 64 --out "$MODELS/$name.gguf" >/dev/null
    printf 'seed text\n' | "$LMZ" -q -c --lm-always -m "$MODELS/$name.gguf" |
        "$LMZ" -q -dc -m "$MODELS/$name.gguf" >/dev/null
}
model llama-bpe-f32 --arch llama --tokenizer gpt2 --dtype f32 --tied --n-embd 16 --n-head 2 --n-head-kv 1
model qwen3-spm-f16 --arch qwen3 --tokenizer llama --dtype f16 --n-embd 16 --n-head 2 --n-head-kv 2 --head-dim 12
model qwen2-bpe-q8 --arch qwen2 --tokenizer gpt2 --dtype q8_0 --tied --n-embd 32 --n-head 4 --n-head-kv 2
model llama-spm-bf16 --arch llama --tokenizer llama --dtype bf16 --tied --n-embd 16 --n-head 4 --n-head-kv 4
wc -c "$MODELS"/*.gguf
