#!/usr/bin/env bash
# Install what lmz needs to build and test from Debian 12's packages.  Idempotent.
#   compilers & make: build-essential     fallback codec: libzstd-dev
#   checksums: libxxhash-dev              test harness: libcmocka-dev
#   tools used by tests: zstd (fixture decompression check), xxd, python3, time (peak
#   memory of large streams: tests/test_large_stream.sh, tests/large/run.sh)
#   fuzzing (make fuzz, the fuzz-smoke test): clang, libclang-rt-14-dev (libFuzzer and
#   the sanitizer runtimes; only recommended by clang, so named here)
set -euo pipefail
pkgs=(build-essential pkg-config libzstd-dev libxxhash-dev libcmocka-dev zstd xxd python3
      time clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
