/**
 * The ECDH-PSI state machines (sans-I/O): one per role, pumped by a driver (`driver.ts`) or by any
 * other code that moves frames. The machine never touches a socket; batch crypto goes through the
 * injected {@link CryptoExecutor}.
 *
 * Message sequence (pinned; every box is one frame, `k` = ⌈n / batchSize⌉ frames per round):
 *
 * ```
 *   requester R (connects)                         responder S
 *   ───────────────────────                        ───────────
 *   HandshakeRequest (item_num = |X|)   ───────▶
 *                                       ◀───────   HandshakeResponse (item_num = |Y|)
 *   round 1: H(x)^a, kX batches         ───────▶   S re-masks: H(x)^ab  (kept or sent back)
 *                                       ◀───────   round 1: H(y)^b, kY batches
 *   R re-masks: H(y)^ba
 *   ── mode 0 (both learn) and 3 (count to both) only:
 *   round 2: H(y)^ba, kY batches        ───────▶   S matches (mode 0: with the indexes of its
 *                                                   own batches; mode 3: a shuffled, re-indexed set)
 *   ── every mode:
 *                                       ◀───────   round 2: H(x)^ab, kX batches
 *   R matches (mode 0/1: per record, by the preserved indexes of its own batches;
 *              mode 2/3: only a count, the set arrives shuffled under fresh indexes)
 * ```
 *
 * | mode | wire | R learns | S learns |
 * |---|---|---|---|
 * | both (0) | draft | its records in X∩Y | its records in X∩Y |
 * | requester (1) | draft | its records in X∩Y | nothing |
 * | count to requester (2) | dataport | \|X∩Y\| | nothing |
 * | count to both (3) | dataport | \|X∩Y\| | \|X∩Y\| |
 *
 * Both always learn the other's set size (item_num). Count-only (modes 2, 3): the party that
 * re-masks the learner's points shuffles all of them with a CSPRNG permutation, re-cuts them into
 * batches under fresh random indexes and so drops every link between a returned value and the
 * learner's round-1 position. The learner holds H(x)^ab for its own x only as an unordered set, and
 * cannot compute H(x)^ab itself without the peer's secret b, so it can count matches with the
 * peer's H(y)^ab but not attribute them.
 *
 * Beyond the draft, also in modes 0/1: each party shuffles its records before batching, and batch
 * indexes are random uint64s from the CSPRNG (interop mode: 0, 1, …), so neither the order of the
 * caller's rows nor anything about the positions reaches the peer.
 *
 * Checks on every received frame: the expected struct and batch type for the current step; point
 * counts against the peer's announced `item_num`; `is_last_batch` set on exactly the final batch;
 * round-1 indexes distinct; round-2 indexes exactly those this party sent (each once, with the
 * same number of values); round-1 points valid before they are multiplied by the secret
 * (`suite.ts` `checkPeerPoints`: curve25519 canonical, on the curve, not low order; SM2 compressed,
 * x < p, on the curve); no duplicated values.
 * @module
 */
import {
  DataportError,
  LimitExceededError,
  MalformedMessageError,
  ProtocolVersionError,
  TermsRefusedError,
  UnexpectedMessageError,
  throwIfAborted,
} from '../../errors.js';
import type { CryptoExecutor } from '../executor.js';
import {
  BatchType,
  CipherSuite,
  HandshakeStatus,
  OutputMode,
  PSI_VERSION,
  PointOctetFormat,
  decodeEcdhPsiBatch,
  decodeHandshakeRequest,
  decodeHandshakeResponse,
  encodeEcdhPsiBatch,
  encodeHandshakeRequest,
  encodeHandshakeResponse,
  valueBytes,
  type OutputModeValue,
  type TruncationOptionValue,
} from './codec.js';
import { dedupeRecords, rowsForKeys, type DedupedRecords } from './normalize.js';
import { LazyPermutation, PeerIndexSet, ValueTable, randomIndexes } from './values.js';
import type { PayloadRequesterView, PayloadResponderView } from './payload.js';
import { checkPeerPoints, checkPsiSuite, generateInvertiblePsiScalarPair, generatePsiScalar, hashAndMask, maskPeerPoints, psiPointBytes, type PsiSuiteName } from './suite.js';
import { createYielder } from './yield.js';

/** Who learns what (see the table in this module's documentation). */
export type PsiOutput = 'both' | 'requester';

/**
 * Options of the PSI protocol. Both parties pass the same values (the session layer agrees them in
 * the job's terms); the responder refuses a request that differs from its own options.
 */
export interface PsiProtocolOptions {
  /** Who learns the result: `'both'` (default) or `'requester'` only. */
  output?: PsiOutput;
  /** Output only the intersection size; no record learns its membership (default false). */
  cardinalityOnly?: boolean;
  /** Round-2 truncation option: 0 none (32 bytes), 1 = 128 bits (default), 2 = 192 bits. */
  truncation?: TruncationOptionValue;
  /** Points per frame this party sends (default 16384 = 2^14). Ignored in interop mode. */
  batchSize?: number;
  /** Largest number of points accepted in one received frame (default 65536). */
  maxBatchPoints?: number;
  /** Largest set size accepted from the peer (default 2^23); larger ends with `LimitExceededError`. */
  maxPeerSetSize?: number;
  /**
   * Bare draft interoperability: output modes 0/1 only, ekm must be empty, every round in a single
   * batch, indexes 0, 1, …. Unauthenticated: use only for testing against other implementations.
   */
  interop?: boolean;
  /**
   * The group (`suite.ts`): `'curve25519'` (default; the draft's code point 4) or `'sm2-sm3'` (SM2
   * with the SM3 map, a dataport code point; not in interop mode). Both parties must pass the same.
   */
  suite?: PsiSuiteName;
}

/** Options after defaults, as the state machines use them. */
export interface ResolvedPsiOptions {
  readonly outputMode: OutputModeValue;
  readonly truncation: TruncationOptionValue;
  readonly batchSize: number;
  readonly maxBatchPoints: number;
  readonly maxPeerSetSize: number;
  readonly interop: boolean;
  readonly suite: PsiSuiteName;
}

/**
 * Default points per frame.
 *
 * @example
 * ```ts
 * runPsiProtocol({ ...args, options: { batchSize: DEFAULT_BATCH_SIZE / 4 } });
 * ```
 */
export const DEFAULT_BATCH_SIZE = 1 << 14;
/**
 * Default largest accepted frame, in points.
 *
 * @example
 * ```ts
 * resolvePsiOptions().maxBatchPoints === DEFAULT_MAX_BATCH_POINTS;
 * ```
 */
export const DEFAULT_MAX_BATCH_POINTS = 1 << 16;
/**
 * Default largest accepted peer set.
 *
 * @example
 * ```ts
 * resolvePsiOptions().maxPeerSetSize === DEFAULT_MAX_PEER_SET_SIZE;
 * ```
 */
export const DEFAULT_MAX_PEER_SET_SIZE = 1 << 23;

/** The handshake's code points per suite (codec.ts: `CipherSuite`, `PointOctetFormat`). */
const SUITE_CODES: Record<PsiSuiteName, { readonly suite: number; readonly format: number }> = {
  curve25519: { suite: CipherSuite.CURVE25519, format: PointOctetFormat.U_COORDINATE },
  'sm2-sm3': { suite: CipherSuite.SM2_SM3_TAI, format: PointOctetFormat.X962_COMPRESSED },
};

/** Received points validated per slice (~10 ms) before the event loop may run. */
const VALIDATE_SLICE = 2048;

/** Own round-1 batches computed ahead of sending (bounds memory to a frame or two). */
const R1_PREFETCH_BATCHES = 1;

/** Round-1 batches being masked at once on the receiving side (bounds memory to a few frames). */
const R1_PIPELINE_DEPTH = 2;

function positiveInt(v: unknown, name: string, max = 2 ** 32 - 1): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max) {
    throw new RangeError(`${name} must be an integer in 1..${max}`);
  }
  return v;
}

/**
 * Applies defaults and checks `options`; throws `TypeError` / `RangeError` naming the bad field.
 *
 * @example
 * ```ts
 * resolvePsiOptions({ output: 'requester', truncation: 2 }).outputMode; // 1
 * ```
 */
export function resolvePsiOptions(options: PsiProtocolOptions = {}): ResolvedPsiOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const output = options.output ?? 'both';
  if (output !== 'both' && output !== 'requester') throw new TypeError("options.output must be 'both' or 'requester'");
  const cardinalityOnly = options.cardinalityOnly ?? false;
  if (typeof cardinalityOnly !== 'boolean') throw new TypeError('options.cardinalityOnly must be a boolean');
  const interop = options.interop ?? false;
  if (typeof interop !== 'boolean') throw new TypeError('options.interop must be a boolean');
  const truncation = options.truncation ?? 1;
  if (truncation !== 0 && truncation !== 1 && truncation !== 2) throw new RangeError('options.truncation must be 0, 1 or 2');
  if (interop && cardinalityOnly) throw new TypeError('options.cardinalityOnly is not available in interop mode');
  const suite = checkPsiSuite(options.suite ?? 'curve25519', 'options.suite');
  if (interop && suite !== 'curve25519') throw new TypeError("options.suite must be 'curve25519' in interop mode (the draft's suite)");
  const outputMode: OutputModeValue = cardinalityOnly
    ? output === 'both'
      ? OutputMode.CARDINALITY_BOTH
      : OutputMode.CARDINALITY_REQUESTER
    : output === 'both'
      ? OutputMode.BOTH
      : OutputMode.REQUESTER;
  const maxPeerSetSize = positiveInt(options.maxPeerSetSize ?? DEFAULT_MAX_PEER_SET_SIZE, 'options.maxPeerSetSize');
  return {
    outputMode,
    truncation,
    batchSize: positiveInt(options.batchSize ?? DEFAULT_BATCH_SIZE, 'options.batchSize'),
    // Interop peers send each round as one batch, so one frame may hold the whole set.
    maxBatchPoints: interop ? maxPeerSetSize : positiveInt(options.maxBatchPoints ?? DEFAULT_MAX_BATCH_POINTS, 'options.maxBatchPoints'),
    maxPeerSetSize,
    interop,
    suite,
  };
}

/** What a party wants next. `failed`: see {@link PsiParty.error}. */
export type PsiPartyStatus = 'send' | 'receive' | 'done' | 'failed';

/** Steps of the flow, for progress reports. */
export type PsiPhase = 'handshake' | 'round1-send' | 'round1-receive' | 'round2-send' | 'round2-receive' | 'done';

/** Progress of one party (point counts so far / expected in the current phase). */
export interface PsiProgress {
  readonly phase: PsiPhase;
  readonly points: number;
  readonly totalPoints: number;
}

/** What one party learned ({@link PsiParty.result}). */
export interface PsiPartyResult {
  /** `'intersection'` (which rows), `'cardinality'` (only the count) or `'nothing'`. */
  readonly learned: 'intersection' | 'cardinality' | 'nothing';
  /** Row indexes (into the records given) whose key is in the intersection, ascending. */
  readonly intersection?: number[];
  /** Number of distinct keys in the intersection, when this party learns it. */
  readonly intersectionSize?: number;
  /** Distinct keys of this party (what the peer was told). */
  readonly selfSetSize: number;
  /** Distinct keys the peer announced. */
  readonly peerSetSize: number;
}

/** Inputs of {@link createPsiRequester} / {@link createPsiResponder}. */
export interface PsiPartyConfig {
  /** Record bytes per row (see `normalizeKey`); `undefined` rows are skipped; duplicates collapse. */
  records: readonly (Uint8Array | undefined)[];
  /** Session binding prepended to every record before hashing (draft §3); empty in interop mode. */
  ekm: Uint8Array;
  /** Runs the batch crypto. */
  executor: CryptoExecutor;
  /** Protocol options (both parties pass the same). */
  options?: PsiProtocolOptions;
  /**
   * `dedupeRecords(records)` when the caller has it already (e.g. from `dedupeRecordsAsync`, which
   * keeps the event loop responsive for large inputs); computed here otherwise. It must be of
   * exactly these records: its `keyOfRow` length is checked.
   */
  deduped?: DedupedRecords;
  /**
   * Keep what the payload phase needs (payload.ts; not interop, a requester that learns the
   * intersection): the requester draws its secret with an inverse and remembers which responder
   * position each of its keys matched; the responder keeps the requester's checked round-1 points.
   */
  payload?: boolean;
}

/**
 * One party of ECDH-PSI as a pull-driven state machine: while `status` is `'send'` call
 * {@link PsiParty.nextFrame} and send what it returns; while `'receive'` pass the next frame to
 * {@link PsiParty.receiveFrame}; at `'done'` read {@link PsiParty.result}. Any error (thrown from
 * either method) moves it to `'failed'` for good. Pulling one frame at a time keeps memory bounded:
 * outgoing batches are computed only when the transport can take them.
 */
export interface PsiParty {
  readonly role: 'requester' | 'responder';
  readonly status: PsiPartyStatus;
  /** The error that failed the party, if any. */
  readonly error: DataportError | Error | undefined;
  readonly progress: PsiProgress;
  /** Computes the next outgoing frame. Only while `status === 'send'`. */
  nextFrame(signal?: AbortSignal): Promise<Uint8Array>;
  /** Consumes one incoming frame. Only while `status === 'receive'`. */
  receiveFrame(frame: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** The outcome. Only once `status === 'done'`. */
  result(): PsiPartyResult;
  /** What the payload phase needs (payload.ts), once `'done'`, when created with `payload`. @internal */
  payloadView(): PayloadRequesterView | PayloadResponderView;
}

type Step =
  | 'send-hs-request'
  | 'recv-hs-request'
  | 'send-hs-response'
  | 'send-refusal'
  | 'recv-hs-response'
  | 'send-r1'
  | 'recv-r1'
  | 'send-r2'
  | 'recv-r2'
  | 'done';

interface PeerBatch {
  readonly index: bigint;
  readonly offset: number;
  readonly count: number;
  /** The peer's checked round-1 points (kept for the payload phase only). */
  readonly points?: Uint8Array;
}

class Party implements PsiParty {
  readonly role: 'requester' | 'responder';
  private readonly opts: ResolvedPsiOptions;
  private readonly executor: CryptoExecutor;
  private readonly ekm: Uint8Array;
  private readonly scalar: Uint8Array;
  private readonly deduped: DedupedRecords;
  private readonly n: number;
  private readonly L: number;
  /** Bytes of one round-1 point on the wire (32 or 33, by suite). */
  private readonly pointBytes: number;
  /** The suite's code point and point format in the handshake. */
  private readonly codes: { readonly suite: number; readonly format: number };
  private readonly batchSize: number;
  /** Send position → key index: records leave in a random order. */
  private readonly perm: LazyPermutation;
  private readonly selfIndexes: bigint[];
  /** Own random indexes: the peer only looks them up, which cannot lengthen V8's bucket chains. */
  private readonly batchOfIndex = new Map<bigint, number>();
  private steps: Step[] = [];
  private stepNo = 0;
  private failure: Error | undefined;
  private busy = false;
  private pendingRefusal: DataportError | undefined;

  private peerN = 0;
  private table: ValueTable | undefined;
  private readonly peerBatches: PeerBatch[] = [];
  /** Peer-chosen indexes, at most one per point (the codec refuses empty batches): keyed buckets. */
  private readonly peerIndexSet = new PeerIndexSet();
  private peerReceived = 0;
  /**
   * Round-1 batches received whose masking is still running: their values enter the table in
   * arrival order (each insert waits for the previous one), at most {@link R1_PIPELINE_DEPTH} at once.
   */
  private r1Pending: Promise<void>[] = [];
  /** This party's round-1 batches being computed ahead of sending, by batch number. */
  private readonly r1Prefetch = new Map<number, Promise<Uint8Array>>();

  private selfSent = 0; // round-1 batches sent
  private r2Sent = 0; // round-2 batches sent
  private r2Perm: LazyPermutation | undefined;
  private r2Indexes: bigint[] = [];
  private readonly r2Seen = new PeerIndexSet();
  private r2Points = 0;
  private readonly matchedKey: Uint8Array;
  private tableHit: Uint8Array | undefined;
  private matchedCount = 0;
  private phasePoints = 0;
  private readonly payload: boolean;
  /** Requester with payload: undoes {@link Party.scalar} (generateInvertibleScalarPair). */
  private readonly unmask: Uint8Array | undefined;
  /** Requester with payload: own key → the responder position (table entry) it matched, or -1. */
  private readonly matchedEntry: Int32Array | undefined;

  constructor(role: 'requester' | 'responder', config: PsiPartyConfig) {
    if (config === null || typeof config !== 'object') throw new TypeError('config must be an object');
    if (!(config.ekm instanceof Uint8Array)) throw new TypeError('config.ekm must be a Uint8Array');
    const ex = config.executor;
    if (!ex || typeof ex.hashToGroup !== 'function' || typeof ex.multiply !== 'function') {
      throw new TypeError('config.executor must be a CryptoExecutor');
    }
    this.role = role;
    this.opts = resolvePsiOptions(config.options);
    if (this.opts.interop && config.ekm.length !== 0) throw new RangeError('config.ekm must be empty in interop mode');
    this.executor = ex;
    this.ekm = config.ekm;
    if (config.deduped !== undefined) {
      const d = config.deduped;
      if (!Array.isArray(d.keys) || !(d.keyOfRow instanceof Int32Array) || d.keyOfRow.length !== config.records.length) {
        throw new TypeError('config.deduped must be dedupeRecords(config.records)');
      }
      this.deduped = d;
    } else {
      this.deduped = dedupeRecords(config.records);
    }
    this.n = this.deduped.keys.length;
    if (this.n > 2 ** 32 - 1) throw new RangeError('too many records');
    this.L = valueBytes(this.opts.truncation);
    this.batchSize = this.opts.interop ? Math.max(1, this.n) : this.opts.batchSize;
    // Drawn batch by batch (sendRound1), so a 10^6-record party does not pay for it in one go.
    this.perm = new LazyPermutation(this.n);
    const k = Math.ceil(this.n / this.batchSize);
    this.selfIndexes = this.opts.interop ? Array.from({ length: k }, (_, i) => BigInt(i)) : randomIndexes(k);
    this.selfIndexes.forEach((idx, j) => this.batchOfIndex.set(idx, j));
    this.matchedKey = new Uint8Array(this.n);
    this.payload = config.payload ?? false;
    if (this.payload) {
      if (this.opts.interop) throw new TypeError('config.payload is not available in interop mode');
      if (this.cardinality) throw new TypeError('config.payload needs a requester that learns the intersection (not cardinality-only)');
    }
    // A fresh secret per session (draft §5: reuse would make this party a static-DH oracle).
    if (this.payload && role === 'requester') {
      const pair = generateInvertiblePsiScalarPair(this.opts.suite);
      this.scalar = pair.mask;
      this.unmask = pair.unmask;
      this.matchedEntry = new Int32Array(this.n).fill(-1);
    } else {
      this.scalar = generatePsiScalar(this.opts.suite);
    }
    this.pointBytes = psiPointBytes(this.opts.suite);
    this.codes = SUITE_CODES[this.opts.suite];
    this.steps = role === 'requester' ? ['send-hs-request', 'recv-hs-response'] : ['recv-hs-request', 'send-hs-response'];
  }

  // ---- flow -------------------------------------------------------------------------------------

  private get mode(): OutputModeValue {
    return this.opts.outputMode;
  }
  private get cardinality(): boolean {
    return this.mode === OutputMode.CARDINALITY_BOTH || this.mode === OutputMode.CARDINALITY_REQUESTER;
  }
  /** Whether this party learns something (the requester always does). */
  private get selfLearns(): boolean {
    return this.role === 'requester' || this.mode === OutputMode.BOTH || this.mode === OutputMode.CARDINALITY_BOTH;
  }
  private get peerLearns(): boolean {
    return this.role === 'responder' || this.mode === OutputMode.BOTH || this.mode === OutputMode.CARDINALITY_BOTH;
  }
  private get step(): Step {
    return this.steps[this.stepNo] ?? 'done';
  }

  /** Lays out the steps after the handshake (see the diagram in the module documentation). */
  private planAfterHandshake(): void {
    const r1: Step[] = this.role === 'requester' ? ['send-r1', 'recv-r1'] : ['recv-r1', 'send-r1'];
    const requesterSendsR2 = this.mode === OutputMode.BOTH || this.mode === OutputMode.CARDINALITY_BOTH;
    const r2: Step[] = [];
    if (requesterSendsR2) r2.push(this.role === 'requester' ? 'send-r2' : 'recv-r2');
    r2.push(this.role === 'requester' ? 'recv-r2' : 'send-r2');
    this.steps.push(...r1, ...r2, 'done');
  }

  /** Moves past the current step and every following step that has nothing to do. */
  private advance(): void {
    this.stepNo++;
    this.phasePoints = 0;
    for (;;) {
      const s = this.step;
      if (s === 'send-r1' && this.n === 0) this.stepNo++;
      else if (s === 'recv-r1' && this.peerN === 0) this.stepNo++;
      else if (s === 'send-r2' && (this.peerN === 0 || !this.peerLearns)) this.stepNo++;
      else if (s === 'recv-r2' && (this.n === 0 || !this.selfLearns)) this.stepNo++;
      else break;
    }
    if (this.step === 'done') this.scalar.fill(0);
  }

  get status(): PsiPartyStatus {
    if (this.failure) return 'failed';
    const s = this.step;
    if (s === 'done') return 'done';
    return s.startsWith('send') ? 'send' : 'receive';
  }

  get error(): Error | undefined {
    return this.failure;
  }

  get progress(): PsiProgress {
    const s = this.step;
    const phase: PsiPhase =
      s === 'send-r1'
        ? 'round1-send'
        : s === 'recv-r1'
          ? 'round1-receive'
          : s === 'send-r2'
            ? 'round2-send'
            : s === 'recv-r2'
              ? 'round2-receive'
              : s === 'done'
                ? 'done'
                : 'handshake';
    const total = s === 'send-r1' || s === 'recv-r2' ? this.n : s === 'recv-r1' || s === 'send-r2' ? this.peerN : 0;
    return { phase, points: this.phasePoints, totalPoints: total };
  }

  private fail(e: unknown): never {
    const err = e instanceof Error ? e : new Error(String(e));
    this.failure ??= err;
    this.scalar.fill(0);
    this.unmask?.fill(0);
    throw this.failure;
  }

  private async guard<T>(want: 'send' | 'receive', fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.failure) throw this.failure;
    if (this.busy) throw new TypeError('PsiParty: a call is already in progress');
    if (this.status !== want) throw new TypeError(`PsiParty: status is '${this.status}', not '${want}'`);
    this.busy = true;
    try {
      throwIfAborted(signal);
      return await fn();
    } catch (e) {
      return this.fail(e);
    } finally {
      this.busy = false;
    }
  }

  // ---- sending ----------------------------------------------------------------------------------

  nextFrame(signal?: AbortSignal): Promise<Uint8Array> {
    return this.guard('send', async () => {
      switch (this.step) {
        case 'send-hs-request':
          return this.sendHandshakeRequest();
        case 'send-hs-response':
          return this.sendHandshakeResponse();
        case 'send-refusal':
          return this.sendRefusal();
        case 'send-r1':
          return this.sendRound1(signal);
        case 'send-r2':
          return this.sendRound2();
        default:
          throw new Error('internal: no frame to send');
      }
    }, signal);
  }

  private sendHandshakeRequest(): Uint8Array {
    const frame = encodeHandshakeRequest({
      version: PSI_VERSION,
      suites: [this.codes.suite],
      pointOctetFormats: [this.codes.format],
      outputMode: this.mode,
      truncationOptions: [this.opts.truncation],
      itemNum: BigInt(this.n),
    });
    this.advance();
    return frame;
  }

  private sendHandshakeResponse(): Uint8Array {
    const frame = encodeHandshakeResponse({
      version: PSI_VERSION,
      status: HandshakeStatus.ACCEPTED,
      suite: this.codes.suite,
      pointOctetFormat: this.codes.format,
      outputMode: this.mode,
      truncationOption: this.opts.truncation,
      itemNum: BigInt(this.n),
    });
    this.advance();
    return frame;
  }

  /** Tells the requester why not (by status only), then fails with the local reason. */
  private sendRefusal(): Uint8Array {
    const frame = encodeHandshakeResponse({
      version: PSI_VERSION,
      status: HandshakeStatus.REFUSED,
      suite: this.codes.suite,
      pointOctetFormat: this.codes.format,
      outputMode: this.mode,
      truncationOption: this.opts.truncation,
      itemNum: 0n,
    });
    // The refusal must still leave; the failure is recorded for the driver to raise after sending.
    this.failure = this.pendingRefusal;
    this.scalar.fill(0);
    return frame;
  }

  /** Hashes and masks this party's round-1 batch `j` (draft §3: H(ekm || record), then ^secret). */
  private async computeRound1(j: number, signal?: AbortSignal): Promise<Uint8Array> {
    const from = j * this.batchSize;
    const to = Math.min(this.n, from + this.batchSize);
    const records: Uint8Array[] = new Array(to - from);
    this.perm.ensure(to);
    const perm = this.perm.values;
    for (let p = from; p < to; p++) records[p - from] = this.deduped.keys[perm[p]!]!;
    return hashAndMask(this.opts.suite, this.executor, records, this.ekm, this.scalar, signal);
  }

  /**
   * Starts computing the next round-1 batches this party will send (at most
   * {@link R1_PREFETCH_BATCHES} ahead), so the executor is never idle between frames: the responder
   * does this while it still receives the requester's round 1, each party while its previous frame
   * is on the wire. Only what is sent anyway is computed, in the same order; a failure surfaces
   * when the batch is sent.
   */
  private prefetchRound1(signal?: AbortSignal): void {
    const k = Math.ceil(this.n / this.batchSize);
    for (let j = this.selfSent; j < Math.min(k, this.selfSent + R1_PREFETCH_BATCHES); j++) {
      if (this.r1Prefetch.has(j)) continue;
      const p = this.computeRound1(j, signal);
      p.catch(() => {}); // observed when batch j is sent
      this.r1Prefetch.set(j, p);
    }
  }

  private async sendRound1(signal?: AbortSignal): Promise<Uint8Array> {
    const j = this.selfSent;
    const from = j * this.batchSize;
    const to = Math.min(this.n, from + this.batchSize);
    const pending = this.r1Prefetch.get(j);
    this.r1Prefetch.delete(j);
    const masked = await (pending ?? this.computeRound1(j, signal));
    const isLast = to === this.n;
    const frame = encodeEcdhPsiBatch({ type: BatchType.ROUND1, index: this.selfIndexes[j]!, isLastBatch: isLast, encodedPoints: masked });
    this.selfSent++;
    this.phasePoints = to;
    if (isLast) this.advance();
    else this.prefetchRound1(signal);
    return frame;
  }

  private sendRound2(): Uint8Array {
    const table = this.table!;
    const L = this.L;
    let frame: Uint8Array;
    let isLast: boolean;
    if (!this.cardinality) {
      // Return each of the peer's batches under its own index, values in the peer's order.
      const b = this.peerBatches[this.r2Sent]!;
      isLast = this.r2Sent === this.peerBatches.length - 1;
      const values = table.values.subarray(b.offset * L, (b.offset + b.count) * L);
      frame = encodeEcdhPsiBatch({ type: BatchType.ROUND2, index: b.index, isLastBatch: isLast, encodedPoints: values });
      this.phasePoints = b.offset + b.count;
    } else {
      // Cardinality only: one CSPRNG permutation over all of the peer's values, re-cut into
      // batches under fresh random indexes, so no returned value can be tied to a round-1 position.
      if (this.r2Perm === undefined) {
        this.r2Perm = new LazyPermutation(this.peerN);
        this.r2Indexes = randomIndexes(Math.ceil(this.peerN / this.opts.batchSize));
      }
      const from = this.r2Sent * this.opts.batchSize;
      const to = Math.min(this.peerN, from + this.opts.batchSize);
      const values = new Uint8Array((to - from) * L);
      this.r2Perm.ensure(to);
      const r2Perm = this.r2Perm.values;
      for (let i = from; i < to; i++) {
        const e = r2Perm[i]!;
        values.set(table.values.subarray(e * L, e * L + L), (i - from) * L);
      }
      isLast = to === this.peerN;
      frame = encodeEcdhPsiBatch({ type: BatchType.ROUND2, index: this.r2Indexes[this.r2Sent]!, isLastBatch: isLast, encodedPoints: values });
      this.phasePoints = to;
    }
    this.r2Sent++;
    if (isLast) this.advance();
    return frame;
  }

  // ---- receiving --------------------------------------------------------------------------------

  receiveFrame(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (!(frame instanceof Uint8Array)) return Promise.reject(new TypeError('frame must be a Uint8Array'));
    return this.guard('receive', async () => {
      switch (this.step) {
        case 'recv-hs-request':
          return this.receiveHandshakeRequest(frame);
        case 'recv-hs-response':
          return this.receiveHandshakeResponse(frame);
        case 'recv-r1':
          return this.receiveRound1(frame, signal);
        case 'recv-r2':
          return this.receiveRound2(frame);
        default:
          throw new Error('internal: not receiving');
      }
    }, signal);
  }

  private checkPeerSize(itemNum: bigint): number {
    if (itemNum > BigInt(this.opts.maxPeerSetSize)) throw new LimitExceededError('peer set size exceeds the configured maximum');
    return Number(itemNum);
  }

  private startTables(): void {
    this.table = new ValueTable(this.peerN, this.L);
    this.tableHit = new Uint8Array(this.peerN);
  }

  private receiveHandshakeRequest(frame: Uint8Array): void {
    const req = decodeHandshakeRequest(frame);
    let refusal: DataportError | undefined;
    if (!req.suites.includes(this.codes.suite)) refusal = new ProtocolVersionError('no common cipher suite');
    else if (!req.pointOctetFormats.includes(this.codes.format)) refusal = new ProtocolVersionError('no common point format');
    else if (req.outputMode !== this.mode || !req.truncationOptions.includes(this.opts.truncation)) {
      refusal = new TermsRefusedError('the requested PSI options differ from this party’s');
    } else if (req.itemNum > BigInt(this.opts.maxPeerSetSize)) {
      refusal = new LimitExceededError('peer set size exceeds the configured maximum');
    }
    if (refusal) {
      this.pendingRefusal = refusal;
      this.steps[this.stepNo + 1] = 'send-refusal';
      this.stepNo++;
      return;
    }
    this.peerN = Number(req.itemNum);
    this.startTables();
    this.planAfterHandshake();
    this.advance();
  }

  private receiveHandshakeResponse(frame: Uint8Array): void {
    const res = decodeHandshakeResponse(frame);
    if (res.status === HandshakeStatus.REFUSED) throw new TermsRefusedError('the peer refused the requested PSI options');
    if (res.suite !== this.codes.suite || res.pointOctetFormat !== this.codes.format) throw new ProtocolVersionError('the peer selected a cipher suite that was not offered');
    if (res.outputMode !== this.mode || res.truncationOption !== this.opts.truncation) {
      throw new ProtocolVersionError('the peer selected options that were not offered');
    }
    this.peerN = this.checkPeerSize(res.itemNum);
    this.startTables();
    this.planAfterHandshake();
    this.advance();
  }

  /** The peer's points masked by this party's secret and truncated (in one pass where the executor can). */
  private maskPeerPoints(points: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    return maskPeerPoints(this.opts.suite, this.executor, this.scalar, points, this.L as 16 | 24 | 32, signal);
  }

  private async receiveRound1(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    const W = this.pointBytes;
    const batch = decodeEcdhPsiBatch(frame, { maxPointsBytes: this.opts.maxBatchPoints * W, elementBytes: W });
    if (batch.type !== BatchType.ROUND1) throw new UnexpectedMessageError('unexpected message: expected a round-1 batch');
    if (this.peerIndexSet.has(batch.index)) throw new UnexpectedMessageError('unexpected message: duplicated batch index');
    const k = batch.encodedPoints.length / W;
    const after = this.peerReceived + k;
    if (after > this.peerN) throw new UnexpectedMessageError('unexpected message: more points than announced');
    if (batch.isLastBatch !== (after === this.peerN)) {
      throw new UnexpectedMessageError('unexpected message: is_last_batch does not match the announced count');
    }
    // draft §5: received points are validated before they meet the secret scalar. In slices, so a
    // whole frame (2^14 points: ~100 ms) never holds the event loop at once.
    const points = batch.encodedPoints;
    const maybeYield = createYielder();
    for (let s = 0; s < k; s += VALIDATE_SLICE) {
      checkPeerPoints(this.opts.suite, points.subarray(s * W, Math.min(k, s + VALIDATE_SLICE) * W), s);
      const y = maybeYield();
      if (y) {
        await y;
        throwIfAborted(signal);
      }
    }
    // Pipelined: this batch is masked (in the executor: workers, with the pool) while the next frame
    // is received and checked. Its values join the table after those of the previous batch, so
    // `peerBatches` offsets stay in arrival order. A failure fails the party at the next call.
    const masked = this.maskPeerPoints(points, signal);
    const previous = this.r1Pending.at(-1);
    const table = this.table!;
    const step = (async () => {
      const values = await masked;
      if (previous) await previous;
      table.insertAll(values);
    })();
    step.catch((e: unknown) => {
      this.failure ??= e instanceof Error ? e : new Error(String(e));
      this.scalar.fill(0);
    });
    this.r1Pending.push(step);
    // The responder sends its round 1 next: start on it now rather than after the last frame.
    if (this.role === 'responder') this.prefetchRound1(signal);
    this.peerIndexSet.add(batch.index);
    this.peerBatches.push({ index: batch.index, offset: this.peerReceived, count: k, ...(this.payload ? { points: points.slice() } : {}) });
    this.peerReceived = after;
    this.phasePoints = after;
    if (after === this.peerN) {
      await step; // every earlier step settled before this one inserts
      this.r1Pending = [];
      this.advance();
    } else if (this.r1Pending.length > R1_PIPELINE_DEPTH) {
      await this.r1Pending.shift();
    }
  }

  private receiveRound2(frame: Uint8Array): void {
    const L = this.L;
    const batch = decodeEcdhPsiBatch(frame, { maxPointsBytes: this.opts.maxBatchPoints * L, elementBytes: L });
    if (batch.type !== BatchType.ROUND2) throw new UnexpectedMessageError('unexpected message: expected a round-2 batch');
    if (this.r2Seen.has(batch.index)) throw new UnexpectedMessageError('unexpected message: duplicated batch index');
    const k = batch.encodedPoints.length / L;
    const after = this.r2Points + k;
    let positions: number | undefined; // first send position of this batch (modes 0/1)
    if (!this.cardinality) {
      const j = this.batchOfIndex.get(batch.index);
      if (j === undefined) throw new UnexpectedMessageError('unexpected message: unknown batch index');
      const expected = Math.min(this.n, (j + 1) * this.batchSize) - j * this.batchSize;
      if (k !== expected) throw new UnexpectedMessageError('unexpected message: wrong number of points in batch');
      positions = j * this.batchSize;
    } else if (after > this.n) {
      throw new UnexpectedMessageError('unexpected message: more points than announced');
    }
    if (batch.isLastBatch !== (after === this.n)) {
      throw new UnexpectedMessageError('unexpected message: is_last_batch does not match the expected count');
    }
    const table = this.table!;
    const hit = this.tableHit!;
    const pts = batch.encodedPoints;
    for (let t = 0; t < k; t++) {
      const e = table.find(pts, t * L);
      if (e < 0) continue;
      // Distinct records never share a jointly masked value: a repeat is a faulty or hostile peer.
      if (hit[e] !== 0) throw new MalformedMessageError('malformed message: duplicated value');
      hit[e] = 1;
      this.matchedCount++;
      if (positions !== undefined) {
        const key = this.perm.values[positions + t]!;
        this.matchedKey[key] = 1;
        if (this.matchedEntry) this.matchedEntry[key] = e;
      }
    }
    this.r2Seen.add(batch.index);
    this.r2Points = after;
    this.phasePoints = after;
    if (after === this.n) this.advance();
  }

  // ---- result -----------------------------------------------------------------------------------

  payloadView(): PayloadRequesterView | PayloadResponderView {
    if (this.status !== 'done' || !this.payload) throw new TypeError('PsiParty: no payload view (not done, or created without payload)');
    this.perm.ensure(this.n);
    const sendOrder = this.perm.values.subarray(0, this.n);
    if (this.role === 'responder') {
      return { peerBatches: this.peerBatches.map((b) => ({ index: b.index, points: b.points! })), sendOrder, keys: this.deduped.keys };
    }
    return { unmask: this.unmask!, batchOfIndex: this.batchOfIndex, batchSize: this.batchSize, sendOrder, matchedEntry: this.matchedEntry!, peerN: this.peerN };
  }

  result(): PsiPartyResult {
    if (this.status !== 'done') throw new TypeError(`PsiParty: status is '${this.status}', not 'done'`);
    const base = { selfSetSize: this.n, peerSetSize: this.peerN };
    if (!this.selfLearns) return { learned: 'nothing', ...base };
    if (this.cardinality) return { learned: 'cardinality', intersectionSize: this.matchedCount, ...base };
    return {
      learned: 'intersection',
      intersection: rowsForKeys(this.deduped, this.matchedKey),
      intersectionSize: this.matchedCount,
      ...base,
    };
  }
}

/**
 * Creates the requester (the connecting side) of ECDH-PSI. Its first status is `'send'`.
 *
 * @example
 * ```ts
 * const r = createPsiRequester({ records, ekm, executor, options: { output: 'both' } });
 * while (r.status !== 'done') {
 *   if (r.status === 'send') await transport.send(await r.nextFrame());
 *   else await r.receiveFrame(await transport.receive());
 * }
 * r.result().intersection; // rows of `records` in the intersection
 * ```
 */
export function createPsiRequester(config: PsiPartyConfig): PsiParty {
  return new Party('requester', config);
}

/**
 * Creates the responder (the accepting side) of ECDH-PSI. Its first status is `'receive'`.
 *
 * @example
 * ```ts
 * const s = createPsiResponder({ records, ekm, executor, options: { output: 'both' } });
 * ```
 */
export function createPsiResponder(config: PsiPartyConfig): PsiParty {
  return new Party('responder', config);
}
