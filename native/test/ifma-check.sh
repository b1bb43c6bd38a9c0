#!/bin/sh
# Builds and runs the standalone check of native/x25519-ifma.c (8-way AVX-512 IFMA X25519):
# RFC 7748 vectors, a randomised comparison against a scalar reference, and a benchmark.
# Usage: native/test/ifma-check.sh [random-pairs] [seed]      (CC=clang to use another compiler)
# The kernel is compiled exactly as the addon build does (no -march flag), warnings as errors.
# Exit status 0 = pass. On a machine without AVX-512 IFMA only the reference checks run (status 0,
# "SKIPPED" printed), unless IFMA_REQUIRE=1 is set, which makes that a failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
out=$(mktemp -d "${TMPDIR:-/tmp}/ifma-check.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
# as shipped (must be warning-free), then with the field-level test hook for the harness
"$cc" -O2 -fPIC -Wall -Wextra -Werror -c "$here/../x25519-ifma.c" -o "$out/x25519-ifma-plain.o"
"$cc" -O2 -fPIC -Wall -Wextra -Werror -DDP_X25519_IFMA_TESTING -c "$here/../x25519-ifma.c" -o "$out/x25519-ifma.o"
# OpenSSL (libcrypto), when its headers and library are there: a second reference and a baseline
ossl_cflags= ossl_libs=
printf '#include <openssl/evp.h>\nint main(void){return EVP_PKEY_X25519 == 0;}\n' >"$out/probe.c"
if "$cc" -o "$out/probe" "$out/probe.c" -lcrypto >/dev/null 2>&1; then
  ossl_cflags=-DDP_WITH_OPENSSL ossl_libs=-lcrypto
else
  echo "(OpenSSL headers/libcrypto not found: the OpenSSL comparison is skipped)"
fi
"$cc" -O2 -Wall -Wextra -Werror -DDP_X25519_IFMA_TESTING $ossl_cflags -c "$here/ifma-check.c" -o "$out/ifma-check.o"
"$cc" -o "$out/ifma-check" "$out/ifma-check.o" "$out/x25519-ifma.o" $ossl_libs
"$out/ifma-check" "$@"
