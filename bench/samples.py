#!/usr/bin/env python3
"""lmz beside the classical compressors on a fixed sample of every ../shared/data file,
for the levels too slow to run on whole files (lmz-m1's -8 and -9 code a few KB/s):

  * whole-file: the first 32 KiB of each .txt, and the "text" fields of the first 16
    lines of each llm-adapt-*.jsonl joined as lmz_bench joins them;
  * per response: the first 16 responses of each .jsonl but the -train split, each
    coded on its own.

    python3 bench/samples.py [--levels 5,9] [--threads 2] [--shared DIR]

lmz's figures come from build/release/bench/lmz_bench (built-in models, every sample
decompressed and compared); the classical ones (xz -9e, zstd -19, brotli -q 11,
zpaq -m5 for whole files) are measured here on the same bytes and round-tripped.  Prints
Markdown tables; the speeds are lmz_bench's.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

SAMPLE_BYTES = 32768
RESPONSES = 16
BENCH = "build/release/bench/lmz_bench"

CLASSICAL = {   # name: (compress, decompress) argument lists, stdin to stdout
    "xz": (["xz", "-9e", "-T1", "-c"], ["xz", "-dc"]),
    "zstd19": (["zstd", "-q", "-19", "-c"], ["zstd", "-q", "-dc"]),
    "brotli": (["brotli", "-q", "11", "-w", "24", "-c"], ["brotli", "-dc"]),
}


def pipe(cmd, data):
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


def classical_size(name, data):
    comp, decomp = CLASSICAL[name]
    out = pipe(comp, data)
    if pipe(decomp, out) != data:
        sys.exit(f"samples.py: {name} did not round-trip")
    return len(out)


def zpaq_size(data, work):
    """zpaq writes archives; counted whole (with its model description), as the
    baselines count it."""
    src, arc, dst = (os.path.join(work, n) for n in ("z.in", "z.zpaq", "z.out"))
    with open(src, "wb") as f:
        f.write(data)
    if os.path.exists(arc):
        os.remove(arc)
    subprocess.run(["zpaq", "a", arc, src, "-m5", "-t1", "-noattributes"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    subprocess.run(["rm", "-rf", dst], check=True)
    subprocess.run(["zpaq", "x", arc, "-to", dst], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    got = b"".join(open(os.path.join(r, n), "rb").read()
                   for r, _, ns in os.walk(dst) for n in ns)
    if got != data:
        sys.exit("samples.py: zpaq did not round-trip")
    return os.path.getsize(arc)


def first_lines(path, n):
    with open(path, "rb") as f:
        return [line for _, line in zip(range(n), f)]


def lmz(level, threads, files, per_response):
    cmd = [BENCH, "-l", str(level), "-T", str(threads)]
    if per_response:
        cmd.append("--per-response")
    rows = {}
    for line in subprocess.run(cmd + files, stdout=subprocess.PIPE, check=True,
                               text=True).stdout.splitlines():
        if line.startswith("#") or line.startswith("file"):
            if line.startswith("# model"):
                print(line)
            continue
        c = line.split()
        if len(c) > 7 and c[7] == "FAILED":
            sys.exit(f"samples.py: lmz -{level} failed on {c[0]}")
        rows[c[0]] = (float(c[3]), float(c[5]), float(c[6]))   # bpb, comp, dec KB/s
    return rows


def table(title, samples, levels, threads, per_response, work):
    files = [path for _, path, _ in samples]
    results = {lv: lmz(lv, threads, files, per_response) for lv in levels}
    names = ["xz", "zstd19", "brotli"] + ([] if per_response else ["zpaq"])
    print(f"\n**{title}**\n")
    head = ["file", "bytes"] + [f"lmz -{lv} bpb" for lv in levels] + names + \
           [f"-{levels[-1]} / best", f"-{levels[-1]} comp / dec KB/s"]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for label, path, parts in samples:
        raw = sum(len(p) for p in parts)
        bpb = {}
        for n in names:
            size = sum(zpaq_size(p, work) if n == "zpaq" else classical_size(n, p)
                       for p in parts)
            bpb[n] = 8 * size / raw
        best = min(bpb, key=bpb.get)
        row = results[levels[-1]][os.path.basename(path)]
        cells = [label, str(raw)] + \
                [f"{results[lv][os.path.basename(path)][0]:.3f}" for lv in levels] + \
                [f"{bpb[n]:.3f}" for n in names] + \
                [f"{row[0] / bpb[best]:.2f} ({best})", f"{row[1]:.1f} / {row[2]:.1f}"]
        print("| " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="5,9")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared", default=os.environ.get("LMZ_SHARED", "../shared"))
    a = ap.parse_args()
    levels = [int(x) for x in a.levels.split(",")]
    data = os.path.join(a.shared, "data")
    with tempfile.TemporaryDirectory(prefix="lmz-samples.") as work:
        whole, per = [], []
        for path in sorted(glob.glob(os.path.join(data, "*.txt"))):
            part = open(path, "rb").read(SAMPLE_BYTES)
            dst = os.path.join(work, os.path.basename(path))
            open(dst, "wb").write(part)
            whole.append((os.path.basename(path), dst, [part]))
        for path in sorted(glob.glob(os.path.join(data, "*.jsonl"))):
            lines = first_lines(path, RESPONSES)   # copied as they are, for lmz_bench
            ts = [json.loads(line)["text"] for line in lines]
            dst = os.path.join(work, os.path.basename(path))
            open(dst, "wb").write(b"".join(lines))
            name = os.path.basename(path)
            if name.startswith("llm-adapt-"):
                joined = ("\n\n".join(ts) + "\n").encode()
                whole.append((name + " (texts joined)", dst, [joined]))
            if not name.endswith("-train.jsonl"):
                per.append((name, dst, [t.encode() for t in ts]))
        print(f"# samples: first {SAMPLE_BYTES} bytes of each .txt, first {RESPONSES} "
              f"responses of each .jsonl; {a.threads} thread(s) for lmz")
        table("Whole-file setting (samples)", whole, levels, a.threads, False, work)
        table("Per-response setting (samples)", per, levels, a.threads, True, work)


if __name__ == "__main__":
    main()
