#!/usr/bin/env bash
# Line, function and branch coverage of src/ (`make coverage`, which first builds
# VARIANT=coverage: -O0 -g --coverage into build/coverage).  Runs the test suite against
# that build, then with lcov (Debian 12: lcov 1.16, `apt-get install lcov`):
#   BUILD/coverage.info   src/ only, branch coverage on
#   lcov --summary        lines, functions, branches
#   a table per folder of src/ (tools/coverage_table.py)
#   BUILD/html/           genhtml's report, when genhtml is there
# Files of src/ that no test program or lmz links still count, at zero (lcov --initial).
#
#   bash tools/coverage.sh build/coverage
#   COVERAGE_SKIP='fuzz_smoke' ...   tests left out (default: fuzz_smoke, whose harnesses
#                                    are clang builds of their own, not this build)
#   TESTS='gguf cli' ...             only those tests (tests/run.sh), less COVERAGE_SKIP
# Exits with the test suite's status, after writing the report either way.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=${1:-build/coverage}
RC=(--rc lcov_branch_coverage=1)
command -v lcov >/dev/null 2>&1 || { echo "coverage: lcov is missing: apt-get install lcov" >&2; exit 1; }
[ -d "$B/src" ] && [ -x "$B/lmz" ] || { echo "coverage: no coverage build in $B (make VARIANT=coverage tests-build)" >&2; exit 1; }

# Counters from zero; notes (.gcno) of sources that no longer exist would name missing files.
find "$B" -name '*.gcda' -delete
while IFS= read -r g; do
    rel=${g#"$B"/}; rel=${rel%.gcno}
    [ -f "$rel.c" ] || rm -f "$g" "${g%.gcno}.o" "${g%.gcno}.d"
done < <(find "$B" -name '*.gcno' -not -path "$B/tests/test_*")

# The tests to run: every program of $B/tests and every tests/test_*.sh (or $TESTS), less
# COVERAGE_SKIP.
skip=" ${COVERAGE_SKIP-fuzz_smoke} "
if [ -n "${TESTS:-}" ]; then
    all=$TESTS
else
    all=$( (for p in "$B"/tests/test_*; do [ -x "$p" ] && basename "$p"; done
            for s in tests/test_*.sh; do basename "$s" .sh; done) | sed 's/^test_//' | sort -u)
fi
sel=()
for t in $all; do case "$skip" in *" $t "*) ;; *) sel+=("$t") ;; esac; done
echo "coverage: tests ${sel[*]}"
echo "coverage: left out:${skip% }"

# libgcov's complaints (a .gcda it cannot write: lmz run as another user, under ulimit -f)
# go to a file of their own, not into the stderr the tests check; world-writable so that
# the test run as user 65534 appends too.
errlog=$(mktemp "${TMPDIR:-/tmp}/lmz-gcov-errors.XXXXXX"); chmod 666 "$errlog"
start=$(date +%s)
GCOV_ERROR_FILE=$errlog TESTS="${sel[*]}" bash tests/run.sh "$B"; rc=$?
echo "coverage: test suite $(( $(date +%s) - start )) s, exit $rc"
mv -f "$errlog" "$B/gcov-errors.log"
[ -s "$B/gcov-errors.log" ] &&
    echo "coverage: libgcov reported $(wc -l <"$B/gcov-errors.log") problem(s), see $B/gcov-errors.log"

# Debian 12's geninfo (lcov 1.16, perl 5.36) warns "Subroutine ... redefined" on every
# run: noise, left out.
lcov() { command lcov "$@" 2> >(grep -v '^Subroutine .* redefined at ' >&2); }
lcov -q "${RC[@]}" --capture --initial --directory "$B" --output-file "$B/base.info" &&
lcov -q "${RC[@]}" --capture --directory "$B" --output-file "$B/run.info" &&
lcov -q "${RC[@]}" --add-tracefile "$B/base.info" --add-tracefile "$B/run.info" \
     --output-file "$B/all.info" &&
lcov -q "${RC[@]}" --extract "$B/all.info" "$ROOT/src/*" --output-file "$B/coverage.info" ||
    { echo "coverage: lcov failed" >&2; exit 1; }
rm -f "$B/base.info" "$B/run.info" "$B/all.info"

echo "coverage: $B/coverage.info"
lcov "${RC[@]}" --summary "$B/coverage.info" 2>&1 | grep -E '^ *(lines|functions|branches)'
python3 tools/coverage_table.py --root "$ROOT" "$B/coverage.info"
if command -v genhtml >/dev/null 2>&1; then
    rm -rf "$B/html"
    if genhtml -q "${RC[@]}" --branch-coverage --prefix "$ROOT" --title "lmz src/" \
            --output-directory "$B/html" "$B/coverage.info"; then
        echo "coverage: HTML report $B/html/index.html"
    else
        echo "coverage: genhtml failed" >&2
    fi
fi
exit $rc
