#!/bin/sh
# Pack the training corpus for the GPU run (tools/gpu/README.md): learn the run's
# tokenizer, tokenize every corpus file, and write the uint16+xz token pack.
#
# usage: tools/gpu/pack_corpus.sh [PACK_DIR]      (default: gpu-pack/ in the repo root,
#                                                  git-ignored; the run carries it)
# Environment:
#   LMZ_CORPUS  the corpus of tools/corpus/make-corpus.sh (default /var/tmp/lmz-corpus)
#   WORK        scratch folder (default /var/tmp/lmz-gpu-pack-work), ~0.5 GB
#   VOCAB       tokenizer size (default 8192; <= 65536 for uint16 ids)
#   LMZ         the lmz binary (default ./lmz; `make` builds it)
#   LMZ_SHARED  shared folder (default ../shared beside the repository)
#   SHARD_TOKENS  tokens per shard (default 4194304)
#   MAX_MIB     fail if the pack is larger (default 52: the 64 MiB that travel also
#               hold the working tree, ~6 MB now)
# Takes ~5 minutes on one core (mostly xz -9e).  Never reads ../shared/data.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
corpus=${LMZ_CORPUS:-/var/tmp/lmz-corpus}
work=${WORK:-/var/tmp/lmz-gpu-pack-work}
pack=${1:-$repo/gpu-pack}
vocab=${VOCAB:-8192}
lmz=${LMZ:-$repo/lmz}
shared=$(cd "${LMZ_SHARED:-$repo/../shared}" && pwd)
max_mib=${MAX_MIB:-52}
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3

corpus=$(cd "$corpus" && pwd)
case "$corpus/" in
    "$shared"/data/*) echo "pack_corpus: $corpus is inside the evaluation data" >&2; exit 2 ;;
esac
[ -d "$corpus/train" ] || { echo "pack_corpus: no $corpus/train (run tools/corpus/make-corpus.sh)" >&2; exit 1; }
[ -x "$lmz" ] || { echo "pack_corpus: no $lmz (run make)" >&2; exit 1; }

# Both folders are rebuilt from scratch; refuse to empty a folder this script did not make.
for d in "$work" "$pack"; do
    if [ -e "$d" ] && [ ! -e "$d/.lmz-gpu-pack" ] && [ -n "$(ls -A "$d")" ]; then
        echo "pack_corpus: $d exists and was not made by this script; remove it first" >&2
        exit 2
    fi
    rm -rf "$d"
    mkdir -p "$d"
    : > "$d/.lmz-gpu-pack"
done
mkdir -p "$work/train" "$work/heldout" "$pack/shared/reference"

# 1. Tokenizer.  Prose is given twice (counted double: the evaluation texts are mostly
#    prose); the Webster dictionaries are left out (their markup would take merges).
tok_inputs=
for f in "$corpus"/train/prose-*.txt "$corpus"/train/prose-*.txt "$corpus"/train/reference-*.txt \
         "$corpus"/train/code-*.txt; do
    case "$f" in *reference-dictionaries.txt) continue ;; esac
    [ -s "$f" ] && tok_inputs="$tok_inputs $f"
done
# shellcheck disable=SC2086  # file names from our own corpus, no spaces
"$lmz" --train-tokenizer --vocab "$vocab" --quiet --out "$work/tokenizer.gguf" $tok_inputs

# 2. Token streams, one per corpus file (each document starts with BOS).
for split in train heldout; do
    for f in "$corpus/$split"/*.txt; do
        [ -s "$f" ] || continue
        "$lmz" --tokenize --quiet --tokenizer "$work/tokenizer.gguf" \
            --out "$work/$split/$(basename "$f" .txt).u32" "$f"
    done
done

# 3. The pack, plus what the GPU machine needs to read and write GGUF (../shared
#    does not travel; tools/ref/gguf_io.py finds these through LMZ_SHARED=PACK/shared).
"$py" "$here/pack.py" build --mixture "$here/mixture.tsv" --corpus "$corpus" --work "$work" --out "$pack" \
    --shard-tokens "${SHARD_TOKENS:-4194304}"
cp "$work/tokenizer.gguf" "$pack/tokenizer.gguf"
cp "$shared/reference/gguf_min.py" "$shared/reference/make_model.py" "$pack/shared/reference/"
"$py" "$here/pack.py" info "$pack"

mib=$(du -sbL "$pack" | awk '{printf "%.2f", $1 / 1048576}')
echo "pack_corpus: $pack is $mib MiB"
awk -v m="$mib" -v max="$max_mib" 'BEGIN { exit !(m > max) }' && {
    echo "pack_corpus: over MAX_MIB=$max_mib: lower a keep fraction in tools/gpu/mixture.tsv" >&2
    exit 1
}
exit 0
