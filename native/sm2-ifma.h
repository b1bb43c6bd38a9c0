/*
 * 8-way SM2 scalar multiplication with AVX-512 IFMA (vpmadd52luq / vpmadd52huq): eight points times
 * the same scalar at once, one point per 64-bit lane, field elements in radix 2^52 (5 limbs).
 * Used by native/sm2.c when dp_x25519_ifma_available() says the CPU and OS support it.
 */
#ifndef DP_SM2_IFMA_H
#define DP_SM2_IFMA_H

#include <stdint.h>

/* For lane i = 0..7: (X_i, Y_i, Z_i) = k·(x_i, y_i) in Jacobian coordinates. k is 32 bytes
   big-endian in [1, n−1] (checked by the caller); x, y are the affine coordinates of valid curve
   points, plain (not Montgomery), fully reduced, 4 little-endian 64-bit limbs; X, Y, Z are
   returned the same way. Constant time in k. Must only be called when dp_x25519_ifma_available(). */
void dp_sm2_ifma_mul8(const uint8_t k[32], const uint64_t x[8][4], const uint64_t y[8][4], uint64_t X[8][4], uint64_t Y[8][4],
                      uint64_t Z[8][4]);

/* For lane i = 0..7: r_i = a_i^((p+1)/4) mod p (the square root of a_i when a_i is a square), a and
   r plain, fully reduced, 4 little-endian 64-bit limbs. For decompression (public inputs). */
void dp_sm2_ifma_sqrt8(const uint64_t a[8][4], uint64_t r[8][4]);

#endif /* DP_SM2_IFMA_H */
