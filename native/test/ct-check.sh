#!/bin/sh
# Constant-time check of native/x25519.c's 64-bit kernel with valgrind memcheck (secrets marked
# undefined; see ct-check.c). Exit 0 = no secret-dependent branch or memory index, and the control
# (a deliberate secret-dependent branch) was caught. Needs valgrind and its headers; skips (exit 0,
# "SKIPPED") without them. The AVX-512 kernel cannot be checked this way: valgrind 3.19 does not
# execute AVX-512 instructions.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
if ! command -v valgrind >/dev/null || [ ! -f /usr/include/valgrind/memcheck.h ]; then
  echo "ct-check: SKIPPED (valgrind or its headers missing)"
  exit 0
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/ct-check.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
"$cc" -O3 -g -std=gnu11 -Wall -Wextra -Wno-unused-function -o "$out/ct-check" "$here/ct-check.c"
vg="valgrind -q --error-exitcode=3 --exit-on-first-error=no"
if ! $vg "$out/ct-check"; then
  echo "ct-check: FAIL (memcheck saw a secret-dependent branch or address; see above)"
  exit 1
fi
if $vg "$out/ct-check" control >/dev/null 2>&1; then
  echo "ct-check: FAIL (the control's deliberate secret-dependent branch was not reported)"
  exit 1
fi
echo "ct-check: PASS (no secret-dependent branch or memory index in the 64-bit kernel; control caught)"
