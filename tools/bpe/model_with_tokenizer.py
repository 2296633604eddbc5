#!/usr/bin/env python3
"""Wrap a tokenizer-only GGUF (from `lmz bpe-train`) into a tiny random-weight llama
model, so that llama.cpp, which only loads models, can load its vocabulary.

  python3 tools/bpe/model_with_tokenizer.py TOKENIZER.gguf OUT_MODEL.gguf

Uses tools/make_ref_model.py with its gpt2 tokenizer builder replaced by one that
returns the tokenizer.* keys of TOKENIZER.gguf, with their exact GGUF types.
"""
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "ref"))
import make_ref_model  # noqa: E402
from gguf_io import Reader, g, make_model  # noqa: E402

ARRAY_TYPES = {"tokenizer.ggml.tokens": g.T_STR, "tokenizer.ggml.merges": g.T_STR,
               "tokenizer.ggml.token_type": g.T_I32}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    r = Reader(sys.argv[1])
    kv = []
    for key, vt in r.meta_types.items():
        if not key.startswith("tokenizer."):
            continue
        v = r.meta[key]
        if vt == g.T_ARR:
            if key not in ARRAY_TYPES:
                sys.exit(f"unexpected array key {key}")
            kv.append((key, g.arr(ARRAY_TYPES[key], v)))
        else:
            kv.append((key, g.Val(vt, v)))
    tokens = r.meta["tokenizer.ggml.tokens"]
    make_model.tokenizer_gpt2 = lambda pad_to: (tokens, kv)
    make_ref_model.main(["--out", sys.argv[2], "--n-embd", "32", "--n-layer", "1", "--n-head", "2",
                         "--n-head-kv", "1", "--n-ff", "64"])


if __name__ == "__main__":
    main()
