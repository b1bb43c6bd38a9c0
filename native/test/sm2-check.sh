#!/bin/sh
# Builds and runs the standalone check of native/sm2.c (SM2 scalar multiplication): known answers,
# the field operations at their bounds and random values against OpenSSL's BN_mod_*, random
# scalar/point pairs against OpenSSL's EC_POINT_mul on SM2, invalid encodings judged as OpenSSL
# judges them, and a benchmark against EC_POINT_mul.
# Usage: native/test/sm2-check.sh [random-pairs] [seed]      (CC=clang to use another compiler)
# sm2.c and sm2-ifma.c are compiled as the addon build compiles them (-O3, no -march flag),
# warnings as errors.
# Without OpenSSL's headers and libcrypto only the known answers are checked. Exit status 0 = pass.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
out=$(mktemp -d "${TMPDIR:-/tmp}/sm2-check.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
"$cc" -O3 -fPIC -std=gnu11 -Wall -Wextra -Werror -DDP_NO_NAPI -c "$here/../sm2.c" -o "$out/sm2-plain.o"
"$cc" -O3 -fPIC -std=gnu11 -Wall -Wextra -Werror -DDP_NO_NAPI -DDP_HAVE_IFMA -c "$here/../sm2.c" -o "$out/sm2-plain-ifma.o"
ossl_cflags= ossl_libs=
printf '#include <openssl/ec.h>\n#include <openssl/obj_mac.h>\nint main(void){return NID_sm2 == 0;}\n' >"$out/probe.c"
if "$cc" -o "$out/probe" "$out/probe.c" -lcrypto >/dev/null 2>&1; then
  ossl_cflags=-DDP_WITH_OPENSSL ossl_libs=-lcrypto
else
  echo "(OpenSSL headers/libcrypto not found: the OpenSSL comparisons are skipped)"
fi
# the 8-way IFMA kernel too on x86-64 (it checks the CPU at run time; without IFMA only the 64-bit code runs)
ifma_flags= ifma_objs=
if [ "$(uname -m)" = x86_64 ]; then
  "$cc" -O2 -fPIC -Wall -Wextra -Werror -c "$here/../x25519-ifma.c" -o "$out/x25519-ifma.o"
  "$cc" -O3 -fPIC -std=gnu11 -Wall -Wextra -Werror -c "$here/../sm2-ifma.c" -o "$out/sm2-ifma.o"
  ifma_flags=-DDP_HAVE_IFMA ifma_objs="$out/x25519-ifma.o $out/sm2-ifma.o"
fi
"$cc" -O3 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-function $ifma_flags $ossl_cflags -o "$out/sm2-check" "$here/sm2-check.c" $ifma_objs $ossl_libs
"$out/sm2-check" "$@"
