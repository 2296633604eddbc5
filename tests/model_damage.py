#!/usr/bin/env python3
"""Damaged model files against the CLI (run by tests/test_faults.sh).

Usage: model_damage.py LMZ MODEL TEXT TEXT_LMZ WORKDIR [STRIDE [BITS]]

For single-bit flips at every STRIDE-th byte of the model's GGUF header (metadata and
tensor infos; bit = offset mod 8, or all 8 bits with BITS=all) and at a few places in the
tensor data, it runs
  1. lmz -m DAMAGED -dc TEXT_LMZ   (TEXT_LMZ: TEXT compressed with the intact model and
                                    --lm-always)
  2. if the damaged model loads:  lmz -m DAMAGED --lm-always -c TEXT, then the result
                                  decompressed with the intact model
Each run must end in time without a crash or sanitizer report.  A damaged model is
either refused when loading ("cannot load the model"), or recognised as another model by
the streams ("made with ... model"), or it is the same model (a flip in metadata that
changes no prediction, such as the name): then both directions decode to TEXT exactly.
Anything else -- wrong output with status 0, or a stream of a model with the same identity
that does not decode -- fails: it would mean that the identity hash misses something that
changes predictions.
"""
import os
import struct
import subprocess
import sys

TIMEOUT = 30


def gguf_header_end(b):
    """Offset of the end of the GGUF header (after the tensor infos), and the data
    section's start."""
    o = 4 + 4
    n_tensors, n_kv = struct.unpack_from("<QQ", b, o)
    o += 16

    def rstr(o):
        n = struct.unpack_from("<Q", b, o)[0]
        return o + 8 + n

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def rval(t, o):
        if t == 8:
            return rstr(o)
        if t == 9:
            at, n = struct.unpack_from("<IQ", b, o)
            o += 12
            for _ in range(n):
                o = rval(at, o)
            return o
        return o + sizes[t]

    alignment = 32
    for _ in range(n_kv):
        ks = o
        o = rstr(o)
        key = b[ks + 8:o]
        t = struct.unpack_from("<I", b, o)[0]
        o += 4
        if key == b"general.alignment":
            alignment = struct.unpack_from("<I", b, o)[0]
        o = rval(t, o)
    for _ in range(n_tensors):
        o = rstr(o)
        nd = struct.unpack_from("<I", b, o)[0]
        o += 4 + 8 * nd + 4 + 8
    data = (o + alignment - 1) // alignment * alignment
    return o, data


def run(args, stdout=subprocess.PIPE):
    try:
        p = subprocess.run(args, stdout=stdout, stderr=subprocess.PIPE, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, b"", "hang"
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def crashed(rc, err):
    return rc is None or rc < 0 or rc > 2 or "Sanitizer" in err or "runtime error" in err


def main():
    lmz, model, text_path, text_lmz, work = sys.argv[1:6]
    stride = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    all_bits = len(sys.argv) > 7 and sys.argv[7] == "all"
    good = open(model, "rb").read()
    text = open(text_path, "rb").read()
    header_end, data_start = gguf_header_end(good)
    offsets = list(range(0, header_end, stride))
    # A few weights: the first and last bytes of the data section and some between.
    span = len(good) - data_start
    offsets += [data_start + span * k // 12 for k in range(12)] + [len(good) - 1]
    bad = os.path.join(work, "damaged.gguf")
    out_lmz = os.path.join(work, "by-damaged.lmz")
    counts = {"refused when loading": 0, "recognised as another model": 0,
              "same model, same output": 0}
    fails = []
    cases = 0
    for off in offsets:
        for bit in (range(8) if all_bits else (off % 8,)):
            cases += 1
            b = bytearray(good)
            b[off] ^= 1 << bit
            with open(bad, "wb") as f:
                f.write(b)
            label = "byte %d bit %d" % (off, bit)
            rc, out, err = run([lmz, "-m", bad, "-dc", text_lmz])
            if crashed(rc, err):
                fails.append("%s: decompress: crash or hang: %s %r" % (label, rc, err[-300:]))
                continue
            if "cannot load the model" in err:
                if rc != 1:
                    fails.append("%s: load refused with exit %d" % (label, rc))
                else:
                    counts["refused when loading"] += 1
                continue
            if rc == 0 and out != text:
                fails.append("%s: decompress: WRONG OUTPUT with exit 0" % label)
                continue
            if rc not in (0, 1) or (rc == 1 and "model" not in err):
                fails.append("%s: decompress with the damaged model: exit %d: %s" %
                             (label, rc, err.strip()))
                continue
            first_same = rc == 0
            # The damaged model loads: what it writes must not pass for the intact model's.
            with open(out_lmz, "wb") as f:
                rc2, _, err2 = run([lmz, "-m", bad, "--lm-always", "-c", text_path], stdout=f)
            if crashed(rc2, err2):
                fails.append("%s: compress: crash or hang: %s %r" % (label, rc2, err2[-300:]))
                continue
            if rc2 != 0:
                # A model that loads but cannot code (e.g. a context length of 1): an error
                # is fine, as long as it is one.
                if rc2 != 1 or not err2.startswith("lmz: "):
                    fails.append("%s: compress: exit %d: %r" % (label, rc2, err2))
                elif not first_same:
                    counts["recognised as another model"] += 1
                else:
                    fails.append("%s: decodes the intact model's stream but cannot compress: "
                                 "%s" % (label, err2.strip()))
                continue
            rc3, out3, err3 = run([lmz, "-m", model, "-dc", out_lmz])
            if crashed(rc3, err3):
                fails.append("%s: decompress: crash or hang: %s %r" % (label, rc3, err3[-300:]))
            elif rc3 == 0 and out3 != text:
                fails.append("%s: intact model decodes the damaged model's stream to WRONG "
                             "OUTPUT with exit 0" % label)
            elif first_same != (rc3 == 0):
                fails.append("%s: one direction decodes and the other does not: %s" %
                             (label, (err if rc else err3).strip()))
            elif rc3 != 0 and "model" not in err3:
                fails.append("%s: the damaged model's stream fails as if corrupt, not as "
                             "another model's: %s" % (label, err3.strip()))
            elif rc3 == 0:
                counts["same model, same output"] += 1
            else:
                counts["recognised as another model"] += 1
    summary = ", ".join("%d %s" % (v, k) for k, v in counts.items())
    if fails:
        print("not ok damaged-model -- %d of %d flips failed" % (len(fails), cases))
        for f in fails[:20]:
            print("    " + f)
    else:
        print("ok damaged-model (%d single-bit flips: %s)" % (cases, summary))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
