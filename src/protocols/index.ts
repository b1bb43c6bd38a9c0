export { createInlineExecutor, type CryptoExecutor, type InlineExecutorOptions } from './executor.js';
export * from './psi/index.js';
export * from './psi-sum/index.js';
export * from './aggregate/index.js';
export * from './ppca/index.js';
export {
  discreteLaplaceBound,
  enforceMinCohort,
  meetsMinCohort,
  parseEpsilon,
  sampleBoundedDiscreteLaplace,
  sampleDiscreteLaplace,
  splitEpsilon,
  type DpRecord,
  type EpsilonRational,
  type RandomSource,
} from './guardrails.js';
export * from './product/index.js';
