#!/usr/bin/env python3
"""The token pack for the GPU run (tools/gpu/README.md): the corpus pre-tokenized,
as little-endian uint16 ids in xz-compressed shards, small enough to travel to the
GPU machine (everything carried there shares 64 MiB).

  pack.py build --mixture tools/gpu/mixture.tsv --corpus CORPUS --work WORK --out PACK
      WORK holds tokenizer.gguf and train/SOURCE.u32, heldout/SOURCE.u32 (the
      corpus files tokenized by `lmz --tokenize`: each document starts with BOS).
      Per source: documents kept with the mixture's `keep` fraction (seeded); per
      group: documents shuffled (seeded) and cut into shards of --shard-tokens.
  pack.py info PACK
      groups, tokens, sizes, sampling weights; verifies every shard's sha256.

Why uint16 + xz rather than xz'd text: measured here, both are ~0.6 compressed
bytes per token (xz finds the same repeats in either), and token ids need no
tokenizer on the GPU machine.  Why shards: decompression runs in parallel, and a
shard can be left behind if the carry limit is short (every shard of a group is
a random subset of its documents).

PACK layout: manifest.json, tokenizer.gguf, GROUP.train.K.u16.xz,
GROUP.heldout.K.u16.xz, shared/reference/{gguf_min,make_model}.py (the shared GGUF
module that tools/ref/gguf_io.py imports; ../shared does not travel).

Readers (train_torch.py) use load_manifest() and load_tokens().
"""

import argparse
import fnmatch
import hashlib
import json
import lzma
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

FORMAT = "lmz-token-pack"
VERSION = 1
# uint16 ids, 2-byte aligned: lp=1/pb=1 tell LZMA2 so (measured ~0.2% smaller)
XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 0, "lp": 1, "pb": 1}]
SPLITS = ("train", "heldout")


# ---------------------------------------------------------------- mixture

def parse_mixture(path):
    """-> (rules [(pattern, group, keep)], multipliers {group: m}); first rule wins."""
    rules, mult = [], {}
    with open(path) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if cols[0].startswith("@"):
                mult[cols[0][1:]] = float(cols[1])
            else:
                rules.append((cols[0], cols[1], float(cols[2])))
    missing = {g for _, g, _ in rules} - set(mult)
    if missing:
        sys.exit(f"{path}: no multiplier for group(s) {sorted(missing)}")
    return rules, mult


def rule_for(rules, source):
    for pattern, group, keep in rules:
        if fnmatch.fnmatchcase(source, pattern):
            return group, keep
    return None


# ---------------------------------------------------------------- building

def split_docs(ids, bos):
    """A token stream whose documents each start with BOS -> list of arrays."""
    starts = np.flatnonzero(ids == bos)
    if ids.size and (starts.size == 0 or starts[0] != 0):
        starts = np.concatenate([[0], starts])
    return np.split(ids, starts[1:]) if starts.size else []


def keep_docs(docs, keep, rng):
    if keep >= 1:
        return docs
    return [d for d, u in zip(docs, rng.random(len(docs))) if u < keep]


def xz_shard(ids):
    raw = np.ascontiguousarray(ids, dtype="<u2").tobytes()
    return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, filters=XZ_FILTERS)


def write_shards(out, group, split, ids, shard_tokens):
    """Cut ids into shards, compress them (2 threads: lzma releases the GIL), write."""
    pieces = [ids[i:i + shard_tokens] for i in range(0, ids.size, shard_tokens)]
    with ThreadPoolExecutor(2) as ex:
        blobs = list(ex.map(xz_shard, pieces))
    shards = []
    for k, (piece, blob) in enumerate(zip(pieces, blobs)):
        name = f"{group}.{split}.{k}.u16.xz"
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)
        shards.append({"file": name, "tokens": int(piece.size), "bytes": len(blob),
                       "sha256": hashlib.sha256(blob).hexdigest()})
    return shards


def tokenizer_info(path):
    """(n_vocab, bos id) of a tokenizer GGUF, through the shared GGUF reader."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
    from gguf_io import Reader  # noqa: E402  (needs ../shared; only the packer calls this)
    m = Reader(path).meta
    return len(m["tokenizer.ggml.tokens"]), int(m["tokenizer.ggml.bos_token_id"])


def gather(corpus, work, split, rules, n_vocab, bos, seed):
    """{group: [doc arrays, text bytes (approximate where documents were dropped),
    sources]} for one split."""
    groups = {}
    folder = os.path.join(work, split)
    for fname in sorted(os.listdir(folder)):
        if not fname.endswith(".u32"):
            continue
        source = fname[:-4]
        rule = rule_for(rules, source)
        if rule is None:
            print(f"  {split}/{source}: no mixture rule, skipped")
            continue
        group, keep = rule
        ids = np.fromfile(os.path.join(folder, fname), dtype="<u4")
        if ids.size and ids.max() >= n_vocab:
            sys.exit(f"{fname}: token id {ids.max()} >= vocabulary {n_vocab}")
        docs = split_docs(ids.astype(np.uint16), bos)
        # held-out text is small and measures the model: keep all of it
        src_seed = int.from_bytes(hashlib.sha256(f"{seed}/{source}".encode()).digest()[:8], "little")
        kept = docs if split == "heldout" else keep_docs(docs, keep, np.random.default_rng(src_seed))
        n_kept = sum(d.size for d in kept)
        text_bytes = os.path.getsize(os.path.join(corpus, split, source + ".txt")) * n_kept / max(1, ids.size)
        g = groups.setdefault(group, [[], 0, []])
        g[0].extend(kept)
        g[1] += int(round(text_bytes))
        g[2].append(source)
        print(f"  {split}/{source}: {len(kept)}/{len(docs)} documents, {n_kept} tokens -> {group}")
    return groups


def cmd_build(a):
    rules, mult = parse_mixture(a.mixture)
    tok = os.path.join(a.work, "tokenizer.gguf")
    n_vocab, bos = tokenizer_info(tok)
    if n_vocab > 65536:
        sys.exit(f"vocabulary {n_vocab} does not fit uint16")
    os.makedirs(a.out, exist_ok=True)
    manifest = {"format": FORMAT, "version": VERSION, "tokenizer": "tokenizer.gguf",
                "tokenizer_sha256": sha256_file(tok), "n_vocab": n_vocab, "bos": bos,
                "dtype": "uint16le", "seed": a.seed, "groups": {}}
    for split in SPLITS:
        for group, (docs, text_bytes, sources) in sorted(gather(a.corpus, a.work, split, rules, n_vocab, bos, a.seed).items()):
            rng = np.random.default_rng(a.seed)
            if split == "train":  # a shard must be a random subset of the group's documents
                docs = [docs[i] for i in rng.permutation(len(docs))]
            ids = np.concatenate(docs) if docs else np.zeros(0, np.uint16)
            g = manifest["groups"].setdefault(group, {"multiplier": mult[group]})
            g[split] = {"tokens": int(ids.size), "documents": len(docs), "text_bytes": text_bytes,
                        "sources": sources, "shards": write_shards(a.out, group, split, ids, a.shard_tokens)}
    total = sum(g["train"]["tokens"] * g["multiplier"] for g in manifest["groups"].values() if "train" in g)
    for g in manifest["groups"].values():
        g["weight"] = g["train"]["tokens"] * g["multiplier"] / total if "train" in g else 0.0
    with open(os.path.join(a.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------- reading

def load_manifest(pack):
    with open(os.path.join(pack, "manifest.json")) as f:
        m = json.load(f)
    if m.get("format") != FORMAT or m.get("version") != VERSION:
        sys.exit(f"{pack}: not a {FORMAT} version {VERSION}")
    return m


def _read_shard(pack, shard, verify):
    path = os.path.join(pack, shard["file"])
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        blob = f.read()
    if verify and hashlib.sha256(blob).hexdigest() != shard["sha256"]:
        sys.exit(f"{path}: sha256 mismatch")
    ids = np.frombuffer(lzma.decompress(blob), dtype="<u2")
    if ids.size != shard["tokens"]:
        sys.exit(f"{path}: {ids.size} tokens, manifest says {shard['tokens']}")
    return ids


def load_tokens(pack, manifest, group, split, verify=True, threads=8):
    """All present shards of one group and split, concatenated (uint16).  Missing
    shards (left behind to fit the carry limit) are skipped with a note."""
    shards = manifest["groups"][group].get(split, {}).get("shards", [])
    with ThreadPoolExecutor(threads) as ex:
        parts = list(ex.map(lambda s: _read_shard(pack, s, verify), shards))
    missing = [s["file"] for s, p in zip(shards, parts) if p is None]
    if missing:
        print(f"pack: {len(missing)} shard(s) of {group}/{split} absent: {' '.join(missing)}", flush=True)
    parts = [p for p in parts if p is not None]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint16)


def print_info(pack, verify=True):
    m = load_manifest(pack)
    total_bytes = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(pack) for f in fs)
    print(f"{pack}: vocabulary {m['n_vocab']}, BOS {m['bos']}, {total_bytes / 2**20:.2f} MiB on disk")
    print(f"{'group':14s} {'weight':>7s} {'train tokens':>13s} {'xz MiB':>7s} {'B/tok xz':>8s} "
          f"{'text B/tok':>10s} {'heldout tokens':>14s}")
    for name, g in sorted(m["groups"].items()):
        tr, he = g.get("train", {}), g.get("heldout", {})
        xz = sum(s["bytes"] for s in tr.get("shards", []))
        text_bpt = tr.get("text_bytes", 0) / max(1, tr.get("tokens", 0) - tr.get("documents", 0))
        print(f"{name:14s} {g['weight']:7.3f} {tr.get('tokens', 0):13d} {xz / 2**20:7.2f} "
              f"{xz / max(1, tr.get('tokens', 0)):8.3f} {text_bpt:10.3f} {he.get('tokens', 0):14d}")
        if verify:
            for split in SPLITS:
                load_tokens(pack, m, name, split)
    if verify:
        print("every shard present checked (sha256, token count)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--mixture", required=True)
    b.add_argument("--corpus", required=True, help="the corpus (train/ and heldout/ *.txt): text sizes")
    b.add_argument("--work", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--shard-tokens", type=int, default=4 << 20)
    b.add_argument("--seed", type=int, default=1)
    i = sub.add_parser("info")
    i.add_argument("pack")
    a = p.parse_args(argv)
    if a.cmd == "build":
        cmd_build(a)
    else:
        print_info(a.pack)


if __name__ == "__main__":
    main()
