/*
 * Standalone check of native/sm2.c (SM2 scalar multiplication), run by native/test/sm2-check.sh:
 *  1. known answers: d·G and the PPCA brief §4.6 rows (../shared/interop/PPCA-ECDH-PSI.md);
 *  2. with OpenSSL (libcrypto, -DDP_WITH_OPENSSL): the field operations on values at the limb and
 *     modulus bounds (0, 1, 2^64 ± 1, 2^k, p − 1, p − 2, …) and random ones against BN_mod_*; random
 *     scalars (edge scalars included) and random points against EC_POINT_mul on NID_sm2, whole
 *     compressed output compared; invalid points refused where oct2point refuses them;
 *  3. a benchmark: µs per multiplication, batch of 64, against OpenSSL's EC_POINT_mul.
 * Usage: sm2-check [random-pairs] [seed]. Exit 0 = pass.
 */
#define DP_NO_NAPI
#include "../sm2.c"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef DP_WITH_OPENSSL
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#endif

static int failures;
static int wide; /* which kernel dp_sm2_batch runs: 0 the 64-bit code, 1 the 8-way IFMA one */
static uint64_t rng_state;
static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static void rng_bytes(uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) b[i] = (uint8_t)(rng_next() >> 56);
}
static void hex2bin(uint8_t *out, const char *hex, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(hex + 2 * i, "%2x", &v) != 1) exit(2);
    out[i] = (uint8_t)v;
  }
}
static void expect_eq(const char *what, const uint8_t *got, const uint8_t *want, size_t n) {
  if (memcmp(got, want, n) == 0) return;
  if (failures++ < 10) {
    fprintf(stderr, "FAIL %s\n  got  ", what);
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%02x", got[i]);
    fprintf(stderr, "\n  want ");
    for (size_t i = 0; i < n; i++) fprintf(stderr, "%02x", want[i]);
    fprintf(stderr, "\n");
  }
}
static double now_sec(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void check_known_answers(void) {
  /* scalar, point, k·point (the last two rows: a·H and b·(a·H) for "alice" in sm2-sha256-tar) */
  static const char *const rows[][3] = {
      {"112eb66358cd75963f1131ff34777cda364c5ead685f53898c3f44eb2bf86e61", "0232c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7", "03e61874fdd2c436964343cd1ec9daa20cb12051799ca8ded7d261a63d0e6b9d2c"},
      {"1a8a3d3c37e30cd85131ce8f4a5fc432c9e36d62e8537c8dcf6f292c0e209389", "02bd306425d873dc3e9fd1520e693954d6d605e8ad2fae4e48f53a395526f39abe", "0211650d2cf86667b89a9453eeaa08f2f5785e4749570f1aef25ce80e0ec7faac5"},
      {"3ab0aad70e6bd68d86099f45fa7da6db50ead711581a2d655476b56bafbc40d1", "0211650d2cf86667b89a9453eeaa08f2f5785e4749570f1aef25ce80e0ec7faac5", "021bf265c7b70a88c620b9832cca9c8985bcd9a32358211a8c2c237c4b6fec9029"},
      {"1a8a3d3c37e30cd85131ce8f4a5fc432c9e36d62e8537c8dcf6f292c0e209389", "027d812555efadbaaab48d90e178839031629b850e5cda4a7ebcf1103c1be9ee8e", "02b765e5415acb416e988b72cec26b2026d353f2a457e538c21c6991b59ee08419"},
  };
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    uint8_t k[32], in[33 * 65], out[33 * 65], want[33];
    hex2bin(k, rows[r][0], 32);
    hex2bin(want, rows[r][2], 33);
    for (int i = 0; i < 65; i++) hex2bin(in + 33 * i, rows[r][1], 33);
    if (!dp_sm2_scalar_ok(k) || dp_sm2_batch(k, in, out, 65, wide) != -1) failures++;
    for (int i = 0; i < 65; i++) expect_eq("known answer", out + 33 * i, want, 33);
  }
  printf("[%s] known answers (d·G, PPCA brief §4.6): %s\n", wide ? "ifma8" : "64-bit", failures ? "FAIL" : "ok");
}

#ifdef DP_WITH_OPENSSL
static BN_CTX *bctx;
static BIGNUM *bn_p;

static void bn_from_limbs(BIGNUM *r, const uint64_t a[4]) {
  uint8_t b[32];
  fe_to_bytes_be(b, a);
  BN_bin2bn(b, 32, r);
}

/* Field operations against BN_mod_* on edge and random values. */
static void check_field(int n_random) {
  static const char *const edges[] = {
      "0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000001",
      "0000000000000000000000000000000000000000000000000000000000000002", "000000000000000000000000000000000000000000000000ffffffffffffffff",
      "0000000000000000000000000000000000000000000000010000000000000000", "0000000000000000000000000000000000000000000000010000000000000001",
      "00000000000000000000000000000000ffffffffffffffffffffffffffffffff", "8000000000000000000000000000000000000000000000000000000000000000",
      "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffe", "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffd",
      "fffffffeffffffffffffffffffffffffffffffff000000000000000000000000", "fffffffe00000000000000000000000000000000000000000000000000000000",
      "7fffffff7fffffffffffffffffffffffffffffff800000007fffffffffffffff", "00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
  };
  const int n_edges = (int)(sizeof edges / sizeof edges[0]);
  BIGNUM *a = BN_new(), *b = BN_new(), *r = BN_new();
  uint8_t ab[32], bb[32], got[32], want[32];
  int ops = 0;
  for (int i = 0; i < n_edges + n_random; i++) {
    for (int j = 0; j < n_edges + (i < n_edges ? 1 : 0); j++) {
      if (i < n_edges) hex2bin(ab, edges[i], 32);
      else rng_bytes(ab, 32);
      if (j < n_edges) hex2bin(bb, edges[j], 32);
      else rng_bytes(bb, 32);
      uint64_t al[4], bl[4], rl[4];
      fe_from_bytes_be(al, ab);
      fe_from_bytes_be(bl, bb);
      BN_bin2bn(ab, 32, a);
      BN_bin2bn(bb, 32, b);
      if (!lt_limbs(al, P)) { /* fold values >= p the way the field code expects them: reduced */
        BN_mod(a, a, bn_p, bctx);
        memset(ab, 0, 32);
        BN_bn2binpad(a, ab, 32);
        fe_from_bytes_be(al, ab);
      }
      if (!lt_limbs(bl, P)) {
        BN_mod(b, b, bn_p, bctx);
        memset(bb, 0, 32);
        BN_bn2binpad(b, bb, 32);
        fe_from_bytes_be(bl, bb);
      }
      fe am, bm, rm;
      fe_to_mont(am, al);
      fe_to_mont(bm, bl);
      /* mul */
      fe_mul(rm, am, bm);
      fe_from_mont(rl, rm);
      fe_to_bytes_be(got, rl);
      BN_mod_mul(r, a, b, bn_p, bctx);
      BN_bn2binpad(r, want, 32);
      expect_eq("fe_mul", got, want, 32);
      /* add, sub (Montgomery form is linear) */
      fe_add(rm, am, bm);
      fe_from_mont(rl, rm);
      fe_to_bytes_be(got, rl);
      BN_mod_add(r, a, b, bn_p, bctx);
      BN_bn2binpad(r, want, 32);
      expect_eq("fe_add", got, want, 32);
      fe_sub(rm, am, bm);
      fe_from_mont(rl, rm);
      fe_to_bytes_be(got, rl);
      BN_mod_sub(r, a, b, bn_p, bctx);
      BN_bn2binpad(r, want, 32);
      expect_eq("fe_sub", got, want, 32);
      ops += 3;
    }
    /* invert and the square-root candidate, per value a */
    fe am, rm;
    uint64_t al[4], rl[4];
    fe_from_bytes_be(al, ab);
    fe_to_mont(am, al);
    fe_invert(rm, am);
    fe_from_mont(rl, rm);
    fe_to_bytes_be(got, rl);
    memset(want, 0, 32);
    if (!BN_is_zero(a)) {
      BN_mod_inverse(r, a, bn_p, bctx);
      BN_bn2binpad(r, want, 32);
    }
    expect_eq("fe_invert", got, want, 32);
    fe_sqrt_candidate(rm, am);
    fe_from_mont(rl, rm);
    fe_to_bytes_be(got, rl);
    BIGNUM *e = BN_new();
    BN_add(e, bn_p, BN_value_one());
    BN_rshift(e, e, 2);
    BN_mod_exp(r, a, e, bn_p, bctx);
    BN_free(e);
    BN_bn2binpad(r, want, 32);
    expect_eq("fe_sqrt_candidate", got, want, 32);
    ops += 2;
  }
  BN_free(a);
  BN_free(b);
  BN_free(r);
  printf("field operations vs BN_mod_*: %d checked: %s\n", ops, failures ? "FAIL" : "ok");
}

/* Random points k·G' (G' = random multiples of G) and random scalars vs EC_POINT_mul. */
static void check_points(EC_GROUP *grp, int pairs) {
  const BIGNUM *order = EC_GROUP_get0_order(grp);
  EC_POINT *pt = EC_POINT_new(grp), *res = EC_POINT_new(grp);
  BIGNUM *k = BN_new(), *r = BN_new();
  enum { B = 67 };
  uint8_t in[33 * B], out[33 * B], want[33], kb[32];
  int done = 0;
  while (done < pairs) {
    /* scalar: random, or an edge value (1, 2, 15, 16, n−1, n−2, 2^255) every few rounds */
    int edge = (int)(rng_next() % 10);
    if (edge == 0) BN_one(k);
    else if (edge == 1) BN_set_word(k, 16);
    else if (edge == 2) { BN_copy(k, order); BN_sub_word(k, 1); }
    else if (edge == 3) { BN_copy(k, order); BN_sub_word(k, 2); }
    else if (edge == 4) { BN_zero(k); BN_set_bit(k, 255); }
    else BN_rand_range(k, order);
    if (BN_is_zero(k)) BN_one(k);
    BN_bn2binpad(k, kb, 32);
    for (int i = 0; i < B; i++) {
      BN_rand_range(r, order);
      if (BN_is_zero(r)) BN_one(r);
      EC_POINT_mul(grp, pt, r, NULL, NULL, bctx);
      EC_POINT_point2oct(grp, pt, POINT_CONVERSION_COMPRESSED, in + 33 * i, 33, bctx);
    }
    if (!dp_sm2_scalar_ok(kb) || dp_sm2_batch(kb, in, out, B, wide) != -1) failures++;
    for (int i = 0; i < B; i++) {
      EC_POINT_oct2point(grp, pt, in + 33 * i, 33, bctx);
      EC_POINT_mul(grp, res, NULL, pt, k, bctx);
      EC_POINT_point2oct(grp, res, POINT_CONVERSION_COMPRESSED, want, 33, bctx);
      expect_eq("k·P vs EC_POINT_mul", out + 33 * i, want, 33);
    }
    done += B;
  }
  /* invalid encodings: refused here exactly where oct2point refuses them */
  int invalid_checked = 0;
  for (int t = 0; t < 2000; t++) {
    uint8_t p1[33];
    rng_bytes(p1, 33);
    p1[0] = (uint8_t)(t % 7 == 0 ? rng_next() & 0xff : 2 + (rng_next() & 1));
    int ossl_ok = EC_POINT_oct2point(grp, pt, p1, 33, bctx) == 1 && (p1[0] == 2 || p1[0] == 3);
    int ours_ok = dp_sm2_batch(kb, p1, out, 1, wide) == -1;
    if (ossl_ok != ours_ok && failures++ < 10) fprintf(stderr, "FAIL validity differs from OpenSSL (prefix %02x)\n", p1[0]);
    invalid_checked += !ossl_ok;
  }
  BN_free(k);
  BN_free(r);
  EC_POINT_free(pt);
  EC_POINT_free(res);
  printf("[%s] random pairs vs EC_POINT_mul: %d; 2000 random encodings (%d invalid) judged as OpenSSL does: %s\n", wide ? "ifma8" : "64-bit", done, invalid_checked, failures ? "FAIL" : "ok");
}

static void bench(EC_GROUP *grp) {
  enum { B = 64, ROUNDS = 5 };
  uint8_t in[33 * B], out[33 * B], kb[32];
  BIGNUM *k = BN_new(), *r = BN_new();
  EC_POINT *pts[B], *res = EC_POINT_new(grp);
  BN_rand_range(k, EC_GROUP_get0_order(grp));
  BN_bn2binpad(k, kb, 32);
  for (int i = 0; i < B; i++) {
    pts[i] = EC_POINT_new(grp);
    BN_rand_range(r, EC_GROUP_get0_order(grp));
    EC_POINT_mul(grp, pts[i], r, NULL, NULL, bctx);
    EC_POINT_point2oct(grp, pts[i], POINT_CONVERSION_COMPRESSED, in + 33 * i, 33, bctx);
  }
  double best_ours = 1e9, best_ossl = 1e9, best_wide = 1e9;
  for (int round = 0; round < ROUNDS; round++) { /* interleaved, best of rounds */
    double t0 = now_sec();
    dp_sm2_batch(kb, in, out, B, 0);
    double t1 = now_sec();
    if (dp_sm2_ifma_usable()) {
      dp_sm2_batch(kb, in, out, B, 1);
      double tw = now_sec() - t1;
      if (tw < best_wide) best_wide = tw;
      t1 = now_sec();
    }
    for (int i = 0; i < B; i++) {
      uint8_t tmp[33];
      EC_POINT_oct2point(grp, res, in + 33 * i, 33, bctx); /* decode, as ours does */
      EC_POINT_mul(grp, res, NULL, res, k, bctx);
      EC_POINT_point2oct(grp, res, POINT_CONVERSION_COMPRESSED, tmp, 33, bctx);
    }
    double t2 = now_sec();
    if (t1 - t0 < best_ours) best_ours = t1 - t0;
    if (t2 - t1 < best_ossl) best_ossl = t2 - t1;
  }
  printf("benchmark (batch of %d, best of %d rounds, interleaved), us per multiplication: OpenSSL %s EC_POINT_mul %.1f; 64-bit %.1f (%.1fx)", B, ROUNDS,
         OpenSSL_version(OPENSSL_VERSION_STRING), 1e6 * best_ossl / B, 1e6 * best_ours / B, best_ossl / best_ours);
  if (dp_sm2_ifma_usable()) printf("; ifma8 %.1f (%.1fx)", 1e6 * best_wide / B, best_ossl / best_wide);
  printf("\n");
  for (int i = 0; i < B; i++) EC_POINT_free(pts[i]);
  EC_POINT_free(res);
  BN_free(k);
  BN_free(r);
}
#endif

int main(int argc, char **argv) {
  int pairs = argc > 1 ? atoi(argv[1]) : 3000;
  rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
  printf("sm2-check: seed %llu\n", (unsigned long long)rng_state);
  for (wide = 0; wide <= dp_sm2_ifma_usable(); wide++) check_known_answers();
#ifdef DP_WITH_OPENSSL
  bctx = BN_CTX_new();
  bn_p = BN_new();
  uint8_t pb[32];
  fe_to_bytes_be(pb, P);
  BN_bin2bn(pb, 32, bn_p);
  EC_GROUP *grp = EC_GROUP_new_by_curve_name(NID_sm2);
  if (!grp) {
    puts("OpenSSL has no SM2 curve: its comparisons are skipped");
  } else {
    check_field(pairs / 20);
    for (wide = 0; wide <= dp_sm2_ifma_usable(); wide++) check_points(grp, pairs);
    bench(grp);
    EC_GROUP_free(grp);
  }
  BN_free(bn_p);
  BN_CTX_free(bctx);
#else
  puts("(built without OpenSSL: only the known answers were checked)");
#endif
  if (failures) {
    printf("sm2-check: FAIL (%d)\n", failures);
    return 1;
  }
  puts("sm2-check: PASS");
  return 0;
}
