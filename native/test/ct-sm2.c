/*
 * Constant-time check of native/sm2.c under valgrind's memcheck: the scalar is marked "undefined"
 * (memcheck then reports any branch or memory address computed from it as a use of uninitialised
 * data) for its range check and for a whole batch of multiplications, shared inversion and
 * compression included. The points are public (decompression may branch on them) and stay
 * defined. Only the results are declassified, after the computation.
 * `ct-sm2 control` branches on a scalar bit on purpose, to show that the check catches it.
 * Run through native/test/ct-sm2.sh.
 */
#define DP_NO_NAPI
#include "../sm2.c"
#include <stdio.h>
#include <valgrind/memcheck.h>

int main(int argc, char **argv) {
  enum { N = 70 }; /* one full group of 64 and a partial one */
  static uint8_t k[32], in[33 * N], out[33 * N];
  /* P_i: the generator and the brief's §4.6 points, in turn (all valid compressed points). */
  static const uint8_t pts[3][33] = {
      {0x02, 0x32, 0xc4, 0xae, 0x2c, 0x1f, 0x19, 0x81, 0x19, 0x5f, 0x99, 0x04, 0x46, 0x6a, 0x39, 0xc9, 0x94,
       0x8f, 0xe3, 0x0b, 0xbf, 0xf2, 0x66, 0x0b, 0xe1, 0x71, 0x5a, 0x45, 0x89, 0x33, 0x4c, 0x74, 0xc7},
      {0x02, 0xbd, 0x30, 0x64, 0x25, 0xd8, 0x73, 0xdc, 0x3e, 0x9f, 0xd1, 0x52, 0x0e, 0x69, 0x39, 0x54, 0xd6,
       0xd6, 0x05, 0xe8, 0xad, 0x2f, 0xae, 0x4e, 0x48, 0xf5, 0x3a, 0x39, 0x55, 0x26, 0xf3, 0x9a, 0xbe},
      {0x03, 0x19, 0x1d, 0x66, 0xa5, 0x5a, 0x4a, 0x62, 0xe4, 0x82, 0xb7, 0xed, 0xd2, 0x9f, 0x13, 0x2b, 0x3d,
       0x8b, 0x7c, 0x17, 0x00, 0xd0, 0x42, 0x30, 0xaf, 0x83, 0xdd, 0x4e, 0x1b, 0x78, 0x04, 0x73, 0x42},
  };
  for (int i = 0; i < N; i++) memcpy(in + 33 * i, pts[i % 3], 33);
  uint64_t s = 0x5eed2026;
  for (size_t i = 0; i < sizeof k; i++) k[i] = (uint8_t)((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 56);
  k[0] = 0x0f; /* below n; leading nibble 0 exercises the "accumulator at infinity" selection */
  k[20] = 0;   /* a zero nibble pair inside: the "digit 0" selection */
  VALGRIND_MAKE_MEM_UNDEFINED(k, sizeof k);
  if (argc > 1 && strcmp(argv[1], "control") == 0 && (k[3] & 1)) puts("secret-dependent branch taken");
  int ok = dp_sm2_scalar_ok(k);
  VALGRIND_MAKE_MEM_DEFINED(&ok, sizeof ok); /* public: whether the call is refused */
  if (!ok) {
    puts("ct-sm2: the test scalar is out of range");
    return 2;
  }
  long long bad = dp_sm2_batch(k, in, out, N, 0); /* the 64-bit code (valgrind cannot run AVX-512) */
  VALGRIND_MAKE_MEM_DEFINED(out, sizeof out);
  VALGRIND_MAKE_MEM_DEFINED(&bad, sizeof bad);
  unsigned acc = 0;
  for (size_t i = 0; i < sizeof out; i++) acc = acc * 31 + out[i];
  printf("ct-sm2: %d points, result %lld, checksum %08x\n", N, bad, acc);
  return bad == -1 ? 0 : 2;
}
