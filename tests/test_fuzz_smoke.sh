#!/usr/bin/env bash
# The short fuzzing pass of the test suite (tests/run.sh, `make fuzz-smoke`): builds the
# libFuzzer harnesses if needed (`make fuzz-build`: clang, into build/fuzz/), replays
# every input of fuzz/regressions/, then fuzzes each harness for FUZZ_SMOKE_SECONDS
# (default 8) on its committed seeds only.  Prints "ok fuzz-NAME" / "not ok fuzz-NAME".
# The first build of the harnesses takes a few minutes; later runs reuse it.
#
# The harnesses are always ASan+UBSan builds of their own, so the pass runs once, with
# the release suite; for BUILD=build/asan (or debug) it only says so.  If clang cannot
# link a libFuzzer program at all, that is a failure ("not ok fuzz-toolchain"):
# tools/setup-debian.sh installs what it needs, so a missing piece is a broken setup.
set -u
cd "$(dirname "$0")/.."
case ${BUILD:-build/release} in
*/asan | */debug)
    echo "# fuzz-smoke runs with the release suite only (its harnesses are ASan+UBSan builds)"
    exit 0 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lmz-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return (int)(n & 0) + (d != 0) * 0; }' >"$tmp/probe.c"
if ! "${FUZZ_CC:-clang}" -fsanitize=fuzzer "$tmp/probe.c" -o "$tmp/probe" >/dev/null 2>&1; then
    echo "not ok fuzz-toolchain -- ${FUZZ_CC:-clang} cannot build libFuzzer programs (bash tools/setup-debian.sh installs clang and libclang-rt-14-dev)"
    exit 0
fi

# A plain `make`, not the parent's jobserver: this script may run under `make test`.
if env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory -j2 fuzz-build \
        >"$tmp/build.log" 2>&1; then
    echo "ok fuzz-build"
else
    echo "not ok fuzz-build -- make fuzz-build failed:"
    tail -20 "$tmp/build.log"
    exit 1
fi
# corpus, logs and crash inputs in $tmp: never mixed with a long run's in build/fuzz/
if ! bash fuzz/run.sh -t "${FUZZ_SMOKE_SECONDS:-8}" -d "$tmp/corpus" -o "$tmp/out"; then
    mkdir -p tests/out/fuzz-smoke
    cp -r "$tmp/out/." tests/out/fuzz-smoke/
    echo "# logs and crashing inputs kept in tests/out/fuzz-smoke/"
    exit 1
fi
