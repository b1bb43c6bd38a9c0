/*
 * 4-way X25519 (RFC 7748 §5) with AVX2: four u-coordinates times one shared scalar, for x86-64 CPUs
 * without AVX-512 IFMA. Written for dataport from RFC 7748 §5 (ladder, decoding, encoding).
 *
 * Layout: a field element of GF(2^255 - 19) for 4 points is 10 YMM registers; register i holds
 * limb i of the 4 points, one point per 64-bit lane. Radix 2^25.5: limb i has weight 2^P(i) with
 * P = 0, 26, 51, 77, 102, 128, 153, 179, 204, 230 (even limbs 26 bits wide, odd limbs 25 bits), so
 * f_i g_j has weight 2^P(i+j) times 2 when i and j are both odd, and 2^P(i+j) = 19 * 2^P(i+j-10)
 * (mod p) when i + j >= 10 (2^255 = 19 mod p). Products are vpmuludq: 32 x 32 -> 64 bits, taken
 * from the LOW 32 BITS of each lane, so every multiplicand (including the 2x, 4x and 19x copies
 * made inside mul / sqr) must be < 2^32; accumulation is in unsigned 64-bit lanes.
 *
 * Limb bounds (all unsigned; the arithmetic never produces a negative limb):
 *   R ("reduced", output of mul, sqr, a24_add and of the decoder):
 *       even limbs < 2^26, odd limbs < 2^25 + 2^18;
 *   S = R + R (fe4_add):  even < 2^27, odd < 2^26 + 2^19;
 *   D = R - R + 2p (fe4_sub, needs its subtrahend in R): even < 3 * 2^26, odd < 3 * 2^25 + 2^18.
 * mul and sqr accept any mix of R, S and D: 19 * (3 * 2^26) < 2^32 and 4 * (3 * 2^25 + 2^18) < 2^32
 * for the scaled multiplicands, and the largest column sum (mul D x D, sqr D) is < 2^62.1, which
 * leaves room for the carries added to it (worked out exhaustively at the maximum limbs, where every
 * column sum is largest since all terms are non-negative; native/test/avx2-check.c tests the field
 * operations at exactly these bounds against an independent reference).
 *
 * Constant time: the ladder runs over bits 254..0 of k in a fixed order; the conditional swap is an
 * xor with a mask made from the (same-in-every-lane) secret bit, never a branch or an index. The
 * field arithmetic and the conversions have no data-dependent branch or memory index; the final
 * inversion is a fixed addition chain (z = 0, a low-order input, gives 0 and so an all-zero result
 * with no special case). native/test/ct-avx2.sh checks this under valgrind memcheck.
 *
 * Only the functions that use AVX2 carry the target attribute, so the rest of the program is
 * compiled for (and runs on) any x86-64; no -march flag is needed.
 */
#include "x25519-avx2.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cpuid.h>
#include <immintrin.h>

#define DP_AVX2_TARGET __attribute__((target("avx2")))
#define DP_AVX2_INLINE static inline __attribute__((always_inline)) DP_AVX2_TARGET
/* mul, sqr and a24_add are called, not inlined: inlining them all measured no faster here (gcc 12,
   interleaved runs) and makes the ladder's code several times larger */
#define DP_AVX2_CALLED static __attribute__((noinline)) DP_AVX2_TARGET

typedef struct {
  __m256i v[10];
} fe4;

/* ---------------------------------------------------------------------------------------------- */
/* Run-time detection                                                                              */

static int dp_avx2_detect(void) {
  unsigned int eax, ebx, ecx, edx;
  uint32_t xcr0_lo, xcr0_hi;
  /* CPUID.1:ECX: bit 27 OSXSAVE (the OS uses XSAVE, so xgetbv may be executed), bit 28 AVX */
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  if (!(ecx & (1u << 27)) || !(ecx & (1u << 28))) return 0;
  /* XCR0: the OS saves and restores the SSE (bit 1) and AVX / upper-YMM (bit 2) state */
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  (void)xcr0_hi;
  if ((xcr0_lo & 0x6u) != 0x6u) return 0;
  /* CPUID.(7,0):EBX bit 5 AVX2 */
  if (__get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  if (!(ebx & (1u << 5))) return 0;
  return 1;
}

int dp_x25519_avx2_available(void) {
  /* -1: not yet checked. Racing first calls compute the same value, so relaxed atomics suffice. */
  static int cached = -1;
  int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (v < 0) {
    v = dp_avx2_detect();
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  }
  return v;
}

/* ---------------------------------------------------------------------------------------------- */
/* Field arithmetic, 4 lanes                                                                       */

#define MUL(a, b) _mm256_mul_epu32((a), (b))
#define ADD(a, b) _mm256_add_epi64((a), (b))

/* One carry step from limb hi (width `bits`) into limb hj. */
#define CARRY(hi, hj, bits)                              \
  do {                                                   \
    __m256i c_ = _mm256_srli_epi64((hi), (bits));        \
    (hi) = _mm256_and_si256((hi), m##bits);              \
    (hj) = _mm256_add_epi64((hj), c_);                   \
  } while (0)

/* Column sums (each < 2^62.1, see the bounds above) to R. Two interleaved chains (from limbs 0 and
   4) halve the dependency length; limb 9's carry goes to limb 0 times 19, computed with shifts
   since it can exceed 32 bits. */
#define CARRY_ALL()                                                                     \
  do {                                                                                  \
    const __m256i m26 = _mm256_set1_epi64x((1 << 26) - 1);                              \
    const __m256i m25 = _mm256_set1_epi64x((1 << 25) - 1);                              \
    __m256i c9_;                                                                        \
    CARRY(h0, h1, 26);                                                                  \
    CARRY(h4, h5, 26);                                                                  \
    CARRY(h1, h2, 25);                                                                  \
    CARRY(h5, h6, 25);                                                                  \
    CARRY(h2, h3, 26);                                                                  \
    CARRY(h6, h7, 26);                                                                  \
    CARRY(h3, h4, 25);                                                                  \
    CARRY(h7, h8, 25);                                                                  \
    CARRY(h4, h5, 26);                                                                  \
    CARRY(h8, h9, 26);                                                                  \
    c9_ = _mm256_srli_epi64(h9, 25);                                                    \
    h9 = _mm256_and_si256(h9, m25);                                                     \
    h0 = ADD(h0, ADD(ADD(c9_, _mm256_slli_epi64(c9_, 1)), _mm256_slli_epi64(c9_, 4)));  \
    CARRY(h0, h1, 26);                                                                  \
  } while (0)

/* An empty asm that "modifies" the ten accumulators in registers: keeps the compiler from
   reassociating the sums across rows (GCC 12 otherwise computes all 100 products first and spills
   them to the stack). No instruction is emitted. */
#define DP_KEEP10(a)                                                                              \
  __asm__("" : "+x"((a)[0]), "+x"((a)[1]), "+x"((a)[2]), "+x"((a)[3]), "+x"((a)[4]), "+x"((a)[5]), \
          "+x"((a)[6]), "+x"((a)[7]), "+x"((a)[8]), "+x"((a)[9]))

#define STORE_H(h)                                                            \
  do {                                                                        \
    (h)->v[0] = h0; (h)->v[1] = h1; (h)->v[2] = h2; (h)->v[3] = h3;           \
    (h)->v[4] = h4; (h)->v[5] = h5; (h)->v[6] = h6; (h)->v[7] = h7;           \
    (h)->v[8] = h8; (h)->v[9] = h9;                                           \
  } while (0)

/* h = f * g. f, g in R, S or D (any mix); h in R. h may be f or g.
   Row by row: f_i times every g_j goes to column (i + j) mod 10. With T[10 + m] = g_m and
   T[m] = 19 g_m, the multiplicand for row i, column c is T[10 + c - i] in both cases (an index below
   10 means the product wrapped past 2^255). Odd x odd products carry a factor 2: in an odd row the
   odd g_j meet the even columns, which take 2 f_i. */
DP_AVX2_CALLED void fe4_mul(fe4 *h, const fe4 *f, const fe4 *g) {
  const __m256i c19 = _mm256_set1_epi64x(19);
  __m256i T[20], acc[10];
  __m256i h0, h1, h2, h3, h4, h5, h6, h7, h8, h9;
  int i, c;
#pragma GCC unroll 10
  for (i = 0; i < 10; i++) {
    T[10 + i] = g->v[i];
    T[i] = MUL(g->v[i], c19);
  }
#pragma GCC unroll 10
  for (c = 0; c < 10; c++) acc[c] = MUL(f->v[0], T[10 + c]);
#pragma GCC unroll 10
  for (i = 1; i < 10; i++) {
    __m256i fi = f->v[i], fd = (i & 1) ? ADD(fi, fi) : fi;
#pragma GCC unroll 10
    for (c = 0; c < 10; c++) acc[c] = ADD(acc[c], MUL(((i & 1) && !(c & 1)) ? fd : fi, T[10 + c - i]));
    DP_KEEP10(acc);
  }
  h0 = acc[0]; h1 = acc[1]; h2 = acc[2]; h3 = acc[3]; h4 = acc[4];
  h5 = acc[5]; h6 = acc[6]; h7 = acc[7]; h8 = acc[8]; h9 = acc[9];
  CARRY_ALL();
  STORE_H(h);
}

/* h = f^2. f in R, S or D; h in R. h may be f.
   Row i takes the pairs (i, j), j >= i, to column (i + j) mod 10: f_i^2 once (twice when i is odd:
   odd x odd), f_i f_j twice for j > i (four times when both are odd), times 19 when wrapped
   (i + j >= 10, so j >= 5). The 19 is taken on f_j, the 2 and 4 on f_i. */
DP_AVX2_CALLED void fe4_sqr(fe4 *h, const fe4 *f) {
  const __m256i c19 = _mm256_set1_epi64x(19);
  __m256i F[10], N[10], acc[10];
  __m256i h0, h1, h2, h3, h4, h5, h6, h7, h8, h9;
  int i, j;
#pragma GCC unroll 10
  for (i = 0; i < 10; i++) {
    F[i] = f->v[i];
    N[i] = (i >= 5) ? MUL(f->v[i], c19) : F[i]; /* N[0..4] unused */
  }
#pragma GCC unroll 10
  for (i = 0; i < 10; i++) {
    __m256i fi = F[i], di = ADD(fi, fi), qi = ADD(di, di);
#pragma GCC unroll 10
    for (j = i; j < 10; j++) {
      __m256i x = (j == i) ? ((i & 1) ? di : fi) : ((i & j & 1) ? qi : di);
      __m256i y = (i + j >= 10) ? N[j] : F[j];
      int c = (i + j) % 10;
      acc[c] = (i == 0) ? MUL(x, y) : ADD(acc[c], MUL(x, y));
    }
    DP_KEEP10(acc);
  }
  h0 = acc[0]; h1 = acc[1]; h2 = acc[2]; h3 = acc[3]; h4 = acc[4];
  h5 = acc[5]; h6 = acc[6]; h7 = acc[7]; h8 = acc[8]; h9 = acc[9];
  CARRY_ALL();
  STORE_H(h);
}

/* h = f^(2^n), n >= 1 */
DP_AVX2_INLINE void fe4_sqrn(fe4 *h, const fe4 *f, int n) {
  int i;
  fe4_sqr(h, f);
  for (i = 1; i < n; i++) fe4_sqr(h, h);
}

/* h = f + g, f and g in R; h in S */
DP_AVX2_INLINE void fe4_add(fe4 *h, const fe4 *f, const fe4 *g) {
  int i;
  for (i = 0; i < 10; i++) h->v[i] = ADD(f->v[i], g->v[i]);
}

/* h = f - g + 2p, f and g in R; h in D. The limbs of 2p (2^27 - 38, then 2^26 - 2 for odd and
   2^27 - 2 for even limbs) are larger than any limb of an R element, so no limb goes negative. */
DP_AVX2_INLINE void fe4_sub(fe4 *h, const fe4 *f, const fe4 *g) {
  const __m256i p0 = _mm256_set1_epi64x((1 << 27) - 38);
  const __m256i pe = _mm256_set1_epi64x((1 << 27) - 2);
  const __m256i po = _mm256_set1_epi64x((1 << 26) - 2);
  int i;
  h->v[0] = _mm256_sub_epi64(ADD(f->v[0], p0), g->v[0]);
  for (i = 1; i < 10; i++) h->v[i] = _mm256_sub_epi64(ADD(f->v[i], (i & 1) ? po : pe), g->v[i]);
}

/* h = g + 121665 f (a24 = (486662 - 2) / 4, RFC 7748 §5), f in D, g in R; h in R.
   Each column is < 2^27 + 2^16.9 * 3 * 2^26 < 2^45. */
DP_AVX2_CALLED void fe4_a24_add(fe4 *h, const fe4 *f, const fe4 *g) {
  const __m256i a24 = _mm256_set1_epi64x(121665);
  __m256i h0 = ADD(g->v[0], MUL(f->v[0], a24)), h1 = ADD(g->v[1], MUL(f->v[1], a24));
  __m256i h2 = ADD(g->v[2], MUL(f->v[2], a24)), h3 = ADD(g->v[3], MUL(f->v[3], a24));
  __m256i h4 = ADD(g->v[4], MUL(f->v[4], a24)), h5 = ADD(g->v[5], MUL(f->v[5], a24));
  __m256i h6 = ADD(g->v[6], MUL(f->v[6], a24)), h7 = ADD(g->v[7], MUL(f->v[7], a24));
  __m256i h8 = ADD(g->v[8], MUL(f->v[8], a24)), h9 = ADD(g->v[9], MUL(f->v[9], a24));
  CARRY_ALL();
  STORE_H(h);
}

/* Swaps f and g in every lane when mask is all ones, leaves them when it is zero. */
DP_AVX2_INLINE void fe4_cswap(fe4 *f, fe4 *g, __m256i mask) {
  int i;
  for (i = 0; i < 10; i++) {
    __m256i t = _mm256_and_si256(mask, _mm256_xor_si256(f->v[i], g->v[i]));
    f->v[i] = _mm256_xor_si256(f->v[i], t);
    g->v[i] = _mm256_xor_si256(g->v[i], t);
  }
}

/* r = z^(p - 2) = z^(2^255 - 21), z in R; r in R (0 for z = 0). Addition chain:
   2, 8, 9, 11, 22, 2^5 - 1, 2^10 - 1, 2^20 - 1, 2^40 - 1, 2^50 - 1, 2^100 - 1, 2^200 - 1,
   2^250 - 1, 2^255 - 2^5, 2^255 - 21 (254 squarings, 11 multiplications). */
DP_AVX2_TARGET static void fe4_invert(fe4 *r, const fe4 *z) {
  fe4 z2, z9, z11, x5, x10, x20, x50, x100, t;
  fe4_sqr(&z2, z);              /* 2 */
  fe4_sqrn(&t, &z2, 2);         /* 8 */
  fe4_mul(&z9, &t, z);          /* 9 */
  fe4_mul(&z11, &z9, &z2);      /* 11 */
  fe4_sqr(&t, &z11);            /* 22 */
  fe4_mul(&x5, &t, &z9);        /* 2^5 - 1 */
  fe4_sqrn(&t, &x5, 5);
  fe4_mul(&x10, &t, &x5);       /* 2^10 - 1 */
  fe4_sqrn(&t, &x10, 10);
  fe4_mul(&x20, &t, &x10);      /* 2^20 - 1 */
  fe4_sqrn(&t, &x20, 20);
  fe4_mul(&t, &t, &x20);        /* 2^40 - 1 */
  fe4_sqrn(&t, &t, 10);
  fe4_mul(&x50, &t, &x10);      /* 2^50 - 1 */
  fe4_sqrn(&t, &x50, 50);
  fe4_mul(&x100, &t, &x50);     /* 2^100 - 1 */
  fe4_sqrn(&t, &x100, 100);
  fe4_mul(&t, &t, &x100);       /* 2^200 - 1 */
  fe4_sqrn(&t, &t, 50);
  fe4_mul(&t, &t, &x50);        /* 2^250 - 1 */
  fe4_sqrn(&t, &t, 5);          /* 2^255 - 2^5 */
  fe4_mul(r, &t, &z11);         /* 2^255 - 21 */
}

/* ---------------------------------------------------------------------------------------------- */
/* Conversions (scalar code, constant time: fixed indices and shifts only)                         */

static const unsigned dp_pos[10] = {0, 26, 51, 77, 102, 128, 153, 179, 204, 230};
static const unsigned dp_width[10] = {26, 25, 26, 25, 26, 25, 26, 25, 26, 25};

/* Clears memory that held secret-dependent values (volatile: not optimized away). Register spills
   made by the compiler cannot be reached from C and are not cleared. */
static void dp_wipe(void *p, size_t n) {
  volatile uint8_t *v = (volatile uint8_t *)p;
  while (n--) *v++ = 0;
}

static uint64_t dp_load64_le(const uint8_t *p) {
  uint64_t r = 0;
  int i;
  for (i = 7; i >= 0; i--) r = (r << 8) | p[i];
  return r;
}

static void dp_store64_le(uint8_t *p, uint64_t v) {
  int i;
  for (i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* RFC 7748 decodeUCoordinate: 32 bytes little endian, bit 255 cleared, to 10 limbs (in R; values
   in [p, 2^255) are kept as they are and reduced by the arithmetic). */
static void dp_unpack(uint64_t l[10], const uint8_t s[32]) {
  uint64_t w[4];
  int i;
  for (i = 0; i < 4; i++) w[i] = dp_load64_le(s + 8 * i);
  w[3] &= 0x7FFFFFFFFFFFFFFFULL;
  for (i = 0; i < 10; i++) {
    unsigned word = dp_pos[i] / 64, sh = dp_pos[i] % 64;
    uint64_t v = w[word] >> sh;
    if (sh + dp_width[i] > 64) v |= w[word + 1] << (64 - sh); /* public condition */
    l[i] = v & ((1ULL << dp_width[i]) - 1);
  }
  dp_wipe(w, sizeof w);
}

/* One carry pass over all limbs, limb 9's carry going to limb 0 times 19. */
static void dp_carry_pass(uint64_t l[10]) {
  uint64_t c;
  int i;
  for (i = 0; i < 9; i++) {
    c = l[i] >> dp_width[i];
    l[i] &= (1ULL << dp_width[i]) - 1;
    l[i + 1] += c;
  }
  c = l[9] >> 25;
  l[9] &= (1ULL << 25) - 1;
  l[0] += 19 * c;
}

/* Limbs with any values < 2^63 (in practice R) to the canonical 32-byte encoding of the value
   mod p (RFC 7748 encodeUCoordinate). */
static void dp_freeze_pack(uint8_t s[32], const uint64_t in[10]) {
  uint64_t l[10], w[4] = {0, 0, 0, 0}, q, c;
  int i;
  memcpy(l, in, sizeof l);
  dp_carry_pass(l);
  dp_carry_pass(l); /* now every limb fits its width except limb 0 < 2^26 + 19: value < 2^255 + 19 */
  /* q = floor((value + 19) / 2^255): 1 iff value >= p (value < 2p) */
  q = (l[0] + 19) >> 26;
  for (i = 1; i < 10; i++) q = (l[i] + q) >> dp_width[i];
  /* value - q p = value + 19 q - q 2^255 */
  l[0] += 19 * q;
  for (i = 0; i < 9; i++) {
    c = l[i] >> dp_width[i];
    l[i] &= (1ULL << dp_width[i]) - 1;
    l[i + 1] += c;
  }
  l[9] &= (1ULL << 25) - 1; /* drops q 2^255 */
  for (i = 0; i < 10; i++) {
    unsigned word = dp_pos[i] / 64, sh = dp_pos[i] % 64;
    w[word] |= l[i] << sh;
    if (sh + dp_width[i] > 64) w[word + 1] |= l[i] >> (64 - sh); /* public condition */
  }
  for (i = 0; i < 4; i++) dp_store64_le(s + 8 * i, w[i]);
  dp_wipe(l, sizeof l);
  dp_wipe(w, sizeof w);
}

/* ---------------------------------------------------------------------------------------------- */
/* The 4-way ladder                                                                                */

DP_AVX2_TARGET void dp_x25519_avx2_x4(const uint8_t k[32], const uint8_t in[128], uint8_t out[128]) {
  uint64_t limbs[10][4];
  uint8_t res[128];
  fe4 x1, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb, t;
  unsigned swap = 0;
  int i, lane, pos;

  for (lane = 0; lane < 4; lane++) {
    uint64_t l[10];
    dp_unpack(l, in + 32 * lane);
    for (i = 0; i < 10; i++) limbs[i][lane] = l[i];
    dp_wipe(l, sizeof l);
  }
  for (i = 0; i < 10; i++) {
    x1.v[i] = _mm256_loadu_si256((const __m256i *)limbs[i]);
    x2.v[i] = _mm256_setzero_si256();
    z2.v[i] = _mm256_setzero_si256();
    z3.v[i] = _mm256_setzero_si256();
  }
  x2.v[0] = _mm256_set1_epi64x(1);
  z3.v[0] = _mm256_set1_epi64x(1);
  x3 = x1;

  for (pos = 254; pos >= 0; pos--) {
    unsigned bit = (k[pos >> 3] >> (pos & 7)) & 1u;
    __m256i mask;
    swap ^= bit;
    mask = _mm256_set1_epi64x(-(long long)swap); /* all ones or zero, no branch */
    fe4_cswap(&x2, &x3, mask);
    fe4_cswap(&z2, &z3, mask);
    swap = bit;

    fe4_add(&a, &x2, &z2);    /* A = x2 + z2         (S) */
    fe4_sub(&b, &x2, &z2);    /* B = x2 - z2         (D) */
    fe4_add(&c, &x3, &z3);    /* C = x3 + z3         (S) */
    fe4_sub(&d, &x3, &z3);    /* D = x3 - z3         (D) */
    fe4_sqr(&aa, &a);         /* AA = A^2            (R) */
    fe4_sqr(&bb, &b);         /* BB = B^2            (R) */
    fe4_mul(&da, &a, &d);     /* DA = D * A          (R) */
    fe4_mul(&cb, &c, &b);     /* CB = C * B          (R) */
    fe4_sub(&e, &aa, &bb);    /* E = AA - BB         (D) */
    fe4_add(&t, &da, &cb);
    fe4_sqr(&x3, &t);         /* x3 = (DA + CB)^2    (R) */
    fe4_sub(&t, &da, &cb);
    fe4_sqr(&t, &t);
    fe4_mul(&z3, &t, &x1);    /* z3 = x1 (DA - CB)^2 (R) */
    fe4_mul(&x2, &aa, &bb);   /* x2 = AA * BB        (R) */
    fe4_a24_add(&t, &e, &aa); /* AA + a24 E          (R) */
    fe4_mul(&z2, &t, &e);     /* z2 = E (AA + a24 E) (R) */
  }
  {
    __m256i mask = _mm256_set1_epi64x(-(long long)swap);
    fe4_cswap(&x2, &x3, mask);
    fe4_cswap(&z2, &z3, mask);
  }

  fe4_invert(&t, &z2);
  fe4_mul(&x2, &x2, &t);

  for (i = 0; i < 10; i++) _mm256_storeu_si256((__m256i *)limbs[i], x2.v[i]);
  for (lane = 0; lane < 4; lane++) {
    uint64_t l[10];
    for (i = 0; i < 10; i++) l[i] = limbs[i][lane];
    dp_freeze_pack(res + 32 * lane, l);
    dp_wipe(l, sizeof l);
  }
  memcpy(out, res, sizeof res); /* after every input was read: out may be in */
  dp_wipe(res, sizeof res);
  dp_wipe(limbs, sizeof limbs);
  dp_wipe(&x2, sizeof x2);
  dp_wipe(&z2, sizeof z2);
  dp_wipe(&x3, sizeof x3);
  dp_wipe(&z3, sizeof z3);
  dp_wipe(&t, sizeof t);
}

#ifdef DP_X25519_AVX2_TESTING
/* Test hook, compiled only for native/test/avx2-check (not part of the interface): one field
   operation on 4 lanes. a, b: limb i of lane j at [4 i + j], within the bounds the operation
   accepts (see the top of this file). op 0: a*b, 1: a^2, 2: a+b, 3: a-b, 4: b + 121665 a, 5: a,
   6: a^(p-2). The result's raw limbs go to r (same layout) and its canonical encoding to out. */
void dp_x25519_avx2_test_op(int op, const uint64_t a[40], const uint64_t b[40], uint64_t r[40],
                            uint8_t out[128]);
DP_AVX2_TARGET void dp_x25519_avx2_test_op(int op, const uint64_t a[40], const uint64_t b[40],
                                           uint64_t r[40], uint8_t out[128]) {
  fe4 fa, fb, fr;
  int i, lane;
  for (i = 0; i < 10; i++) {
    fa.v[i] = _mm256_loadu_si256((const __m256i *)(a + 4 * i));
    fb.v[i] = _mm256_loadu_si256((const __m256i *)(b + 4 * i));
  }
  switch (op) {
    case 0: fe4_mul(&fr, &fa, &fb); break;
    case 1: fe4_sqr(&fr, &fa); break;
    case 2: fe4_add(&fr, &fa, &fb); break;
    case 3: fe4_sub(&fr, &fa, &fb); break;
    case 4: fe4_a24_add(&fr, &fa, &fb); break;
    case 6: fe4_invert(&fr, &fa); break;
    default: fr = fa; break;
  }
  for (i = 0; i < 10; i++) _mm256_storeu_si256((__m256i *)(r + 4 * i), fr.v[i]);
  for (lane = 0; lane < 4; lane++) {
    uint64_t l[10];
    for (i = 0; i < 10; i++) l[i] = r[4 * i + lane];
    dp_freeze_pack(out + 32 * lane, l);
  }
}
#endif

#else /* not x86-64 with a GNU-compatible compiler */

int dp_x25519_avx2_available(void) { return 0; }

void dp_x25519_avx2_x4(const uint8_t k[32], const uint8_t in[128], uint8_t out[128]) {
  (void)k;
  (void)in;
  (void)out;
  abort(); /* contract: only called when dp_x25519_avx2_available() is 1, which never happens here */
}

#endif
