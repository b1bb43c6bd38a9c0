/*
 * dataport's native SM2 scalar multiplication (N-API): one secret scalar times a batch of
 * compressed points, the inner loop of ECDH-PSI on the SM2 curve (PPCA 9-2023 suites
 * sm2-sha256-tar and sm2-sm3-tai). Written for dataport from GB/T 32918.1/.5 (curve parameters),
 * SEC 1 §2.3.3–2.3.4 (X9.62 point compression) and the explicit formulas database (Jacobian
 * coordinates with a = −3: dbl-2001-b, add-2007-bl).
 *
 * Field: 4 × 64-bit limbs in Montgomery form (R = 2^256) with 128-bit products. SM2's prime
 * p = 2^256 − 2^224 − 2^96 + 2^64 − 1 is −1 modulo 2^64, so each Montgomery reduction step's
 * quotient is the low limb itself (no multiplication by −p⁻¹).
 *
 * Why not node:crypto: OpenSSL's SM2 is reached from JavaScript only as ECDH (createECDH('SM2')),
 * one call per point with a full point decoding and its generic (not SM2-specialised) arithmetic,
 * and it returns only x (the compressed output needs y's parity too).
 *
 * Constant time (what memcheck checks in native/test/ct-sm2.sh): the scalar never drives a branch
 * or a memory address. Multiplication is a fixed 4-bit window over all 64 nibbles of the scalar:
 * 252 doublings and 63 additions whatever the scalar, each table entry read through a masked scan
 * of all 16 entries; the cases "accumulator still at infinity" (leading zero nibbles) and "nibble
 * is 0" are resolved by masked selection, not branches. The field operations have no branch on
 * their values. The scalar's range check is a masked comparison too. NOT constant time, on purpose
 * and only on public data: point decompression branches on the input point's validity (invalid
 * prefix, x >= p, not a square: these end the call with that point's index; for a valid point,
 * such as our own hash of a key, every check goes the same way, and the choice between y and −y
 * is a mask), and the exponents of the square root and of the inversion are public constants. The
 * secret copies on the stack are wiped.
 *
 * Kernels: this file's 64-bit code ('portable', always), and on CPUs with AVX-512 IFMA eight points
 * at once (native/sm2-ifma.c, compiled in as DP_HAVE_IFMA; 'ifma8'), the same algorithm in 8 lanes.
 * Decompression, the shared inversion and compression are this file's code in both cases.
 *
 * JavaScript interface (added to the addon's exports by dp_sm2_register, called from x25519.c):
 *   sm2MultiplyBatch(scalar: Uint8Array(32), points: Uint8Array(33n), out: Uint8Array(33n),
 *                    kernel?: string): number
 *     scalar is big-endian in [1, n−1]; out[33i..] = scalar·points[33i..], X9.62 compressed; returns
 *     -1, or the index of the first invalid input point (out is then unspecified). `out` may be
 *     `points` itself but must not otherwise overlap it. `kernel` (one of `sm2Kernels`) forces a
 *     kernel (for cross-checks and benchmarks). Throws TypeError / RangeError on bad arguments (a
 *     scalar out of range is a RangeError; the message carries no byte of it).
 *   sm2Kernels: the SM2 kernels this CPU can run, fastest first ('ifma8', 'portable').
 *   sm2LiftX(xs: Uint8Array(32n), out: Uint8Array(33n), maxIncrements: number): number
 *     the hash-to-curve step of the SM2 suites on public data (dp_sm2_lift_x below): each x mod p,
 *     incremented up to maxIncrements times until it is an abscissa, as 02 ‖ x; returns how many
 *     items found none (their out[33i] is 0). Optional for callers: src/crypto/sm2/native.ts
 *     feature-detects it and falls back to the portable BigInt map (so DP_ABI is unchanged).
 *
 * Exceptional cases of the addition formula cannot occur: the accumulator before an addition holds
 * j·P with j = 16·(scalar prefix) and the addend is d·P with 0 < d < 16; j ≡ ±d (mod n) would need
 * j = d (impossible, j is 0 or ≥ 16) or j + d = n (impossible, j + d ≤ k < n). P has prime order n
 * (the cofactor is 1), so no doubling meets a point of order 2. The result k·P is never infinity
 * for k in [1, n−1].
 */
#include "sm2.h"
#include <string.h>
#ifdef DP_HAVE_IFMA
#include "sm2-ifma.h"
#include "x25519-ifma.h"
#endif

#define SM2_GROUP 64 /* points per shared inversion */

typedef unsigned __int128 u128;
typedef uint64_t fe[4]; /* little-endian limbs, Montgomery form, fully reduced (< p) */

static const uint64_t P[4] = {0xffffffffffffffffULL, 0xffffffff00000000ULL, 0xffffffffffffffffULL, 0xfffffffeffffffffULL};
static const uint64_t N[4] = {0x53bbf40939d54123ULL, 0x7203df6b21c6052bULL, 0xffffffffffffffffULL, 0xfffffffeffffffffULL};
static const fe R2 = {0x0000000200000003ULL, 0x00000002ffffffffULL, 0x0000000100000001ULL, 0x0000000400000002ULL};
static const fe ONE = {0x0000000000000001ULL, 0x00000000ffffffffULL, 0x0000000000000000ULL, 0x0000000100000000ULL}; /* R mod p */
static const fe B_MONT = {0x90d230632bc0dd42ULL, 0x71cf379ae9b537abULL, 0x527981505ea51c3cULL, 0x240fe188ba20e2c8ULL};

static void sm2_wipe(void *p, size_t n) {
  volatile uint8_t *v = p;
  while (n--) *v++ = 0;
}

/* r = t - p if t >= p (t given as 4 limbs plus a carry bit), else t; masked. */
static void fe_reduce_once(fe r, const uint64_t t[4], uint64_t carry) {
  uint64_t s[4], borrow = 0;
  for (int i = 0; i < 4; i++) {
    u128 d = (u128)t[i] - P[i] - borrow;
    s[i] = (uint64_t)d;
    borrow = (uint64_t)(d >> 64) & 1;
  }
  /* keep s when carry is set or there was no borrow */
  uint64_t keep_s = 0 - (carry | (borrow ^ 1));
  for (int i = 0; i < 4; i++) r[i] = (s[i] & keep_s) | (t[i] & ~keep_s);
}

static void fe_add(fe r, const fe a, const fe b) {
  uint64_t t[4];
  u128 c = 0;
  for (int i = 0; i < 4; i++) {
    c += (u128)a[i] + b[i];
    t[i] = (uint64_t)c;
    c >>= 64;
  }
  fe_reduce_once(r, t, (uint64_t)c);
}

static void fe_sub(fe r, const fe a, const fe b) {
  uint64_t t[4], borrow = 0;
  for (int i = 0; i < 4; i++) {
    u128 d = (u128)a[i] - b[i] - borrow;
    t[i] = (uint64_t)d;
    borrow = (uint64_t)(d >> 64) & 1;
  }
  uint64_t mask = 0 - borrow;
  u128 c = 0;
  for (int i = 0; i < 4; i++) {
    c += (u128)t[i] + (P[i] & mask);
    r[i] = (uint64_t)c;
    c >>= 64;
  }
}

/* Montgomery multiplication r = a·b·2^-256 mod p: the whole 512-bit product (operand scanning),
 * then four reduction steps. −p⁻¹ ≡ 1 (mod 2^64), so step i's quotient is q = t[i]; adding
 * q·p·2^(64 i) clears limb i (q·P[0] + t[i] = q·2^64) and needs no multiplication: P[1] = 2^64 − 2^32,
 * P[2] = 2^64 − 1, P[3] = 2^64 − 2^32 − 1. (20 % faster here than interleaving the two.) */
static void fe_mul(fe r, const fe a, const fe b) {
  uint64_t t[8];
  u128 c = 0;
  for (int j = 0; j < 4; j++) {
    c += (u128)a[0] * b[j];
    t[j] = (uint64_t)c;
    c >>= 64;
  }
  t[4] = (uint64_t)c;
  for (int i = 1; i < 4; i++) {
    c = 0;
    for (int j = 0; j < 4; j++) {
      c += (u128)a[i] * b[j] + t[i + j];
      t[i + j] = (uint64_t)c;
      c >>= 64;
    }
    t[i + 4] = (uint64_t)c;
  }
  uint64_t top = 0; /* carry out of limb i + 4, owed to limb i + 5 */
  for (int i = 0; i < 4; i++) {
    const uint64_t q = t[i];
    const u128 qh = (u128)q << 64, q32 = (u128)q << 32;
    c = q;
    c += qh - q32 + t[i + 1];
    t[i + 1] = (uint64_t)c;
    c >>= 64;
    c += qh - q + t[i + 2];
    t[i + 2] = (uint64_t)c;
    c >>= 64;
    c += qh - q32 - q + t[i + 3];
    t[i + 3] = (uint64_t)c;
    c >>= 64;
    c += (u128)t[i + 4] + top;
    t[i + 4] = (uint64_t)c;
    top = (uint64_t)(c >> 64);
  }
  fe_reduce_once(r, t + 4, top); /* (ab + mp)/2^256 < 2p */
}

static void fe_sq(fe r, const fe a) { fe_mul(r, a, a); }

static void fe_sqn(fe r, const fe a, int n) {
  fe_sq(r, a);
  while (--n > 0) fe_sq(r, r);
}

static void fe_copy(fe r, const fe a) { memcpy(r, a, sizeof(fe)); }

/* all-ones if a == 0, else 0; no branch */
static uint64_t fe_iszero_mask(const fe a) {
  uint64_t z = a[0] | a[1] | a[2] | a[3];
  return ((z | (0 - z)) >> 63) - 1;
}

static uint64_t fe_eq_mask(const fe a, const fe b) {
  fe d;
  for (int i = 0; i < 4; i++) d[i] = a[i] ^ b[i];
  return fe_iszero_mask(d);
}

static void fe_select(fe r, const fe a, const fe b, uint64_t mask) { /* r = mask ? b : a */
  for (int i = 0; i < 4; i++) r[i] = (a[i] & ~mask) | (b[i] & mask);
}

static void fe_from_bytes_be(uint64_t r[4], const uint8_t s[32]) {
  for (int i = 0; i < 4; i++) {
    uint64_t v = 0;
    for (int j = 0; j < 8; j++) v = (v << 8) | s[8 * (3 - i) + j];
    r[i] = v;
  }
}

static void fe_to_bytes_be(uint8_t s[32], const uint64_t a[4]) {
  for (int i = 0; i < 4; i++) {
    for (int j = 0; j < 8; j++) s[8 * (3 - i) + j] = (uint8_t)(a[i] >> (56 - 8 * j));
  }
}

static void fe_to_mont(fe r, const uint64_t a[4]) { fe_mul(r, a, R2); }

static void fe_from_mont(uint64_t r[4], const fe a) {
  static const fe one_plain = {1, 0, 0, 0};
  fe_mul(r, a, one_plain);
}

/* 1 if the plain integer a (4 limbs) is < m, else 0; masked comparison. */
static uint64_t lt_limbs(const uint64_t a[4], const uint64_t m[4]) {
  uint64_t borrow = 0;
  for (int i = 0; i < 4; i++) {
    u128 d = (u128)a[i] - m[i] - borrow;
    borrow = (uint64_t)(d >> 64) & 1;
  }
  return borrow;
}

/* r = a^((p+1)/4) = a^(2^62 · (2^32 − 1) · (2^160 − 1)): the square root when a is a square
 * (p ≡ 3 mod 4). Public exponent; 252 squarings and 13 multiplications. */
static void fe_sqrt_candidate(fe r, const fe a) {
  fe x2, x4, x8, x16, x32, t;
  fe_sq(t, a); fe_mul(x2, t, a);          /* a^(2^2-1) */
  fe_sqn(t, x2, 2); fe_mul(x4, t, x2);     /* a^(2^4-1) */
  fe_sqn(t, x4, 4); fe_mul(x8, t, x4);
  fe_sqn(t, x8, 8); fe_mul(x16, t, x8);
  fe_sqn(t, x16, 16); fe_mul(x32, t, x16); /* c = a^(2^32-1) */
  /* c^(2^160 - 1) by the same doubling chain on c */
  fe c2, c4, c8, c16, c32, c64, c128, c160;
  fe_sq(t, x32); fe_mul(c2, t, x32);
  fe_sqn(t, c2, 2); fe_mul(c4, t, c2);
  fe_sqn(t, c4, 4); fe_mul(c8, t, c4);
  fe_sqn(t, c8, 8); fe_mul(c16, t, c8);
  fe_sqn(t, c16, 16); fe_mul(c32, t, c16);
  fe_sqn(t, c32, 32); fe_mul(c64, t, c32);
  fe_sqn(t, c64, 64); fe_mul(c128, t, c64);
  fe_sqn(t, c128, 32); fe_mul(c160, t, c32);
  fe_sqn(r, c160, 62);
}

/* r = a^(p−2) = a^-1 (0 for 0); public exponent, left-to-right binary. */
static void fe_invert(fe r, const fe a) {
  static const uint64_t E[4] = {0xfffffffffffffffdULL, 0xffffffff00000000ULL, 0xffffffffffffffffULL, 0xfffffffeffffffffULL};
  fe acc;
  fe_copy(acc, ONE);
  for (int i = 255; i >= 0; i--) {
    fe_sq(acc, acc);
    if ((E[i / 64] >> (i % 64)) & 1) fe_mul(acc, acc, a); /* public exponent bit */
  }
  fe_copy(r, acc);
}

typedef struct {
  fe x, y, z;
} jac;

/* dbl-2001-b (a = −3): 3M + 5S. Z = 0 (infinity) stays Z = 0. */
static void jac_dbl(jac *r, const jac *p) {
  fe delta, gamma, beta, alpha, t0, t1;
  fe_sq(delta, p->z);
  fe_sq(gamma, p->y);
  fe_mul(beta, p->x, gamma);
  fe_sub(t0, p->x, delta);
  fe_add(t1, p->x, delta);
  fe_mul(alpha, t0, t1);
  fe_add(t0, alpha, alpha);
  fe_add(alpha, t0, alpha);
  /* Z3 = (Y + Z)^2 − gamma − delta (before X, Y are overwritten: r may be p) */
  fe_add(t0, p->y, p->z);
  fe_sq(t0, t0);
  fe_sub(t0, t0, gamma);
  fe_sub(r->z, t0, delta);
  /* X3 = alpha^2 − 8·beta */
  fe_add(beta, beta, beta);
  fe_add(beta, beta, beta); /* 4·beta */
  fe_add(t1, beta, beta);   /* 8·beta */
  fe_sq(t0, alpha);
  fe_sub(r->x, t0, t1);
  /* Y3 = alpha·(4·beta − X3) − 8·gamma^2 */
  fe_sub(t0, beta, r->x);
  fe_mul(t0, alpha, t0);
  fe_sq(gamma, gamma);
  fe_add(gamma, gamma, gamma);
  fe_add(gamma, gamma, gamma);
  fe_add(gamma, gamma, gamma);
  fe_sub(r->y, t0, gamma);
}

/* add-2007-bl: 11M + 5S, for p ≠ ±q, neither at infinity (see the header for why that holds). */
static void jac_add(jac *r, const jac *p, const jac *q) {
  fe z1z1, z2z2, u1, u2, s1, s2, h, i, j, rr, v, t;
  fe_sq(z1z1, p->z);
  fe_sq(z2z2, q->z);
  fe_mul(u1, p->x, z2z2);
  fe_mul(u2, q->x, z1z1);
  fe_mul(t, q->z, z2z2);
  fe_mul(s1, p->y, t);
  fe_mul(t, p->z, z1z1);
  fe_mul(s2, q->y, t);
  fe_sub(h, u2, u1);
  fe_add(t, h, h);
  fe_sq(i, t);
  fe_mul(j, h, i);
  fe_sub(rr, s2, s1);
  fe_add(rr, rr, rr);
  fe_mul(v, u1, i);
  /* Z3 = ((Z1 + Z2)^2 − Z1Z1 − Z2Z2)·H */
  fe_add(t, p->z, q->z);
  fe_sq(t, t);
  fe_sub(t, t, z1z1);
  fe_sub(t, t, z2z2);
  fe_mul(r->z, t, h);
  /* X3 = r^2 − J − 2V */
  fe_sq(t, rr);
  fe_sub(t, t, j);
  fe_sub(t, t, v);
  fe_sub(r->x, t, v);
  /* Y3 = r·(V − X3) − 2·S1·J */
  fe_sub(t, v, r->x);
  fe_mul(t, rr, t);
  fe_mul(s1, s1, j);
  fe_add(s1, s1, s1);
  fe_sub(r->y, t, s1);
}

static void jac_select(jac *r, const jac *a, const jac *b, uint64_t mask) { /* r = mask ? b : a */
  fe_select(r->x, a->x, b->x, mask);
  fe_select(r->y, a->y, b->y, mask);
  fe_select(r->z, a->z, b->z, mask);
}

/* r = table[idx] by a scan of all 16 entries (idx is secret: no address depends on it). */
static void table_lookup(jac *r, const jac table[16], uint64_t idx) {
  memset(r, 0, sizeof *r);
  for (uint64_t i = 0; i < 16; i++) {
    uint64_t d = i ^ idx;
    uint64_t mask = ((d | (0 - d)) >> 63) - 1; /* all-ones iff i == idx */
    for (int l = 0; l < 4; l++) {
      r->x[l] |= table[i].x[l] & mask;
      r->y[l] |= table[i].y[l] & mask;
      r->z[l] |= table[i].z[l] & mask;
    }
  }
}

static uint64_t nibble(const uint8_t k[32], int w) { /* w = 63 is the most significant nibble */
  uint8_t byte = k[31 - w / 2];
  return (uint64_t)((w & 1) ? byte >> 4 : byte & 15);
}

/* r = k·P for an affine P (Montgomery form), k big-endian in [1, n−1]; constant time in k. */
static void point_mul(jac *r, const fe px, const fe py, const uint8_t k[32]) {
  jac table[16], acc, sum, addend;
  memset(&table[0], 0, sizeof table[0]); /* infinity (Z = 0), never selected as an addend's result */
  fe_copy(table[1].x, px);
  fe_copy(table[1].y, py);
  fe_copy(table[1].z, ONE);
  for (int i = 2; i < 16; i++) {
    if (i & 1) jac_add(&table[i], &table[i - 1], &table[1]);
    else jac_dbl(&table[i], &table[i / 2]);
  }
  table_lookup(&acc, table, nibble(k, 63));
  for (int w = 62; w >= 0; w--) {
    jac_dbl(&acc, &acc);
    jac_dbl(&acc, &acc);
    jac_dbl(&acc, &acc);
    jac_dbl(&acc, &acc);
    uint64_t d = nibble(k, w);
    table_lookup(&addend, table, d);
    jac_add(&sum, &acc, &addend);
    /* acc at infinity (only zero nibbles so far): the sum is the addend; d = 0: acc unchanged. */
    uint64_t acc_inf = fe_iszero_mask(acc.z);
    uint64_t d_zero = ((d | (0 - d)) >> 63) - 1;
    jac_select(&sum, &sum, &addend, acc_inf);
    jac_select(&acc, &sum, &acc, d_zero);
  }
  *r = acc;
  sm2_wipe(table, sizeof table);
  sm2_wipe(&sum, sizeof sum);
  sm2_wipe(&addend, sizeof addend);
  sm2_wipe(&acc, sizeof acc);
}

/* SEC 1 §2.3.4 for a 33-byte compressed point, in two halves around the square root (so that a
 * batch can take its square roots eight at a time). Both branch only on the public input.
 * First half: 0 and x, rhs = x³ − 3x + b (Montgomery form) if the prefix is 02/03 and x < p, else -1. */
static int decompress_begin(fe x, fe rhs, const uint8_t in[33]) {
  if (in[0] != 0x02 && in[0] != 0x03) return -1; /* includes 0x00 (infinity) and 0x04 (uncompressed) */
  uint64_t xp[4];
  fe_from_bytes_be(xp, in + 1);
  if (!lt_limbs(xp, P)) return -1;
  fe_to_mont(x, xp);
  fe t, three_x;
  fe_sq(t, x);
  fe_mul(rhs, t, x);
  fe_add(three_x, x, x);
  fe_add(three_x, three_x, x);
  fe_sub(rhs, rhs, three_x);
  fe_add(rhs, rhs, B_MONT);
  return 0;
}

/* Second half: given y = rhs^((p+1)/4), 0 if y² = rhs (then y gets the prefix's parity), else -1
 * (rhs is not a square: no curve point has this x). */
static int decompress_end(fe y, const fe rhs, uint8_t prefix) {
  fe t;
  fe_sq(t, y);
  if (!fe_eq_mask(t, rhs)) return -1;
  /* y or −y by the prefix's parity, by mask: our own points are hashes of private keys, and this
   * is the one step whose outcome varies among valid points. (y ≠ 0: SM2 has no point of order 2.) */
  uint64_t yp[4];
  fe_from_mont(yp, y);
  fe zero = {0, 0, 0, 0}, neg;
  fe_sub(neg, zero, y);
  fe_select(y, y, neg, 0 - ((yp[0] ^ (uint64_t)prefix) & 1));
  return 0;
}

int dp_sm2_scalar_ok(const uint8_t k[32]) {
  uint64_t kl[4];
  fe_from_bytes_be(kl, k);
  uint64_t nonzero = (kl[0] | kl[1] | kl[2] | kl[3]);
  nonzero = (nonzero | (0 - nonzero)) >> 63;
  int ok = (int)(lt_limbs(kl, N) & nonzero);
  sm2_wipe(kl, sizeof kl);
  return ok;
}

int dp_sm2_ifma_usable(void) {
#ifdef DP_HAVE_IFMA
  return dp_x25519_ifma_available();
#else
  return 0;
#endif
}

#ifdef DP_HAVE_IFMA
/* res[0..m) = k·(px, py)[0..m) with the 8-way kernel; a partial last call is padded with lane 0's
 * point (results dropped). */
static void batch_ifma(jac *res, const fe *px, const fe *py, size_t m, const uint8_t k[32]) {
  uint64_t x[8][4], y[8][4], X[8][4], Y[8][4], Z[8][4];
  for (size_t i = 0; i < m; i += 8) {
    size_t lanes = m - i < 8 ? m - i : 8;
    for (size_t j = 0; j < 8; j++) {
      size_t src = i + (j < lanes ? j : 0);
      fe_from_mont(x[j], px[src]);
      fe_from_mont(y[j], py[src]);
    }
    dp_sm2_ifma_mul8(k, (const uint64_t(*)[4])x, (const uint64_t(*)[4])y, X, Y, Z);
    for (size_t j = 0; j < lanes; j++) {
      fe_to_mont(res[i + j].x, X[j]);
      fe_to_mont(res[i + j].y, Y[j]);
      fe_to_mont(res[i + j].z, Z[j]);
    }
  }
  sm2_wipe(X, sizeof X);
  sm2_wipe(Y, sizeof Y);
  sm2_wipe(Z, sizeof Z);
}
#endif

long long dp_sm2_batch(const uint8_t scalar[32], const uint8_t *in, uint8_t *out, size_t n, int wide) {
  uint8_t k[32];
  memcpy(k, scalar, 32);
  (void)wide;
  jac res[SM2_GROUP];
  fe px[SM2_GROUP], py[SM2_GROUP], rhs[SM2_GROUP], prefix[SM2_GROUP];
  long long bad = -1;
  for (size_t g = 0; g < n && bad < 0; g += SM2_GROUP) {
    size_t m = n - g < SM2_GROUP ? n - g : SM2_GROUP;
    /* Decompress: the first half up to the first malformed point, the square roots (eight at a
     * time with IFMA), then the curve check in order, so `bad` is the first invalid index. */
    size_t ok = 0;
    while (ok < m && decompress_begin(px[ok], rhs[ok], in + 33 * (g + ok)) == 0) ok++;
    size_t i = 0;
#ifdef DP_HAVE_IFMA
    if (wide) {
      uint64_t a[8][4], r[8][4];
      for (; i + 8 <= ok; i += 8) {
        for (size_t j = 0; j < 8; j++) fe_from_mont(a[j], rhs[i + j]);
        dp_sm2_ifma_sqrt8((const uint64_t(*)[4])a, r);
        for (size_t j = 0; j < 8; j++) fe_to_mont(py[i + j], r[j]);
      }
    }
#endif
    for (; i < ok; i++) fe_sqrt_candidate(py[i], rhs[i]);
    for (i = 0; i < ok && bad < 0; i++) {
      if (decompress_end(py[i], rhs[i], in[33 * (g + i)]) != 0) bad = (long long)(g + i);
    }
    if (bad < 0 && ok < m) bad = (long long)(g + ok);
    if (bad >= 0) break;
#ifdef DP_HAVE_IFMA
    if (wide && m >= 2) batch_ifma(res, px, py, m, k);
    else
#endif
      for (size_t i = 0; i < m; i++) point_mul(&res[i], px[i], py[i], k);
    /* Montgomery's trick: prefix[i] = z_0 ⋯ z_i, one inversion, then back to each 1/z_i. */
    fe_copy(prefix[0], res[0].z);
    for (size_t i = 1; i < m; i++) fe_mul(prefix[i], prefix[i - 1], res[i].z);
    fe inv, zi, zi2, t;
    fe_invert(inv, prefix[m - 1]);
    for (size_t i = m; i-- > 0;) {
      if (i > 0) {
        fe_mul(zi, inv, prefix[i - 1]);
        fe_mul(inv, inv, res[i].z);
      } else {
        fe_copy(zi, inv);
      }
      fe_sq(zi2, zi);
      fe_mul(t, res[i].x, zi2);
      uint64_t xa[4], ya[4];
      fe_from_mont(xa, t);
      fe_mul(zi2, zi2, zi);
      fe_mul(t, res[i].y, zi2);
      fe_from_mont(ya, t);
      uint8_t *o = out + 33 * (g + i);
      o[0] = (uint8_t)(0x02 | (ya[0] & 1));
      fe_to_bytes_be(o + 1, xa);
    }
  }
  sm2_wipe(k, sizeof k);
  sm2_wipe(res, sizeof res);
  sm2_wipe(prefix, sizeof prefix);
  return bad;
}

/* Hash to curve helper (public data only: the inputs are hashes of keys, mapped to the curve before
 * any secret touches them; so, unlike the multiplication, this branches freely on its values).
 * For each 32-byte big-endian x_i: x = x_i mod p, then while x³ − 3x + b is not a square and fewer
 * than max_inc increments were made, x = x + 1 mod p; out[33i..] = 02 ‖ x (the point with even y;
 * a compressed point needs only y's parity, so the root itself is not kept), or out[33i] = 0 when
 * no abscissa was found. Square roots eight at a time with IFMA when `wide`. Returns how many items
 * were left at 0. The same map as hashToSm2Sm3Tai (max_inc 99) and one try of hashToSm2Sha256Tar
 * (max_inc 0) in src/crypto/sm2/curve.ts, which test/native-sm2.test.ts checks it against. */
size_t dp_sm2_lift_x(const uint8_t *xs, uint8_t *out, size_t n, unsigned max_inc, int wide) {
  fe x[SM2_GROUP], rhs[SM2_GROUP], y[SM2_GROUP];
  size_t idx[SM2_GROUP];
  unsigned tries[SM2_GROUP];
  size_t left = 0;
  (void)wide;
  for (size_t g = 0; g < n; g += SM2_GROUP) {
    size_t m = n - g < SM2_GROUP ? n - g : SM2_GROUP, pending = m;
    for (size_t i = 0; i < m; i++) {
      uint64_t xp[4];
      fe_from_bytes_be(xp, xs + 32 * (g + i));
      if (!lt_limbs(xp, P)) { /* x < 2^256 < 2p: one subtraction reduces it */
        uint64_t borrow = 0;
        for (int l = 0; l < 4; l++) {
          u128 d = (u128)xp[l] - P[l] - borrow;
          xp[l] = (uint64_t)d;
          borrow = (uint64_t)(d >> 64) & 1;
        }
      }
      fe_to_mont(x[i], xp);
      idx[i] = g + i;
      tries[i] = 0;
    }
    while (pending > 0) {
      for (size_t i = 0; i < pending; i++) {
        fe t, three_x;
        fe_sq(t, x[i]);
        fe_mul(rhs[i], t, x[i]);
        fe_add(three_x, x[i], x[i]);
        fe_add(three_x, three_x, x[i]);
        fe_sub(rhs[i], rhs[i], three_x);
        fe_add(rhs[i], rhs[i], B_MONT);
      }
      size_t i = 0;
#ifdef DP_HAVE_IFMA
      if (wide) {
        uint64_t a[8][4], r[8][4];
        for (; i + 8 <= pending; i += 8) {
          for (size_t j = 0; j < 8; j++) fe_from_mont(a[j], rhs[i + j]);
          dp_sm2_ifma_sqrt8((const uint64_t(*)[4])a, r);
          for (size_t j = 0; j < 8; j++) fe_to_mont(y[i + j], r[j]);
        }
      }
#endif
      for (; i < pending; i++) fe_sqrt_candidate(y[i], rhs[i]);
      size_t next = 0;
      for (i = 0; i < pending; i++) {
        fe t;
        fe_sq(t, y[i]);
        uint8_t *o = out + 33 * idx[i];
        if (fe_eq_mask(t, rhs[i])) {
          uint64_t xa[4];
          fe_from_mont(xa, x[i]);
          o[0] = 0x02;
          fe_to_bytes_be(o + 1, xa);
        } else if (tries[i] < max_inc) {
          fe_add(x[next], x[i], ONE); /* x + 1 (ONE is 1 in Montgomery form) */
          idx[next] = idx[i];
          tries[next] = tries[i] + 1;
          next++;
        } else {
          memset(o, 0, 33);
          left++;
        }
      }
      pending = next;
    }
  }
  return left;
}

#ifndef DP_NO_NAPI
/* ---- N-API glue: every argument is checked; errors are plain messages with no data in them. ---- */

static int sm2_get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  napi_typedarray_type type;
  void *ptr = NULL;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &offset) != napi_ok || type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, what);
    return 0;
  }
  *data = ptr;
  return 1;
}

static napi_value sm2_fail(napi_env env) {
  napi_throw_error(env, NULL, "dataport native sm2: N-API failure");
  return NULL;
}

/* sm2MultiplyBatch(scalar: Uint8Array(32), points: Uint8Array(33n), out: Uint8Array(33n), kernel?): number */
static napi_value js_sm2_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return sm2_fail(env);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "sm2MultiplyBatch(scalar, points, out) needs three arguments");
    return NULL;
  }
  uint8_t *scalar, *points, *out;
  size_t scalar_len, points_len, out_len;
  if (!sm2_get_bytes(env, argv[0], &scalar, &scalar_len, "scalar must be a Uint8Array")) return NULL;
  if (!sm2_get_bytes(env, argv[1], &points, &points_len, "points must be a Uint8Array")) return NULL;
  if (!sm2_get_bytes(env, argv[2], &out, &out_len, "out must be a Uint8Array")) return NULL;
  int wide = dp_sm2_ifma_usable();
  if (argc >= 4) {
    napi_valuetype t;
    if (napi_typeof(env, argv[3], &t) != napi_ok) return sm2_fail(env);
    if (t == napi_string) {
      char name[16];
      size_t len = 0;
      if (napi_get_value_string_utf8(env, argv[3], name, sizeof name, &len) != napi_ok) return sm2_fail(env);
      if (strcmp(name, "portable") == 0) wide = 0;
      else if (strcmp(name, "ifma8") == 0 && dp_sm2_ifma_usable()) wide = 1;
      else {
        napi_throw_range_error(env, NULL, "kernel must be one of the SM2 kernels this CPU offers");
        return NULL;
      }
    } else if (t != napi_undefined) {
      napi_throw_type_error(env, NULL, "kernel must be a string");
      return NULL;
    }
  }
  if (scalar_len != 32) {
    napi_throw_range_error(env, NULL, "scalar must be 32 bytes");
    return NULL;
  }
  if (points_len % 33 != 0) {
    napi_throw_range_error(env, NULL, "points length must be a multiple of 33");
    return NULL;
  }
  if (out_len != points_len) {
    napi_throw_range_error(env, NULL, "out must have the length of points");
    return NULL;
  }
  if (points_len > 0 && out != points && out < points + points_len && points < out + out_len) {
    napi_throw_range_error(env, NULL, "out must be points itself or not overlap it");
    return NULL;
  }
  if ((scalar + 32 > points && scalar < points + points_len) || (scalar + 32 > out && scalar < out + out_len)) {
    napi_throw_range_error(env, NULL, "scalar must not overlap points or out");
    return NULL;
  }
  if (!dp_sm2_scalar_ok(scalar)) {
    napi_throw_range_error(env, NULL, "scalar must be in [1, n-1] (big-endian, n the SM2 group order)");
    return NULL;
  }
  long long r = dp_sm2_batch(scalar, points, out, points_len / 33, wide);
  napi_value result;
  if (napi_create_int64(env, r, &result) != napi_ok) return sm2_fail(env);
  return result;
}

/* sm2LiftX(xs: Uint8Array(32n), out: Uint8Array(33n), maxIncrements: number): number (see dp_sm2_lift_x) */
static napi_value js_sm2_lift_x(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return sm2_fail(env);
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "sm2LiftX(xs, out, maxIncrements) needs three arguments");
    return NULL;
  }
  uint8_t *xs, *out;
  size_t xs_len, out_len;
  if (!sm2_get_bytes(env, argv[0], &xs, &xs_len, "xs must be a Uint8Array")) return NULL;
  if (!sm2_get_bytes(env, argv[1], &out, &out_len, "out must be a Uint8Array")) return NULL;
  uint32_t max_inc = 0;
  if (napi_get_value_uint32(env, argv[2], &max_inc) != napi_ok || max_inc > 1000) {
    napi_throw_range_error(env, NULL, "maxIncrements must be an integer in 0..1000");
    return NULL;
  }
  if (xs_len % 32 != 0 || out_len != xs_len / 32 * 33) {
    napi_throw_range_error(env, NULL, "xs must be 32n bytes and out 33n bytes");
    return NULL;
  }
  if (xs_len > 0 && xs < out + out_len && out < xs + xs_len) {
    napi_throw_range_error(env, NULL, "out must not overlap xs");
    return NULL;
  }
  size_t left = dp_sm2_lift_x(xs, out, xs_len / 32, max_inc, dp_sm2_ifma_usable());
  napi_value result;
  if (napi_create_int64(env, (int64_t)left, &result) != napi_ok) return sm2_fail(env);
  return result;
}

int dp_sm2_register(napi_env env, napi_value exports) {
  napi_value fn, kernels, name;
  if (napi_create_function(env, "sm2LiftX", NAPI_AUTO_LENGTH, js_sm2_lift_x, NULL, &fn) != napi_ok) return 0;
  if (napi_set_named_property(env, exports, "sm2LiftX", fn) != napi_ok) return 0;
  if (napi_create_function(env, "sm2MultiplyBatch", NAPI_AUTO_LENGTH, js_sm2_batch, NULL, &fn) != napi_ok) return 0;
  if (napi_set_named_property(env, exports, "sm2MultiplyBatch", fn) != napi_ok) return 0;
  if (napi_create_array(env, &kernels) != napi_ok) return 0;
  uint32_t count = 0;
  if (dp_sm2_ifma_usable()) {
    if (napi_create_string_utf8(env, "ifma8", NAPI_AUTO_LENGTH, &name) != napi_ok || napi_set_element(env, kernels, count++, name) != napi_ok) return 0;
  }
  if (napi_create_string_utf8(env, "portable", NAPI_AUTO_LENGTH, &name) != napi_ok || napi_set_element(env, kernels, count++, name) != napi_ok) return 0;
  return napi_set_named_property(env, exports, "sm2Kernels", kernels) == napi_ok;
}
#endif /* DP_NO_NAPI */
