export { createInlineExecutor, type CryptoExecutor, type InlineExecutorOptions } from './executor.js';
