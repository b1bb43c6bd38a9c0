/**
 * psi-sum: intersection size, exact sums and means over a private intersection (PSI + BFV).
 * See docs/psi-sum.md for the protocol, its parameters and what each party learns.
 * @module
 */
// `runPsiSum` (the session-level call) is exported by `src/session/index.ts`; the package entry
// points export it unchanged.
export {
  runPsiSumIdHolder,
  runPsiSumValueHolder,
  createPsiSumIdHolder,
  createPsiSumValueHolder,
  drivePsiSumMachine,
  MAX_PSI_SUM_PEER_SET_SIZE,
  PSI_SUM_HE_MEMORY_BUDGET,
  estimatePsiSumHeMemory,
  type PsiSumStep,
  type PsiSumMachine,
  choosePlainBits,
  epsilonEach,
  type PsiSumProtocolOptions,
  type PsiSumPartyArgs,
  type PsiSumJobShare,
  type PsiSumPartyOutcome,
  type PsiSumPhase,
  type PsiSumProgress,
  type ValueHolderInput,
} from './protocol.js';
export { aggregateValueRows, type ValueColumnRequest } from './values.js';
export {
  PSI_SUM_HE_OFFLOAD_MIN_BLOCKS,
  type PsiSumHeOffload,
  type PsiSumTaskOptions,
  type PsiSumTaskRunner,
} from './he-parallel.js';
export type { PsiSumEncryptPayload, PsiSumEvaluatePayload } from './he-tasks.js';
export { PSI_SUM_VERSION, PSI_SUM_LIMITS, type ColumnSpec } from './codec.js';
