#!/bin/sh
# Rebuild lmz's tokenizer/model training corpus from Debian bookworm packages.
#
# usage: tools/corpus/make-corpus.sh [OUT_DIR]        (default /var/tmp/lmz-corpus)
#
# Two stages:
#   1. extraction: ../shared/corpus/make-corpus.sh (apt-get install of the pinned
#      package set, then extract.py) into OUT_DIR/raw, with the evaluation guard on:
#      EVAL_DIR defaults to the shared data folder, so no paragraph that shares a
#      13-word run with ../shared/data (or the held-out set's keys) is kept.
#   2. mixing: tools/corpus/mix.py turns OUT_DIR/raw into OUT_DIR/train and
#      OUT_DIR/heldout: near-duplicate paragraphs dropped, the eval guard applied to
#      code too, and code sampled down to CODE_CAP of the bytes (fixed seed).
#
# Environment:
#   LMZ_SHARED   shared folder (default: ../shared beside the repository)
#   NO_INSTALL=1 skip apt-get (packages already installed)
#   SKIP_EXTRACT=1  reuse OUT_DIR/raw (re-mix only, e.g. with another CODE_CAP)
#   EVAL_DIR     ':'-separated evaluation files/folders (default: $LMZ_SHARED/data)
#   CODE_CAP     largest share of code in the training bytes (default 0.22)
#   SEED         sampling seed (default 1)
#
# Output (never inside the repository): OUT_DIR/train/*.txt, OUT_DIR/heldout/*.txt
# (documents separated by a line holding the single byte 0x1E), OUT_DIR/packages.txt
# (exact Debian versions), OUT_DIR/manifest.tsv (bytes per source at every stage) and
# OUT_DIR/mixture.txt (bytes per flavour).  Needs root for apt-get.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${LMZ_SHARED:-$repo/../shared}
shared=$(cd "$shared" && pwd)
out=${1:-/var/tmp/lmz-corpus}
case "$(cd "$(dirname "$out")" 2>/dev/null && pwd)/" in
    "$repo"/*) echo "make-corpus: refusing to write corpus data inside the repository ($out)" >&2; exit 2 ;;
esac
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
eval_dir=${EVAL_DIR:-$shared/data}

mkdir -p "$out"
if [ -z "${SKIP_EXTRACT:-}" ]; then
    EVAL_DIR=$eval_dir sh "$shared/corpus/make-corpus.sh" "$out/raw"
fi
[ -f "$out/raw/manifest.tsv" ] || { echo "make-corpus: no $out/raw/manifest.tsv" >&2; exit 1; }
cp "$out/raw/packages.txt" "$out/packages.txt"
"$py" "$here/mix.py" --raw "$out/raw" --out "$out" --eval-dir "$eval_dir" \
    --extract "$shared/corpus/extract.py" --code-cap "${CODE_CAP:-0.22}" --seed "${SEED:-1}"
cat "$out/mixture.txt"
