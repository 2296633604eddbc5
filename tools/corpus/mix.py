#!/usr/bin/env python3
"""Second stage of tools/corpus/make-corpus.sh: raw extraction -> training mixture.

Reads RAW/train/*.txt and RAW/heldout/*.txt (extract.py's output: documents separated
by b"\\n\\x1e\\n") in RAW/manifest.tsv's source order, and writes OUT/train, OUT/heldout:

1. near-duplicate paragraphs: a paragraph (text between blank lines) whose words
   (lowercased [a-z0-9]+ runs) are those of an earlier paragraph of at least 8 words is
   dropped, across every source and both splits (licence headers, boilerplate notes,
   the same man page section in two packages).  extract.py already dropped exact
   duplicate documents.
2. evaluation guard for code: extract.py guards the text sources only; here code
   paragraphs sharing a 13-word run with an evaluation text are dropped too.
3. code cap: if code exceeds CODE_CAP of the bytes, each code document is kept with one
   probability p, decided by a hash of (seed, document), so the choice is fixed by the
   seed and the text, not by the order or the machine.

Prose and reference (docs, man pages, help, dictionaries) are kept whole: they are the
mixture's weight.  OUT/manifest.tsv gets bytes per source at every stage,
OUT/mixture.txt the bytes per flavour.
"""
import argparse
import hashlib
import importlib.util
import os
import re

SEP = b"\n\x1e\n"
WORD = re.compile(rb"[a-z0-9]+")


def load_extract(path):
    spec = importlib.util.spec_from_file_location("extract", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def read_manifest(path):
    rows = []
    with open(path) as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            rows.append(dict(zip(head, line.rstrip("\n").split("\t"))))
    return rows


def file_name(source, flavour):
    return f"{source}.txt" if source.startswith("code-") else f"{flavour}-{source}.txt"


def docs_of(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    return [d for d in data.split(SEP) if d]


def dedup_paragraphs(doc, seen):
    keep = []
    for para in doc.split(b"\n\n"):
        words = WORD.findall(para.lower())
        if len(words) >= 8:
            key = hashlib.blake2b(b" ".join(words), digest_size=8).digest()
            if key in seen:
                continue
            seen.add(key)
        keep.append(para)
    return b"\n\n".join(keep)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--eval-dir", default="")
    ap.add_argument("--extract", required=True, help="path of extract.py (for its eval guard)")
    ap.add_argument("--code-cap", type=float, default=0.22)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    ex = load_extract(a.extract)
    guard = a.eval_dir
    keys_file = os.path.join(os.path.dirname(os.path.abspath(a.extract)), "heldout.keys")
    if os.path.exists(keys_file):
        guard = keys_file + (":" + guard if guard else "")
    eval_keys = ex.load_eval(guard) if guard else set()

    rows = read_manifest(os.path.join(a.raw, "manifest.tsv"))
    seen = set()
    kept = {}      # (split, source) -> list of docs after dedup and guard
    stats = {}
    for r in rows:
        src, flav = r["source"], r["flavour"]
        code = flav == "code"
        st = stats[src] = dict(flavour=flav, raw=0, dedup=0, guard=0, paras_dup=0, paras_eval=0)
        for split in ("train", "heldout"):
            out_docs = []
            for doc in docs_of(os.path.join(a.raw, split, file_name(src, flav))):
                if split == "train":
                    st["raw"] += len(doc) + len(SEP)
                n_para = doc.count(b"\n\n") + 1
                doc = dedup_paragraphs(doc, seen)
                n_left = doc.count(b"\n\n") + 1 if doc else 0
                st["paras_dup"] += n_para - n_left
                if split == "train" and doc:
                    st["dedup"] += len(doc) + len(SEP)
                if code and eval_keys and doc:
                    text = doc.decode("utf-8", "replace")
                    if any(k in eval_keys for k in ex.ngram_keys(text, stride=4)):
                        paras = text.split("\n\n")
                        ok = [q for q in paras if not any(k in eval_keys for k in ex.ngram_keys(q))]
                        st["paras_eval"] += len(paras) - len(ok)
                        doc = "\n\n".join(ok).encode("utf-8")
                if len(doc) >= 64:
                    out_docs.append(doc)
                    if split == "train":
                        st["guard"] += len(doc) + len(SEP)
            kept[(split, src)] = out_docs
        print(f"{src:18s} raw {st['raw']/1e6:8.1f} MB  dedup {st['dedup']/1e6:8.1f} MB  "
              f"guarded {st['guard']/1e6:8.1f} MB  dup paras {st['paras_dup']}  eval paras {st['paras_eval']}",
              flush=True)

    text_bytes = sum(s["guard"] for s in stats.values() if s["flavour"] != "code")
    code_bytes = sum(s["guard"] for s in stats.values() if s["flavour"] == "code")
    target = a.code_cap / (1 - a.code_cap) * text_bytes
    p = min(1.0, target / code_bytes) if code_bytes else 1.0
    limit = int(p * 2**64)
    print(f"code: {code_bytes/1e6:.1f} MB, text {text_bytes/1e6:.1f} MB, cap {a.code_cap} -> keep p={p:.4f}")

    for split in ("train", "heldout"):
        os.makedirs(os.path.join(a.out, split), exist_ok=True)
    seed = a.seed.to_bytes(8, "little")
    for r in rows:
        src, flav = r["source"], r["flavour"]
        st = stats[src]
        st["final"] = st["final_heldout"] = 0
        for split in ("train", "heldout"):
            with open(os.path.join(a.out, split, file_name(src, flav)), "wb") as f:
                for doc in kept[(split, src)]:
                    if flav == "code" and p < 1.0:
                        h = int.from_bytes(hashlib.blake2b(seed + doc, digest_size=8).digest(), "little")
                        if h >= limit:
                            continue
                    f.write(doc + SEP)
                    st["final" if split == "train" else "final_heldout"] += len(doc) + len(SEP)

    with open(os.path.join(a.out, "manifest.tsv"), "w") as f:
        f.write("source\tflavour\traw_train_bytes\tafter_dedup\tafter_guard\tfinal_train_bytes\t"
                "final_heldout_bytes\tdup_paragraphs\teval_paragraphs\n")
        for r in rows:
            s = stats[r["source"]]
            f.write(f"{r['source']}\t{s['flavour']}\t{s['raw']}\t{s['dedup']}\t{s['guard']}\t{s['final']}\t"
                    f"{s['final_heldout']}\t{s['paras_dup']}\t{s['paras_eval']}\n")
    total = sum(s["final"] for s in stats.values())
    with open(os.path.join(a.out, "mixture.txt"), "w") as f:
        f.write(f"# code cap {a.code_cap}, seed {a.seed}, code keep probability {p:.4f}\n")
        for flav in ("prose", "reference", "code"):
            b = sum(s["final"] for s in stats.values() if s["flavour"] == flav)
            hb = sum(s["final_heldout"] for s in stats.values() if s["flavour"] == flav)
            f.write(f"{flav:10s} train {b/1e6:8.1f} MB ({100*b/max(total,1):4.1f}%)  heldout {hb/1e6:6.2f} MB\n")
        f.write(f"{'total':10s} train {total/1e6:8.1f} MB\n")


if __name__ == "__main__":
    main()
