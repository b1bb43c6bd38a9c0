#!/bin/sh
# Constant-time check of native/sm2.c (SM2 scalar multiplication) with valgrind memcheck: the
# scalar marked undefined (see ct-sm2.c). Exit 0 = no scalar-dependent branch or memory index in
# the range check, the multiplications, the shared inversion and the compression, and the control
# (a deliberate scalar-dependent branch) was caught. Needs valgrind and its headers; skips (exit 0,
# "SKIPPED") without them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
if ! command -v valgrind >/dev/null || [ ! -f /usr/include/valgrind/memcheck.h ]; then
  echo "ct-sm2: SKIPPED (valgrind or its headers missing)"
  exit 0
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/ct-sm2.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
# -O3 as the addon build compiles sm2.c
"$cc" -O3 -g -std=gnu11 -Wall -Wextra -Wno-unused-function -o "$out/ct-sm2" "$here/ct-sm2.c"
vg="valgrind -q --error-exitcode=3 --exit-on-first-error=no"
if ! $vg "$out/ct-sm2"; then
  echo "ct-sm2: FAIL (memcheck saw a scalar-dependent branch or address; see above)"
  exit 1
fi
if $vg "$out/ct-sm2" control >/dev/null 2>&1; then
  echo "ct-sm2: FAIL (the control's deliberate scalar-dependent branch was not reported)"
  exit 1
fi
echo "ct-sm2: PASS (no scalar-dependent branch or memory index in native/sm2.c; control caught)"
