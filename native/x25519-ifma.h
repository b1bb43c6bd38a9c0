/*
 * 8-way X25519 with AVX-512 IFMA (vpmadd52luq / vpmadd52huq): eight u-coordinates multiplied by the
 * same scalar at once, one point per 64-bit lane, field elements in radix 2^52 (5 limbs).
 */
#ifndef DP_X25519_IFMA_H
#define DP_X25519_IFMA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this CPU and OS support AVX-512F, AVX-512VL and AVX-512 IFMA (checked once, at run time:
   __builtin_cpu_supports, plus OS support of the ZMM state via xgetbv when you can), else 0.
   On a non-x86-64 build the file compiles to a version that always returns 0. */
int dp_x25519_ifma_available(void);

/* For i = 0..7: out + 32*i = X25519(k, in + 32*i) exactly as RFC 7748 §5: k is the 32-byte scalar
   ALREADY CLAMPED by the caller (use it as is: bits 254..0 drive the ladder); each u is 32 bytes
   little-endian, the top bit (bit 255) is masked off, NON-CANONICAL u (>= 2^255-19) are accepted and
   reduced; the output is the fully reduced little-endian x-coordinate (all zero for a low-order u).
   Constant time in k and in the points. Must only be called when dp_x25519_ifma_available() is 1. */
void dp_x25519_ifma_x8(const uint8_t k[32], const uint8_t in[256], uint8_t out[256]);

#ifdef __cplusplus
}
#endif

#endif /* DP_X25519_IFMA_H */
