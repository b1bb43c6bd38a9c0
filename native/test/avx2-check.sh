#!/bin/sh
# Builds and runs the standalone check of native/x25519-avx2.c (4-way AVX2 X25519): RFC 7748
# vectors, low-order points, field operations at the limb bounds, a randomised comparison against
# an independent reference and the portable ladder (and OpenSSL when present), and a benchmark
# against the portable ladder of native/x25519.c.
# Usage: native/test/avx2-check.sh [random-pairs] [seed]      (CC=clang to use another compiler)
# The kernel is compiled exactly as the addon build would (no -march flag), warnings as errors.
# Exit status 0 = pass. On a machine without AVX2 only the reference checks run (status 0,
# "SKIPPED" printed), unless AVX2_REQUIRE=1 is set, which makes that a failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
out=$(mktemp -d "${TMPDIR:-/tmp}/avx2-check.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
# as shipped (must be warning-free), then with the field-level test hook for the harness
"$cc" -O2 -fPIC -std=gnu11 -Wall -Wextra -Werror -c "$here/../x25519-avx2.c" -o "$out/x25519-avx2-plain.o"
"$cc" -O2 -fPIC -std=gnu11 -Wall -Wextra -Werror -DDP_X25519_AVX2_TESTING -c "$here/../x25519-avx2.c" -o "$out/x25519-avx2.o"
# OpenSSL (libcrypto), when its headers and library are there: a second reference
ossl_cflags= ossl_libs=
printf '#include <openssl/evp.h>\nint main(void){return EVP_PKEY_X25519 == 0;}\n' >"$out/probe.c"
if "$cc" -o "$out/probe" "$out/probe.c" -lcrypto >/dev/null 2>&1; then
  ossl_cflags=-DDP_WITH_OPENSSL ossl_libs=-lcrypto
else
  echo "(OpenSSL headers/libcrypto not found: the OpenSSL comparison is skipped)"
fi
# the harness includes native/x25519.c (without its N-API part) for the portable ladder, compiled
# with -O3 as scripts/build-native.mjs compiles it for the addon (the benchmark's baseline must be
# the addon's); its unused static functions are not warnings here
"$cc" -O3 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-function -DDP_X25519_AVX2_TESTING $ossl_cflags \
  -c "$here/avx2-check.c" -o "$out/avx2-check.o"
"$cc" -o "$out/avx2-check" "$out/avx2-check.o" "$out/x25519-avx2.o" $ossl_libs
"$out/avx2-check" "$@"
