#!/usr/bin/env bash
# Test runner: runs every test program of each build directory given (build/release,
# build/asan, ...) and every tests/test_*.sh script against that build's lmz binary,
# then prints one closing line "N passed, N failed".
#
# A cmocka program reports each test as "[       OK ] name" or "[  FAILED  ] name"; a shell
# test prints "ok NAME" / "not ok NAME" lines (tests/lib.sh).  A program that crashes or
# exits non-zero without reporting a failure counts as one failure.
#
#   bash tests/run.sh build/release [build/asan]
#   TESTS='gguf tokenizer' bash tests/run.sh build/release    # only those
set -u
cd "$(dirname "$0")/.."
export LMZ_SHARED=${LMZ_SHARED:-$(cd .. && pwd)/shared}
passed=0; failed=0; failures=()
mkdir -p tests/out

count() {  # name logfile rc
    local name=$1 log=$2 rc=$3 p f
    p=$(grep -cE '^\[       OK \]|^ok ' "$log")
    f=$(grep -cE '^\[  FAILED  \] [^0-9]|^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        failures+=("$name (log: $log)")
        grep -E '^\[  FAILED  \] [^0-9]|^not ok |ERROR|Sanitizer|runtime error' "$log" | head -20
    fi
    printf '%-40s %4d passed %4d failed\n' "$name" "$p" "$f"
}

want() {  # is test $1 selected by $TESTS?
    [ -z "${TESTS:-}" ] && return 0
    local t; for t in $TESTS; do [ "$1" = "$t" ] && return 0; done; return 1
}

for build in "$@"; do
    variant=$(basename "$build")
    for prog in "$build"/tests/test_*; do
        [ -x "$prog" ] || continue
        name=$(basename "$prog"); name=${name#test_}
        want "$name" || continue
        log=tests/out/$variant-$name.log
        "$prog" >"$log" 2>&1; rc=$?
        count "$variant/$name" "$log" $rc
    done
    for script in tests/test_*.sh; do
        [ -f "$script" ] || continue
        name=$(basename "$script" .sh); name=${name#test_}
        want "$name" || continue
        log=tests/out/$variant-$name.log
        LMZ="$build/lmz" BUILD="$build" bash "$script" >"$log" 2>&1; rc=$?
        count "$variant/$name.sh" "$log" $rc
    done
done

for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
