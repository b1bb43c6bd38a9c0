/*
 * dataport's native X25519 for Node.js (N-API): one secret scalar times a batch of u-coordinates,
 * the inner loop of ECDH-PSI. Written for dataport from RFC 7748 §5 (the Montgomery ladder, the
 * clamping and the u-coordinate decoding); field elements are 5 limbs of 51 bits with 128-bit
 * products (the usual representation on 64-bit CPUs).
 *
 * Why not node:crypto: OpenSSL's X25519 is reached from JavaScript only through KeyObjects, and
 * importing every peer point as a KeyObject plus the per-call EVP set-up costs about as much as a
 * third of the multiplication itself. Here a batch is one call, the final inversions of a batch are
 * shared (Montgomery's trick: one inversion and 3 multiplications per point instead of one
 * inversion per point), and on CPUs with AVX-512 IFMA eight points run at once (x25519-ifma.c,
 * compiled in when present: DP_HAVE_IFMA).
 *
 * Constant time: the ladder's swaps are masks of the secret bits, the field arithmetic has no
 * branch and no memory index that depends on the scalar or the points; the zero test used for
 * low-order inputs is a mask as well. The clamped copy of the scalar is wiped before returning.
 *
 * JavaScript interface (exports):
 *   x25519Batch(scalar: Uint8Array(32), points: Uint8Array(32n), out: Uint8Array(32n),
 *               kernel?: string): number
 *     out[32i..] = X25519(scalar, points[32i..]) for every i; returns the index of the first point
 *     whose result is all zero (a low-order input), or -1. `kernel` (one of `kernels`) forces a
 *     kernel instead of the fastest (for cross-checks and benchmarks). `out` may be `points` itself
 *     but must not otherwise overlap it. Throws TypeError / RangeError on bad arguments.
 *   kernels: the kernels this CPU can run, fastest first: 'ifma8' (AVX-512 IFMA, 8 points per
 *            call), 'avx2x4' (AVX2, 4 points per call), 'portable' (64-bit C, always)
 *   kernel: kernels[0], what x25519Batch uses by default
 *   abi: number (bumped when this interface changes; the loader refuses a build with another one)
 *   sm2MultiplyBatch(scalar, points, out): SM2 scalar multiplication of compressed points, from
 *            native/sm2.c (compiled in as DP_HAVE_SM2; see sm2.c for its interface)
 */
#ifndef DP_NO_NAPI /* native/test/ct-check.c includes this file without the N-API glue */
#include <node_api.h>
#endif
#include <stdint.h>
#include <string.h>
#ifdef DP_HAVE_IFMA
#include "x25519-ifma.h"
#endif
#ifdef DP_HAVE_AVX2
#include "x25519-avx2.h"
#endif
#ifdef DP_HAVE_SM2
#include "sm2.h"
#endif

#define DP_ABI 3
#define GROUP 64 /* points per shared inversion */

typedef unsigned __int128 u128;
typedef uint64_t fe[5];

static const uint64_t MASK51 = (1ULL << 51) - 1;

static uint64_t load64_le(const uint8_t *p) {
  uint64_t r = 0;
  for (int i = 7; i >= 0; i--) r = (r << 8) | p[i];
  return r;
}

static void store64_le(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* RFC 7748 §5 decodeUCoordinate: little-endian, bit 255 masked; values >= p are kept (the
 * arithmetic reduces them). */
static void fe_frombytes(fe h, const uint8_t s[32]) {
  uint64_t w0 = load64_le(s), w1 = load64_le(s + 8), w2 = load64_le(s + 16), w3 = load64_le(s + 24);
  h[0] = w0 & MASK51;
  h[1] = ((w0 >> 51) | (w1 << 13)) & MASK51;
  h[2] = ((w1 >> 38) | (w2 << 26)) & MASK51;
  h[3] = ((w2 >> 25) | (w3 << 39)) & MASK51;
  h[4] = (w3 >> 12) & MASK51;
}

/* Carries so that every limb is below 2^51 (limb 0 may exceed it by a little). */
static void fe_carry(fe h) {
  uint64_t c;
  c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
  c = h[1] >> 51; h[1] &= MASK51; h[2] += c;
  c = h[2] >> 51; h[2] &= MASK51; h[3] += c;
  c = h[3] >> 51; h[3] &= MASK51; h[4] += c;
  c = h[4] >> 51; h[4] &= MASK51; h[0] += 19 * c;
  c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
}

/* Fully reduced little-endian encoding (RFC 7748 §5 encodeUCoordinate). */
static void fe_tobytes(uint8_t s[32], const fe f) {
  fe h;
  memcpy(h, f, sizeof(fe));
  fe_carry(h);
  fe_carry(h);
  /* Now h < 2^255 + small; q = 1 exactly when h >= p. */
  uint64_t q = (h[0] + 19) >> 51;
  q = (h[1] + q) >> 51;
  q = (h[2] + q) >> 51;
  q = (h[3] + q) >> 51;
  q = (h[4] + q) >> 51;
  h[0] += 19 * q;
  uint64_t c;
  c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
  c = h[1] >> 51; h[1] &= MASK51; h[2] += c;
  c = h[2] >> 51; h[2] &= MASK51; h[3] += c;
  c = h[3] >> 51; h[3] &= MASK51; h[4] += c;
  h[4] &= MASK51; /* drops 2^255, i.e. subtracts p together with the 19 added above */
  store64_le(s, h[0] | (h[1] << 51));
  store64_le(s + 8, (h[1] >> 13) | (h[2] << 38));
  store64_le(s + 16, (h[2] >> 26) | (h[3] << 25));
  store64_le(s + 24, (h[3] >> 39) | (h[4] << 12));
}

static void fe_add(fe h, const fe f, const fe g) {
  for (int i = 0; i < 5; i++) h[i] = f[i] + g[i];
}

/* h = f - g + 2p; g's limbs must be below 2^51 + 2^13 (outputs of fe_mul / fe_sq / fe_carry). */
static void fe_sub(fe h, const fe f, const fe g) {
  h[0] = f[0] + 0xFFFFFFFFFFFDAULL - g[0];
  h[1] = f[1] + 0xFFFFFFFFFFFFEULL - g[1];
  h[2] = f[2] + 0xFFFFFFFFFFFFEULL - g[2];
  h[3] = f[3] + 0xFFFFFFFFFFFFEULL - g[3];
  h[4] = f[4] + 0xFFFFFFFFFFFFEULL - g[4];
}

static void fe_reduce128(fe h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4) {
  uint64_t c;
  c = (uint64_t)(r0 >> 51); h[0] = (uint64_t)r0 & MASK51; r1 += c;
  c = (uint64_t)(r1 >> 51); h[1] = (uint64_t)r1 & MASK51; r2 += c;
  c = (uint64_t)(r2 >> 51); h[2] = (uint64_t)r2 & MASK51; r3 += c;
  c = (uint64_t)(r3 >> 51); h[3] = (uint64_t)r3 & MASK51; r4 += c;
  c = (uint64_t)(r4 >> 51); h[4] = (uint64_t)r4 & MASK51;
  h[0] += 19 * c;
  c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
}

/* Inputs: limbs below 2^54 (sums of two or three reduced values); 5 * 19 * 2^108 < 2^128. */
static void fe_mul(fe h, const fe f, const fe g) {
  uint64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
  uint64_t g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3], g4 = g[4];
  uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
  u128 r0 = (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 + (u128)f3 * g2_19 + (u128)f4 * g1_19;
  u128 r1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 + (u128)f3 * g3_19 + (u128)f4 * g2_19;
  u128 r2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 + (u128)f3 * g4_19 + (u128)f4 * g3_19;
  u128 r3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 + (u128)f3 * g0 + (u128)f4 * g4_19;
  u128 r4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 + (u128)f3 * g1 + (u128)f4 * g0;
  fe_reduce128(h, r0, r1, r2, r3, r4);
}

static void fe_sq(fe h, const fe f) {
  uint64_t f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
  uint64_t d0 = 2 * f0, d1 = 2 * f1, d3_19 = 2 * 19 * f3, f3_19 = 19 * f3, f4_19 = 19 * f4;
  u128 r0 = (u128)f0 * f0 + (u128)d1 * f4_19 + (u128)(2 * f2) * f3_19;
  u128 r1 = (u128)d0 * f1 + (u128)(2 * f2) * f4_19 + (u128)f3 * f3_19;
  u128 r2 = (u128)d0 * f2 + (u128)f1 * f1 + (u128)d3_19 * f4;
  u128 r3 = (u128)d0 * f3 + (u128)d1 * f2 + (u128)f4 * f4_19;
  u128 r4 = (u128)d0 * f4 + (u128)d1 * f3 + (u128)f2 * f2;
  fe_reduce128(h, r0, r1, r2, r3, r4);
}

static void fe_sqn(fe h, const fe f, int n) {
  fe_sq(h, f);
  for (int i = 1; i < n; i++) fe_sq(h, h);
}

static void fe_mul_a24(fe h, const fe f) {
  u128 r0 = (u128)f[0] * 121665, r1 = (u128)f[1] * 121665, r2 = (u128)f[2] * 121665;
  u128 r3 = (u128)f[3] * 121665, r4 = (u128)f[4] * 121665;
  fe_reduce128(h, r0, r1, r2, r3, r4);
}

/* out = z^(p-2) = z^(2^255 - 21): the exponent is (2^250 - 1) * 2^5 + 11. */
static void fe_invert(fe out, const fe z) {
  fe z2, z9, z11, a, b, t;
  fe_sq(z2, z);               /* 2 */
  fe_sqn(t, z2, 2);           /* 8 */
  fe_mul(z9, t, z);           /* 9 */
  fe_mul(z11, z9, z2);        /* 11 */
  fe_sq(t, z11);              /* 22 */
  fe_mul(a, t, z9);           /* 2^5 - 1 */
  fe_sqn(t, a, 5);
  fe_mul(a, t, a);            /* 2^10 - 1 */
  fe_sqn(t, a, 10);
  fe_mul(b, t, a);            /* 2^20 - 1 */
  fe_sqn(t, b, 20);
  fe_mul(t, t, b);            /* 2^40 - 1 */
  fe_sqn(t, t, 10);
  fe_mul(b, t, a);            /* 2^50 - 1 */
  fe_sqn(t, b, 50);
  fe_mul(a, t, b);            /* 2^100 - 1 */
  fe_sqn(t, a, 100);
  fe_mul(t, t, a);            /* 2^200 - 1 */
  fe_sqn(t, t, 50);
  fe_mul(t, t, b);            /* 2^250 - 1 */
  fe_sqn(t, t, 5);            /* 2^255 - 2^5 */
  fe_mul(out, t, z11);        /* 2^255 - 21 */
}

static void fe_cswap(fe f, fe g, uint64_t bit) {
  uint64_t mask = 0 - bit;
  for (int i = 0; i < 5; i++) {
    uint64_t x = mask & (f[i] ^ g[i]);
    f[i] ^= x;
    g[i] ^= x;
  }
}

/* All-ones when f == 0 (mod p), else zero; no branch. */
static uint64_t fe_iszero_mask(const fe f) {
  uint8_t s[32];
  fe_tobytes(s, f);
  uint64_t acc = 0;
  for (int i = 0; i < 32; i++) acc |= s[i];
  return ((acc | (0 - acc)) >> 63) - 1;
}

/* The RFC 7748 §5 ladder; leaves the projective result (x2 : z2). `k` is clamped. */
static void ladder(fe x2, fe z2, const uint8_t k[32], const uint8_t u[32]) {
  fe x1, x3, z3, a, aa, b, bb, e, c, d, da, cb, t;
  fe_frombytes(x1, u);
  memset(x2, 0, sizeof(fe));
  x2[0] = 1;
  memset(z2, 0, sizeof(fe));
  memcpy(x3, x1, sizeof(fe));
  memset(z3, 0, sizeof(fe));
  z3[0] = 1;
  uint64_t swap = 0;
  for (int i = 254; i >= 0; i--) {
    uint64_t bit = (k[i >> 3] >> (i & 7)) & 1;
    swap ^= bit;
    fe_cswap(x2, x3, swap);
    fe_cswap(z2, z3, swap);
    swap = bit;
    fe_add(a, x2, z2);
    fe_sq(aa, a);
    fe_sub(b, x2, z2);
    fe_sq(bb, b);
    fe_sub(e, aa, bb);
    fe_add(c, x3, z3);
    fe_sub(d, x3, z3);
    fe_mul(da, d, a);
    fe_mul(cb, c, b);
    fe_add(t, da, cb);
    fe_sq(x3, t);
    fe_sub(t, da, cb);
    fe_sq(t, t);
    fe_mul(z3, x1, t);
    fe_mul(x2, aa, bb);
    fe_mul_a24(t, e);
    fe_add(t, aa, t);
    fe_mul(z2, e, t);
  }
  fe_cswap(x2, x3, swap);
  fe_cswap(z2, z3, swap);
}

/* Up to GROUP points with one shared inversion. A zero z (low-order input) is replaced by 1 for
 * the product and its result forced to zero, so one bad point cannot spoil the others. */
static void batch_portable(const uint8_t k[32], const uint8_t *in, uint8_t *out, size_t n) {
  fe xs[GROUP], zs[GROUP], acc[GROUP], inv, t;
  uint64_t zero[GROUP];
  for (size_t i = 0; i < n; i++) {
    ladder(xs[i], zs[i], k, in + 32 * i);
    zero[i] = fe_iszero_mask(zs[i]);
    zs[i][0] = (zs[i][0] & ~zero[i]) | (1 & zero[i]);
    for (int j = 1; j < 5; j++) zs[i][j] &= ~zero[i];
    if (i == 0) memcpy(acc[0], zs[0], sizeof(fe));
    else fe_mul(acc[i], acc[i - 1], zs[i]);
  }
  fe_invert(inv, acc[n - 1]);
  for (size_t i = n; i-- > 0;) {
    fe zi;
    if (i > 0) {
      fe_mul(zi, inv, acc[i - 1]);
      fe_mul(inv, inv, zs[i]);
    } else {
      memcpy(zi, inv, sizeof(fe));
    }
    fe_mul(t, xs[i], zi);
    for (int j = 0; j < 5; j++) t[j] &= ~zero[i];
    fe_tobytes(out + 32 * i, t);
  }
}

static void wipe(void *p, size_t n) {
  volatile uint8_t *v = p;
  while (n--) *v++ = 0;
}

static int all_zero(const uint8_t *s) {
  uint8_t acc = 0;
  for (int i = 0; i < 32; i++) acc |= s[i];
  return acc == 0;
}

enum kernel { K_PORTABLE = 0, K_AVX2 = 1, K_IFMA = 2 };

static int kernel_available(enum kernel kern) {
  switch (kern) {
    case K_PORTABLE: return 1;
#ifdef DP_HAVE_AVX2
    case K_AVX2: return dp_x25519_avx2_available();
#endif
#ifdef DP_HAVE_IFMA
    case K_IFMA: return dp_x25519_ifma_available();
#endif
    default: return 0;
  }
}

static const char *const KERNEL_NAMES[] = {"portable", "avx2x4", "ifma8"};

/* Kernels are numbered slowest first, so the best is the highest available one (the order
 * `kernels` lists them in, too). */
static enum kernel best_kernel(void) {
  int j = K_IFMA;
  while (j > K_PORTABLE && !kernel_available((enum kernel)j)) j--;
  return (enum kernel)j;
}

/* Runs `width`-way kernel calls over whole groups, then a tail of 2..width-1 points as one padded
 * call (cheaper than that many portable ladders; padding lanes hold u = 9, results dropped).
 * Returns how many points were done. */
static size_t batch_wide(const uint8_t k[32], const uint8_t *in, uint8_t *out, size_t n, size_t width,
                         void (*kernel)(const uint8_t *, const uint8_t *, uint8_t *)) {
  uint8_t tmp[256], pad[256];
  size_t i = 0;
  for (; i + width <= n; i += width) {
    kernel(k, in + 32 * i, tmp);
    memcpy(out + 32 * i, tmp, 32 * width);
  }
  if (n - i >= 2) {
    memset(pad, 0, sizeof pad);
    for (size_t j = 0; j < width; j++) pad[32 * j] = 9;
    memcpy(pad, in + 32 * i, 32 * (n - i));
    kernel(k, pad, tmp);
    memcpy(out + 32 * i, tmp, 32 * (n - i));
    i = n;
  }
  wipe(tmp, sizeof tmp);
  wipe(pad, sizeof pad);
  return i;
}

/* Multiplies n points with `kern` (which must be available); returns the index of the first
 * all-zero result or -1. `in` and `out` may be the same array: each group is read completely
 * before it is written. */
static long long x25519_batch(const uint8_t scalar[32], const uint8_t *in, uint8_t *out, size_t n, enum kernel kern) {
  uint8_t k[32];
  memcpy(k, scalar, 32);
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  size_t i = 0;
#ifdef DP_HAVE_IFMA
  if (kern == K_IFMA) i = batch_wide(k, in, out, n, 8, dp_x25519_ifma_x8);
#endif
#ifdef DP_HAVE_AVX2
  if (kern == K_AVX2) i = batch_wide(k, in, out, n, 4, dp_x25519_avx2_x4);
#endif
  (void)kern;
  while (i < n) {
    size_t m = n - i < GROUP ? n - i : GROUP;
    batch_portable(k, in + 32 * i, out + 32 * i, m);
    i += m;
  }
  wipe(k, sizeof k);
  for (size_t j = 0; j < n; j++) {
    if (all_zero(out + 32 * j)) return (long long)j;
  }
  return -1;
}

#ifndef DP_NO_NAPI
/* ---- N-API glue: every argument is checked; errors are plain messages with no data in them. ---- */

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "dataport native x25519: N-API failure"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what) {
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

static napi_value js_x25519_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3) {
    napi_throw_type_error(env, NULL, "x25519Batch(scalar, points, out[, kernel]) needs three arguments");
    return NULL;
  }
  uint8_t *scalar, *points, *out;
  size_t scalar_len, points_len, out_len;
  if (!get_bytes(env, argv[0], &scalar, &scalar_len, "scalar must be a Uint8Array")) return NULL;
  if (!get_bytes(env, argv[1], &points, &points_len, "points must be a Uint8Array")) return NULL;
  if (!get_bytes(env, argv[2], &out, &out_len, "out must be a Uint8Array")) return NULL;
  enum kernel kern = best_kernel();
  if (argc >= 4) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[3], &t));
    if (t == napi_string) {
      char name[16];
      size_t len = 0;
      CHECK(napi_get_value_string_utf8(env, argv[3], name, sizeof name, &len));
      int found = -1;
      for (int j = K_PORTABLE; j <= K_IFMA; j++) {
        if (strcmp(name, KERNEL_NAMES[j]) == 0 && kernel_available((enum kernel)j)) found = j;
      }
      if (found < 0) {
        napi_throw_range_error(env, NULL, "kernel must be one of the kernels this CPU offers");
        return NULL;
      }
      kern = (enum kernel)found;
    } else if (t != napi_undefined) {
      napi_throw_type_error(env, NULL, "kernel must be a string");
      return NULL;
    }
  }
  if (scalar_len != 32) {
    napi_throw_range_error(env, NULL, "scalar must be 32 bytes");
    return NULL;
  }
  if (points_len % 32 != 0) {
    napi_throw_range_error(env, NULL, "points length must be a multiple of 32");
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
  if (scalar + 32 > points && scalar < points + points_len) {
    napi_throw_range_error(env, NULL, "scalar must not overlap points");
    return NULL;
  }
  if (scalar + 32 > out && scalar < out + out_len) {
    napi_throw_range_error(env, NULL, "scalar must not overlap out");
    return NULL;
  }
  long long r = x25519_batch(scalar, points, out, points_len / 32, kern);
  napi_value result;
  CHECK(napi_create_int64(env, r, &result));
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn, kernel, abi;
  CHECK(napi_create_function(env, "x25519Batch", NAPI_AUTO_LENGTH, js_x25519_batch, NULL, &fn));
  CHECK(napi_set_named_property(env, exports, "x25519Batch", fn));
  napi_value kernels;
  CHECK(napi_create_array(env, &kernels));
  uint32_t count = 0;
  for (int j = K_IFMA; j >= K_PORTABLE; j--) {
    if (!kernel_available((enum kernel)j)) continue;
    napi_value str;
    CHECK(napi_create_string_utf8(env, KERNEL_NAMES[j], NAPI_AUTO_LENGTH, &str));
    CHECK(napi_set_element(env, kernels, count++, str));
  }
  CHECK(napi_set_named_property(env, exports, "kernels", kernels));
  CHECK(napi_create_string_utf8(env, KERNEL_NAMES[best_kernel()], NAPI_AUTO_LENGTH, &kernel));
  CHECK(napi_set_named_property(env, exports, "kernel", kernel));
  CHECK(napi_create_int32(env, DP_ABI, &abi));
  CHECK(napi_set_named_property(env, exports, "abi", abi));
#ifdef DP_HAVE_SM2
  if (!dp_sm2_register(env, exports)) return NULL;
#endif
  return exports;
}
#endif /* DP_NO_NAPI */
