/**
 * Multi-party homomorphic aggregation (DESIGN.md §4.3): analyst, aggregator and provider state
 * machines, their wire messages, the query format and drivers over any FrameTransport.
 * @module
 */
export {
  AGGREGATE_QUERY_LIMITS,
  aggregateLayout,
  aggregateQueryHash,
  decodeAggregateQuery,
  encodeAggregateQuery,
  heRequestForQuery,
  parseAggregateQuery,
  type AggregateColumn,
  type AggregateLayout,
  type AggregateQuery,
  type AggregateStatistic,
  type SlotMeaning,
} from './query.js';
export { computeLocalAggregates, createLocalAggregator, requiredColumns, type LocalAggregator } from './local.js';
export {
  AGGREGATE_MAX_FRAME_BYTES,
  AGGREGATE_VERSION,
  AbortReason,
  AggregateMessageType,
  decodeAggregateMessage,
  encodeAggregateMessage,
  type AggregateMessage,
} from './messages.js';
export { AGGREGATE_RESULT_COLUMNS, aggregateResultRows, buildAggregateResult, formatAggregateResult, type AggregateGroupResult, type AggregateResult, type AggregateStatisticResult } from './result.js';
export { createAggregator, type AggregatorMachine, type AggregatorOptions, type AggregatorOutcome, type AggregatorSend, type AggregatorStep } from './aggregator.js';
export { createAnalyst, type AnalystMachine, type AnalystOptions } from './analyst.js';
export { querySigningInput, signQuery, verifyQuerySignature } from './signature.js';
export { createProvider, MIN_QUORUM_FLOOR, type ProviderMachine, type ProviderOptions, type ProviderStep } from './provider.js';
export {
  runAggregator,
  runAggregatorRound,
  runAnalyst,
  runProvider,
  type AggregateProgress,
  type AggregateProgressHook,
  type AggregateProgressPhase,
  type AggregatorRoundResult,
  type RunAggregatorOptions,
  type RunAnalystOptions,
  type RunProviderOptions,
} from './drive.js';
