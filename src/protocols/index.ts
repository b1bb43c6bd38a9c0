export { createInlineExecutor, type CryptoExecutor, type InlineExecutorOptions } from './executor.js';
export * from './psi/index.js';
export * from './psi-sum/index.js';
