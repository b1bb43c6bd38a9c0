/**
 * The seam between sans-I/O protocols and whatever runs their batch cryptography: an inline
 * executor (this file) or the worker pool (`src/workers/`), which must give identical results.
 * @module
 */
import { encodeToCurveBatch } from '../crypto/hash-to-curve.js';
import { createGroup, type BackendName, type Group } from '../crypto/group.js';
import { ppcaHashBatch, ppcaMultiplyBatch, type PpcaSuiteName } from '../crypto/ppca-suite.js';
import { throwIfAborted } from '../errors.js';
import { truncateValues } from './psi/values.js';

/**
 * Batch crypto used by the protocols. Points travel as one flat `Uint8Array` of `n * 32` bytes
 * (32-byte little-endian u-coordinates), which is cheap to transfer to a worker.
 */
export interface CryptoExecutor {
  /** `encode_to_curve(ekm || record)` for every record (curve25519 suite, PSI DST); flat n*32 bytes. */
  hashToGroup(records: readonly Uint8Array[], ekm: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
  /** X25519(scalar, u) for every 32-byte u in `points`; flat n*32 bytes. Rejects low-order inputs. */
  multiply(scalar: Uint8Array, points: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * X25519(scalar, u) for every u, each result truncated to `outBytes` (16 or 24: HKDF-SHA-512 with
   * info "ECDH-PSI", draft-wang-ppm-ecdh-psi-01 §3; 32: untruncated); flat n*outBytes bytes. The
   * same bytes as `truncateValues(await multiply(...), outBytes)`, in one pass where the
   * multiplication runs (a worker, with the pool), so the caller's thread does no hashing.
   * Optional: the PSI parties fall back to `multiply` followed by `truncateValues`.
   */
  multiplyAndTruncate?(scalar: Uint8Array, points: Uint8Array, outBytes: 16 | 24 | 32, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * PPCA suites (`src/crypto/ppca-suite.ts`): every record hashed to the suite's group; flat
   * `n * ppcaPointBytes(suite)` bytes. Optional: the PPCA protocol hashes inline without it.
   */
  ppcaHash?(suite: PpcaSuiteName, records: readonly Uint8Array[], signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * PPCA suites: every point of the flat batch (already checked with `ppcaNormalizePeerPoints` if
   * it came from a peer) multiplied by `scalar`; same length. Optional: the PPCA protocol falls
   * back to `multiply` (curve25519) or the inline SM2 multiplication.
   */
  ppcaMultiply?(suite: PpcaSuiteName, scalar: Uint8Array, points: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
  /** Releases threads or other resources (no-op inline). */
  close(): Promise<void>;
}

/** Options of {@link createInlineExecutor}. */
export interface InlineExecutorOptions {
  /** Force a scalar-multiplication backend (default: the fastest available). */
  backend?: BackendName;
}

/**
 * An executor that runs everything on the calling thread.
 *
 * @example
 * ```ts
 * const ex = await createInlineExecutor();
 * const points = await ex.hashToGroup([new TextEncoder().encode('alice')], new Uint8Array());
 * ```
 */
export async function createInlineExecutor(options: InlineExecutorOptions = {}): Promise<CryptoExecutor> {
  const group: Group = await createGroup(options.backend);
  return {
    async hashToGroup(records, ekm, signal) {
      throwIfAborted(signal);
      return encodeToCurveBatch(records, ekm);
    },
    async multiply(scalar, points, signal) {
      throwIfAborted(signal);
      return group.multiplyBatch(scalar, points, signal);
    },
    async multiplyAndTruncate(scalar, points, outBytes, signal) {
      throwIfAborted(signal);
      return truncateValues(await group.multiplyBatch(scalar, points, signal), outBytes);
    },
    async ppcaHash(suite, records, signal) {
      throwIfAborted(signal);
      return ppcaHashBatch(suite, records);
    },
    async ppcaMultiply(suite, scalar, points, signal) {
      throwIfAborted(signal);
      return ppcaMultiplyBatch(suite, scalar, points, group, signal);
    },
    async close() {},
  };
}
