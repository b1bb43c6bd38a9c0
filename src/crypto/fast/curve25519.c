/*
 * GF(2^255 - 19) arithmetic, the RFC 9380 Elligator 2 map for curve25519 and a Legendre-symbol
 * test, compiled to WebAssembly (scripts/build-wasm.sh). Written for dataport; the representation
 * is the ref10 one (10 signed limbs of alternately 26 and 25 bits, 64-bit products), which suits
 * wasm32: it has 64-bit multiplies but no 64x64->128 multiply.
 *
 * Constant time: the field arithmetic, the map and the cofactor clearing contain no branch and no
 * memory index that depends on field values (loops have public bounds, selections are masks). The
 * only data-dependent control flow is in `legendre_vartime`, which is used for PUBLIC received points
 * only (never for records).
 *
 * Exports (all work on the static buffers below, one call per batch):
 *   io_in()/io_out()/io_chunk(): buffer addresses and the maximum batch size;
 *   map_batch(n):     in  = n x 48-byte big-endian integers (hash_to_field outputs, RFC 9380 §5.2),
 *                     out = n x 32-byte little-endian u of clear_cofactor(map_to_curve(u0));
 *   legendre_batch(n): in = n x 32-byte canonical little-endian u (top bit clear, u < p),
 *                     out = n bytes, 1 if u^3 + A u^2 + u is a square (or zero) in GF(p), else 0.
 */
#include <stdint.h>

typedef int64_t fe[10];

/* -nostdlib: the compiler may still emit calls to memset/memcpy for zeroing or copying arrays. */
__attribute__((no_builtin("memset"))) void *memset(void *dst, int c, __SIZE_TYPE__ n) {
  uint8_t *d = dst;
  for (__SIZE_TYPE__ i = 0; i < n; i++) d[i] = (uint8_t)c;
  return dst;
}
__attribute__((no_builtin("memcpy"))) void *memcpy(void *dst, const void *src, __SIZE_TYPE__ n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (__SIZE_TYPE__ i = 0; i < n; i++) d[i] = s[i];
  return dst;
}

#define CHUNK 1024
static uint8_t in_buf[CHUNK * 48];
static uint8_t out_buf[CHUNK * 32];

__attribute__((export_name("io_in"))) uint8_t *io_in(void) { return in_buf; }
__attribute__((export_name("io_out"))) uint8_t *io_out(void) { return out_buf; }
__attribute__((export_name("io_chunk"))) int io_chunk(void) { return CHUNK; }

/* limb i holds bits [OFF[i], OFF[i] + W[i]) of the integer; W = 26, 25, 26, 25, ... */
static const int W[10] = {26, 25, 26, 25, 26, 25, 26, 25, 26, 25};

static void fe_copy(fe h, const fe f) {
#pragma clang loop unroll(full)
  for (int i = 0; i < 10; i++) h[i] = f[i];
}
static void fe_set_small(fe h, int64_t v) {
  h[0] = v;
#pragma clang loop unroll(full)
  for (int i = 1; i < 10; i++) h[i] = 0;
}
static void fe_add(fe h, const fe f, const fe g) {
#pragma clang loop unroll(full)
  for (int i = 0; i < 10; i++) h[i] = f[i] + g[i];
}
/* f - g; limbs may go negative, which the signed carries of fe_mul/fe_sq absorb. */
static void fe_sub(fe h, const fe f, const fe g) {
#pragma clang loop unroll(full)
  for (int i = 0; i < 10; i++) h[i] = f[i] - g[i];
}

/*
 * Reduces the limbs after a product (or any sum of a few products) to |h[i]| <= 2^25 or 2^24 plus
 * a little: rounding carries (so limbs are signed), interleaved in two chains for speed; the carry
 * out of limb 9 re-enters limb 0 times 19 because 2^255 = 19 (mod p).
 */
static inline int64_t carry_at(int64_t *h, int i) {
  const int w = W[i];
  const int64_t c = (h[i] + ((int64_t)1 << (w - 1))) >> w; /* arithmetic shift (clang) */
  h[i] -= c * ((int64_t)1 << w);
  return c;
}
static void fe_carry(fe h) {
  int64_t c;
  c = carry_at(h, 0); h[1] += c;
  c = carry_at(h, 4); h[5] += c;
  c = carry_at(h, 1); h[2] += c;
  c = carry_at(h, 5); h[6] += c;
  c = carry_at(h, 2); h[3] += c;
  c = carry_at(h, 6); h[7] += c;
  c = carry_at(h, 3); h[4] += c;
  c = carry_at(h, 7); h[8] += c;
  c = carry_at(h, 4); h[5] += c;
  c = carry_at(h, 8); h[9] += c;
  c = carry_at(h, 9); h[0] += 19 * c;
  c = carry_at(h, 0); h[1] += c;
}

/*
 * h = f * g. Limb i has weight 2^ceil(25.5 i); when i and j are both odd the product has weight
 * 2^(ceil(25.5(i+j)) + 1), hence the factor 2; terms with i + j >= 10 wrap with factor 19.
 * Written out term by term (generated once, then kept as source) so that clang keeps all limbs in
 * wasm locals. Bounds: carried limbs are below 2^25 in absolute value, so even after one unreduced
 * addition (2^26) every product is below 2^26 * 2 * 19 * 2^26 < 2^58 and every column below 2^62.
 */
static void fe_mul(fe h, const fe f, const fe g) {
  const int64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4], f5 = f[5], f6 = f[6], f7 = f[7], f8 = f[8], f9 = f[9];
  const int64_t g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3], g4 = g[4], g5 = g[5], g6 = g[6], g7 = g[7], g8 = g[8], g9 = g[9];
  const int64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4, g5_19 = 19 * g5, g6_19 = 19 * g6, g7_19 = 19 * g7, g8_19 = 19 * g8, g9_19 = 19 * g9;
  const int64_t f1_2 = 2 * f1, f3_2 = 2 * f3, f5_2 = 2 * f5, f7_2 = 2 * f7, f9_2 = 2 * f9;
  int64_t h0 = f0 * g0 + f1_2 * g9_19 + f2 * g8_19 + f3_2 * g7_19 + f4 * g6_19 + f5_2 * g5_19 + f6 * g4_19 + f7_2 * g3_19 + f8 * g2_19 + f9_2 * g1_19;
  int64_t h1 = f0 * g1 + f1 * g0 + f2 * g9_19 + f3 * g8_19 + f4 * g7_19 + f5 * g6_19 + f6 * g5_19 + f7 * g4_19 + f8 * g3_19 + f9 * g2_19;
  int64_t h2 = f0 * g2 + f1_2 * g1 + f2 * g0 + f3_2 * g9_19 + f4 * g8_19 + f5_2 * g7_19 + f6 * g6_19 + f7_2 * g5_19 + f8 * g4_19 + f9_2 * g3_19;
  int64_t h3 = f0 * g3 + f1 * g2 + f2 * g1 + f3 * g0 + f4 * g9_19 + f5 * g8_19 + f6 * g7_19 + f7 * g6_19 + f8 * g5_19 + f9 * g4_19;
  int64_t h4 = f0 * g4 + f1_2 * g3 + f2 * g2 + f3_2 * g1 + f4 * g0 + f5_2 * g9_19 + f6 * g8_19 + f7_2 * g7_19 + f8 * g6_19 + f9_2 * g5_19;
  int64_t h5 = f0 * g5 + f1 * g4 + f2 * g3 + f3 * g2 + f4 * g1 + f5 * g0 + f6 * g9_19 + f7 * g8_19 + f8 * g7_19 + f9 * g6_19;
  int64_t h6 = f0 * g6 + f1_2 * g5 + f2 * g4 + f3_2 * g3 + f4 * g2 + f5_2 * g1 + f6 * g0 + f7_2 * g9_19 + f8 * g8_19 + f9_2 * g7_19;
  int64_t h7 = f0 * g7 + f1 * g6 + f2 * g5 + f3 * g4 + f4 * g3 + f5 * g2 + f6 * g1 + f7 * g0 + f8 * g9_19 + f9 * g8_19;
  int64_t h8 = f0 * g8 + f1_2 * g7 + f2 * g6 + f3_2 * g5 + f4 * g4 + f5_2 * g3 + f6 * g2 + f7_2 * g1 + f8 * g0 + f9_2 * g9_19;
  int64_t h9 = f0 * g9 + f1 * g8 + f2 * g7 + f3 * g6 + f4 * g5 + f5 * g4 + f6 * g3 + f7 * g2 + f8 * g1 + f9 * g0;
  h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4;
  h[5] = h5; h[6] = h6; h[7] = h7; h[8] = h8; h[9] = h9;
  fe_carry(h);
}

/* h = f^2: the 55 distinct products f_i f_j (i <= j) with the coefficients 2 (i != j), 2 (both odd)
 * and 19 (wrap) folded into precomputed multiples. Column bound as for fe_mul. */
static void fe_sq(fe h, const fe f) {
  const int64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4], f5 = f[5], f6 = f[6], f7 = f[7], f8 = f[8], f9 = f[9];
  const int64_t f1_2 = 2 * f1, f2_2 = 2 * f2, f3_2 = 2 * f3, f3_4 = 4 * f3, f4_2 = 2 * f4, f5_2 = 2 * f5, f5_4 = 4 * f5, f5_38 = 38 * f5, f6_2 = 2 * f6, f6_19 = 19 * f6, f6_38 = 38 * f6, f7_2 = 2 * f7, f7_4 = 4 * f7, f7_38 = 38 * f7, f7_76 = 76 * f7, f8_2 = 2 * f8, f8_19 = 19 * f8, f8_38 = 38 * f8, f9_2 = 2 * f9, f9_38 = 38 * f9, f9_76 = 76 * f9;
  int64_t h0 = f0 * f0 + f1 * f9_76 + f2 * f8_38 + f3 * f7_76 + f4 * f6_38 + f5 * f5_38;
  int64_t h1 = f0 * f1_2 + f2 * f9_38 + f3 * f8_38 + f4 * f7_38 + f5 * f6_38;
  int64_t h2 = f0 * f2_2 + f1 * f1_2 + f3 * f9_76 + f4 * f8_38 + f5 * f7_76 + f6 * f6_19;
  int64_t h3 = f0 * f3_2 + f1 * f2_2 + f4 * f9_38 + f5 * f8_38 + f6 * f7_38;
  int64_t h4 = f0 * f4_2 + f1 * f3_4 + f2 * f2 + f5 * f9_76 + f6 * f8_38 + f7 * f7_38;
  int64_t h5 = f0 * f5_2 + f1 * f4_2 + f2 * f3_2 + f6 * f9_38 + f7 * f8_38;
  int64_t h6 = f0 * f6_2 + f1 * f5_4 + f2 * f4_2 + f3 * f3_2 + f7 * f9_76 + f8 * f8_19;
  int64_t h7 = f0 * f7_2 + f1 * f6_2 + f2 * f5_2 + f3 * f4_2 + f8 * f9_38;
  int64_t h8 = f0 * f8_2 + f1 * f7_4 + f2 * f6_2 + f3 * f5_4 + f4 * f4 + f9 * f9_38;
  int64_t h9 = f0 * f9_2 + f1 * f8_2 + f2 * f7_2 + f3 * f6_2 + f4 * f5_2;
  h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4;
  h[5] = h5; h[6] = h6; h[7] = h7; h[8] = h8; h[9] = h9;
  fe_carry(h);
}

static void fe_sqn(fe h, const fe f, int n) {
  fe_sq(h, f);
  for (int i = 1; i < n; i++) fe_sq(h, h);
}

/* h = f * c for a small constant c (|c| < 2^31). */
static void fe_mul_small(fe h, const fe f, int64_t c) {
#pragma clang loop unroll(full)
  for (int i = 0; i < 10; i++) h[i] = f[i] * c;
  fe_carry(h);
}

/* out = z^((p-5)/8) = z^(2^252 - 3): 252 squarings and 11 multiplications (public exponent). */
static void fe_pow22523(fe out, const fe z) {
  fe t0, t1, t2;
  fe_sq(t0, z);                 /* 2 */
  fe_sqn(t1, t0, 2);            /* 8 */
  fe_mul(t1, z, t1);            /* 9 */
  fe_mul(t0, t0, t1);           /* 11 */
  fe_sq(t0, t0);                /* 22 */
  fe_mul(t0, t1, t0);           /* 2^5 - 1 */
  fe_sqn(t1, t0, 5);
  fe_mul(t0, t1, t0);           /* 2^10 - 1 */
  fe_sqn(t1, t0, 10);
  fe_mul(t1, t1, t0);           /* 2^20 - 1 */
  fe_sqn(t2, t1, 20);
  fe_mul(t1, t2, t1);           /* 2^40 - 1 */
  fe_sqn(t1, t1, 10);
  fe_mul(t0, t1, t0);           /* 2^50 - 1 */
  fe_sqn(t1, t0, 50);
  fe_mul(t1, t1, t0);           /* 2^100 - 1 */
  fe_sqn(t2, t1, 100);
  fe_mul(t1, t2, t1);           /* 2^200 - 1 */
  fe_sqn(t1, t1, 50);
  fe_mul(t0, t1, t0);           /* 2^250 - 1 */
  fe_sqn(t0, t0, 2);            /* 2^252 - 4 */
  fe_mul(out, t0, z);           /* 2^252 - 3 */
}

/*
 * Canonical 32-byte little-endian encoding (the unique representative in [0, p)). ref10's freeze:
 * after a carry, q = floor((h + 19) / 2^255) is 0 or 1 and h - q p = h + 19 q - q 2^255.
 */
static void fe_tobytes(uint8_t s[32], const fe f) {
  fe h;
  fe_copy(h, f);
  fe_carry(h);
  int64_t q = (19 * h[9] + ((int64_t)1 << 24)) >> 25;
#pragma clang loop unroll(full)
  for (int i = 0; i < 10; i++) q = (h[i] + q) >> W[i];
  h[0] += 19 * q;
  int64_t c;
#pragma clang loop unroll(full)
  for (int i = 0; i < 9; i++) {
    c = h[i] >> W[i];
    h[i + 1] += c;
    h[i] -= c * ((int64_t)1 << W[i]);
  }
  c = h[9] >> 25;
  h[9] -= c * ((int64_t)1 << 25);
  uint64_t acc = 0;
  int bits = 0, k = 0;
#pragma clang loop unroll(full)
  for (int i = 0; i < 10; i++) {
    acc |= (uint64_t)h[i] << bits;
    bits += W[i];
    while (bits >= 8) { s[k++] = (uint8_t)acc; acc >>= 8; bits -= 8; }
  }
  s[31] = (uint8_t)acc;
}

/* Loads 255 bits of a little-endian string (the top bit of s[31] is ignored). */
static void fe_frombytes(fe h, const uint8_t s[32]) {
  uint64_t acc = 0;
  int bits = 0, k = 0;
#pragma clang loop unroll(full)
  for (int i = 0; i < 10; i++) {
    while (bits < W[i]) { acc |= (uint64_t)(k < 32 ? s[k] : 0) << bits; k++; bits += 8; }
    h[i] = (int64_t)(acc & ((1u << W[i]) - 1));
    acc >>= W[i];
    bits -= W[i];
  }
  /* bit 255 is what remains in acc: dropped */
}

/* 1 if f = 0 (mod p), else 0; constant time. */
static int64_t fe_iszero(const fe f) {
  uint8_t s[32];
  fe_tobytes(s, f);
  uint32_t d = 0;
  for (int i = 0; i < 32; i++) d |= s[i];
  return (int64_t)((d - 1) >> 31); /* d in [0, 255]: d - 1 has its top bit set iff d == 0 */
}

/* 1 if f = 1 (mod p), else 0; constant time. */
static int64_t fe_isone(const fe f) {
  uint8_t s[32];
  fe_tobytes(s, f);
  uint32_t d = s[0] ^ 1u;
  for (int i = 1; i < 32; i++) d |= s[i];
  return (int64_t)((d - 1) >> 31);
}

/* h = b ? g : f, for b in {0, 1}, with a mask instead of a branch. */
static void fe_select(fe h, const fe f, const fe g, int64_t b) {
  const int64_t mask = -b;
#pragma clang loop unroll(full)
  for (int i = 0; i < 10; i++) h[i] = f[i] ^ ((f[i] ^ g[i]) & mask);
}

/*
 * x-only doubling on v^2 = u^3 + A u^2 + u in projective (X : Z) form (RFC 7748 §5 ladder step,
 * doubling half): X' = (X+Z)^2 (X-Z)^2, Z' = E ((X-Z)^2 + a24 E) with E = (X+Z)^2 - (X-Z)^2 = 4XZ
 * and a24 = (A + 2) / 4 = 121666. The point at infinity is (X : 0) and stays there.
 */
static void xdbl(fe X, fe Z) {
  fe s, d, ss, dd, e, t;
  fe_add(s, X, Z);
  fe_sub(d, X, Z);
  fe_sq(ss, s);
  fe_sq(dd, d);
  fe_mul(X, ss, dd);
  fe_sub(e, ss, dd);
  fe_mul_small(t, e, 121666);
  fe_add(t, t, dd);
  fe_mul(Z, e, t);
}

#define J 486662

/*
 * u = x(clear_cofactor(map_to_curve_elligator2(u0))) for curve25519 (RFC 9380 §6.7.1, Z = 2,
 * J = A = 486662, K = 1; h_eff = 8), as a canonical 32-byte little-endian string. Only the
 * u-coordinate is needed, so y is never computed:
 *
 *   d  = 1 + 2 u0^2, never 0 because -1/2 is not a square mod p (2 is not, -1 is);
 *   x1 = -J / d,  x2 = -x1 - J = -2 J u0^2 / d;  g(x) = x^3 + J x^2 + x;
 *   g(x1) = gn / d^3 with gn = x1n (x1n^2 + J x1n d + d^2), x1n = -J, and gn != 0 since the only
 *   root of g in GF(p) is 0 (A^2 - 4 is not a square): so chi(g(x1)) = chi(gn d);
 *   choose x1 iff g(x1) is square, else x2 (RFC 9380 step 5-6; for u0 = 0 both candidates coincide
 *   in the test and x1 is chosen iff g(-J) is square, exactly as the RFC's straight-line code).
 *
 * Both candidates are multiplied by 8 with three x-only doublings from (xn : d) (no inversion).
 * Then ONE exponentiation does the rest: with Zk' = Zk + [Zk = 0] (never 0) and
 * w = gn d (Z1' Z2')^2, t = w^((p-5)/8) gives chi(w) = t^4 w^2 = chi(gn d) and
 * 1/w = t^8 w^3 (exponents (p-1)/2 and p-2), hence 1/(Z1' Z2') = (1/w) gn d Z1' Z2' and the
 * inverse of each Zk'. A candidate whose Zk was 0 is the point at infinity (8 Q = O, only when
 * Q is a torsion point), encoded u = 0 per RFC 7748; the [Zk != 0] factor makes that so.
 * Everything is straight-line: the selection is a mask.
 */
static void map_to_u(uint8_t out[32], const fe u0) {
  fe u2, d, x1n, x2n, t, gn, X1, Z1, X2, Z2, w, r, r2, r4, r8, chi, winv, inv12, inv1, inv2, U1, U2, U;
  fe_sq(u2, u0);
  fe_add(d, u2, u2);
  d[0] += 1;
  fe_carry(d);
  fe_set_small(x1n, -J);
  fe_mul_small(x2n, u2, -2 * (int64_t)J);

  /* gn = x1n (x1n^2 + J x1n d + d^2) = -J (J^2 - J^2 d + d^2) */
  fe_sq(t, d);                               /* d^2 */
  {
    /* J^2 = 236839902244, too large for fe_mul_small's |c| < 2^31: multiply by J twice */
    fe jd;
    fe_mul_small(jd, d, J);
    fe_mul_small(jd, jd, J);                 /* J^2 d */
    fe_sub(gn, t, jd);                       /* d^2 - J^2 d */
    gn[0] += (int64_t)J * J;                 /* + J^2 (a 38-bit constant in limb 0; carried next) */
    fe_carry(gn);
    fe_mul_small(gn, gn, -(int64_t)J);
  }

  fe_copy(X1, x1n); fe_copy(Z1, d);
  fe_copy(X2, x2n); fe_copy(Z2, d);
  for (int i = 0; i < 3; i++) { xdbl(X1, Z1); xdbl(X2, Z2); }

  const int64_t z1zero = fe_iszero(Z1), z2zero = fe_iszero(Z2);
  Z1[0] += z1zero; fe_carry(Z1);
  Z2[0] += z2zero; fe_carry(Z2);

  fe z12, gd;
  fe_mul(z12, Z1, Z2);
  fe_mul(gd, gn, d);
  fe_sq(t, z12);
  fe_mul(w, gd, t);

  fe_pow22523(r, w);
  fe_sq(r2, r);
  fe_sq(r4, r2);
  fe_sq(t, w);
  fe_mul(chi, r4, t);                        /* w^((p-1)/2) = +1 or -1 */
  fe_sq(r8, r4);
  fe_mul(t, t, w);                           /* w^3 */
  fe_mul(winv, r8, t);                       /* w^(p-2) */

  fe_mul(t, winv, gd);
  fe_mul(inv12, t, z12);                     /* 1 / (Z1' Z2') */
  fe_mul(inv1, inv12, Z2);
  fe_mul(inv2, inv12, Z1);
  fe_mul(U1, X1, inv1);
  fe_mul_small(U1, U1, 1 - z1zero);
  fe_mul(U2, X2, inv2);
  fe_mul_small(U2, U2, 1 - z2zero);

  const int64_t e1 = fe_isone(chi);          /* g(x1) is a square: choose x1 */
  fe_select(U, U2, U1, e1);
  fe_tobytes(out, U);
}

/*
 * Loads a 48-byte big-endian integer N (hash_to_field's OS2IP, RFC 9380 §5.2) reduced mod p:
 * N = H 2^256 + L with H < 2^128, L < 2^256, and 2^256 = 38, 2^255 = 19 (mod p).
 */
static void fe_from_be48(fe h, const uint8_t *s) {
  uint8_t lo[32], hi[32];
  for (int i = 0; i < 32; i++) lo[i] = s[47 - i];
  for (int i = 0; i < 16; i++) hi[i] = s[15 - i];
  for (int i = 16; i < 32; i++) hi[i] = 0;
  fe l, hh;
  fe_frombytes(l, lo);
  fe_frombytes(hh, hi);
  const int64_t top = lo[31] >> 7;
  fe_mul_small(hh, hh, 38);
  fe_add(h, l, hh);
  h[0] += 19 * top;
  fe_carry(h);
}

__attribute__((export_name("map_batch"))) void map_batch(int n) {
  if (n < 0 || n > CHUNK) return;
  for (int i = 0; i < n; i++) {
    fe u0;
    fe_from_be48(u0, in_buf + 48 * i);
    map_to_u(out_buf + 32 * i, u0);
  }
}

/* ---- Legendre symbol of public values (variable time) ---- */

static int is_zero4(const uint64_t a[4]) { return (a[0] | a[1] | a[2] | a[3]) == 0; }

/* -1 if a < b, 0 if equal, 1 if a > b */
static int cmp4(const uint64_t a[4], const uint64_t b[4]) {
  for (int i = 3; i >= 0; i--) {
    if (a[i] < b[i]) return -1;
    if (a[i] > b[i]) return 1;
  }
  return 0;
}

static void sub4(uint64_t a[4], const uint64_t b[4]) {
  uint64_t borrow = 0;
  for (int i = 0; i < 4; i++) {
    const uint64_t x = a[i], y = b[i];
    const uint64_t d = x - y - borrow;
    borrow = (x < y) | ((x == y) & borrow);
    a[i] = d;
  }
}

/* a >>= s for 0 < s < 64 */
static void shr4(uint64_t a[4], int s) {
  a[0] = (a[0] >> s) | (a[1] << (64 - s));
  a[1] = (a[1] >> s) | (a[2] << (64 - s));
  a[2] = (a[2] >> s) | (a[3] << (64 - s));
  a[3] = a[3] >> s;
}

/*
 * Jacobi symbol (a / n) for odd n by the binary algorithm: strip factors of 2 ((2/n) = -1 iff
 * n = 3, 5 mod 8), make a >= n by swapping with quadratic reciprocity (sign flips iff
 * a = n = 3 mod 4), subtract (a - n is even). Each round removes at least one bit, so at most
 * ~510 rounds. Variable time: PUBLIC inputs only.
 */
static int jacobi_vartime(uint64_t a[4], uint64_t n[4]) {
  int t = 1;
  for (;;) {
    if (is_zero4(a)) return (n[0] == 1 && (n[1] | n[2] | n[3]) == 0) ? t : 0;
    while (a[0] == 0) { a[0] = a[1]; a[1] = a[2]; a[2] = a[3]; a[3] = 0; /* 64 twos: even count */ }
    const int tz = __builtin_ctzll(a[0]);
    if (tz != 0) {
      shr4(a, tz);
      const uint64_t r = n[0] & 7;
      if ((tz & 1) && (r == 3 || r == 5)) t = -t;
    }
    if (cmp4(a, n) < 0) {
      uint64_t tmp;
      for (int i = 0; i < 4; i++) { tmp = a[i]; a[i] = n[i]; n[i] = tmp; }
      if ((a[0] & 3) == 3 && (n[0] & 3) == 3) t = -t;
    }
    sub4(a, n);
  }
}

static void load4(uint64_t w[4], const uint8_t s[32]) {
  for (int i = 0; i < 4; i++) {
    uint64_t v = 0;
    for (int j = 7; j >= 0; j--) v = (v << 8) | s[8 * i + j];
    w[i] = v;
  }
}

static const uint64_t P4[4] = {0xffffffffffffffedull, 0xffffffffffffffffull, 0xffffffffffffffffull,
                               0x7fffffffffffffffull};

__attribute__((export_name("legendre_batch"))) void legendre_batch(int n) {
  if (n < 0 || n > CHUNK) return;
  for (int i = 0; i < n; i++) {
    fe u, u2, g;
    uint8_t s[32];
    fe_frombytes(u, in_buf + 32 * i);
    /* g(u) = u (u^2 + A u + 1) = u ((u + A) u + 1) */
    fe_copy(g, u);
    g[0] += J;
    fe_carry(g);
    fe_mul(u2, g, u);
    u2[0] += 1;
    fe_mul(g, u2, u);
    fe_tobytes(s, g);
    uint64_t a[4], m[4];
    load4(a, s);
    for (int k = 0; k < 4; k++) m[k] = P4[k];
    out_buf[i] = jacobi_vartime(a, m) >= 0 ? 1 : 0;
  }
}

/* Same answer by Euler's criterion through the constant-time exponentiation (cross-check). */
__attribute__((export_name("legendre_batch_ct"))) void legendre_batch_ct(int n) {
  if (n < 0 || n > CHUNK) return;
  for (int i = 0; i < n; i++) {
    fe u, u2, g, r, t;
    fe_frombytes(u, in_buf + 32 * i);
    fe_copy(g, u);
    g[0] += J;
    fe_carry(g);
    fe_mul(u2, g, u);
    u2[0] += 1;
    fe_mul(g, u2, u);
    fe_pow22523(r, g);
    fe_sq(r, r);
    fe_sq(r, r);
    fe_sq(t, g);
    fe_mul(r, r, t);
    out_buf[i] = (uint8_t)(fe_isone(r) | fe_iszero(g));
  }
}
