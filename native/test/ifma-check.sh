#!/bin/sh
# Builds and runs the standalone check of native/x25519-ifma.c (8-way AVX-512 IFMA X25519):
# RFC 7748 vectors, a randomised comparison against a scalar reference, and a benchmark.
# Usage: native/test/ifma-check.sh [random-pairs] [seed]      (CC=clang to use another compiler)
# The kernel is compiled exactly as the addon build does (no -march flag), warnings as errors.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
out=$(mktemp -d "${TMPDIR:-/tmp}/ifma-check.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
# as shipped (must be warning-free), then with the field-level test hook for the harness
"$cc" -O2 -fPIC -Wall -Wextra -Werror -c "$here/../x25519-ifma.c" -o "$out/x25519-ifma-plain.o"
"$cc" -O2 -fPIC -Wall -Wextra -Werror -DDP_X25519_IFMA_TESTING -c "$here/../x25519-ifma.c" -o "$out/x25519-ifma.o"
"$cc" -O2 -Wall -Wextra -Werror -DDP_X25519_IFMA_TESTING -c "$here/ifma-check.c" -o "$out/ifma-check.o"
"$cc" -o "$out/ifma-check" "$out/ifma-check.o" "$out/x25519-ifma.o"
"$out/ifma-check" "$@"
