/*
 * SM2 (GB/T 32918.5 recommended curve) scalar multiplication for dataport's native addon; see
 * sm2.c. The addon's module init (x25519.c) calls dp_sm2_register to add the SM2 exports.
 */
#ifndef DP_SM2_H
#define DP_SM2_H
#include <stddef.h>
#include <stdint.h>

/* 1 if the 32-byte big-endian scalar k is in [1, n-1] (n the group order), else 0; constant time. */
int dp_sm2_scalar_ok(const uint8_t k[32]);

/* out[33i..] = k·P_i in X9.62 compressed form for the n compressed points in `in` (33 bytes each).
 * k must satisfy dp_sm2_scalar_ok. Returns -1, or the index of the first point that is not a valid
 * compressed SM2 point (wrong prefix, x >= p, x not the abscissa of a curve point); `out` is then
 * unspecified. `out` may be `in` itself (each group of points is read before it is written). */
long long dp_sm2_batch(const uint8_t k[32], const uint8_t *in, uint8_t *out, size_t n, int wide);

/* Hash-to-curve helper on public data (not constant time): for each 32-byte big-endian x_i, the
 * first of x_i mod p, +1, …, +max_inc that is an abscissa, as 02 ‖ x (even y) in out[33i..], or
 * out[33i] = 0 when none is. Returns the number of items left at 0. */
size_t dp_sm2_lift_x(const uint8_t *xs, uint8_t *out, size_t n, unsigned max_inc, int wide);

/* 1 if the 8-way AVX-512 IFMA kernel (sm2-ifma.c) is compiled in and this CPU runs it; `wide` = 1
 * in dp_sm2_batch then uses it (0: the 64-bit code only). */
int dp_sm2_ifma_usable(void);

#ifndef DP_NO_NAPI
#include <node_api.h>
/* Adds sm2MultiplyBatch to the addon's exports; returns 0 on an N-API failure (an exception is pending). */
int dp_sm2_register(napi_env env, napi_value exports);
#endif

#endif
