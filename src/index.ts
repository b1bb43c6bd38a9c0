/**
 * dataport — privacy-preserving joint computation: ECDH private set intersection, aggregates over
 * a private intersection, multi-party homomorphic aggregation, and a verifiable usage ledger.
 * @module
 */
export * from './errors.js';
export * from './crypto/index.js';
export * from './protocols/index.js';
export * from './session/index.js';
export * from './transport/index.js';
export * from './workers/index.js';
export * from './ledger/index.js';
export * from './he/index.js';
