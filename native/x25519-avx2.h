/*
 * 4-way X25519 with AVX2: four u-coordinates multiplied by the same scalar at once, one point per
 * 64-bit lane, field elements in radix 2^25.5 (10 limbs of 26, 25, 26, ... bits) with
 * vpmuludq (32 x 32 -> 64-bit) products. For x86-64 CPUs without AVX-512 IFMA.
 */
#ifndef DP_X25519_AVX2_H
#define DP_X25519_AVX2_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this CPU and OS support AVX2 (checked once, at run time: CPUID feature bits plus OS
   support of the YMM state via xgetbv), else 0. On a non-x86-64 build it always returns 0. */
int dp_x25519_avx2_available(void);

/* For i = 0..3: out + 32*i = X25519(k, in + 32*i) exactly as RFC 7748 §5: k is the 32-byte scalar
   ALREADY CLAMPED by the caller (used as is: bits 254..0 drive the ladder); each u is 32 bytes
   little-endian, bit 255 is masked off, NON-CANONICAL u (>= 2^255-19) are accepted and reduced; the
   output is the fully reduced little-endian x-coordinate (all zero for a low-order u).
   Constant time in k and in the points. Must only be called when dp_x25519_avx2_available() is 1.
   `out` may be `in` itself (all inputs are read before the first output byte is written). */
void dp_x25519_avx2_x4(const uint8_t k[32], const uint8_t in[128], uint8_t out[128]);

#ifdef __cplusplus
}
#endif

#endif /* DP_X25519_AVX2_H */
