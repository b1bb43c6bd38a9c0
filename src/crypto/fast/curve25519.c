/*
 * RFC 9380 encode_to_curve for curve25519_XMD:SHA-512_ELL2_NU_ (SHA-512, expand_message_xmd,
 * GF(2^255 - 19) arithmetic, the Elligator 2 map, cofactor clearing) and a Legendre-symbol test for
 * received points, and the HKDF-SHA-512 truncation of ECDH-PSI round-2 values, compiled to WebAssembly (scripts/build-wasm.sh). Written for dataport; the representation
 * is the ref10 one (10 signed limbs of alternately 26 and 25 bits, 64-bit products), which suits
 * wasm32: it has 64-bit multiplies but no 64x64->128 multiply.
 *
 * Constant time: SHA-512, the field arithmetic, the map and the cofactor clearing contain no branch
 * and no memory index that depends on secret values (loops have public bounds or depend on message
 * LENGTHS only, selections are masks; wasm's i64.mul is a single constant-time multiply on the
 * 64-bit engines we target). The only value-dependent control flow is in `jacobi_vartime`, used for
 * PUBLIC received points only (never for records).
 *
 * Exports (all work on the static buffers below; one call per batch; memory never grows):
 *   io_in()/io_out()/io_chunk()/io_msg()/io_msg_cap()/io_lens()/io_dst(): buffer addresses and sizes;
 *   xmd_begin(dst_len), xmd_prefix(len), xmd_many(count, first), xmd_start/xmd_update/xmd_finish:
 *                     expand_message_xmd with SHA-512 to 48 bytes (hash_to_field, RFC 9380 §5.2-5.3)
 *                     of prefix || message, written to io_in();
 *   map_batch(n):     in  = n x 48-byte big-endian integers (hash_to_field outputs),
 *                     out = n x 32-byte little-endian u of clear_cofactor(map_to_curve(u0));
 *   legendre_batch(n): in = n x 32-byte canonical little-endian u (top bit clear, u < p),
 *                     out = n bytes, 1 if u^3 + A u^2 + u is a square (or zero) in GF(p), else 0
 *                     (legendre_batch_ct: the same by exponentiation, for cross-checks);
 *   hkdf_begin(info_len), hkdf_batch(n, out_len): HKDF-SHA-512 (RFC 5869, no salt, info from
 *                     io_dst()) of n x 32-byte IKMs at io_in(), n x out_len bytes to io_out();
 *   wipe(msg_bytes, items): zeroes record-derived state after a batch.
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
 *   choose x1 iff g(x1) is square, else x2 (RFC 9380 §6.7.1 steps 5-6; y and its sign do not
 *   affect u). Edge case u0 = 0: d = 1, x1 = -J, g(-J) = -J is not a square, so x2 = 0 is chosen,
 *   the point (0, 0) of order 2, and the output is u = 0 (the identity), as in the RFC.
 *
 * Both candidates are multiplied by 8 with three x-only doublings from (xn : d) (no inversion).
 * Then ONE exponentiation does the rest: with Zk' = Zk + [Zk = 0] (never 0) and
 * w = gn d (Z1' Z2')^2, t = w^((p-5)/8) gives chi(w) = t^4 w^2 = chi(gn d) and
 * 1/w = t^8 w^3 (exponents (p-1)/2 and p-2), hence 1/(Z1' Z2') = (1/w) gn d Z1' Z2' and the
 * inverse of each Zk'. A candidate whose Zk was 0 is the point at infinity (8 Q = O, only when
 * Q is a torsion point), encoded u = 0 per RFC 7748; the [Zk != 0] factor makes that so. Only
 * u0 = 0 and the u0 with x1 = 1 or x2 = 1 (the order-4 point; tests reach both) get there; the
 * substitution Zk' keeps w invertible even if the discarded (twist) candidate were a torsion point.
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
 * N = H 2^255 + L with L < 2^255 and H = N >> 255 < 2^129, and 2^255 = 19 (mod p). The split is
 * done with constant shifts on bytes (testing bit 255 and adding 19 would let the compiler emit a
 * select on a value derived from the record).
 */
static void fe_from_be48(fe h, const uint8_t *s) {
  uint8_t lo[32], hi[32], top[16];
  for (int i = 0; i < 32; i++) lo[i] = s[47 - i];  /* low 256 bits, little-endian */
  for (int i = 0; i < 16; i++) top[i] = s[15 - i]; /* N >> 256, little-endian */
  hi[0] = (uint8_t)((top[0] << 1) | (lo[31] >> 7));
  for (int i = 1; i < 16; i++) hi[i] = (uint8_t)((top[i] << 1) | (top[i - 1] >> 7));
  hi[16] = (uint8_t)(top[15] >> 7);
  for (int i = 17; i < 32; i++) hi[i] = 0;
  fe l, hh;
  fe_frombytes(l, lo); /* ignores bit 255 */
  fe_frombytes(hh, hi);
  fe_mul_small(hh, hh, 19);
  fe_add(h, l, hh);
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

/* ---- SHA-512 (FIPS 180-4) and expand_message_xmd for len_in_bytes = 48 (RFC 9380 §5.3.1) ----
 *
 * Records are hashed here rather than in JS: the JS SHA-512 of browsers (@noble/hashes) costs
 * several times the whole map, and node:crypto's per-call overhead is about as large as the wasm
 * compression itself. The state after Z_pad || prefix (prefix = the session's ekm) is computed once
 * per batch and copied per record. Straight-line code: only message LENGTHS (public) steer control
 * flow, never message bytes.
 */

#define MSG_CAP 32768
static uint8_t msg_buf[MSG_CAP];
static uint32_t len_buf[CHUNK];
static uint8_t dst_buf[256];

__attribute__((export_name("io_msg"))) uint8_t *io_msg(void) { return msg_buf; }
__attribute__((export_name("io_msg_cap"))) int io_msg_cap(void) { return MSG_CAP; }
__attribute__((export_name("io_lens"))) uint32_t *io_lens(void) { return len_buf; }
__attribute__((export_name("io_dst"))) uint8_t *io_dst(void) { return dst_buf; }

/* Round constants and initial value: the first 64 bits of the fractional parts of the cube roots
 * of the first 80 primes and of the square roots of the first 8 primes (FIPS 180-4 §4.2.3, §5.3.5);
 * recomputed from that definition when this file was written, and checked by the test vectors. */
static const uint64_t K512[80] = {
    0x428a2f98d728ae22ull, 0x7137449123ef65cdull, 0xb5c0fbcfec4d3b2full, 0xe9b5dba58189dbbcull,
    0x3956c25bf348b538ull, 0x59f111f1b605d019ull, 0x923f82a4af194f9bull, 0xab1c5ed5da6d8118ull,
    0xd807aa98a3030242ull, 0x12835b0145706fbeull, 0x243185be4ee4b28cull, 0x550c7dc3d5ffb4e2ull,
    0x72be5d74f27b896full, 0x80deb1fe3b1696b1ull, 0x9bdc06a725c71235ull, 0xc19bf174cf692694ull,
    0xe49b69c19ef14ad2ull, 0xefbe4786384f25e3ull, 0x0fc19dc68b8cd5b5ull, 0x240ca1cc77ac9c65ull,
    0x2de92c6f592b0275ull, 0x4a7484aa6ea6e483ull, 0x5cb0a9dcbd41fbd4ull, 0x76f988da831153b5ull,
    0x983e5152ee66dfabull, 0xa831c66d2db43210ull, 0xb00327c898fb213full, 0xbf597fc7beef0ee4ull,
    0xc6e00bf33da88fc2ull, 0xd5a79147930aa725ull, 0x06ca6351e003826full, 0x142929670a0e6e70ull,
    0x27b70a8546d22ffcull, 0x2e1b21385c26c926ull, 0x4d2c6dfc5ac42aedull, 0x53380d139d95b3dfull,
    0x650a73548baf63deull, 0x766a0abb3c77b2a8ull, 0x81c2c92e47edaee6ull, 0x92722c851482353bull,
    0xa2bfe8a14cf10364ull, 0xa81a664bbc423001ull, 0xc24b8b70d0f89791ull, 0xc76c51a30654be30ull,
    0xd192e819d6ef5218ull, 0xd69906245565a910ull, 0xf40e35855771202aull, 0x106aa07032bbd1b8ull,
    0x19a4c116b8d2d0c8ull, 0x1e376c085141ab53ull, 0x2748774cdf8eeb99ull, 0x34b0bcb5e19b48a8ull,
    0x391c0cb3c5c95a63ull, 0x4ed8aa4ae3418acbull, 0x5b9cca4f7763e373ull, 0x682e6ff3d6b2b8a3ull,
    0x748f82ee5defb2fcull, 0x78a5636f43172f60ull, 0x84c87814a1f0ab72ull, 0x8cc702081a6439ecull,
    0x90befffa23631e28ull, 0xa4506cebde82bde9ull, 0xbef9a3f7b2c67915ull, 0xc67178f2e372532bull,
    0xca273eceea26619cull, 0xd186b8c721c0c207ull, 0xeada7dd6cde0eb1eull, 0xf57d4f7fee6ed178ull,
    0x06f067aa72176fbaull, 0x0a637dc5a2c898a6ull, 0x113f9804bef90daeull, 0x1b710b35131c471bull,
    0x28db77f523047d84ull, 0x32caab7b40c72493ull, 0x3c9ebe0a15c9bebcull, 0x431d67c49c100d4cull,
    0x4cc5d4becb3e42b6ull, 0x597f299cfc657e2aull, 0x5fcb6fab3ad6faecull, 0x6c44198c4a475817ull,
};
static const uint64_t IV512[8] = {
    0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull, 0x3c6ef372fe94f82bull, 0xa54ff53a5f1d36f1ull,
    0x510e527fade682d1ull, 0x9b05688c2b3e6c1full, 0x1f83d9abfb41bd6bull, 0x5be0cd19137e2179ull
};

typedef struct {
  uint64_t h[8];
  uint64_t total; /* bytes absorbed */
  uint32_t n;     /* bytes pending in buf */
  uint8_t buf[128];
} sha512_ctx;

static inline uint64_t ror64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

static void sha512_block(uint64_t st[8], const uint8_t *p) {
  uint64_t w[16];
#pragma clang loop unroll(full)
  for (int i = 0; i < 16; i++) {
    uint64_t v = 0;
#pragma clang loop unroll(full)
    for (int j = 0; j < 8; j++) v = (v << 8) | p[8 * i + j];
    w[i] = v;
  }
  uint64_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
#pragma clang loop unroll(full)
  for (int t = 0; t < 80; t++) {
    uint64_t wt;
    if (t < 16) {
      wt = w[t];
    } else {
      const uint64_t x = w[(t - 15) & 15], y = w[(t - 2) & 15];
      const uint64_t s0 = ror64(x, 1) ^ ror64(x, 8) ^ (x >> 7);
      const uint64_t s1 = ror64(y, 19) ^ ror64(y, 61) ^ (y >> 6);
      wt = w[t & 15] = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
    }
    const uint64_t t1 = h + (ror64(e, 14) ^ ror64(e, 18) ^ ror64(e, 41)) + ((e & f) ^ (~e & g)) + K512[t] + wt;
    const uint64_t t2 = (ror64(a, 28) ^ ror64(a, 34) ^ ror64(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  st[0] += a; st[1] += b; st[2] += c; st[3] += d; st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

static void sha512_init(sha512_ctx *c) {
  for (int i = 0; i < 8; i++) c->h[i] = IV512[i];
  c->total = 0;
  c->n = 0;
}

static void sha512_update(sha512_ctx *c, const uint8_t *p, uint32_t len) {
  c->total += len;
  if (c->n != 0) {
    uint32_t take = 128 - c->n;
    if (take > len) take = len;
    for (uint32_t i = 0; i < take; i++) c->buf[c->n + i] = p[i];
    c->n += take; p += take; len -= take;
    if (c->n < 128) return;
    sha512_block(c->h, c->buf);
    c->n = 0;
  }
  while (len >= 128) { sha512_block(c->h, p); p += 128; len -= 128; }
  for (uint32_t i = 0; i < len; i++) c->buf[i] = p[i];
  c->n = len;
}

static void sha512_final(sha512_ctx *c, uint8_t out[64]) {
  const uint64_t bits = c->total * 8; /* total < 2^61 bytes: the high 64 bits of the length are 0 */
  c->buf[c->n++] = 0x80;
  if (c->n > 112) {
    while (c->n < 128) c->buf[c->n++] = 0;
    sha512_block(c->h, c->buf);
    c->n = 0;
  }
  while (c->n < 120) c->buf[c->n++] = 0;
  for (int i = 0; i < 8; i++) c->buf[120 + i] = (uint8_t)(bits >> (56 - 8 * i));
  sha512_block(c->h, c->buf);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) out[8 * i + j] = (uint8_t)(c->h[i] >> (56 - 8 * j));
}

static void ctx_copy(sha512_ctx *to, const sha512_ctx *from) {
  for (int i = 0; i < 8; i++) to->h[i] = from->h[i];
  to->total = from->total;
  to->n = from->n;
  for (uint32_t i = 0; i < from->n; i++) to->buf[i] = from->buf[i];
}

static sha512_ctx xmd_base, xmd_work;
static uint8_t tail0[3 + 255 + 1], tail1[1 + 255 + 1];
static uint32_t tail0_len, tail1_len;

/* Prepares expand_message_xmd(prefix || msg, DST, 48) with DST = io_dst()[0..dst_len): absorbs
 * Z_pad (128 zero bytes). Returns 0, or -1 if dst_len is outside 1..255. */
__attribute__((export_name("xmd_begin"))) int xmd_begin(int dst_len) {
  if (dst_len < 1 || dst_len > 255) return -1;
  /* tail0 = I2OSP(48, 2) || I2OSP(0, 1) || DST || I2OSP(len(DST), 1) */
  tail0[0] = 0; tail0[1] = 48; tail0[2] = 0;
  for (int i = 0; i < dst_len; i++) tail0[3 + i] = dst_buf[i];
  tail0[3 + dst_len] = (uint8_t)dst_len;
  tail0_len = (uint32_t)dst_len + 4;
  /* tail1 = I2OSP(1, 1) || DST || I2OSP(len(DST), 1) */
  tail1[0] = 1;
  for (int i = 0; i < dst_len; i++) tail1[1 + i] = dst_buf[i];
  tail1[1 + dst_len] = (uint8_t)dst_len;
  tail1_len = (uint32_t)dst_len + 2;
  sha512_init(&xmd_base);
  uint8_t zpad[128];
  for (int i = 0; i < 128; i++) zpad[i] = 0;
  sha512_update(&xmd_base, zpad, 128);
  return 0;
}

/* Absorbs io_msg()[0..len) into the shared prefix (callable repeatedly). */
__attribute__((export_name("xmd_prefix"))) int xmd_prefix(int len) {
  if (len < 0 || len > MSG_CAP) return -1;
  sha512_update(&xmd_base, msg_buf, (uint32_t)len);
  return 0;
}

/* b_0 = H(Z_pad || prefix || msg || tail0) (the first part already in c), b_1 = H(b_0 || tail1). */
static void xmd_finish_into(sha512_ctx *c, uint8_t *out48) {
  uint8_t b0[64], b1[64];
  sha512_update(c, tail0, tail0_len);
  sha512_final(c, b0);
  sha512_ctx c1;
  sha512_init(&c1);
  sha512_update(&c1, b0, 64);
  sha512_update(&c1, tail1, tail1_len);
  sha512_final(&c1, b1);
  for (int i = 0; i < 48; i++) out48[i] = b1[i];
}

/* Streaming, for a message longer than io_msg_cap(): start, update (repeatedly), finish(index). */
__attribute__((export_name("xmd_start"))) void xmd_start(void) { ctx_copy(&xmd_work, &xmd_base); }
__attribute__((export_name("xmd_update"))) int xmd_update(int len) {
  if (len < 0 || len > MSG_CAP) return -1;
  sha512_update(&xmd_work, msg_buf, (uint32_t)len);
  return 0;
}
__attribute__((export_name("xmd_finish"))) int xmd_finish(int index) {
  if (index < 0 || index >= CHUNK) return -1;
  xmd_finish_into(&xmd_work, in_buf + 48 * index);
  return 0;
}

/* Messages packed in io_msg() with lengths io_lens()[0..count): writes their 48-byte outputs to
 * io_in() at positions first .. first + count - 1. Returns 0, or -1 on out-of-range arguments. */
__attribute__((export_name("xmd_many"))) int xmd_many(int count, int first) {
  if (count < 0 || first < 0 || first + count > CHUNK) return -1;
  uint32_t total = 0;
  for (int i = 0; i < count; i++) {
    if (len_buf[i] > MSG_CAP - total) return -1;
    total += len_buf[i];
  }
  uint32_t off = 0;
  for (int i = 0; i < count; i++) {
    ctx_copy(&xmd_work, &xmd_base);
    sha512_update(&xmd_work, msg_buf + off, len_buf[i]);
    off += len_buf[i];
    xmd_finish_into(&xmd_work, in_buf + 48 * (first + i));
  }
  return 0;
}

/* ---- HKDF-SHA-512 (RFC 5869) of 32-byte inputs: the round-2 truncation of ECDH-PSI ----
 *
 * draft-wang-ppm-ecdh-psi-01 §3 truncates each jointly masked value v (32 bytes) to
 * HKDF-SHA-512(salt = none, IKM = v, info, L) with L = 16 or 24. Done per value with a generic
 * HMAC this is 8 compressions; here it is 6, because:
 *   - the absent salt is HashLen zero bytes (RFC 5869 §2.2), so the extract key is fixed and the
 *     states after its ipad / opad blocks are computed once per hkdf_begin (RFC 2104 §2);
 *   - every remaining message fits one block: extract-inner 32 bytes, extract-outer 64 bytes,
 *     expand-inner info || 0x01 (info ≤ 110 bytes), expand-outer 64 bytes; L ≤ 64 needs T(1) only.
 * Straight-line code: only public lengths steer control flow, never the bytes of v.
 */
#define HKDF_INFO_MAX 110
static uint64_t hkdf_ext_ipad[8], hkdf_ext_opad[8];
static uint8_t hkdf_info[HKDF_INFO_MAX + 1];
static uint32_t hkdf_info_len;

/* Compresses one final block holding msg[0..len) (len ≤ 111) after `prior` bytes already absorbed
 * into st (a multiple of 128): msg || 0x80 || 0…0 || 128-bit big-endian bit length (FIPS 180-4 §5.1.2). */
static void sha512_last_block(uint64_t st[8], const uint8_t *msg, uint32_t len, uint32_t prior) {
  uint8_t b[128];
  for (uint32_t i = 0; i < len; i++) b[i] = msg[i];
  b[len] = 0x80;
  for (uint32_t i = len + 1; i < 120; i++) b[i] = 0;
  const uint64_t bits = (uint64_t)(prior + len) * 8;
  for (int i = 0; i < 8; i++) b[120 + i] = (uint8_t)(bits >> (56 - 8 * i));
  sha512_block(st, b);
}

static void sha512_state_bytes(const uint64_t st[8], uint8_t out[64]) {
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 8; j++) out[8 * i + j] = (uint8_t)(st[i] >> (56 - 8 * j));
}

/* State after one 128-byte block (key zero-padded to 128 bytes) XOR pad, from the IV. */
static void hmac_pad_state(uint64_t st[8], const uint8_t *key, uint32_t key_len, uint8_t pad) {
  uint8_t b[128];
  for (uint32_t i = 0; i < key_len; i++) b[i] = (uint8_t)(key[i] ^ pad);
  for (uint32_t i = key_len; i < 128; i++) b[i] = pad;
  for (int i = 0; i < 8; i++) st[i] = IV512[i];
  sha512_block(st, b);
}

/* Prepares hkdf_batch with info = io_dst()[0..info_len). Returns 0, or -1 if info_len is outside
 * 0..110 (a longer info would need a second expand-inner block). */
__attribute__((export_name("hkdf_begin"))) int hkdf_begin(int info_len) {
  if (info_len < 0 || info_len > HKDF_INFO_MAX) return -1;
  for (int i = 0; i < info_len; i++) hkdf_info[i] = dst_buf[i];
  hkdf_info[info_len] = 0x01; /* T(1) = HMAC(PRK, T(0) || info || 0x01), T(0) empty (§2.3) */
  hkdf_info_len = (uint32_t)info_len + 1;
  const uint8_t zero = 0;
  hmac_pad_state(hkdf_ext_ipad, &zero, 0, 0x36);
  hmac_pad_state(hkdf_ext_opad, &zero, 0, 0x5c);
  return 0;
}

/* For i < n: io_out()[i*out_len ..] = the first out_len bytes of HKDF-SHA-512(IKM = io_in()[32 i ..
 * 32 i + 32), no salt, the info of hkdf_begin). Returns 0, or -1 unless 1 ≤ out_len ≤ 64 and
 * 0 ≤ n with n * max(32, out_len) within the buffers. */
__attribute__((export_name("hkdf_batch"))) int hkdf_batch(int n, int out_len) {
  if (out_len < 1 || out_len > 64 || n < 0 || n > CHUNK || n * out_len > CHUNK * 32) return -1;
  for (int i = 0; i < n; i++) {
    uint64_t st[8];
    uint8_t h[64], prk[64];
    /* Extract (§2.2): PRK = HMAC(0^64, IKM). */
    for (int k = 0; k < 8; k++) st[k] = hkdf_ext_ipad[k];
    sha512_last_block(st, in_buf + 32 * i, 32, 128);
    sha512_state_bytes(st, h);
    for (int k = 0; k < 8; k++) st[k] = hkdf_ext_opad[k];
    sha512_last_block(st, h, 64, 128);
    sha512_state_bytes(st, prk);
    /* Expand (§2.3): T(1) = HMAC(PRK, info || 0x01). */
    hmac_pad_state(st, prk, 64, 0x36);
    sha512_last_block(st, hkdf_info, hkdf_info_len, 128);
    sha512_state_bytes(st, h);
    hmac_pad_state(st, prk, 64, 0x5c);
    sha512_last_block(st, h, 64, 128);
    sha512_state_bytes(st, h);
    for (int k = 0; k < out_len; k++) out_buf[out_len * i + k] = h[k];
  }
  return 0;
}

/* Writes zeros over a stack region below the caller's frame (the frames of the functions above). */
__attribute__((noinline)) static void scrub_stack(void) {
  volatile uint64_t area[1024];
  for (int i = 0; i < 1024; i++) area[i] = 0;
}

/*
 * Zeroes what held record-derived data: the first msg_bytes of io_msg(), the first `items` entries
 * of io_in() / io_out() / io_lens(), both hash states, and 8 KB of stack (more than the deepest
 * frame chain here uses). Proportional to the use, so a single-record call stays cheap.
 */
__attribute__((export_name("wipe"))) void wipe(int msg_bytes, int items) {
  if (msg_bytes < 0 || msg_bytes > MSG_CAP) msg_bytes = MSG_CAP;
  if (items < 0 || items > CHUNK) items = CHUNK;
  volatile uint8_t *p;
  p = msg_buf; for (int i = 0; i < msg_bytes; i++) p[i] = 0;
  p = in_buf; for (int i = 0; i < items * 48; i++) p[i] = 0;
  p = out_buf; for (int i = 0; i < items * 32; i++) p[i] = 0;
  volatile uint32_t *q = len_buf; for (int i = 0; i < items; i++) q[i] = 0;
  p = (volatile uint8_t *)&xmd_work; for (unsigned i = 0; i < sizeof xmd_work; i++) p[i] = 0;
  p = (volatile uint8_t *)&xmd_base; for (unsigned i = 0; i < sizeof xmd_base; i++) p[i] = 0;
  scrub_stack();
}
