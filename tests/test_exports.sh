# liblmz.so's boundary: it exports exactly the functions include/lmz.h marks LMZ_API,
# every one lmz_-prefixed, and nothing of the library's insides (gguf_, tok_, tr_, ...).
source "$(dirname "$0")/lib.sh"
so="${BUILD:?}/liblmz.so"
[ -f "$so" ] || { not_ok exports-library-built "no $so"; exit 1; }
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sort >"$TMP/exported"
sed -n 's/^LMZ_API .*\b\(lmz_[a-z0-9_]*\)(.*/\1/p' "$(dirname "$0")/../include/lmz.h" | sort >"$TMP/declared"

if [ -s "$TMP/exported" ] && ! grep -qv '^lmz_' "$TMP/exported"; then ok exports-all-lmz-prefixed
else not_ok exports-all-lmz-prefixed "$(grep -v '^lmz_' "$TMP/exported" | head -5 | tr '\n' ' ')"; fi

if [ -s "$TMP/declared" ] && cmp -s "$TMP/exported" "$TMP/declared"; then ok exports-match-lmz-h
else not_ok exports-match-lmz-h "$(diff "$TMP/declared" "$TMP/exported" | grep '^[<>]' | head -5 | tr '\n' ' ')"; fi

# A program that uses only lmz.h links against the shared library alone and runs.
cat >"$TMP/use.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "lmz.h"
int main(void) { return strcmp(lmz_version_string(), LMZ_VERSION_STRING) != 0; }
C
if cc -I"$(dirname "$0")/../include" -o "$TMP/use" "$TMP/use.c" -L"$BUILD" -l:liblmz.so \
       $(case "$BUILD" in *asan*) echo -fsanitize=address,undefined;; esac) 2>"$TMP/cc.err" &&
   ln -s "$(realpath "$so")" "$TMP/liblmz.so.0" && LD_LIBRARY_PATH="$TMP" "$TMP/use"; then ok exports-public-header-links
else not_ok exports-public-header-links "$(head -3 "$TMP/cc.err")"; fi
