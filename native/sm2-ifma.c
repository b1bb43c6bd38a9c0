/*
 * 8-way SM2 scalar multiplication with AVX-512 IFMA: eight points times one shared scalar, the
 * same algorithm as native/sm2.c's 64-bit code (fixed 4-bit window, masked table scan, Jacobian
 * dbl-2001-b / add-2007-bl; see sm2.c for why no exceptional case arises), one point per lane.
 *
 * Layout: a field element of 8 points is 5 ZMM registers; register i holds limb i (weight
 * 2^(52 i)) of each point. Montgomery form with R = 2^260 (five 52-bit limbs): SM2's p is −1 modulo
 * 2^52 as well, so each reduction step's quotient is the low limb itself.
 *
 * Bounds (the invariant every stored element keeps): limbs < 2^52 and value < 2^257 (not
 * necessarily < p). A Montgomery product of two such values is (ab + mp)/2^260 < 2^256 + p < 2^257,
 * so it needs no final subtraction; additions and subtractions (the latter adding 4p first) fold
 * the bits above 2^256 back with 2^256 ≡ 2^224 + 2^96 − 2^64 + 1 (mod p), with no comparison.
 * vpmadd52* read only the low 52 bits of their factors, so factors must be normalized: every
 * operation ends with a carry pass. Only the output conversion reduces fully (below p).
 *
 * Constant time: the scalar's nibbles are the same in every lane; they select table entries by a
 * masked scan of all 16 and drive the two selections by masks computed from the scalar (never a
 * branch or an index). The field arithmetic has no data-dependent branch or memory index.
 * valgrind cannot check this file (it does not execute AVX-512); it is checked against the 64-bit
 * code on random inputs by test/native-sm2.test.ts and native/test/sm2-check.sh.
 */
#include "sm2-ifma.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define DP_IFMA_TARGET __attribute__((target("avx512f,avx512vl,avx512ifma")))
#define DP_IFMA_INLINE static inline __attribute__((always_inline)) DP_IFMA_TARGET
#define M52 0xfffffffffffffULL

typedef struct {
  __m512i v[5];
} fe8;

static const uint64_t P52[5] = {0xfffffffffffffULL, 0xff00000000fffULL, 0xfffffffffffffULL, 0xfffffffffffffULL, 0xfffffffeffffULL};
static const uint64_t R2_52[5] = {0x0020000000300ULL, 0xffffffff00000ULL, 0x0000100000002ULL, 0x0200000001000ULL, 0x4000000ULL}; /* 2^520 mod p */

DP_IFMA_INLINE __m512i bc(uint64_t v) { return _mm512_set1_epi64((long long)v); }

/* Carry pass, signed (arithmetic shifts): limbs 0..3 end in [0, 2^52), limb 4 keeps the sign. */
DP_IFMA_INLINE void fe8_carry(__m512i t[5]) {
  const __m512i m = bc(M52);
  for (int i = 0; i < 4; i++) {
    t[i + 1] = _mm512_add_epi64(t[i + 1], _mm512_srai_epi64(t[i], 52));
    t[i] = _mm512_and_si512(t[i], m);
  }
}

/* 4p with every limb but the top one raised by 2^52 (borrowed from the next): each limb exceeds
 * the matching limb of any normalized value < 2^257, so a + K4P − b has no negative limb. */
static const uint64_t K4P[5] = {0x1ffffffffffffcULL, 0x1fc00000003ffeULL, 0x1ffffffffffffeULL, 0x1ffffffffffffeULL, 0x3fffffffbfffeULL};

/* Partial reduction of t (limbs < 2^55, value < 2^260) to a normalized value < 2^256 + 2^228:
 * the bits from 2^256 up (c < 2^4) fold back as c·(2^224 + 2^96 − 2^64 + 1) ≡ c·2^256 (mod p)
 * (limb 4 bit 16, limb 1 bits 44 and 12, limb 0), then one carry pass. */
DP_IFMA_INLINE void fe8_fold(fe8 *r, __m512i t[5]) {
  const __m512i m = bc(M52);
  const __m512i c = _mm512_srli_epi64(t[4], 48);
  t[4] = _mm512_add_epi64(_mm512_and_si512(t[4], bc((1ULL << 48) - 1)), _mm512_slli_epi64(c, 16));
  t[0] = _mm512_add_epi64(t[0], c);
  t[1] = _mm512_add_epi64(t[1], _mm512_sub_epi64(_mm512_slli_epi64(c, 44), _mm512_slli_epi64(c, 12)));
  for (int i = 0; i < 4; i++) {
    t[i + 1] = _mm512_add_epi64(t[i + 1], _mm512_srli_epi64(t[i], 52));
    r->v[i] = _mm512_and_si512(t[i], m);
  }
  r->v[4] = t[4];
}

/* Inputs and outputs of every operation: normalized, value < 2^257 (not necessarily < p). */
DP_IFMA_INLINE void fe8_add(fe8 *r, const fe8 *a, const fe8 *b) {
  __m512i s[5];
  for (int i = 0; i < 5; i++) s[i] = _mm512_add_epi64(a->v[i], b->v[i]);
  fe8_fold(r, s);
}

DP_IFMA_INLINE void fe8_sub(fe8 *r, const fe8 *a, const fe8 *b) {
  __m512i s[5];
  for (int i = 0; i < 5; i++) s[i] = _mm512_sub_epi64(_mm512_add_epi64(a->v[i], bc(K4P[i])), b->v[i]);
  fe8_fold(r, s); /* a − b + 4p lies in (0, 2^259) */
}

/* Montgomery product r = a·b·2^-260 mod p: for a, b < 2^258, (ab + mp)/2^260 < 2^256 + p < 2^257. */
DP_IFMA_INLINE void fe8_mul(fe8 *r, const fe8 *a, const fe8 *b) {
  const __m512i m = bc(M52);
  const __m512i zero = _mm512_setzero_si512();
  __m512i t0 = zero, t1 = zero, t2 = zero, t3 = zero, t4 = zero, t5;
  for (int i = 0; i < 5; i++) {
    const __m512i ai = a->v[i];
    t0 = _mm512_madd52lo_epu64(t0, ai, b->v[0]);
    t1 = _mm512_madd52lo_epu64(t1, ai, b->v[1]);
    t2 = _mm512_madd52lo_epu64(t2, ai, b->v[2]);
    t3 = _mm512_madd52lo_epu64(t3, ai, b->v[3]);
    t4 = _mm512_madd52lo_epu64(t4, ai, b->v[4]);
    t1 = _mm512_madd52hi_epu64(t1, ai, b->v[0]);
    t2 = _mm512_madd52hi_epu64(t2, ai, b->v[1]);
    t3 = _mm512_madd52hi_epu64(t3, ai, b->v[2]);
    t4 = _mm512_madd52hi_epu64(t4, ai, b->v[3]);
    t5 = _mm512_madd52hi_epu64(zero, ai, b->v[4]);
    /* t += q·p with q = t0 mod 2^52 (−p⁻¹ ≡ 1 mod 2^52). Limbs 0, 2 and 3 of p are 2^52 − 1, so
     * their part of q·p is shifts of q: q·2^52 − q (columns 1, 0) and q·(2^208 − 2^104) (columns
     * 4, 2; the column-3 terms cancel); only limbs 1 and 4 need multiplications. Columns may go
     * negative meanwhile (two's complement; the carries are arithmetic shifts). */
    const __m512i q = _mm512_and_si512(t0, m);
    t0 = _mm512_sub_epi64(t0, q); /* ≡ 0 (mod 2^52) */
    t1 = _mm512_add_epi64(t1, _mm512_add_epi64(_mm512_srai_epi64(t0, 52), q));
    t1 = _mm512_madd52lo_epu64(t1, q, bc(P52[1]));
    t2 = _mm512_madd52hi_epu64(t2, q, bc(P52[1]));
    t2 = _mm512_sub_epi64(t2, q);
    t4 = _mm512_add_epi64(t4, q);
    t4 = _mm512_madd52lo_epu64(t4, q, bc(P52[4]));
    t5 = _mm512_madd52hi_epu64(t5, q, bc(P52[4]));
    /* every column one limb down (column 0 is zero) */
    t0 = t1;
    t1 = t2;
    t2 = t3;
    t3 = t4;
    t4 = t5;
  }
  __m512i t[5] = {t0, t1, t2, t3, t4};
  fe8_carry(t); /* the value is ≥ 0, so limb 4 ends ≥ 0 as well */
  for (int i = 0; i < 5; i++) r->v[i] = t[i];
}

DP_IFMA_INLINE void fe8_sq(fe8 *r, const fe8 *a) { fe8_mul(r, a, a); }

typedef struct {
  fe8 x, y, z;
} jac8;

/* dbl-2001-b (a = −3), as jac_dbl in sm2.c. */
DP_IFMA_INLINE void jac8_dbl(jac8 *r, const jac8 *p) {
  fe8 delta, gamma, beta, alpha, t0, t1;
  fe8_sq(&delta, &p->z);
  fe8_sq(&gamma, &p->y);
  fe8_mul(&beta, &p->x, &gamma);
  fe8_sub(&t0, &p->x, &delta);
  fe8_add(&t1, &p->x, &delta);
  fe8_mul(&alpha, &t0, &t1);
  fe8_add(&t0, &alpha, &alpha);
  fe8_add(&alpha, &t0, &alpha);
  fe8_add(&t0, &p->y, &p->z);
  fe8_sq(&t0, &t0);
  fe8_sub(&t0, &t0, &gamma);
  fe8_sub(&r->z, &t0, &delta);
  fe8_add(&beta, &beta, &beta);
  fe8_add(&beta, &beta, &beta);
  fe8_add(&t1, &beta, &beta);
  fe8_sq(&t0, &alpha);
  fe8_sub(&r->x, &t0, &t1);
  fe8_sub(&t0, &beta, &r->x);
  fe8_mul(&t0, &alpha, &t0);
  fe8_sq(&gamma, &gamma);
  fe8_add(&gamma, &gamma, &gamma);
  fe8_add(&gamma, &gamma, &gamma);
  fe8_add(&gamma, &gamma, &gamma);
  fe8_sub(&r->y, &t0, &gamma);
}

/* add-2007-bl, as jac_add in sm2.c. */
DP_IFMA_INLINE void jac8_add(jac8 *r, const jac8 *p, const jac8 *q) {
  fe8 z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t;
  fe8_sq(&z1z1, &p->z);
  fe8_sq(&z2z2, &q->z);
  fe8_mul(&u1, &p->x, &z2z2);
  fe8_mul(&u2, &q->x, &z1z1);
  fe8_mul(&t, &q->z, &z2z2);
  fe8_mul(&s1, &p->y, &t);
  fe8_mul(&t, &p->z, &z1z1);
  fe8_mul(&s2, &q->y, &t);
  fe8_sub(&h, &u2, &u1);
  fe8_add(&t, &h, &h);
  fe8_sq(&i, &t);
  fe8_mul(&j, &h, &i);
  fe8_sub(&rr, &s2, &s1);
  fe8_add(&rr, &rr, &rr);
  fe8_mul(&v, &u1, &i);
  fe8_add(&t, &p->z, &q->z);
  fe8_sq(&t, &t);
  fe8_sub(&t, &t, &z1z1);
  fe8_sub(&t, &t, &z2z2);
  fe8_mul(&r->z, &t, &h);
  fe8_sq(&t, &rr);
  fe8_sub(&t, &t, &j);
  fe8_sub(&t, &t, &v);
  fe8_sub(&r->x, &t, &v);
  fe8_sub(&t, &v, &r->x);
  fe8_mul(&t, &rr, &t);
  fe8_mul(&s1, &s1, &j);
  fe8_add(&s1, &s1, &s1);
  fe8_sub(&r->y, &t, &s1);
}

/* r = mask ? b : a, mask all-ones or zero (the same in every lane). */
DP_IFMA_INLINE void jac8_select(jac8 *r, const jac8 *a, const jac8 *b, uint64_t mask) {
  const __m512i m = bc(mask);
  for (int i = 0; i < 5; i++) {
    r->x.v[i] = _mm512_ternarylogic_epi64(m, b->x.v[i], a->x.v[i], 0xca); /* m ? b : a */
    r->y.v[i] = _mm512_ternarylogic_epi64(m, b->y.v[i], a->y.v[i], 0xca);
    r->z.v[i] = _mm512_ternarylogic_epi64(m, b->z.v[i], a->z.v[i], 0xca);
  }
}

DP_IFMA_TARGET static void table8_lookup(jac8 *r, const jac8 table[16], uint64_t idx) {
  const __m512i zero = _mm512_setzero_si512();
  for (int l = 0; l < 5; l++) r->x.v[l] = r->y.v[l] = r->z.v[l] = zero;
  for (uint64_t i = 0; i < 16; i++) {
    uint64_t d = i ^ idx;
    const __m512i m = bc(((d | (0 - d)) >> 63) - 1);
    for (int l = 0; l < 5; l++) {
      r->x.v[l] = _mm512_or_si512(r->x.v[l], _mm512_and_si512(table[i].x.v[l], m));
      r->y.v[l] = _mm512_or_si512(r->y.v[l], _mm512_and_si512(table[i].y.v[l], m));
      r->z.v[l] = _mm512_or_si512(r->z.v[l], _mm512_and_si512(table[i].z.v[l], m));
    }
  }
}

/* 8 lanes of 4×64-bit plain values → Montgomery form (R = 2^260), radix 2^52. */
DP_IFMA_TARGET static void fe8_load(fe8 *r, const uint64_t a[8][4]) {
  uint64_t l[5][8];
  for (int j = 0; j < 8; j++) {
    l[0][j] = a[j][0] & M52;
    l[1][j] = ((a[j][0] >> 52) | (a[j][1] << 12)) & M52;
    l[2][j] = ((a[j][1] >> 40) | (a[j][2] << 24)) & M52;
    l[3][j] = ((a[j][2] >> 28) | (a[j][3] << 36)) & M52;
    l[4][j] = a[j][3] >> 16;
  }
  fe8 plain, r2;
  for (int i = 0; i < 5; i++) {
    plain.v[i] = _mm512_loadu_si512((const void *)l[i]);
    r2.v[i] = bc(R2_52[i]);
  }
  fe8_mul(r, &plain, &r2); /* a·2^520·2^-260 = a·R */
}

/* Montgomery form → plain, fully reduced, 8 lanes of 4×64-bit limbs. */
DP_IFMA_TARGET static void fe8_store(uint64_t a[8][4], const fe8 *x) {
  fe8 one, t;
  one.v[0] = bc(1);
  for (int i = 1; i < 5; i++) one.v[i] = _mm512_setzero_si512();
  fe8_mul(&t, x, &one); /* (x + mp)/2^260 ≤ p: one masked subtraction of p makes it canonical */
  __m512i s[5];
  for (int i = 0; i < 5; i++) s[i] = _mm512_sub_epi64(t.v[i], bc(P52[i]));
  fe8_carry(s);
  __mmask8 neg = _mm512_cmplt_epi64_mask(s[4], _mm512_setzero_si512());
  uint64_t l[5][8];
  for (int i = 0; i < 5; i++) _mm512_storeu_si512((void *)l[i], _mm512_mask_blend_epi64(neg, s[i], t.v[i]));
  for (int j = 0; j < 8; j++) {
    a[j][0] = l[0][j] | (l[1][j] << 52);
    a[j][1] = (l[1][j] >> 12) | (l[2][j] << 40);
    a[j][2] = (l[2][j] >> 24) | (l[3][j] << 28);
    a[j][3] = (l[3][j] >> 36) | (l[4][j] << 16);
  }
}

DP_IFMA_INLINE void fe8_sqn(fe8 *r, const fe8 *a, int n) {
  fe8_sq(r, a);
  while (--n > 0) fe8_sq(r, r);
}

/* r = a^((p+1)/4) = a^(2^62 · (2^32 − 1) · (2^160 − 1)), the chain of fe_sqrt_candidate in sm2.c. */
DP_IFMA_TARGET void dp_sm2_ifma_sqrt8(const uint64_t a[8][4], uint64_t r[8][4]) {
  fe8 x, x2, x4, x8, x16, x32, t;
  fe8_load(&x, a);
  fe8_sq(&t, &x);
  fe8_mul(&x2, &t, &x);
  fe8_sqn(&t, &x2, 2);
  fe8_mul(&x4, &t, &x2);
  fe8_sqn(&t, &x4, 4);
  fe8_mul(&x8, &t, &x4);
  fe8_sqn(&t, &x8, 8);
  fe8_mul(&x16, &t, &x8);
  fe8_sqn(&t, &x16, 16);
  fe8_mul(&x32, &t, &x16); /* c = a^(2^32 − 1) */
  fe8 c2, c4, c8, c16, c32, c64, c128;
  fe8_sq(&t, &x32);
  fe8_mul(&c2, &t, &x32);
  fe8_sqn(&t, &c2, 2);
  fe8_mul(&c4, &t, &c2);
  fe8_sqn(&t, &c4, 4);
  fe8_mul(&c8, &t, &c4);
  fe8_sqn(&t, &c8, 8);
  fe8_mul(&c16, &t, &c8);
  fe8_sqn(&t, &c16, 16);
  fe8_mul(&c32, &t, &c16);
  fe8_sqn(&t, &c32, 32);
  fe8_mul(&c64, &t, &c32);
  fe8_sqn(&t, &c64, 64);
  fe8_mul(&c128, &t, &c64);
  fe8_sqn(&t, &c128, 32);
  fe8_mul(&x, &t, &c32); /* c^(2^160 − 1) */
  fe8_sqn(&t, &x, 62);
  fe8_store(r, &t);
}

static uint64_t nibble8(const uint8_t k[32], int w) {
  uint8_t byte = k[31 - w / 2];
  return (uint64_t)((w & 1) ? byte >> 4 : byte & 15);
}

static void wipe8(void *p, size_t n) {
  volatile uint8_t *v = p;
  while (n--) *v++ = 0;
}

DP_IFMA_TARGET void dp_sm2_ifma_mul8(const uint8_t k[32], const uint64_t x[8][4], const uint64_t y[8][4], uint64_t X[8][4], uint64_t Y[8][4],
                                     uint64_t Z[8][4]) {
  jac8 table[16], acc, sum, addend;
  memset(&table[0], 0, sizeof table[0]);
  fe8_load(&table[1].x, x);
  fe8_load(&table[1].y, y);
  {
    static const uint64_t one_plain[8][4] = {{1}, {1}, {1}, {1}, {1}, {1}, {1}, {1}};
    fe8_load(&table[1].z, one_plain);
  }
  for (int i = 2; i < 16; i++) {
    if (i & 1) jac8_add(&table[i], &table[i - 1], &table[1]);
    else jac8_dbl(&table[i], &table[i / 2]);
  }
  uint64_t d = nibble8(k, 63);
  table8_lookup(&acc, table, d);
  uint64_t seen = d; /* nonzero once a nonzero nibble has been taken: acc is no longer infinity */
  for (int w = 62; w >= 0; w--) {
    jac8_dbl(&acc, &acc);
    jac8_dbl(&acc, &acc);
    jac8_dbl(&acc, &acc);
    jac8_dbl(&acc, &acc);
    d = nibble8(k, w);
    table8_lookup(&addend, table, d);
    jac8_add(&sum, &acc, &addend);
    uint64_t acc_inf = ((seen | (0 - seen)) >> 63) - 1;
    uint64_t d_zero = ((d | (0 - d)) >> 63) - 1;
    jac8_select(&sum, &sum, &addend, acc_inf);
    jac8_select(&acc, &sum, &acc, d_zero);
    seen |= d;
  }
  fe8_store(X, &acc.x);
  fe8_store(Y, &acc.y);
  fe8_store(Z, &acc.z);
  wipe8(table, sizeof table);
  wipe8(&sum, sizeof sum);
  wipe8(&addend, sizeof addend);
  wipe8(&acc, sizeof acc);
}

#else
void dp_sm2_ifma_sqrt8(const uint64_t a[8][4], uint64_t r[8][4]) { (void)a, (void)r; }
void dp_sm2_ifma_mul8(const uint8_t k[32], const uint64_t x[8][4], const uint64_t y[8][4], uint64_t X[8][4], uint64_t Y[8][4],
                      uint64_t Z[8][4]) {
  (void)k, (void)x, (void)y, (void)X, (void)Y, (void)Z;
}
#endif
