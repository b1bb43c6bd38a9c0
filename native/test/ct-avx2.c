/*
 * Constant-time check of the 4-way AVX2 kernel (native/x25519-avx2.c) under valgrind's memcheck:
 * the scalar and the points are marked "undefined" (memcheck then treats every value computed from
 * them as secret), so any branch or memory address that depends on them is reported as a use of
 * uninitialised data. Only the results are declassified, after the computation.
 * The points include a low-order one (u = 0, whose z is zero) and a non-canonical one (u >= p),
 * with bit 255 set on some, so the masked and reducing paths run with secret data too.
 * `ct-avx2 control` branches on a scalar bit on purpose, to show that the check catches it.
 * Run through native/test/ct-avx2.sh.
 */
#include <stdio.h>
#include <string.h>
#include <valgrind/memcheck.h>

#include "../x25519-avx2.h"

int main(int argc, char **argv) {
  enum { N = 12 };
  static uint8_t k[32], in[32 * N], out[32 * N];
  uint64_t s = 0x5eed2026;
  size_t i;
  if (!dp_x25519_avx2_available()) {
    printf("ct-avx2: AVX2 not available (under valgrind)\n");
    return 2;
  }
  for (i = 0; i < sizeof in; i++) in[i] = (uint8_t)((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 56);
  for (i = 0; i < sizeof k; i++) k[i] = (uint8_t)((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 56);
  memset(in + 32 * 1, 0, 32);    /* low-order point u = 0 */
  memset(in + 32 * 6, 0xFF, 32); /* 2^256 - 1: bit 255 set, and 2^255 - 1 >= p after masking */
  in[32 * 9 + 31] |= 0x80;
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  VALGRIND_MAKE_MEM_UNDEFINED(k, sizeof k);
  VALGRIND_MAKE_MEM_UNDEFINED(in, sizeof in);
  if (argc > 1 && strcmp(argv[1], "control") == 0 && (k[3] & 1)) puts("secret-dependent branch taken");
  for (i = 0; i < N; i += 4) dp_x25519_avx2_x4(k, in + 32 * i, out + 32 * i);
  /* the secrets' taint must have reached every output byte through the AVX2 code (else memcheck
     would not be tracking them there and the check would prove nothing) */
  if (RUNNING_ON_VALGRIND) {
    static uint8_t vbits[sizeof out];
    size_t defined = 0;
    if (VALGRIND_GET_VBITS(out, vbits, sizeof out) != 1) {
      printf("ct-avx2: could not read memcheck's V bits\n");
      return 5;
    }
    for (i = 0; i < sizeof out; i++) defined += (vbits[i] == 0);
    if (defined) {
      printf("ct-avx2: %zu output bytes were defined before declassification: taint lost\n", defined);
      return 5;
    }
  }
  VALGRIND_MAKE_MEM_DEFINED(out, sizeof out);
  {
    unsigned acc = 0, zero = 1;
    for (i = 0; i < sizeof out; i++) acc = acc * 31 + out[i];
    for (i = 0; i < 32; i++) zero &= (out[32 + i] == 0);
    printf("ct-avx2: %d points, checksum %08x, low-order result all zero: %s\n", N, acc, zero ? "yes" : "NO");
    return zero ? 0 : 4;
  }
}
