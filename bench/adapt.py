#!/usr/bin/env python3
"""make bench-adapt: LoRA adapters (lmz --train, lmz -A) against the base model and
against zstd with a trained dictionary, on two domain splits of ../shared/data:

  * llm: llm-adapt-Mixtral-8x7B-Instruct-v0.1-train.jsonl / -test.jsonl, one response
    a sample (the split ../shared/data ships);
  * code: the two C files, code-c-glibc-headers.txt and code-c-examples-zlib-png-expat.txt,
    each cut at a line boundary: the first 85 % trains, the last 15 % is the test part,
    itself cut into samples of about 4 KiB at line boundaries (source files one by one).

For each split: train an adapter on the training part (default settings of
`lmz --train`, timed), then on the test part:
  * whole: the test samples joined into one file, compressed once;
  * per sample: every sample compressed on its own (its own stream, header included);
base model (no -A) and adapter (-A) beside `zstd --train` on the same training samples
and `zstd -19 -D dict` per sample.  Every lmz output is decompressed and compared.

    python3 bench/adapt.py [--lmz ./lmz] [--level 5] [--threads 2] [--only llm,code]
                           [--train-args "..."] [--out bench/results/adapt.md] [--work DIR]
    python3 bench/adapt.py --route-only --work DIR     # the routing table again

With both splits, a last table routes every test sample through a directory holding both
adapters (`-A DIR`) and counts where each went.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SHARED = os.environ.get("LMZ_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
DATA = os.path.join(SHARED, "data")


def cut_lines(text, at):
    """Index of the first line start at or after `at` (len(text) if none)."""
    i = text.find(b"\n", at)
    return len(text) if i < 0 else i + 1


def pieces(text, size):
    out, start = [], 0
    while start < len(text):
        end = cut_lines(text, start + size) if start + size < len(text) else len(text)
        out.append(text[start:end])
        start = end
    return out


def split_llm():
    def texts(path):
        with open(path, encoding="utf-8") as f:
            return [json.loads(line)["text"].encode() for line in f if line.strip()]
    base = os.path.join(DATA, "llm-adapt-Mixtral-8x7B-Instruct-v0.1-")
    return texts(base + "train.jsonl"), texts(base + "test.jsonl")


def split_code():
    train, test = [], []
    for name in ("code-c-glibc-headers.txt", "code-c-examples-zlib-png-expat.txt"):
        with open(os.path.join(DATA, name), "rb") as f:
            text = f.read()
        cut = cut_lines(text, len(text) * 85 // 100)
        train += pieces(text[:cut], 4096)
        test += pieces(text[cut:], 4096)
    return train, test


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def lmz_size(args, data, lmz, threads):
    """Compressed size of data with `lmz args`, after checking the round trip."""
    c = run([lmz, "-c", "-T", str(threads)] + args, input=data).stdout
    d = run([lmz, "-dc", "-T", str(threads)] + args, input=c).stdout
    if d != data:
        sys.exit("round trip failed: lmz %s" % " ".join(args))
    return len(c)


def bpb(size, n):
    return 8.0 * size / n


def bench_split(name, train, test, opts, work):
    os.makedirs(work, exist_ok=True)
    lv = ["-%d" % opts.level]
    # training input as the CLI takes it: jsonl, one sample a line
    train_file = os.path.join(work, name + "-train.jsonl")
    with open(train_file, "w", encoding="utf-8") as f:
        for t in train:
            f.write(json.dumps({"text": t.decode("utf-8", "surrogateescape")}) + "\n")
    adapter = os.path.join(work, name + ".lora.gguf")
    t0 = time.time()
    r = run([opts.lmz, "--train", "-f", "-T", str(opts.threads)] + lv +
            opts.train_args.split() + [train_file, "-o", adapter])
    train_s = time.time() - t0
    a = ["-A", adapter] + lv
    b = lv
    whole = b"".join(test)
    n_test = len(whole)
    res = {"split": name, "train_samples": len(train), "train_bytes": sum(map(len, train)),
           "test_samples": len(test), "test_bytes": n_test, "train_s": train_s,
           "adapter_bytes": os.path.getsize(adapter)}
    res["base_whole"] = lmz_size(b, whole, opts.lmz, opts.threads)
    res["adapter_whole"] = lmz_size(a, whole, opts.lmz, opts.threads)
    res["base_per"] = sum(lmz_size(b, t, opts.lmz, opts.threads) for t in test)
    res["adapter_per"] = sum(lmz_size(a, t, opts.lmz, opts.threads) for t in test)
    # zstd --train on the training samples, zstd -19 -D per test sample
    sdir = os.path.join(work, name + "-samples")
    shutil.rmtree(sdir, ignore_errors=True)
    os.makedirs(sdir)
    for i, t in enumerate(train):
        with open(os.path.join(sdir, "%05d" % i), "wb") as f:
            f.write(t)
    dict_path = os.path.join(work, name + ".zdict")
    run(["zstd", "--train", "-q", "-f", "-r", sdir, "-o", dict_path])
    zper = 0
    for t in test:
        c = run(["zstd", "-19", "-q", "-c", "-D", dict_path], input=t).stdout
        if run(["zstd", "-dc", "-q", "-D", dict_path], input=c).stdout != t:
            sys.exit("zstd round trip failed")
        zper += len(c)
    res["zstd_dict_per"] = zper
    res["zstd_dict_bytes"] = os.path.getsize(dict_path)
    res["zstd_whole"] = len(run(["zstd", "-19", "-q", "-c"], input=whole).stdout)
    res["train_log"] = [l for l in r.stderr.decode(errors="replace").replace("\r", "\n").splitlines()
                        if l.startswith("lmz --train: wrote")][-1:] or [""]
    return res


def route_bench(opts, work):
    """Both adapters in one directory; every test sample of both splits compressed with
    -A DIR (routing), against each sample with its own split's adapter (the oracle)."""
    rdir = os.path.join(work, "route")
    shutil.rmtree(rdir, ignore_errors=True)
    os.makedirs(rdir)
    for name in ("llm", "code"):
        shutil.copy(os.path.join(work, name + ".lora.gguf"), rdir)
    lines = ["| test split | samples | routed to llm / code / none | routed per sample | own adapter per sample | base per sample |",
             "|---|---|---|---|---|---|"]
    for name, split in (("llm", split_llm), ("code", split_code)):
        test = split()[1]
        n = sum(map(len, test))
        counts = {"llm": 0, "code": 0, "none": 0}
        routed = own = base = 0
        for t in test:
            c = run([opts.lmz, "-c", "-T", str(opts.threads), "-%d" % opts.level, "-A", rdir],
                    input=t).stdout
            if run([opts.lmz, "-dc", "-T", str(opts.threads), "-A", rdir], input=c).stdout != t:
                sys.exit("routed round trip failed")
            listing = run([opts.lmz, "-lv", "-"], input=c).stdout.decode()
            chosen = "none"
            for k in ("llm", "code"):
                if "(%s)" % k in listing:
                    chosen = k
            counts[chosen] += 1
            routed += len(c)
            own += lmz_size(["-A", os.path.join(work, name + ".lora.gguf"), "-%d" % opts.level],
                            t, opts.lmz, opts.threads)
            base += lmz_size(["-%d" % opts.level], t, opts.lmz, opts.threads)
        lines.append("| %s | %d | %d / %d / %d | %.3f bpb | %.3f bpb | %.3f bpb |" % (
            name, len(test), counts["llm"], counts["code"], counts["none"], bpb(routed, n),
            bpb(own, n), bpb(base, n)))
    return "\n".join(lines) + "\n"


def report(results, opts):
    lines = ["| split | test | base whole | adapter whole | base per sample | adapter per sample "
             "| base/adapter (per sample) | zstd -19 -D per sample | zstd-dict/adapter | adapter "
             "| training |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        n = r["test_bytes"]
        lines.append("| %s | %d samples, %d B | %.3f bpb | %.3f bpb | %.3f bpb | %.3f bpb | %.2fx "
                     "| %.3f bpb | %.2fx | %d B | %.0f s |" % (
                         r["split"], r["test_samples"], n, bpb(r["base_whole"], n),
                         bpb(r["adapter_whole"], n), bpb(r["base_per"], n),
                         bpb(r["adapter_per"], n), r["base_per"] / r["adapter_per"],
                         bpb(r["zstd_dict_per"], n), r["zstd_dict_per"] / r["adapter_per"],
                         r["adapter_bytes"], r["train_s"]))
    lines.append("")
    lines.append("level -%d, %d threads; training: `lmz --train -%d %s` on %s samples; "
                 "zstd --train dictionaries: %s." % (
                     opts.level, opts.threads, opts.level, opts.train_args or "(defaults)",
                     ", ".join("%s %d (%d B)" % (r["split"], r["train_samples"], r["train_bytes"])
                               for r in results),
                     ", ".join("%s %d B" % (r["split"], r["zstd_dict_bytes"]) for r in results)))
    for r in results:
        lines.append("- %s, the trainer's last line: %s" % (r["split"], r["train_log"][0]))
        lines.append("- %s, zstd -19 on the whole test part: %.3f bpb" % (
            r["split"], bpb(r["zstd_whole"], r["test_bytes"])))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmz", default="./lmz")
    ap.add_argument("--level", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="llm,code")
    ap.add_argument("--train-args", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--work", default="")
    ap.add_argument("--route-only", action="store_true",
                    help="only the routing table, with the adapters already in --work")
    opts = ap.parse_args()
    if opts.route_only:
        print(route_bench(opts, opts.work))
        return
    work = opts.work or tempfile.mkdtemp(prefix="lmz-adapt-")
    splits = {"llm": split_llm, "code": split_code}
    results = []
    for name in opts.only.split(","):
        train, test = splits[name]()
        results.append(bench_split(name, train, test, opts, work))
        print(report(results[-1:], opts), flush=True)
    text = report(results, opts)
    if len(results) == 2:
        text += "\nRouting (`-A DIR` holding both adapters):\n\n" + route_bench(opts, work)
    print(text)
    if opts.out:
        with open(opts.out, "w") as f:
            f.write(text)
    if not opts.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
