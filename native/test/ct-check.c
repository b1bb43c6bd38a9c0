/*
 * Constant-time check of the 64-bit kernel of native/x25519.c under valgrind's memcheck: the
 * scalar and the points are marked "undefined" (they carry no defined value as far as memcheck
 * knows), so any branch or memory address computed from them is reported as a use of
 * uninitialised data. Only the results are declassified, after the computation (whether a result
 * is zero is public: it ends the run with an error).
 * `ct-check control` branches on a scalar bit on purpose, to show that the check catches it.
 * Run through native/test/ct-check.sh.
 */
#define DP_NO_NAPI
#include "../x25519.c"
#include <stdio.h>
#include <valgrind/memcheck.h>

int main(int argc, char **argv) {
  enum { N = 70 };
  static uint8_t k[32], in[32 * N], out[32 * N];
  uint64_t s = 0x5eed2026;
  for (size_t i = 0; i < sizeof in; i++) in[i] = (uint8_t)((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 56);
  for (size_t i = 0; i < sizeof k; i++) k[i] = (uint8_t)((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 56);
  memset(in + 32 * 5, 0, 32); /* one low-order point: its zero z goes through the masked path */
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  VALGRIND_MAKE_MEM_UNDEFINED(k, sizeof k);
  VALGRIND_MAKE_MEM_UNDEFINED(in, sizeof in);
  if (argc > 1 && strcmp(argv[1], "control") == 0 && (k[3] & 1)) puts("secret-dependent branch taken");
  batch_portable(k, in, out, 64);
  batch_portable(k, in + 32 * 64, out + 32 * 64, N - 64);
  VALGRIND_MAKE_MEM_DEFINED(out, sizeof out);
  unsigned acc = 0;
  for (size_t i = 0; i < sizeof out; i++) acc = acc * 31 + out[i];
  printf("ct-check: %d points, checksum %08x\n", N, acc);
  return 0;
}
