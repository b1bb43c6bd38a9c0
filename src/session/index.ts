export * from './identity.js';
export {
  ABORTED_AFTER_DATA,
  type AbortedRunContribution,
  type BeforeRunContext,
  checkTerms,
  establishSession,
  isPeerError,
  type ReceiptContribution,
  type RequesterSessionOptions,
  type ResponderSessionOptions,
  type Session,
  type SessionOptionsBase,
  type SessionPolicy,
} from './session.js';
export { SESSION_LIMITS, SESSION_VERSION, SessionMessageType, type SessionRole, type SessionTerms } from './messages.js';
export type { SessionRunOptions, StoredKeySketch } from './run-options.js';
export type { ReceiptKeySketch } from './sketch-record.js';
export { sourceCommitment, sourceCommitmentKey, MAX_COMMITTED_QUERY_CHARS, type ReceiptSource } from './source-commit.js';
export {
  checkSecurityModel,
  SECURITY_MODEL_OPTION,
  SECURITY_MODELS,
  securityModelOf,
  withSecurityModel,
  type SecurityModel,
} from './security-model.js';
export {
  checkKeySchema,
  describeKeySchema,
  KEY_COLUMNS_OPTION,
  KEY_SCHEMA_OPTION,
  keySchemaOf,
  keySchemaTermsOptions,
  type KeySchema,
  type KeySchemaSpec,
} from './key-schema.js';
export { checkPayloadTerms, PAYLOAD_OPTIONS, type PayloadShape } from './payload-terms.js';
export { buildPayloadRows, worstCasePayloadRows, type PayloadRelease, type PayloadReleaseContext } from './payload-release.js';
export { compareValueScales, encodeValueScales, VALUE_SCALES_OPTION, valueScalesOf, type ValueScale } from './value-scales.js';
export { checkOfferedColumns, describeQueryColumns, OFFERED_COLUMNS_OPTION, offeredColumnsTermsOptions, statedColumns } from './column-schema.js';
export {
  JOB_BUCKET_OPTIONS,
  PSI_PROTOCOL_NAME,
  PSI_SUITE_OPTION,
  preparePsiRecords,
  runPsi,
  type JobBucketBinding,
  type PreparedPsiRecords,
  type PsiPayloadSpec,
  type PsiTerms,
  type RunPsiResult,
  type RunPsiSessionOptions,
} from './run-psi.js';
export {
  BUCKET_PRF,
  bucketIndex,
  checkJobId,
  closePsiJob,
  jobSpecOf,
  MAX_JOB_BUCKETS,
  openPsiJob,
  PSI_JOB_PROTOCOL_NAME,
  PSI_SUM_JOB_PROTOCOL_NAME,
  type ClosePsiJobOptions,
  type JobRelease,
  type JobTotals,
  type PsiSumJobTerms,
  type OpenedPsiJob,
  type OpenPsiJobOptions,
  type PsiJobSpec,
} from './run-job.js';
export {
  closePsiSumJob,
  drawJobOffsets,
  jobMaskShares,
  psiSumJobModulus,
  psiSumJobTotals,
  type ClosePsiSumJobOptions,
  type PsiSumBucketPart,
  type PsiSumJobOutcome,
} from './run-psi-sum-job.js';
export {
  formatSums,
  PSI_SUM_PROTOCOL_NAME,
  runPsiSum,
  type PsiSumPolicy,
  type PsiSumTerms,
  type PsiSumValues,
  type RunPsiSumOptions,
  type RunPsiSumResult,
} from './run-psi-sum.js';
export {
  AGGREGATE_PROTOCOL_NAME,
  createAggregateOperator,
  runAggregateAnalyst,
  runAggregateProvider,
  type AggregateOperator,
  type AggregateOperatorOptions,
  type AggregateOperatorResult,
  type RunAggregateAnalystOptions,
  type RunAggregateAnalystResult,
  type RunAggregateProviderOptions,
  type RunAggregateProviderResult,
} from './run-aggregate.js';
export {
  createMemoryProductCacheStore,
  fetchProductCache,
  openStoredProductCache,
  PRODUCT_PROTOCOLS,
  queryProduct,
  serveProductSession,
  type FetchProductOptions,
  type FetchProductResult,
  type OpenedProductCache,
  type ProductCacheStore,
  type ProductHolder,
  type QueryProductOptions,
  type QueryProductResult,
  type ServeProductOptions,
  type ServeProductResult,
} from './run-product.js';
