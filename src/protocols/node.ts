/**
 * The protocols' Node-only exports (`dataport/node`): fingerprinting, whose detection needs
 * `node:crypto`'s batched AES.
 * @module
 */
export * from './fingerprint/index.js';
