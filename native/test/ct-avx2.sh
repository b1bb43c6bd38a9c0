#!/bin/sh
# Constant-time check of native/x25519-avx2.c (4-way AVX2 kernel) with valgrind memcheck (secrets
# marked undefined; see ct-avx2.c). Exit 0 = no secret-dependent branch or memory index in the
# kernel, and the control (a deliberate secret-dependent branch) was caught. The kernel is compiled
# as the addon compiles it (-O2, no -march flag). Needs valgrind (3.19 executes AVX2) and its
# headers; skips (exit 0, "SKIPPED") without them or on a CPU without AVX2.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
if ! command -v valgrind >/dev/null || [ ! -f /usr/include/valgrind/memcheck.h ]; then
  echo "ct-avx2: SKIPPED (valgrind or its headers missing)"
  exit 0
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/ct-avx2.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
# -gdwarf-4: valgrind 3.19 cannot read the DWARF 5 that clang 14 emits by default
"$cc" -O2 -g -gdwarf-4 -fPIC -std=gnu11 -Wall -Wextra -Werror -c "$here/../x25519-avx2.c" -o "$out/x25519-avx2.o"
"$cc" -O2 -g -gdwarf-4 -std=gnu11 -Wall -Wextra -Werror -c "$here/ct-avx2.c" -o "$out/ct-avx2.o"
"$cc" -o "$out/ct-avx2" "$out/ct-avx2.o" "$out/x25519-avx2.o"
vg="valgrind -q --error-exitcode=3 --exit-on-first-error=no"
set +e
$vg "$out/ct-avx2"
rc=$?
set -e
if [ "$rc" -eq 2 ]; then
  echo "ct-avx2: SKIPPED (no AVX2 on this CPU, or valgrind does not report it)"
  exit 0
fi
if [ "$rc" -ne 0 ]; then
  echo "ct-avx2: FAIL (memcheck saw a secret-dependent branch or address, or the result was wrong; see above)"
  exit 1
fi
if $vg "$out/ct-avx2" control >/dev/null 2>&1; then
  echo "ct-avx2: FAIL (the control's deliberate secret-dependent branch was not reported)"
  exit 1
fi
echo "ct-avx2: PASS (no secret-dependent branch or memory index in the AVX2 kernel; control caught)"
