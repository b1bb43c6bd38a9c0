/**
 * Node.js-only APIs (files, servers, TLS): `import … from 'dataport/node'`.
 * Each layer keeps its Node-only exports in `src/<layer>/node.ts`.
 * @module
 */
export * from './index.js';
export * from './ledger/node.js';
export * from './protocols/node.js';
export * from './transport/node.js';
export * from './session/node.js';
export * from './workers/node.js';
export * from './he/node.js';
export * from './sources/node.js';
export * from './supervise/index.js';
