#!/usr/bin/env python3
"""CLI corruption matrix for lmz (run by tests/test_corruption.sh; see there).

Usage: corruption_matrix.py LMZ MODEL OTHER_MODEL WORKDIR

WORKDIR holds the intact streams made by the shell script:
  lm.lmz     one stream, one LM chunk (--lm-always), text in lm.txt
  mixed.lmz  one stream of ZSTD and RAW chunks (--chunk-size=64), content in mixed.bin
  zstd.lmz   one stream, one ZSTD chunk, content in zstd.txt
  raw.lmz    one stream, one RAW chunk, content in raw.bin

Every damaged file is given to lmz in one of three ways, in turn (the decoder behind
them is the same; the CLI around it differs):
  -t FILE     must write nothing at all (stdout empty, no file created)
  -dc FILE    stdout captured
  -d -k FILE  (in a scratch directory) no output file, no temporary file, input intact
Every case must end with exit status 1 and a message "lmz: NAME: ..." on stderr, within
the timeout, without a sanitizer report -- unless the damaged file is in fact a valid
stream (a truncation exactly at a stream boundary), which must then decode to the right
bytes with status 0.  Damage inside a chunk record or its payload must be reported with
that chunk's name ("chunk N", and "stream 1, " in the second stream of a file).

Prints "ok NAME (N cases)" / "not ok NAME -- ..." lines for tests/run.sh, and a summary.
"""
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = float(os.environ.get("LMZ_MATRIX_TIMEOUT", "20"))
JOBS = int(os.environ.get("LMZ_MATRIX_JOBS", "2"))
# Every STRIDE-th case of the large groups only (the sanitizer build: ~8x slower start-up).
# A stride prime to 3 keeps rotating through the three ways of running lmz.
STRIDE = int(os.environ.get("LMZ_MATRIX_STRIDE", "1"))

# ---------------------------------------------------------------- XXH32 (doc/format.md §1)
P1, P2, P3, P4, P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
M32 = 0xFFFFFFFF


def _rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & M32


def xxh32(data, seed=0):
    n = len(data)
    i = 0
    if n >= 16:
        v = [(seed + P1 + P2) & M32, (seed + P2) & M32, seed & M32, (seed - P1) & M32]
        while i + 16 <= n:
            for k in range(4):
                lane = struct.unpack_from("<I", data, i + 4 * k)[0]
                v[k] = (_rotl((v[k] + lane * P2) & M32, 13) * P1) & M32
            i += 16
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M32
    else:
        h = (seed + P5) & M32
    h = (h + n) & M32
    while i + 4 <= n:
        h = (_rotl((h + struct.unpack_from("<I", data, i)[0] * P3) & M32, 17) * P4) & M32
        i += 4
    while i < n:
        h = (_rotl((h + data[i] * P5) & M32, 11) * P1) & M32
        i += 1
    h ^= h >> 15
    h = (h * P2) & M32
    h ^= h >> 13
    h = (h * P3) & M32
    h ^= h >> 16
    return h


assert xxh32(b"") == 0x02CC5D05


# ---------------------------------------------------------------- stream layout
def varint(b, o):
    v, shift = 0, 0
    while True:
        c = b[o]
        o += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, o


def parse(b, base=0):
    """Layout of the streams in b: a list of streams, each a dict with the header's
    span and a list of records (start, header_end, payload_end, method, index)."""
    streams = []
    o = 0
    while o < len(b):
        s = {"start": base + o, "records": []}
        assert b[o:o + 4] == b"\x89LMZ", "not a stream"
        flags = b[o + 5]
        p = o + 7
        for _ in range(3):
            _, p = varint(b, p)
        if flags & 0x20:        # MIX_VERSION: the mixed coding's version byte
            s["mix_version_at"] = base + p
            p += 1
        p += 16 + (8 if flags & 1 else 0)
        if flags & 2:
            p += 1 + b[p]
        p += 4
        s["header_end"] = base + p
        s["header_check_at"] = base + p - 4
        index = 0
        while True:
            rec = p
            method = b[p]
            p += 1
            if method == 0:
                _, p = varint(b, p)
                n_chunks, p = varint(b, p)
                p += (4 if n_chunks >= 2 else 0) + 4
                s["end"] = (base + rec, base + p)
                break
            raw_size, p = varint(b, p)
            payload = raw_size
            if method in (1, 2):
                payload, p = varint(b, p)
            if method == 1:
                _, p = varint(b, p)
            if method in (1, 2):
                p += 4
            p += 4
            s["records"].append({"start": base + rec, "header_end": base + p,
                                 "end": base + p + payload, "method": method,
                                 "index": index})
            p += payload
            index += 1
        s["stop"] = base + p
        streams.append(s)
        o = p
    return streams


def where(streams, off):
    """What the byte at off belongs to: ('header', stream), ('chunk', stream, index)
    or ('end', stream)."""
    for si, s in enumerate(streams):
        if off >= s["stop"]:
            continue
        if off < s["header_end"]:
            return ("header", si)
        for r in s["records"]:
            if r["start"] <= off < r["end"]:
                return ("chunk", si, r["index"])
        return ("end", si)
    raise ValueError(off)


def chunk_name(si, index):
    return ("stream %d, " % si if si else "") + "chunk %d " % index


# ---------------------------------------------------------------- running cases
class Matrix:
    def __init__(self, lmz, model, work):
        self.lmz, self.model, self.work = lmz, model, work
        self.results = {}      # group -> [cases, failures list]
        self.crashes = 0
        self.harmless = []     # damage that leaves a valid stream of the same content

    def run_case(self, *args, **kw):
        """Run one case; returns None or a failure description."""
        try:
            return self.run_case1(*args, **kw)
        except Exception as e:  # a missing output file, ...: a failed case, not a crash here
            return "checking failed: %r" % e

    def run_case1(self, slot, label, data, expect_ok, expected_out, mode, name_check=None,
                  model=None, extra_args=(), may_succeed=False, warning=None):
        d = os.path.join(self.work, "slot%d" % slot)
        shutil.rmtree(d, ignore_errors=True)
        os.mkdir(d)
        path = os.path.join(d, "x.lmz")
        with open(path, "wb") as f:
            f.write(data)
        args = [self.lmz, "-m", model or self.model, *extra_args]
        if mode == "t":
            args += ["-t", "x.lmz"]
        elif mode == "dc":
            args += ["-dc", "x.lmz"]
        else:
            args += ["-d", "-k", "x.lmz"]
        try:
            p = subprocess.run(args, cwd=d, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.crashes += 1
            return "hang: no exit within %g s" % TIMEOUT
        err = p.stderr.decode("utf-8", "replace")
        rc = p.returncode
        if rc < 0 or rc > 2 or "Sanitizer" in err or "runtime error" in err:
            self.crashes += 1
            return "crash: exit %d, stderr %r" % (rc, err[-300:])
        left = sorted(os.listdir(d))
        with open(path, "rb") as f:
            if f.read() != data:
                return "the input file was changed"
        if warning:
            # Decoded with a warning (exit 2): the output complete and right.
            if rc != 2 or warning not in err:
                return "wanted exit 2 and a warning %r, got exit %d: %s" % (warning, rc, err)
            if mode == "dc" and p.stdout != expected_out:
                return "-dc with a warning wrote other bytes"
            if mode == "d" and open(os.path.join(d, "x"), "rb").read() != expected_out:
                return "-d with a warning wrote other bytes"
            if mode == "t" and p.stdout:
                return "-t wrote to stdout"
            return None
        if expect_ok:
            if rc != 0:
                return "valid stream refused: exit %d: %s" % (rc, err.strip())
            if mode == "dc" and p.stdout != expected_out:
                return "valid stream decoded to other bytes"
            if mode == "d":
                out = os.path.join(d, "x")
                if not os.path.exists(out) or open(out, "rb").read() != expected_out:
                    return "valid stream not decoded to the right bytes in %s" % out
                if left != ["x", "x.lmz"]:
                    return "-d -k left files: %s" % left
            if mode == "t" and (p.stdout or left != ["x.lmz"]):
                return "-t wrote something: %d bytes to stdout, files %s" % (len(p.stdout), left)
            return None
        if rc == 0:
            if mode == "dc":
                right = p.stdout == expected_out
            elif mode == "d":
                out = os.path.join(d, "x")
                right = os.path.exists(out) and open(out, "rb").read() == expected_out
            else:
                right = None   # -t verified the content checks, and writes nothing
            if may_succeed and right is not False:
                self.harmless.append(label)
                return None
            return "damage not detected (exit 0%s)" % (
                "" if right is None else
                ", output happens to be right" if right else ", WRONG OUTPUT")
        if rc != 1:
            return "exit %d, wanted 1: %s" % (rc, err.strip())
        lines = err.strip().split("\n")
        if not err.startswith("lmz: x.lmz: ") or len(lines[0]) <= len("lmz: x.lmz: ") + 3:
            return "no clear message: %r" % err
        if name_check:
            alts = (name_check,) if isinstance(name_check, str) else name_check
            if not any(a in err for a in alts):
                return "message does not name %s: %s" % (
                    " or ".join(repr(a.strip()) for a in alts), err.strip())
        if mode == "t":
            if p.stdout:
                return "-t wrote %d bytes to stdout" % len(p.stdout)
            if left != ["x.lmz"]:
                return "-t left files: %s" % left
        if mode == "d" and left != ["x.lmz"]:
            return "-d left files after a failure: %s" % left
        return None

    def group(self, name, cases):
        """cases: list of dicts with the run_case arguments (slot and mode are filled)."""
        modes = ("t", "dc", "d")
        fails = []
        all_cases = len(cases)
        if STRIDE > 1 and len(cases) > 100:
            cases = cases[::STRIDE]

        # Each worker gets its own slot directory: worker w runs cases w, w+JOBS, ...
        def worker(w):
            out = []
            for i in range(w, len(cases), JOBS):
                c = cases[i]
                r = self.run_case(w, c["label"], mode=c.get("mode", modes[i % 3]),
                                  **{k: v for k, v in c.items() if k not in ("label", "mode")})
                if r:
                    out.append("%s [%s]: %s" % (c["label"], c.get("mode", modes[i % 3]), r))
            return out

        with ThreadPoolExecutor(JOBS) as ex:
            for out in ex.map(worker, range(JOBS)):
                fails += out
        self.results[name] = (len(cases), fails)
        sampled = "" if len(cases) == all_cases else ", every %dth of %d" % (STRIDE, all_cases)
        if fails:
            print("not ok %s -- %d of %d cases failed%s" % (name, len(fails), len(cases), sampled))
            for f in fails[:15]:
                print("    " + f)
        else:
            print("ok %s (%d cases%s)" % (name, len(cases), sampled))
        sys.stdout.flush()


def flip_cases(data, streams, content, offsets, label, every_bit=True):
    """Single-bit flips at each offset: all 8 bits, or (every_bit False) all 8 bits of
    record headers and End records but one bit (offset mod 8) of each payload byte."""
    cases = []
    for off in offsets:
        w = where(streams, off)
        name = chunk_name(w[1], w[2]) if w[0] == "chunk" else None
        rec = None
        if w[0] == "chunk":
            rec = streams[w[1]]["records"][w[2]]
            if off == rec["start"]:
                # A method byte turned to 0 makes the record an End record, which the
                # message then names at the same offset.
                end_name = ("stream %d, End record" % w[1] if w[1] else "the End record")
                name = (name, "%s (at byte %d)" % (end_name, off))
        in_payload = rec is not None and off >= rec["header_end"]
        bits = range(8) if every_bit or not in_payload else (off % 8,)
        for bit in bits:
            b = bytearray(data)
            b[off] ^= 1 << bit
            cases.append({"label": "%s byte %d bit %d" % (label, off, bit), "data": bytes(b),
                          "expect_ok": False, "expected_out": content, "name_check": name})
    return cases


def trunc_cases(data, streams, contents, label, start=0):
    """Every proper prefix of data from start bytes on (0: the empty file included).  A
    cut at a stream boundary leaves valid streams."""
    cases = []
    for n in range(start, len(data)):
        done = [i for i, s in enumerate(streams) if s["stop"] <= n]
        at_boundary = done and streams[done[-1]]["stop"] == n
        name = None
        if n > 0 and not at_boundary:
            w = where(streams, n)
            if w[0] == "chunk":
                name = chunk_name(w[1], w[2])
        cases.append({"label": "%s cut at %d" % (label, n), "data": data[:n],
                      "expect_ok": bool(at_boundary),
                      "expected_out": b"".join(contents[:len(done)]),
                      "name_check": name})
    return cases


def compact_payload(b):
    """(payload start, payload end, the ids of the check's seed) of a compact stream
    written by lmz -n with an external model (profile 0) or without a model."""
    d = b[0] - 0xA0
    p, ids = 1, b""
    if d >= 8:
        assert b[1] == 0, "compact lm: external model"
        p = 3
        _, p = varint(b, p)
        _, p = varint(b, p)
        ids = bytes(b[p:p + 16])
        p += 16
        p += 1 + b[p]
    if d == 0:
        return p, p, ids
    raw, p = varint(b, p)
    payload = raw
    if d != 1:
        payload, p = varint(b, p)
    return p, p + payload, ids


def compact_cases(samples):
    cases = []
    for label, data, content in samples:
        assert 0xA0 <= data[0] <= 0xBF, "%s: not compact" % label
        start, end, ids = compact_payload(data)
        assert end + 4 == len(data), "%s: layout" % label
        for off in range(len(data)):
            for bit in range(8):
                b = bytearray(data)
                b[off] ^= 1 << bit
                cases.append({"label": "%s byte %d bit %d" % (label, off, bit),
                              "data": bytes(b), "expect_ok": False, "expected_out": content})
        for n in range(len(data)):
            cases.append({"label": "%s cut at %d" % (label, n), "data": data[:n],
                          "expect_ok": False, "expected_out": b""})
        for off in range(start, end):
            b = bytearray(data)
            b[off] ^= 1 << (off % 8)
            seed = xxh32(bytes(b[:end]) + ids)
            struct.pack_into("<I", b, end, xxh32(content, seed))
            cases.append({"label": "%s repaired byte %d" % (label, off), "data": bytes(b),
                          "expect_ok": False, "may_succeed": True, "expected_out": content})
    return cases


def repair_record(b, rec):
    """Recompute a record's record_check after its payload was changed."""
    at = rec["header_end"] - 4
    check = xxh32(bytes(b[rec["start"]:at]) + bytes(b[rec["header_end"]:rec["end"]]))
    struct.pack_into("<I", b, at, check)


def repair_header(b, s):
    at = s["header_check_at"]
    struct.pack_into("<I", b, at, xxh32(bytes(b[s["start"]:at])))


def main():
    lmz, model, other, work = sys.argv[1:5]
    rd = lambda n: open(os.path.join(work, n), "rb").read()
    lm, lm_txt = rd("lm.lmz"), rd("lm.txt")
    mixed, mixed_bin = rd("mixed.lmz"), rd("mixed.bin")
    zs, zs_txt = rd("zstd.lmz"), rd("zstd.txt")
    raw, raw_bin = rd("raw.lmz"), rd("raw.bin")
    scratch = tempfile.mkdtemp(dir=work)
    m = Matrix(lmz, model, scratch)

    # Two streams back to back: damage in the second must be named "stream 1, chunk N".
    two = lm + mixed
    two_streams = parse(two)
    assert [r["method"] for r in two_streams[0]["records"]] == [1], "lm.lmz: one LM chunk"
    methods = [r["method"] for r in two_streams[1]["records"]]
    assert 2 in methods and 3 in methods and len(methods) >= 3, "mixed.lmz: %s" % methods
    assert two_streams[1]["stop"] == len(two)
    zs_streams, raw_streams = parse(zs), parse(raw)
    assert [r["method"] for r in zs_streams[0]["records"]] == [2]
    assert [r["method"] for r in raw_streams[0]["records"]] == [3]

    # Intact files decode, in every mode.
    intact = []
    for label, data, out in (("lm", lm, lm_txt), ("lm+mixed", two, lm_txt + mixed_bin),
                             ("zstd", zs, zs_txt), ("raw", raw, raw_bin)):
        for mode in ("t", "dc", "d"):
            intact.append({"label": label, "data": data, "expect_ok": True,
                           "expected_out": out, "mode": mode})
    m.group("matrix-intact-files-decode", intact)

    # Every bit of the LM stream, header included.  After the header (the same code
    # reads every header) of the second stream and of the one-chunk ZSTD and RAW streams:
    # every bit of the record headers and End records, one bit of each payload byte.
    m.group("matrix-bit-flips-lm-stream",
            flip_cases(two, two_streams, lm_txt + mixed_bin, range(len(lm)), "lm"))
    s1 = two_streams[1]
    m.group("matrix-bit-flips-zstd-raw-chunks",
            flip_cases(two, two_streams, lm_txt + mixed_bin, range(s1["header_end"], len(two)),
                       "lm+mixed", every_bit=False) +
            flip_cases(zs, zs_streams, zs_txt, range(zs_streams[0]["header_end"], len(zs)),
                       "zstd", every_bit=False) +
            flip_cases(raw, raw_streams, raw_bin, range(raw_streams[0]["header_end"], len(raw)),
                       "raw", every_bit=False))
    # Every truncation point of the two-stream file; of the one-chunk streams, every
    # point from their first record on.
    m.group("matrix-truncations",
            trunc_cases(two, two_streams, [lm_txt, mixed_bin], "lm+mixed") +
            trunc_cases(zs, zs_streams, [zs_txt], "zstd", zs_streams[0]["header_end"]) +
            trunc_cases(raw, raw_streams, [raw_bin], "raw", raw_streams[0]["header_end"]))

    # Payload damage with the record check repaired, so that it reaches the LM and zstd
    # decoders; the chunk's raw check (or the decoder) must catch it.  Nothing of the
    # damaged chunk may come out: with -dc, stdout holds only the chunks before it.
    repaired = []
    for label, data, streams, content in (("lm", two, two_streams, lm_txt + mixed_bin),
                                          ("zstd", zs, zs_streams, zs_txt)):
        for s in streams:
            for r in s["records"]:
                if r["method"] not in (1, 2):
                    continue
                for off in range(r["header_end"], r["end"]):
                    b = bytearray(data)
                    b[off] ^= 1 << (off % 8)
                    repair_record(b, r)
                    # A zstd frame has bits that do not change what it decodes to;
                    # the content checks then pass, and the output must be right.
                    repaired.append({"label": "%s repaired byte %d" % (label, off),
                                     "data": bytes(b), "expect_ok": False,
                                     "may_succeed": True,
                                     "expected_out": content,
                                     "name_check": chunk_name(streams.index(s), r["index"])})
    m.group("matrix-repaired-payload-damage", repaired)

    # Compact streams (doc/format.md 11): every bit of an LM, a ZSTD, a RAW and an empty
    # stream, every truncation, and payload damage with the check repaired (seeded by the
    # damaged bytes, over the right content), which the decoders must then refuse, or
    # decode to the right content.
    m.group("matrix-compact-streams", compact_cases(
        (("compact lm", rd("lm.c.lmz"), lm_txt), ("compact zstd", rd("zstd.c.lmz"), zs_txt),
         ("compact raw", rd("raw.c.lmz"), raw_bin), ("compact empty", rd("empty.c.lmz"), b""))))

    # Garbage, other versions, other models, an adapter.
    rng = random.Random(6)
    other_cases = []
    for n in (1, 2, 3, 4, 5, 16, 100, 1000, 65536):
        other_cases.append({"label": "random %d bytes" % n, "data": rng.randbytes(n),
                            "expect_ok": False, "expected_out": b""})
        other_cases.append({"label": "magic + random %d" % n,
                            "data": b"\x89LMZ" + rng.randbytes(n), "expect_ok": False,
                            "expected_out": b""})
        other_cases.append({"label": "magic, version 1, random %d" % n,
                            "data": b"\x89LMZ\x01" + rng.randbytes(n), "expect_ok": False,
                            "expected_out": b""})
    other_cases.append({"label": "text", "data": lm_txt, "expect_ok": False,
                        "expected_out": b""})
    other_cases.append({"label": "empty file", "data": b"", "expect_ok": False,
                        "expected_out": b""})
    # Trailing bytes that start no stream: decoded with a warning, as gzip does.
    other_cases.append({"label": "lm + garbage", "data": lm + b"garbage\n",
                        "expect_ok": False, "expected_out": lm_txt,
                        "warning": "trailing data at byte %d ignored" % len(lm)})
    other_cases.append({"label": "lm + zeros", "data": lm + bytes(64),
                        "expect_ok": False, "expected_out": lm_txt,
                        "warning": "trailing data at byte %d ignored" % len(lm)})
    for v in (0, 2, 3, 255):
        b = bytearray(lm)
        b[4] = v
        repair_header(b, two_streams[0])
        other_cases.append({"label": "format version %d" % v, "data": bytes(b),
                            "expect_ok": False, "expected_out": lm_txt,
                            "name_check": "format version %d is not supported" % v})
    for bit in (2, 6, 7):
        b = bytearray(lm)
        b[5] |= 1 << bit
        repair_header(b, two_streams[0])
        other_cases.append({"label": "unknown flag bit %d" % bit, "data": bytes(b),
                            "expect_ok": False, "expected_out": lm_txt})
    # KV_F16 (bit 3) toggled under a valid header check: the model then runs with the
    # other KV cache precision, decodes other tokens, and the content checks catch it.
    # MIX (bit 4) likewise: the payload is then read as the other coding.
    for bit, name in ((3, "KV_F16"), (4, "MIX"), (5, "MIX_VERSION")):
        b = bytearray(lm)
        b[5] ^= 1 << bit
        repair_header(b, two_streams[0])
        other_cases.append({"label": "%s flag toggled" % name, "data": bytes(b),
                            "expect_ok": False, "expected_out": lm_txt})
    # The mixed coding's version byte (lm.lmz is version 3), header check repaired: 1 is
    # written without the field and 0 is none (corrupt), 2 decodes with the wrong models
    # (the chunk's check fails), 4 is a newer coding (version error).
    assert "mix_version_at" in two_streams[0], "lm.lmz should be mixed coding version 3"
    assert lm[two_streams[0]["mix_version_at"]] == 3, "lm.lmz should be mixed coding version 3"
    for v in (0, 1, 2, 4, 255):
        b = bytearray(lm)
        b[two_streams[0]["mix_version_at"]] = v
        repair_header(b, two_streams[0])
        other_cases.append({"label": "mix version %d" % v, "data": bytes(b),
                            "expect_ok": False, "expected_out": lm_txt,
                            "name_check": "mixed coding is version" if v > 3 else
                                          None if v == 2 else "mix version field"})
    # Made with an adapter this decoder does not apply (lmz has no adapters yet, so the
    # stream is built by hand: ADAPTER flag and a nonzero adapter id, header check valid).
    for label, data, content in (("lm", lm, lm_txt), ("zstd", zs, zs_txt)):
        s = parse(data)[0]
        b = bytearray(data)
        ids_end = 7
        for _ in range(3):
            _, ids_end = varint(b, ids_end)
        ids_end += 16 + (1 if b[5] & 0x20 else 0)
        b[5] |= 1
        b[ids_end:ids_end] = bytes(range(1, 9))
        s2 = parse(bytes(b))[0]
        repair_header(b, s2)
        other_cases.append({"label": "%s stream with an adapter" % label, "data": bytes(b),
                            "expect_ok": False, "expected_out": content,
                            "name_check": "adapter"})
    # Made with another model: every mode, every stream kind.
    for label, data, content in (("lm", lm, lm_txt), ("lm+mixed", two, lm_txt + mixed_bin),
                                 ("zstd", zs, zs_txt), ("raw", raw, raw_bin)):
        for mode in ("t", "dc", "d"):
            other_cases.append({"label": "%s with another model" % label, "data": data,
                                "expect_ok": False, "expected_out": content, "mode": mode,
                                "model": other, "name_check": "model"})
    m.group("matrix-garbage-versions-models", other_cases)

    total = sum(n for n, _ in m.results.values())
    failed = sum(len(f) for _, f in m.results.values())
    print("corruption matrix: %d cases tried, %d failed, %d crashes or hangs, %d harmless "
          "(repaired damage that decodes to the same content)" %
          (total, failed, m.crashes, len(m.harmless)))
    for label in sorted(m.harmless):
        print("    harmless: " + label)
    shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
