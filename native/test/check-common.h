/*
 * Shared by the standalone kernel checks (ifma-check.c, avx2-check.c): hex and byte helpers, a
 * seeded splitmix64 generator, the failure counter, OpenSSL's X25519 as a second reference (when
 * built with -DDP_WITH_OPENSSL), and the RFC 7748 §5.2 vectors (copied from
 * /work/shared/vectors/rfc7748/x25519.json, whose source is RFC 7748 section 5.2, re-computed there
 * with OpenSSL and @noble/curves). Included once per harness, after the system headers.
 */
#ifndef DP_CHECK_COMMON_H
#define DP_CHECK_COMMON_H

#ifdef DP_WITH_OPENSSL
#include <openssl/evp.h>
#include <openssl/opensslv.h>

/* OpenSSL's X25519 (it clamps k itself: a no-op for a clamped k); 0 when derive refuses (it does
   for an all-zero result). A second, independent reference and a benchmark baseline. */
static int ossl_x25519(uint8_t out[32], EVP_PKEY *priv, const uint8_t u[32]) {
  EVP_PKEY *pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, u, 32);
  EVP_PKEY_CTX *ctx = pub ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
  size_t len = 32;
  int ok = ctx && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, pub) == 1 &&
           EVP_PKEY_derive(ctx, out, &len) == 1 && len == 32;
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(pub);
  return ok;
}
#endif

static void hex2bin(uint8_t *out, const char *hex, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
      fprintf(stderr, "bad hex\n");
      exit(2);
    }
    out[i] = (uint8_t)v;
  }
}

static void printhex(const char *label, const uint8_t *b, size_t n) {
  size_t i;
  fprintf(stderr, "%s", label);
  for (i = 0; i < n; i++) fprintf(stderr, "%02x", b[i]);
  fprintf(stderr, "\n");
}

static void clamp(uint8_t k[32]) {
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
}

static uint64_t rng_state;
static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static void rng_bytes(uint8_t *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if ((i & 7) == 0) {
      uint64_t v = rng_next();
      size_t j;
      for (j = 0; j < 8 && i + j < n; j++) b[i + j] = (uint8_t)(v >> (8 * j));
    }
  }
}

static double now_sec(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int failures = 0;
static void expect_eq(const char *what, const uint8_t *got, const uint8_t *want) {
  if (memcmp(got, want, 32) != 0) {
    failures++;
    if (failures <= 20) {
      fprintf(stderr, "FAIL %s\n", what);
      printhex("  got  ", got, 32);
      printhex("  want ", want, 32);
    }
  }
}

static const char *const KAT[2][3] = {
    {"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
     "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
    {"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
     "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
     "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
};
static const char *const ITER_START = "0900000000000000000000000000000000000000000000000000000000000000";
static const char *const ITER_1 = "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079";
static const char *const ITER_1000 = "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51";

typedef void (*dp_ref_fn)(uint8_t out[32], const uint8_t k[32], const uint8_t u[32]);
/* A kernel: `lanes` points (32 bytes each) of `in` times the clamped k, to `out`. */
typedef void (*dp_wide_fn)(const uint8_t *k, const uint8_t *in, uint8_t *out);

/* X25519(k, u) through a kernel with u in lane `lane` and other values in the other lanes (callers
   vary the lane, so a lane mixing into another shows up). */
static void kernel_one(dp_wide_fn kernel, int lanes, uint8_t out[32], const uint8_t k[32], const uint8_t u[32], int lane) {
  uint8_t in[256], o[256];
  int i;
  for (i = 0; i < lanes; i++) {
    memset(in + 32 * i, 0x11 * (i + 1), 32);
    in[32 * i + 31] &= 0x7F;
  }
  memcpy(in + 32 * lane, u, 32);
  kernel(k, in, o);
  memcpy(out, o + 32 * lane, 32);
}

/* RFC 7748 §5.2: both vectors and the iterated results after 1 and 1,000 iterations (k = u = 9;
   repeat r = X25519(k, u); u = k; k = r, k clamped inside X25519), on the reference and, when
   `have`, on the kernel in every lane (`lanes` is a power of two). */
static void check_rfc7748(dp_ref_fn ref, dp_wide_fn kernel, int lanes, int have, const char *name) {
  uint8_t k[32], u[32], want[32], got[32], tmp[32], rk[32], ru[32], ik[32], iu[32], kc[32];
  char label[64];
  long iter;
  int i, lane;
  for (i = 0; i < 2; i++) {
    hex2bin(k, KAT[i][0], 32);
    hex2bin(u, KAT[i][1], 32);
    hex2bin(want, KAT[i][2], 32);
    clamp(k);
    ref(got, k, u);
    expect_eq("RFC 7748 5.2 vector (reference)", got, want);
    for (lane = 0; have && lane < lanes; lane++) {
      kernel_one(kernel, lanes, got, k, u, lane);
      snprintf(label, sizeof label, "RFC 7748 5.2 vector (%s)", name);
      expect_eq(label, got, want);
    }
  }
  hex2bin(rk, ITER_START, 32);
  memcpy(ru, rk, 32);
  memcpy(ik, rk, 32);
  memcpy(iu, rk, 32);
  for (iter = 1; iter <= 1000; iter++) {
    memcpy(kc, rk, 32);
    clamp(kc);
    ref(tmp, kc, ru);
    memcpy(ru, rk, 32);
    memcpy(rk, tmp, 32);
    if (have) {
      memcpy(kc, ik, 32);
      clamp(kc);
      kernel_one(kernel, lanes, tmp, kc, iu, (int)(iter & (lanes - 1)));
      memcpy(iu, ik, 32);
      memcpy(ik, tmp, 32);
    }
    if (iter == 1 || iter == 1000) {
      hex2bin(want, iter == 1 ? ITER_1 : ITER_1000, 32);
      expect_eq(iter == 1 ? "RFC 7748 iterated x1 (reference)" : "RFC 7748 iterated x1000 (reference)", rk, want);
      snprintf(label, sizeof label, "RFC 7748 iterated x%ld (%s)", iter, name);
      if (have) expect_eq(label, ik, want);
    }
  }
}

#ifdef DP_WITH_OPENSSL

/* The kernel (`lanes` points per call) against OpenSSL on 8,000 random points, a fresh clamped k
   per call; results OpenSSL refuses to derive (all zero) are counted, not compared. */
static void check_vs_openssl(dp_wide_fn kernel, int lanes) {
  uint8_t k[32], in[256], out[256], want[32];
  int before = failures, lane;
  long batch, n = 0, refused = 0;
  for (batch = 0; batch < 8000 / lanes; batch++) {
    EVP_PKEY *priv;
    rng_bytes(k, 32);
    clamp(k);
    rng_bytes(in, 32 * (size_t)lanes);
    priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, k, 32);
    if (!priv) {
      fprintf(stderr, "OpenSSL: no X25519 key\n");
      failures++;
      break;
    }
    kernel(k, in, out);
    for (lane = 0; lane < lanes; lane++, n++) {
      if (!ossl_x25519(want, priv, in + 32 * lane)) {
        refused++;
        continue;
      }
      expect_eq("random vs OpenSSL", out + 32 * lane, want);
    }
    EVP_PKEY_free(priv);
  }
  printf("random comparison vs %s: %ld points (%ld refused by OpenSSL): %s\n", OPENSSL_VERSION_TEXT, n, refused,
         failures > before ? "FAILED" : "ok");
}
#endif

#endif
