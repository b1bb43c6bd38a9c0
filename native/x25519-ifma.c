/*
 * 8-way X25519 (RFC 7748 §5) with AVX-512 IFMA: eight u-coordinates times one shared scalar.
 *
 * Layout: a field element of GF(2^255 - 19) for 8 points is 5 ZMM registers; register i holds limb i
 * (weight 2^(52 i)) of the 8 points, one point per 64-bit lane.
 *
 * Limb bounds ("normalized" form, the only form given to a multiplication):
 *   limbs 0..3 < 2^52, limb 4 < 2^48  (value < 2^256, not necessarily < p).
 * vpmadd52luq / vpmadd52huq read only the low 52 bits of their multiplicands, so every multiplicand
 * must be < 2^52: fe8_norm() establishes that after every addition / subtraction and at the end of
 * every multiplication.
 *
 * Reduction facts: 2^255 = 19 (mod p), 2^260 = 2^5 * 19 = 608 (mod p).
 *
 * Constant time: the ladder runs over bits 254..0 of k in a fixed order; the conditional swap is an
 * xor with a mask derived from the (same-in-every-lane) secret bit, never a branch or an index.
 * The field arithmetic has no data-dependent branches or memory indices.
 *
 * The only functions that use AVX-512 instructions carry the target attribute below, so the rest of
 * the program is compiled for (and runs on) any x86-64.
 */
#include "x25519-ifma.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#include <cpuid.h>
#include <immintrin.h>

#define DP_IFMA_TARGET __attribute__((target("avx512f,avx512vl,avx512ifma")))
#define DP_IFMA_INLINE static inline __attribute__((always_inline)) DP_IFMA_TARGET

#define MASK52 0xFFFFFFFFFFFFFULL /* 2^52 - 1 */
#define MASK47 0x7FFFFFFFFFFFULL  /* 2^47 - 1 */

typedef struct {
  __m512i v[5];
} fe8;

/* Straight-line repetition (GCC -O2 does not fully unroll loops over vectors, and a loop would keep
   the limb arrays in memory instead of registers). */
#define DP_REP5(X) X(0) X(1) X(2) X(3) X(4)
#define DP_REP10(X) DP_REP5(X) X(5) X(6) X(7) X(8) X(9)

/* ---------------------------------------------------------------------------------------------- */
/* Run-time detection                                                                              */

static int dp_ifma_detect(void) {
  unsigned int eax, ebx, ecx, edx;
  uint32_t xcr0_lo, xcr0_hi;

  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512vl") ||
      !__builtin_cpu_supports("avx512ifma")) {
    return 0;
  }
  /* OS support: CPUID.1:ECX.OSXSAVE (bit 27), then XCR0 must enable SSE (bit 1), AVX (bit 2),
     opmask (bit 5), ZMM_Hi256 (bit 6) and Hi16_ZMM (bit 7) state. */
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  if (!(ecx & (1u << 27))) return 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  (void)xcr0_hi;
  if ((xcr0_lo & 0xE6u) != 0xE6u) return 0;
  /* Leaf 7 sub-leaf 0: EBX bit 16 AVX512F, EBX bit 31 AVX512VL, EBX bit 21 AVX512IFMA (a second,
     direct look at the feature bits, independent of the compiler runtime). */
  if (__get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  if (!(ebx & (1u << 16)) || !(ebx & (1u << 31)) || !(ebx & (1u << 21))) return 0;
  return 1;
}

int dp_x25519_ifma_available(void) {
  /* -1: not yet checked. Racing first calls compute the same value, so relaxed atomics suffice. */
  static int cached = -1;
  int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
  if (v < 0) {
    v = dp_ifma_detect();
    __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
  }
  return v;
}

/* ---------------------------------------------------------------------------------------------- */
/* Field arithmetic, 8 lanes                                                                       */

/* Weak reduction of t[0..4] (each < 2^62) to normalized form: limbs 0..3 < 2^52, limb 4 < 2^48.
   The carry out of limb 4 (at 2^255) goes first, into limb 0 times 19; then limbs 0..3 carry upward,
   so the last carry lands in limb 4, which has room for it (< 2^47 + 2^12). */
DP_IFMA_INLINE void fe8_norm(__m512i t[5]) {
  const __m512i m52 = _mm512_set1_epi64((long long)MASK52);
  const __m512i m47 = _mm512_set1_epi64((long long)MASK47);
  const __m512i c19 = _mm512_set1_epi64(19);
  __m512i c;

  c = _mm512_srli_epi64(t[4], 47); /* < 2^15 */
  t[4] = _mm512_and_si512(t[4], m47);
  t[0] = _mm512_madd52lo_epu64(t[0], c, c19); /* 19 c < 2^20: the low half is the whole product */
  c = _mm512_srli_epi64(t[0], 52);
  t[0] = _mm512_and_si512(t[0], m52);
  t[1] = _mm512_add_epi64(t[1], c);
  c = _mm512_srli_epi64(t[1], 52);
  t[1] = _mm512_and_si512(t[1], m52);
  t[2] = _mm512_add_epi64(t[2], c);
  c = _mm512_srli_epi64(t[2], 52);
  t[2] = _mm512_and_si512(t[2], m52);
  t[3] = _mm512_add_epi64(t[3], c);
  c = _mm512_srli_epi64(t[3], 52);
  t[3] = _mm512_and_si512(t[3], m52);
  t[4] = _mm512_add_epi64(t[4], c);
}

/* Reduce a 10-column product t[0..9] (column k has weight 2^(52 k), each column < 2^60, and the
   value is < 2^520 because both factors were < 2^260) to a normalized element in r.
   Columns 5..9 are first carried into 52-bit limbs (the value they represent is < 2^260, so
   nothing leaves column 9 and column 9 ends < 2^52), then folded down with 2^260 = 608:
   608 * t[k] is split by vpmadd52luq/huq into its low 52 bits (column k-5) and the rest
   (column k-4). Column 9's high part has weight 2^260 again and is folded once more (< 2^10). */
DP_IFMA_INLINE void fe8_reduce10(fe8 *r, __m512i t[10]) {
  const __m512i m52 = _mm512_set1_epi64((long long)MASK52);
  const __m512i c608 = _mm512_set1_epi64(608);
  const __m512i zero = _mm512_setzero_si512();
  __m512i c, h;

  c = _mm512_srli_epi64(t[5], 52);
  t[5] = _mm512_and_si512(t[5], m52);
  t[6] = _mm512_add_epi64(t[6], c);
  c = _mm512_srli_epi64(t[6], 52);
  t[6] = _mm512_and_si512(t[6], m52);
  t[7] = _mm512_add_epi64(t[7], c);
  c = _mm512_srli_epi64(t[7], 52);
  t[7] = _mm512_and_si512(t[7], m52);
  t[8] = _mm512_add_epi64(t[8], c);
  c = _mm512_srli_epi64(t[8], 52);
  t[8] = _mm512_and_si512(t[8], m52);
  t[9] = _mm512_add_epi64(t[9], c);

  t[0] = _mm512_madd52lo_epu64(t[0], t[5], c608);
  t[1] = _mm512_madd52hi_epu64(t[1], t[5], c608);
  t[1] = _mm512_madd52lo_epu64(t[1], t[6], c608);
  t[2] = _mm512_madd52hi_epu64(t[2], t[6], c608);
  t[2] = _mm512_madd52lo_epu64(t[2], t[7], c608);
  t[3] = _mm512_madd52hi_epu64(t[3], t[7], c608);
  t[3] = _mm512_madd52lo_epu64(t[3], t[8], c608);
  t[4] = _mm512_madd52hi_epu64(t[4], t[8], c608);
  t[4] = _mm512_madd52lo_epu64(t[4], t[9], c608);
  h = _mm512_madd52hi_epu64(zero, t[9], c608);
  t[0] = _mm512_madd52lo_epu64(t[0], h, c608);

  fe8_norm(t);
  r->v[0] = t[0];
  r->v[1] = t[1];
  r->v[2] = t[2];
  r->v[3] = t[3];
  r->v[4] = t[4];
}

/* r = a * b; a, b normalized. One accumulator per column: the low half of a_i b_j goes to column
   i+j, the high half to column i+j+1 (weight 2^(52 (i+j+1))). Each column gets at most 5 low and
   5 high halves, each < 2^52: < 2^56. (Separate low/high accumulators would shorten the dependency
   chains but cost 10 more additions; the ladder has enough independent work to hide the latency,
   and on current cores the vector ports, not the latency, are the limit.) */
DP_IFMA_INLINE void fe8_mul(fe8 *r, const fe8 *a, const fe8 *b) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i t[10];
#define DP_ZERO(k) t[k] = zero;
  DP_REP10(DP_ZERO)
#undef DP_ZERO
#define DP_MAC(i, j)                                                      \
  t[(i) + (j)] = _mm512_madd52lo_epu64(t[(i) + (j)], a->v[i], b->v[j]); \
  t[(i) + (j) + 1] = _mm512_madd52hi_epu64(t[(i) + (j) + 1], a->v[i], b->v[j])
  DP_MAC(0, 0); DP_MAC(0, 1); DP_MAC(0, 2); DP_MAC(0, 3); DP_MAC(0, 4);
  DP_MAC(1, 0); DP_MAC(1, 1); DP_MAC(1, 2); DP_MAC(1, 3); DP_MAC(1, 4);
  DP_MAC(2, 0); DP_MAC(2, 1); DP_MAC(2, 2); DP_MAC(2, 3); DP_MAC(2, 4);
  DP_MAC(3, 0); DP_MAC(3, 1); DP_MAC(3, 2); DP_MAC(3, 3); DP_MAC(3, 4);
  DP_MAC(4, 0); DP_MAC(4, 1); DP_MAC(4, 2); DP_MAC(4, 3); DP_MAC(4, 4);
#undef DP_MAC
  fe8_reduce10(r, t);
}

/* r = a^2; a normalized. The 10 cross products a_i a_j (i < j) are accumulated once (columns 1..8)
   and doubled, then the 5 squares a_i^2 are added: 30 multiply-adds instead of 50.
   Column bound: 2 * (3 + 3) halves < 2^52, plus 2 halves of a square: < 2^56. */
DP_IFMA_INLINE void fe8_sqr(fe8 *r, const fe8 *a) {
  const __m512i zero = _mm512_setzero_si512();
  __m512i t[10];
#define DP_ZERO(k) t[k] = zero;
  DP_REP10(DP_ZERO)
#undef DP_ZERO
#define DP_MAC(i, j)                                                      \
  t[(i) + (j)] = _mm512_madd52lo_epu64(t[(i) + (j)], a->v[i], a->v[j]); \
  t[(i) + (j) + 1] = _mm512_madd52hi_epu64(t[(i) + (j) + 1], a->v[i], a->v[j])
  DP_MAC(0, 1); DP_MAC(0, 2); DP_MAC(0, 3); DP_MAC(0, 4);
  DP_MAC(1, 2); DP_MAC(1, 3); DP_MAC(1, 4);
  DP_MAC(2, 3); DP_MAC(2, 4);
  DP_MAC(3, 4);
#define DP_DBL(k) t[k] = _mm512_add_epi64(t[k], t[k]);
  DP_DBL(1) DP_DBL(2) DP_DBL(3) DP_DBL(4) DP_DBL(5) DP_DBL(6) DP_DBL(7) DP_DBL(8)
#undef DP_DBL
  /* squares: a_i^2 has its low half in column 2i and its high half in column 2i+1 */
  DP_MAC(0, 0); DP_MAC(1, 1); DP_MAC(2, 2); DP_MAC(3, 3); DP_MAC(4, 4);
#undef DP_MAC
  fe8_reduce10(r, t);
}

/* r = a + b, normalized (a, b normalized: limbs < 2^53 before the carry). */
DP_IFMA_INLINE void fe8_add(fe8 *r, const fe8 *a, const fe8 *b) {
  __m512i t[5];
#define DP_ADD(i) t[i] = _mm512_add_epi64(a->v[i], b->v[i]);
  DP_REP5(DP_ADD)
#undef DP_ADD
  fe8_norm(t);
#define DP_OUT(i) r->v[i] = t[i];
  DP_REP5(DP_OUT)
#undef DP_OUT
}

/* r = a - b + 4p, normalized. 4p in radix 2^52: (2^54 - 76, 2^54 - 4, 2^54 - 4, 2^54 - 4, 2^49 - 4);
   every limb of 4p is >= the bound of the matching limb of a normalized b, so nothing goes
   negative; limbs < 2^55 before the carry. */
DP_IFMA_INLINE void fe8_sub(fe8 *r, const fe8 *a, const fe8 *b) {
  const __m512i p4_0 = _mm512_set1_epi64((long long)((1ULL << 54) - 76));
  const __m512i p4_m = _mm512_set1_epi64((long long)((1ULL << 54) - 4));
  const __m512i p4_4 = _mm512_set1_epi64((long long)((1ULL << 49) - 4));
  __m512i t[5];
  t[0] = _mm512_add_epi64(a->v[0], p4_0);
  t[1] = _mm512_add_epi64(a->v[1], p4_m);
  t[2] = _mm512_add_epi64(a->v[2], p4_m);
  t[3] = _mm512_add_epi64(a->v[3], p4_m);
  t[4] = _mm512_add_epi64(a->v[4], p4_4);
#define DP_SUB(i) t[i] = _mm512_sub_epi64(t[i], b->v[i]);
  DP_REP5(DP_SUB)
#undef DP_SUB
  fe8_norm(t);
#define DP_OUT(i) r->v[i] = t[i];
  DP_REP5(DP_OUT)
#undef DP_OUT
}

/* r = aa + 121665 * e, normalized (aa, e normalized). e_i * 121665 < 2^69 is split into its low
   52 bits (limb i) and the rest (limb i+1); the part above limb 4 has weight 2^260 = 608. */
DP_IFMA_INLINE void fe8_a24_add(fe8 *r, const fe8 *e, const fe8 *aa) {
  const __m512i a24 = _mm512_set1_epi64(121665);
  const __m512i c608 = _mm512_set1_epi64(608);
  __m512i t[5], h;
  t[0] = _mm512_madd52lo_epu64(aa->v[0], e->v[0], a24);
  t[1] = _mm512_madd52lo_epu64(aa->v[1], e->v[1], a24);
  t[2] = _mm512_madd52lo_epu64(aa->v[2], e->v[2], a24);
  t[3] = _mm512_madd52lo_epu64(aa->v[3], e->v[3], a24);
  t[4] = _mm512_madd52lo_epu64(aa->v[4], e->v[4], a24);
  t[1] = _mm512_madd52hi_epu64(t[1], e->v[0], a24);
  t[2] = _mm512_madd52hi_epu64(t[2], e->v[1], a24);
  t[3] = _mm512_madd52hi_epu64(t[3], e->v[2], a24);
  t[4] = _mm512_madd52hi_epu64(t[4], e->v[3], a24);
  h = _mm512_madd52hi_epu64(_mm512_setzero_si512(), e->v[4], a24); /* < 2^13 */
  t[0] = _mm512_madd52lo_epu64(t[0], h, c608);
  fe8_norm(t);
  r->v[0] = t[0];
  r->v[1] = t[1];
  r->v[2] = t[2];
  r->v[3] = t[3];
  r->v[4] = t[4];
}

/* Swap (a, b) in every lane when the mask is 0xFF, leave them when it is 0; no branch (two blends
   per limb, selected by an opmask register). */
DP_IFMA_INLINE void fe8_cswap(fe8 *a, fe8 *b, __mmask8 m) {
#define DP_CSWAP(i)                                          \
  {                                                          \
    __m512i x = a->v[i], y = b->v[i];                        \
    a->v[i] = _mm512_mask_blend_epi64(m, x, y);              \
    b->v[i] = _mm512_mask_blend_epi64(m, y, x);              \
  }
  DP_REP5(DP_CSWAP)
#undef DP_CSWAP
}

/* r = a^(2^n) (n public). */
DP_IFMA_TARGET static void fe8_sqr_n(fe8 *r, const fe8 *a, int n) {
  fe8 t = *a;
  int i;
  for (i = 0; i < n; i++) fe8_sqr(&t, &t);
  *r = t;
}

DP_IFMA_TARGET static void fe8_mul_out(fe8 *r, const fe8 *a, const fe8 *b) { fe8_mul(r, a, b); }

/* r = z^(p-2) = z^(2^255 - 21), by a fixed chain of 254 squarings and 11 multiplications
   (the usual chain for this exponent: 2^255 - 21 = (2^250 - 1) * 2^5 + 11). z = 0 gives 0. */
DP_IFMA_TARGET static void fe8_invert(fe8 *r, const fe8 *z) {
  fe8 z2, z9, z11, z_5_0, z_10_0, z_20_0, z_50_0, z_100_0, t;

  fe8_sqr_n(&z2, z, 1);             /* z^2 */
  fe8_sqr_n(&t, &z2, 2);            /* z^8 */
  fe8_mul_out(&z9, &t, z);          /* z^9 */
  fe8_mul_out(&z11, &z9, &z2);      /* z^11 */
  fe8_sqr_n(&t, &z11, 1);           /* z^22 */
  fe8_mul_out(&z_5_0, &t, &z9);     /* z^31 = z^(2^5 - 1) */
  fe8_sqr_n(&t, &z_5_0, 5);
  fe8_mul_out(&z_10_0, &t, &z_5_0); /* z^(2^10 - 1) */
  fe8_sqr_n(&t, &z_10_0, 10);
  fe8_mul_out(&z_20_0, &t, &z_10_0); /* z^(2^20 - 1) */
  fe8_sqr_n(&t, &z_20_0, 20);
  fe8_mul_out(&t, &t, &z_20_0);      /* z^(2^40 - 1) */
  fe8_sqr_n(&t, &t, 10);
  fe8_mul_out(&z_50_0, &t, &z_10_0); /* z^(2^50 - 1) */
  fe8_sqr_n(&t, &z_50_0, 50);
  fe8_mul_out(&z_100_0, &t, &z_50_0); /* z^(2^100 - 1) */
  fe8_sqr_n(&t, &z_100_0, 100);
  fe8_mul_out(&t, &t, &z_100_0);      /* z^(2^200 - 1) */
  fe8_sqr_n(&t, &t, 50);
  fe8_mul_out(&t, &t, &z_50_0);       /* z^(2^250 - 1) */
  fe8_sqr_n(&t, &t, 5);               /* z^(2^255 - 32) */
  fe8_mul_out(r, &t, &z11);           /* z^(2^255 - 21) */
}

/* ---------------------------------------------------------------------------------------------- */
/* Conversions (scalar code, constant time)                                                        */

/* Clears memory that held secret-dependent values (volatile: not optimized away). Register spills
   made by the compiler cannot be reached from C and are not cleared. */
static void dp_wipe(void *p, size_t n) {
  volatile uint8_t *v = (volatile uint8_t *)p;
  while (n--) *v++ = 0;
}

static uint64_t dp_load64_le(const uint8_t *p) {
  return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) | ((uint64_t)p[3] << 24) |
         ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) |
         ((uint64_t)p[7] << 56);
}

static void dp_store64_le(uint8_t *p, uint64_t v) {
  int i;
  for (i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* 32 bytes little endian, bit 255 cleared, to 5 limbs of 52 bits (limb 4 < 2^47). */
static void dp_unpack(uint64_t l[5], const uint8_t s[32]) {
  uint64_t w0 = dp_load64_le(s), w1 = dp_load64_le(s + 8), w2 = dp_load64_le(s + 16);
  uint64_t w3 = dp_load64_le(s + 24) & 0x7FFFFFFFFFFFFFFFULL;
  l[0] = w0 & MASK52;
  l[1] = ((w0 >> 52) | (w1 << 12)) & MASK52;
  l[2] = ((w1 >> 40) | (w2 << 24)) & MASK52;
  l[3] = ((w2 >> 28) | (w3 << 36)) & MASK52;
  l[4] = w3 >> 16;
}

/* One carry pass at 2^255: limb 4's bits >= 47 go to limb 0 times 19, then limbs 0..3 carry up. */
static void dp_carry255(uint64_t l[5]) {
  uint64_t c = l[4] >> 47;
  l[4] &= MASK47;
  l[0] += 19 * c;
  c = l[0] >> 52; l[0] &= MASK52; l[1] += c;
  c = l[1] >> 52; l[1] &= MASK52; l[2] += c;
  c = l[2] >> 52; l[2] &= MASK52; l[3] += c;
  c = l[3] >> 52; l[3] &= MASK52; l[4] += c;
}

/* Normalized limbs (0..3 < 2^52, 4 < 2^48) to the canonical 32-byte encoding of the value mod p. */
static void dp_freeze_pack(uint8_t s[32], const uint64_t in[5]) {
  uint64_t l[5], q, c;
  memcpy(l, in, sizeof l);
  dp_carry255(l);
  dp_carry255(l); /* now value < 2^255, limb 4 < 2^47 */
  /* q = 1 iff value >= p, i.e. value + 19 >= 2^255 */
  q = (l[0] + 19) >> 52;
  q = (l[1] + q) >> 52;
  q = (l[2] + q) >> 52;
  q = (l[3] + q) >> 52;
  q = (l[4] + q) >> 47;
  /* value - q p = value + 19 q - q 2^255 */
  l[0] += 19 * q;
  c = l[0] >> 52; l[0] &= MASK52; l[1] += c;
  c = l[1] >> 52; l[1] &= MASK52; l[2] += c;
  c = l[2] >> 52; l[2] &= MASK52; l[3] += c;
  c = l[3] >> 52; l[3] &= MASK52; l[4] += c;
  l[4] &= MASK47; /* drops q 2^255 */
  dp_store64_le(s, l[0] | (l[1] << 52));
  dp_store64_le(s + 8, (l[1] >> 12) | (l[2] << 40));
  dp_store64_le(s + 16, (l[2] >> 24) | (l[3] << 28));
  dp_store64_le(s + 24, (l[3] >> 36) | (l[4] << 16));
  dp_wipe(l, sizeof l);
}

/* ---------------------------------------------------------------------------------------------- */
/* The 8-way ladder                                                                                */

DP_IFMA_TARGET void dp_x25519_ifma_x8(const uint8_t k[32], const uint8_t in[256], uint8_t out[256]) {
  uint64_t limbs[5][8];
  fe8 x1, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb, zi;
  unsigned swap = 0;
  int i, lane, pos;

  for (lane = 0; lane < 8; lane++) {
    uint64_t l[5];
    dp_unpack(l, in + 32 * lane);
    for (i = 0; i < 5; i++) limbs[i][lane] = l[i];
  }
  for (i = 0; i < 5; i++) {
    x1.v[i] = _mm512_loadu_si512((const void *)limbs[i]);
    x2.v[i] = _mm512_setzero_si512();
    z2.v[i] = _mm512_setzero_si512();
    z3.v[i] = _mm512_setzero_si512();
  }
  x2.v[0] = _mm512_set1_epi64(1);
  z3.v[0] = _mm512_set1_epi64(1);
  x3 = x1;

  for (pos = 254; pos >= 0; pos--) {
    unsigned bit = (k[pos >> 3] >> (pos & 7)) & 1u;
    __mmask8 mask;
    swap ^= bit;
    mask = (__mmask8)(0u - swap); /* 0x..FF or 0 */
    fe8_cswap(&x2, &x3, mask);
    fe8_cswap(&z2, &z3, mask);
    swap = bit;

    fe8_add(&a, &x2, &z2);   /* A = x2 + z2 */
    fe8_sub(&b, &x2, &z2);   /* B = x2 - z2 */
    fe8_add(&c, &x3, &z3);   /* C = x3 + z3 */
    fe8_sub(&d, &x3, &z3);   /* D = x3 - z3 */
    fe8_sqr(&aa, &a);        /* AA = A^2 */
    fe8_sqr(&bb, &b);        /* BB = B^2 */
    fe8_mul(&da, &d, &a);    /* DA = D * A */
    fe8_mul(&cb, &c, &b);    /* CB = C * B */
    fe8_sub(&e, &aa, &bb);   /* E = AA - BB */
    fe8_add(&x3, &da, &cb);
    fe8_sqr(&x3, &x3);       /* x3 = (DA + CB)^2 */
    fe8_sub(&z3, &da, &cb);
    fe8_sqr(&z3, &z3);
    fe8_mul(&z3, &z3, &x1);  /* z3 = x1 * (DA - CB)^2 */
    fe8_mul(&x2, &aa, &bb);  /* x2 = AA * BB */
    fe8_a24_add(&a, &e, &aa);
    fe8_mul(&z2, &e, &a);    /* z2 = E * (AA + a24 * E) */
  }
  {
    __mmask8 mask = (__mmask8)(0u - swap);
    fe8_cswap(&x2, &x3, mask);
    fe8_cswap(&z2, &z3, mask);
  }

  fe8_invert(&zi, &z2);
  fe8_mul_out(&x2, &x2, &zi);

  for (i = 0; i < 5; i++) _mm512_storeu_si512((void *)limbs[i], x2.v[i]);
  for (lane = 0; lane < 8; lane++) {
    uint64_t l[5];
    for (i = 0; i < 5; i++) l[i] = limbs[i][lane];
    dp_freeze_pack(out + 32 * lane, l);
    dp_wipe(l, sizeof l);
  }
  dp_wipe(limbs, sizeof limbs);
}

#ifdef DP_X25519_IFMA_TESTING
/* Test hook, compiled only for native/test/ifma-check (not part of the interface): one field
   operation on 8 lanes. a, b: limb i of lane j at [8 i + j], normalized (limbs 0..3 < 2^52,
   limb 4 < 2^48). op 0: a*b, 1: a^2, 2: a+b, 3: a-b, 4: b + 121665 a, 5: a, 6: a^(p-2).
   The result's raw limbs go to r (same layout) and its canonical encoding to out (8 x 32 bytes). */
void dp_x25519_ifma_test_op(int op, const uint64_t a[40], const uint64_t b[40], uint64_t r[40],
                            uint8_t out[256]);
DP_IFMA_TARGET void dp_x25519_ifma_test_op(int op, const uint64_t a[40], const uint64_t b[40],
                                           uint64_t r[40], uint8_t out[256]) {
  fe8 fa, fb, fr;
  int i, lane;
  for (i = 0; i < 5; i++) {
    fa.v[i] = _mm512_loadu_si512((const void *)(a + 8 * i));
    fb.v[i] = _mm512_loadu_si512((const void *)(b + 8 * i));
  }
  switch (op) {
    case 0: fe8_mul(&fr, &fa, &fb); break;
    case 1: fe8_sqr(&fr, &fa); break;
    case 2: fe8_add(&fr, &fa, &fb); break;
    case 3: fe8_sub(&fr, &fa, &fb); break;
    case 4: fe8_a24_add(&fr, &fa, &fb); break;
    case 6: fe8_invert(&fr, &fa); break;
    default: fr = fa; break;
  }
  for (i = 0; i < 5; i++) _mm512_storeu_si512((void *)(r + 8 * i), fr.v[i]);
  for (lane = 0; lane < 8; lane++) {
    uint64_t l[5];
    for (i = 0; i < 5; i++) l[i] = r[8 * i + lane];
    dp_freeze_pack(out + 32 * lane, l);
  }
}
#endif

#else /* not x86-64 with a GNU-compatible compiler */

int dp_x25519_ifma_available(void) { return 0; }

void dp_x25519_ifma_x8(const uint8_t k[32], const uint8_t in[256], uint8_t out[256]) {
  (void)k;
  (void)in;
  (void)out;
  abort(); /* contract: only called when dp_x25519_ifma_available() is 1, which never happens here */
}

#endif
