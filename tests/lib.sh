# Helpers for shell tests (sourced).  Each check prints "ok NAME" or "not ok NAME";
# tests/run.sh counts those lines.
: "${LMZ:?LMZ must name the lmz binary}"
LMZ=$(realpath "$LMZ")
SHARED=${LMZ_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lmz-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

ok()     { echo "ok $1"; }
not_ok() { echo "not ok $1${2:+ -- $2}"; }
# check NAME COMMAND...: passes when the command exits 0
check()  { local n=$1; shift; if "$@"; then ok "$n"; else not_ok "$n" "command failed: $*"; fi; }
# check_exit NAME CODE COMMAND...: passes when the command exits with CODE
check_exit() {
    local n=$1 want=$2; shift 2
    "$@"; local rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$n"; else not_ok "$n" "exit $rc, wanted $want: $*"; fi
}

# gen_mixed N: N MiB on stdout, 1 MiB blocks alternating between $TMP/R (1 MiB of random
# bytes, made on first use) and zeros: input that exercises the zstd and raw paths.
gen_mixed() {
    [ -f "$TMP/R" ] || head -c 1048576 /dev/urandom >"$TMP/R"
    local i
    for ((i = 0; i < $1; i++)); do
        if ((i % 2 == 0)); then cat "$TMP/R"; else head -c 1048576 /dev/zero; fi
    done
}
