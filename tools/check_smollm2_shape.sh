#!/usr/bin/env bash
# lmz against llama.cpp at the real shape of SmolLM2-135M (random F32 weights, 30
# layers, 576 wide, 9 heads, 3 KV heads, vocabulary 49152): builds the model and
# llama.cpp's log-probs with tools/ref_smollm2_shape.sh (outside the repo, ~600 MB),
# then runs lmz's agreement test on it and prints the figure.
#   bash tools/check_smollm2_shape.sh [DIR]      (default /tmp/lmz-smollm2-ref)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-/tmp/lmz-smollm2-ref}
[ -f "$DIR/MANIFEST.tsv" ] || SKIP_NUMPY=${SKIP_NUMPY:-1} bash tools/ref_smollm2_shape.sh "$DIR"
make -s VARIANT=release tests-build
# Only the agreement line matters here; the other tests of the program expect the
# committed fixtures and are not meant to run on this folder.
LMZ_REF_FIXTURES=$DIR build/release/tests/test_model 2>&1 | grep 'max |log p' || true
