export { createInlineExecutor, type CryptoExecutor, type InlineExecutorOptions } from './executor.js';
export * from './psi/index.js';
