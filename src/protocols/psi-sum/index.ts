/**
 * psi-sum: intersection size, exact sums and means over a private intersection (PSI + BFV).
 * See docs/psi-sum.md for the protocol, its parameters and what each party learns.
 * @module
 */
export { runPsiSum, PSI_SUM_PROTOCOL_NAME, type RunPsiSumOptions, type RunPsiSumResult, type PsiSumTerms, type PsiSumPolicy, type PsiSumValues } from './run.js';
export {
  runPsiSumIdHolder,
  runPsiSumValueHolder,
  createPsiSumIdHolder,
  createPsiSumValueHolder,
  drivePsiSumMachine,
  MAX_PSI_SUM_PEER_SET_SIZE,
  type PsiSumStep,
  type PsiSumMachine,
  choosePlainBits,
  epsilonEach,
  type PsiSumProtocolOptions,
  type PsiSumPartyArgs,
  type PsiSumPartyOutcome,
  type ValueHolderInput,
} from './protocol.js';
export { aggregateValueRows, type ValueColumnRequest } from './values.js';
export { PSI_SUM_VERSION, PSI_SUM_LIMITS, type ColumnSpec } from './codec.js';
