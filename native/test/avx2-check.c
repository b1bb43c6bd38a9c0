/*
 * Standalone check of native/x25519-avx2.c (4-way AVX2 X25519).
 *
 *  1. RFC 7748 §5.2 test vectors and the iterated results after 1 and 1,000 iterations (embedded
 *     below; from /work/shared/vectors/rfc7748/x25519.json, whose source is RFC 7748 section 5.2),
 *     checked against the reference in this file and the kernel (in every lane).
 *  2. Low-order u (0, 1, the two points of order 8, p - 1, and their non-canonical encodings
 *     u + p when < 2^255, and all of them with bit 255 set): all zeros for a clamped k.
 *  3. (built with -DDP_X25519_AVX2_TESTING, as avx2-check.sh does) each field operation of the
 *     kernel (mul, sqr, add, sub, a24_add, freeze, invert) on inputs at the limb bounds the kernel
 *     claims (the classes R, S, D described at the top of x25519-avx2.c; mostly maximal limbs)
 *     against the reference, plus a check that results are back within their class's bounds.
 *  4. A randomised comparison of the kernel against the reference and against the portable ladder
 *     of native/x25519.c: N (k, u) pairs (default 60,000; 4 u per k) with special u mixed in:
 *     0, 1, low-order points, p - 1, non-canonical u in [p, 2^255), u with bit 255 set,
 *     all-ones, sparse and small u, random k (clamped, as the contract says). Also out == in.
 *  5. (built with -DDP_WITH_OPENSSL and -lcrypto) 8,000 random points against OpenSSL's X25519.
 *  6. A benchmark: points/s of the kernel vs the portable ladder of native/x25519.c
 *     (batch_portable, 64 points per shared inversion, as the addon runs it), one thread,
 *     interleaved rounds in the same run; the median of the per-round ratios is the figure.
 *
 * The reference is written for this check and independent of both kernels: a plain RFC 7748 §5
 * ladder over 8 x 32-bit words (full radix 2^32, 2^256 = 38 mod p), not constant time, with the
 * inversion by square-and-multiply over the bits of p - 2.
 *
 * Usage: avx2-check [random-pairs] [seed]
 */
#define _POSIX_C_SOURCE 199309L
#define DP_NO_NAPI
#include "../x25519.c" /* batch_portable(): the portable ladder, as the addon runs it */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../x25519-avx2.h"
#include "check-common.h"


/* ---------------------------------------------------------------------------------------------- */
/* Reference: integers < 2^256 as 8 little-endian 32-bit words, arithmetic mod p = 2^255 - 19       */

typedef struct {
  uint32_t w[8];
} rf;

/* o += 38 * c (c = a carry out of bit 256, 2^256 = 38 mod p), repeated until nothing carries */
static void rf_fold(rf *o, uint64_t c) {
  int i;
  while (c) {
    uint64_t x = 38 * c;
    for (i = 0; i < 8; i++) {
      x += o->w[i];
      o->w[i] = (uint32_t)x;
      x >>= 32;
    }
    c = x;
  }
}

static void rf_mul(rf *r, const rf *a, const rf *b) {
  uint32_t t[16];
  uint64_t x, c;
  rf o;
  int i, j;
  memset(t, 0, sizeof t);
  for (i = 0; i < 8; i++) {
    c = 0;
    for (j = 0; j < 8; j++) {
      x = (uint64_t)a->w[i] * b->w[j] + t[i + j] + c;
      t[i + j] = (uint32_t)x;
      c = x >> 32;
    }
    t[i + 8] = (uint32_t)c;
  }
  c = 0;
  for (i = 0; i < 8; i++) {
    x = (uint64_t)t[i] + 38 * (uint64_t)t[i + 8] + c;
    o.w[i] = (uint32_t)x;
    c = x >> 32;
  }
  rf_fold(&o, c);
  *r = o;
}

static void rf_add(rf *r, const rf *a, const rf *b) {
  uint64_t x = 0;
  int i;
  for (i = 0; i < 8; i++) {
    x += (uint64_t)a->w[i] + b->w[i];
    r->w[i] = (uint32_t)x;
    x >>= 32;
  }
  rf_fold(r, x);
}

/* r = a - b mod p (as a value < 2^256): a borrow out of bit 256 means 2^256 was added, which is
   38 too much */
static void rf_sub(rf *r, const rf *a, const rf *b) {
  int64_t x = 0;
  int i, borrow;
  for (i = 0; i < 8; i++) {
    x += (int64_t)a->w[i] - (int64_t)b->w[i];
    r->w[i] = (uint32_t)x;
    x = (x < 0) ? -1 : 0;
  }
  borrow = (x != 0);
  while (borrow) {
    x = -38;
    for (i = 0; i < 8; i++) {
      x += (int64_t)r->w[i];
      r->w[i] = (uint32_t)x;
      x = (x < 0) ? -1 : 0;
    }
    borrow = (x != 0);
  }
}

static const rf RF_P = {{0xFFFFFFED, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
                         0xFFFFFFFF, 0x7FFFFFFF}};

/* canonical representative: subtract p while the value is >= p (at most 3 times below 2^256) */
static void rf_freeze(rf *r) {
  int round, i;
  for (round = 0; round < 4; round++) {
    rf t;
    int64_t x = 0;
    for (i = 0; i < 8; i++) {
      x += (int64_t)r->w[i] - (int64_t)RF_P.w[i];
      t.w[i] = (uint32_t)x;
      x = (x < 0) ? -1 : 0;
    }
    if (x == 0) *r = t; /* no borrow: value >= p */
  }
}

static void rf_from_bytes(rf *r, const uint8_t s[32]) {
  int i;
  for (i = 0; i < 8; i++)
    r->w[i] = (uint32_t)s[4 * i] | ((uint32_t)s[4 * i + 1] << 8) | ((uint32_t)s[4 * i + 2] << 16) |
              ((uint32_t)s[4 * i + 3] << 24);
  r->w[7] &= 0x7FFFFFFF; /* bit 255 masked (RFC 7748 decodeUCoordinate) */
}

static void rf_to_bytes(uint8_t s[32], const rf *a) {
  rf t = *a;
  int i;
  rf_freeze(&t);
  for (i = 0; i < 32; i++) s[i] = (uint8_t)(t.w[i / 4] >> (8 * (i % 4)));
}

static void rf_small(rf *r, uint32_t v) {
  memset(r, 0, sizeof *r);
  r->w[0] = v;
}

/* z^(p-2), p - 2 = 2^255 - 21: bits 254..5 set, low five bits 01011 */
static void rf_invert(rf *r, const rf *z) {
  rf acc;
  int i;
  rf_small(&acc, 1);
  for (i = 254; i >= 0; i--) {
    int bit = (i >= 5) ? 1 : (int)((11 >> i) & 1);
    rf_mul(&acc, &acc, &acc);
    if (bit) rf_mul(&acc, &acc, z);
  }
  *r = acc;
}

/* RFC 7748 §5 with k used as given (bits 254..0; callers clamp), u with bit 255 masked. */
static void ref_x25519(uint8_t out[32], const uint8_t k[32], const uint8_t u[32]) {
  rf x1, x2, z2, x3, z3, A, AA, B, BB, E, C, D, DA, CB, t, a24, tmp;
  int pos, swap = 0;
  rf_from_bytes(&x1, u);
  rf_small(&x2, 1);
  rf_small(&z2, 0);
  x3 = x1;
  rf_small(&z3, 1);
  rf_small(&a24, 121665);
  for (pos = 254; pos >= 0; pos--) {
    int kt = (k[pos >> 3] >> (pos & 7)) & 1;
    if (swap ^ kt) {
      tmp = x2; x2 = x3; x3 = tmp;
      tmp = z2; z2 = z3; z3 = tmp;
    }
    swap = kt;
    rf_add(&A, &x2, &z2);
    rf_mul(&AA, &A, &A);
    rf_sub(&B, &x2, &z2);
    rf_mul(&BB, &B, &B);
    rf_sub(&E, &AA, &BB);
    rf_add(&C, &x3, &z3);
    rf_sub(&D, &x3, &z3);
    rf_mul(&DA, &D, &A);
    rf_mul(&CB, &C, &B);
    rf_add(&t, &DA, &CB);
    rf_mul(&x3, &t, &t);
    rf_sub(&t, &DA, &CB);
    rf_mul(&t, &t, &t);
    rf_mul(&z3, &x1, &t);
    rf_mul(&x2, &AA, &BB);
    rf_mul(&t, &a24, &E);
    rf_add(&t, &AA, &t);
    rf_mul(&z2, &E, &t);
  }
  if (swap) {
    x2 = x3;
    z2 = z3;
  }
  rf_invert(&t, &z2);
  rf_mul(&t, &x2, &t);
  rf_to_bytes(out, &t);
}

/* ---------------------------------------------------------------------------------------------- */
/* Helpers                                                                                         */

/* ---------------------------------------------------------------------------------------------- */
/* Field-level checks at the limb bounds (needs the kernel built with -DDP_X25519_AVX2_TESTING)     */

#ifdef DP_X25519_AVX2_TESTING
void dp_x25519_avx2_test_op(int op, const uint64_t a[40], const uint64_t b[40], uint64_t r[40],
                            uint8_t out[128]);

static const unsigned POS[10] = {0, 26, 51, 77, 102, 128, 153, 179, 204, 230};

/* largest limb of each class (see x25519-avx2.c): R = reduced, S = R + R, D = R - R + 2p */
static uint64_t class_max(int cls, int i) {
  uint64_t r = (i & 1) ? (1ULL << 25) + (1ULL << 18) - 1 : (1ULL << 26) - 1;
  uint64_t p2 = (i == 0) ? (1ULL << 27) - 38 : (i & 1) ? (1ULL << 26) - 2 : (1ULL << 27) - 2;
  switch (cls) {
    case 0: return r;
    case 1: return 2 * r;
    default: return r + p2;
  }
}

/* an element of class cls in lane `lane`, biased to the maximal limbs */
static void gen_limbs(uint64_t x[40], int lane, int cls) {
  uint64_t v = rng_next();
  int i;
  for (i = 0; i < 10; i++) {
    uint64_t max = class_max(cls, i), rv = rng_next();
    if ((v & 3) == 0) {
      x[4 * i + lane] = max; /* all limbs maximal: the largest column sums */
      continue;
    }
    switch (rv % 6) {
      case 0: x[4 * i + lane] = (rv >> 8) % 3; break;
      case 1: case 2: x[4 * i + lane] = max; break;
      case 3: x[4 * i + lane] = max - ((rv >> 8) % 64); break;
      default: x[4 * i + lane] = (rv >> 8) % (max + 1); break;
    }
  }
}

/* the value sum l_i 2^POS(i) mod p, computed with the reference */
static void rf_from_limbs(rf *r, const uint64_t *x, int lane) {
  int i;
  rf_small(r, 0);
  for (i = 0; i < 10; i++) {
    rf l, pw, t;
    rf_small(&l, (uint32_t)x[4 * i + lane]); /* every limb here is < 2^32 */
    rf_small(&pw, 0);
    pw.w[POS[i] / 32] = 1u << (POS[i] % 32);
    rf_mul(&t, &l, &pw);
    rf_add(r, r, &t);
  }
}

static void field_checks(void) {
  static const char *const names[7] = {"mul", "sqr", "add", "sub", "a24_add", "freeze", "invert"};
  uint64_t a[40], b[40], r[40];
  uint8_t out[128], want[32];
  int op, lane, i;
  long call, calls, bad_bound = 0, checked = 0;
  int before = failures;
  for (op = 0; op < 7; op++) {
    calls = (op == 6) ? 200 : 20000;
    for (call = 0; call < calls; call++) {
      for (lane = 0; lane < 4; lane++) {
        int ca = 0, cb = 0;
        if (op <= 1 || op == 5) {
          ca = (int)(rng_next() % 3);
          cb = (int)(rng_next() % 3);
        } else if (op == 4) {
          ca = 2; /* a24_add: f = E in D, g = AA in R */
        }
        gen_limbs(a, lane, ca);
        gen_limbs(b, lane, cb);
      }
      dp_x25519_avx2_test_op(op, a, b, r, out);
      for (lane = 0; lane < 4; lane++) {
        rf ra, rb, rr, t, c;
        char what[64];
        int out_cls = (op == 2) ? 1 : (op == 3) ? 2 : 0;
        rf_from_limbs(&ra, a, lane);
        rf_from_limbs(&rb, b, lane);
        switch (op) {
          case 0: rf_mul(&rr, &ra, &rb); break;
          case 1: rf_mul(&rr, &ra, &ra); break;
          case 2: rf_add(&rr, &ra, &rb); break;
          case 3: rf_sub(&rr, &ra, &rb); break;
          case 4: rf_small(&c, 121665); rf_mul(&t, &ra, &c); rf_add(&rr, &rb, &t); break;
          case 6: rf_invert(&rr, &ra); break;
          default: rr = ra; break;
        }
        rf_to_bytes(want, &rr);
        snprintf(what, sizeof what, "field %s (call %ld lane %d)", names[op], call, lane);
        expect_eq(what, out + 32 * lane, want);
        if (op != 5) {
          for (i = 0; i < 10; i++)
            if (r[4 * i + lane] > class_max(out_cls, i)) bad_bound++;
        }
        checked++;
      }
    }
  }
  if (bad_bound) {
    failures++;
    fprintf(stderr, "FAIL field results out of their class bounds: %ld limbs\n", bad_bound);
  }
  printf("field operations at the limb bounds: %ld results: %s\n", checked,
         failures > before ? "FAILED" : "ok");
}
#endif

/* ---------------------------------------------------------------------------------------------- */
/* Known-answer data                                                                               */

/* RFC 7748 §5.2 (via /work/shared/vectors/rfc7748/x25519.json): scalar, u, output. The scalars are
   as printed (not clamped); X25519 clamps them, so the caller-side clamp is applied here. */

/* u-coordinates of the points of order 1, 2, 4 and 8 of curve25519 (0, 1, the two of order 8,
   p - 1). Not taken on trust: the reference must give all zeros for them with a clamped k. */
static const char *const LOW_ORDER_HEX[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};
#define N_LOW_HEX 5
/* the list above, their non-canonical encodings u + p where < 2^255, and all with bit 255 set */
static uint8_t low_order[4 * N_LOW_HEX][32];
static int n_low_order = 0;

static void make_low_order(void) {
  int i, j;
  for (i = 0; i < N_LOW_HEX; i++) {
    uint8_t u[32], v[32];
    unsigned carry = 0;
    hex2bin(u, LOW_ORDER_HEX[i], 32);
    memcpy(low_order[n_low_order++], u, 32);
    /* u + p as bytes */
    for (j = 0; j < 32; j++) {
      unsigned pb = (j == 0) ? 0xED : (j == 31) ? 0x7F : 0xFF;
      unsigned s = u[j] + pb + carry;
      v[j] = (uint8_t)s;
      carry = s >> 8;
    }
    if (carry == 0 && v[31] < 0x80) memcpy(low_order[n_low_order++], v, 32);
  }
  j = n_low_order;
  for (i = 0; i < j; i++) {
    memcpy(low_order[n_low_order], low_order[i], 32);
    low_order[n_low_order++][31] |= 0x80;
  }
}

/* Fill u with an "interesting" value according to sel. */
static void special_u(uint8_t u[32], unsigned sel) {
  unsigned r = (unsigned)(rng_next() & 0xFF);
  switch (sel % 8) {
    case 0: /* low-order point, canonical or not, bit 255 set or not */
      memcpy(u, low_order[r % (unsigned)n_low_order], 32);
      break;
    case 1: /* non-canonical: p + r, r in 0..18 (all < 2^255) */
      memset(u, 0xFF, 32);
      u[31] = 0x7F;
      u[0] = (uint8_t)(0xED + (r % 19));
      break;
    case 2: /* 2^255 - 1 .. 2^255 - 20, bit 255 set or not */
      memset(u, 0xFF, 32);
      u[31] = (r & 1) ? 0xFF : 0x7F;
      u[0] = (uint8_t)(0xFF - (r % 20));
      break;
    case 3: /* small u: 0, 1, 2, 9, ... */
      memset(u, 0, 32);
      u[0] = (uint8_t)r;
      break;
    case 4: /* long runs of ones (maximal limbs) */
      rng_bytes(u, 32);
      memset(u + (r % 12), 0xFF, 20);
      break;
    case 5: /* sparse */
      memset(u, 0, 32);
      u[r % 32] = (uint8_t)(rng_next() | 1);
      break;
    case 6: /* p - 1 - small and p - 1 + 2^255 */
      memset(u, 0xFF, 32);
      u[31] = (r & 1) ? 0xFF : 0x7F;
      u[0] = (uint8_t)(0xEC - (r % 8));
      break;
    default: /* random with bit 255 set */
      rng_bytes(u, 32);
      u[31] |= 0x80;
      break;
  }
}

int main(int argc, char **argv) {
  long n_pairs = (argc > 1) ? atol(argv[1]) : 60000;
  uint64_t seed = (argc > 2) ? strtoull(argv[2], NULL, 0) : 0xa5a52026ULL;
  int have = dp_x25519_avx2_available();
  uint8_t k[32], want[32], got[32];
  int i, lane;
  long batch, compared = 0;

  rng_state = seed;
  make_low_order();
  printf("avx2-check: AVX2 %s; random pairs %ld, seed 0x%llx\n", have ? "available" : "NOT available",
         n_pairs, (unsigned long long)seed);

  /* 1. RFC 7748 vectors */
  check_rfc7748(ref_x25519, dp_x25519_avx2_x4, 4, have, "avx2");
  printf("RFC 7748 section 5.2 vectors + iterated 1 / 1,000: %s\n", failures ? "FAILED" : "ok");

  /* 2. low-order points */
  {
    uint8_t zero[32] = {0};
    int j, before = failures;
    for (j = 0; j < n_low_order; j++) {
      rng_bytes(k, 32);
      clamp(k);
      ref_x25519(got, k, low_order[j]);
      expect_eq("low-order u -> 0 (reference)", got, zero);
      if (have) {
        kernel_one(dp_x25519_avx2_x4, 4, got, k, low_order[j], j & 3);
        expect_eq("low-order u -> 0 (avx2)", got, zero);
      }
    }
    printf("low-order points (%d encodings): %s\n", n_low_order, failures > before ? "FAILED" : "ok");
  }

  if (!have) {
    printf("kernel checks SKIPPED: this CPU/OS lacks AVX2%s\n",
           getenv("AVX2_REQUIRE") ? " (AVX2_REQUIRE is set: failing)" : "");
    return (failures || getenv("AVX2_REQUIRE")) ? 1 : 0;
  }

  /* 3. field operations */
#ifdef DP_X25519_AVX2_TESTING
  field_checks();
#else
  printf("field operations at the limb bounds: SKIPPED (kernel not built with -DDP_X25519_AVX2_TESTING)\n");
#endif

  /* 4. randomised comparison */
  {
    uint8_t in[128], out[128], port[128], inplace[128];
    char what[96];
    int before = failures;
    long special = 0, port_mismatch = 0;
    for (batch = 0; compared < n_pairs; batch++) {
      rng_bytes(k, 32);
      clamp(k);
      for (lane = 0; lane < 4; lane++) {
        uint64_t r = rng_next();
        if ((r & 3) == 0) {
          special_u(in + 32 * lane, (unsigned)(r >> 8));
          special++;
        } else {
          rng_bytes(in + 32 * lane, 32); /* bit 255 set half the time */
        }
      }
      dp_x25519_avx2_x4(k, in, out);
      batch_portable(k, in, port, 4);
      if ((batch & 63) == 0) { /* out == in */
        memcpy(inplace, in, sizeof inplace);
        dp_x25519_avx2_x4(k, inplace, inplace);
        if (memcmp(inplace, out, sizeof out) != 0) {
          failures++;
          fprintf(stderr, "FAIL in-place call differs (batch %ld)\n", batch);
        }
      }
      for (lane = 0; lane < 4 && compared < n_pairs; lane++, compared++) {
        ref_x25519(want, k, in + 32 * lane);
        snprintf(what, sizeof what, "random batch %ld lane %d", batch, lane);
        if (memcmp(out + 32 * lane, want, 32) != 0 && failures < 20) {
          printhex("  k ", k, 32);
          printhex("  u ", in + 32 * lane, 32);
        }
        expect_eq(what, out + 32 * lane, want);
        if (memcmp(port + 32 * lane, want, 32) != 0) port_mismatch++;
      }
    }
    if (port_mismatch) {
      failures++;
      fprintf(stderr, "FAIL the portable ladder disagrees with the reference on %ld points\n", port_mismatch);
    }
    printf("random comparison vs reference and vs the portable ladder: %ld pairs (%ld batches of 4, "
           "%ld special u): %s\n",
           compared, batch, special, failures > before ? "FAILED" : "ok");
  }

#ifdef DP_WITH_OPENSSL
  /* 5. the kernel against OpenSSL on random points */
  check_vs_openssl(dp_x25519_avx2_x4, 4);
#else
  printf("random comparison vs OpenSSL: SKIPPED (not built with -DDP_WITH_OPENSSL)\n");
#endif

  /* 6. benchmark (not pass/fail): one thread, same run, kernel and portable ladder interleaved in
     every round on the same 64 points; per-round ratio; the median ratio is the figure. */
  {
    enum { ROUNDS = 9, PTS = 64, REPS = 8 };
    static uint8_t in[32 * PTS], out[32 * PTS];
    double ta[ROUNDS], tp[ROUNDS], ratio[ROUNDS], best_a = 1e30, best_p = 1e30, t0;
    int round, rep, j, m;
    volatile uint8_t sink = 0;
    rng_bytes(k, 32);
    clamp(k);
    rng_bytes(in, sizeof in);
    for (j = 0; j < PTS; j += 4) dp_x25519_avx2_x4(k, in + 32 * j, out + 32 * j); /* warm up */
    batch_portable(k, in, out, PTS);
    for (round = 0; round < ROUNDS; round++) {
      /* alternate which one goes first */
      for (m = 0; m < 2; m++) {
        if ((m ^ (round & 1)) == 0) {
          t0 = now_sec();
          for (rep = 0; rep < REPS; rep++) {
            for (j = 0; j < PTS; j += 4) dp_x25519_avx2_x4(k, in + 32 * j, out + 32 * j);
            in[(rep * 32) % sizeof in] ^= out[0]; /* chain so no call can be skipped */
          }
          ta[round] = now_sec() - t0;
        } else {
          t0 = now_sec();
          for (rep = 0; rep < REPS; rep++) {
            batch_portable(k, in, out, PTS);
            in[(rep * 32) % sizeof in] ^= out[0];
          }
          tp[round] = now_sec() - t0;
        }
      }
      ratio[round] = tp[round] / ta[round];
      if (ta[round] < best_a) best_a = ta[round];
      if (tp[round] < best_p) best_p = tp[round];
    }
    sink ^= out[1];
    (void)sink;
    /* median of the ratios (insertion sort) */
    for (i = 1; i < ROUNDS; i++) {
      double v = ratio[i];
      int jj = i - 1;
      while (jj >= 0 && ratio[jj] > v) {
        ratio[jj + 1] = ratio[jj];
        jj--;
      }
      ratio[jj + 1] = v;
    }
    printf("benchmark (1 thread, %d interleaved rounds of %d points each): avx2 x4 %.0f points/s "
           "(%.2f us/point, best round); portable ladder (batch_portable, 64 per inversion) %.0f points/s "
           "(%.2f us/point, best round); avx2 / portable: median %.2fx (rounds %.2f..%.2f), best vs best %.2fx\n",
           ROUNDS, PTS * REPS, PTS * REPS / best_a, 1e6 * best_a / (PTS * REPS), PTS * REPS / best_p,
           1e6 * best_p / (PTS * REPS), ratio[ROUNDS / 2], ratio[0], ratio[ROUNDS - 1], best_p / best_a);
  }

  if (failures) {
    printf("FAILED: %d mismatches\n", failures);
    return 1;
  }
  printf("PASS\n");
  return 0;
}
