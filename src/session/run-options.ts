/**
 * The options every two-party run wrapper (`runPsi`, `runPsiSum`) takes alike: the connection,
 * who this party is and whom it accepts, the ledger hooks and billing, cancellation.
 * @module
 */
import type { PriceSchedule } from '../ledger/pricing.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import type { FrameTransport } from '../transport/types.js';
import type { Identity } from './identity.js';
import type { ReceiptSource } from './source-commit.js';
import type { ReceiptKeySketch } from './sketch-record.js';
import { KEY_SKETCH_SALT_BYTES, computeKeySketch, encodeKeySketch, keySketchCommitment } from '../ledger/key-sketch.js';
import type { SessionTerms } from './messages.js';
import type { BeforeRunContext } from './session.js';

/**
 * Options shared by {@link runPsi} and {@link runPsiSum}.
 *
 * @example
 * ```ts
 * const common: SessionRunOptions = { transport, identity: me, peerPublicKey: theirKey, priceSchedule: schedule };
 * await runPsi({ ...common, role: 'responder', records });
 * ```
 */
export interface SessionRunOptions {
  /** A connected transport (memory pair, WebSocket); closed when the run ends. */
  transport: FrameTransport;
  /** This party's Ed25519 identity. */
  identity: Identity;
  /** Pin the peer to this key. */
  peerPublicKey?: Uint8Array;
  /** Accept any of these peer keys. */
  allowedPeers?: readonly Uint8Array[];
  /** Accept any authenticated peer (recorded in the receipt). Default false. */
  allowAnyPeer?: boolean;
  /** Cancels the run (`AbortError`); the peer sees the session end. */
  signal?: AbortSignal;
  /**
   * Called once the peer is authenticated and the terms are within policy, before anything runs:
   * ledger query budgets (`reserveLedgerBudget`), authorisation look-ups. Throw
   * `TermsRefusedError` to refuse; the message goes to the peer.
   */
  beforeRun?: (terms: SessionTerms, peerPublicKey: Uint8Array, context: BeforeRunContext) => void | Promise<void>;
  /**
   * Bill the run with this price schedule: announced in the handshake before the run, the amount
   * is part of the co-signed receipt. The responder's wins; a requester's is used only if the
   * responder has none.
   */
  priceSchedule?: PriceSchedule;
  /** Accept or refuse (throw `TermsRefusedError`) the peer's announced schedule when it is the one billed, before the run. */
  acceptPriceSchedule?: (schedule: PriceSchedule, ref: string) => void | Promise<void>;
  /**
   * Receives the co-signed receipt (completed, withheld or refused runs) before the run returns or
   * throws — or, for a run that fails or whose peer hangs up after protocol data flowed and before
   * a co-signed receipt exists, this party's one-sided `aborted-after-data` receipt
   * (`kind: 'one-sided'`; see `Session.abortedRunReceipt`) before the run's error is thrown. Append
   * both to the ledger: the one-sided entry is what makes such a run count against the budget.
   */
  onReceipt?: (receipt: UsageReceipt) => void | Promise<void>;
  /** Points per frame sent (default: the protocol's). */
  batchSize?: number;
  /**
   * Where this party's records came from (`{ kind: 'postgres', query }`): the receipt records the
   * kind and a commitment to the query that only this party can open (`sourceCommitmentKey`),
   * never the text. Recorded by `runPsi` and `runPsiSum`.
   */
  source?: ReceiptSource;
  /**
   * Sketch this party's own distinct normalised keys (src/ledger/key-sketch.ts) and record the set
   * size and a commitment in the receipt (`<role>-set-size`, `<role>-sketch-commit`). Called with
   * the sketch, its salt and the session id once the peer is accepted and before any receipt:
   * keep it (the CLI writes `<ledger>/sketches/<session id>.json`) — it is what `dataport
   * supervise` checks against the commitment. Never sent to the peer. Used by `runPsi` and `runPsiSum`.
   */
  onKeySketch?: (stored: StoredKeySketch) => void | Promise<void>;
}

/**
 * A party's key sketch of one run, as kept beside its ledger.
 * @example
 * ```ts
 * const onKeySketch = (s: StoredKeySketch) => writeFileSync(`${toHex(s.sessionId)}.bin`, s.sketch);
 * ```
 */
export interface StoredKeySketch {
  sessionId: Uint8Array;
  role: 'requester' | 'responder';
  /** `encodeKeySketch` bytes. */
  sketch: Uint8Array;
  /** The commitment's salt (32 bytes): keep it secret with the sketch. */
  salt: Uint8Array;
  /** The receipt's record of it. */
  record: ReceiptKeySketch;
}

/** A run's sketch, computed before the session when `onKeySketch` is set (internal). */
export interface RunKeySketch {
  record: ReceiptKeySketch;
  store(sessionId: Uint8Array, role: 'requester' | 'responder'): Promise<void>;
}

/** Sketches `keys` when the run options ask for it (internal: the run wrappers' one helper). */
export function runKeySketch(options: Pick<SessionRunOptions, 'onKeySketch' | 'identity'>, keys: readonly Uint8Array[]): RunKeySketch | undefined {
  const hook = options.onKeySketch;
  if (hook === undefined) return undefined;
  if (typeof hook !== 'function') throw new TypeError('onKeySketch must be a function');
  const sketch = encodeKeySketch(computeKeySketch(keys, options.identity.secretKey));
  const salt = globalThis.crypto.getRandomValues(new Uint8Array(KEY_SKETCH_SALT_BYTES));
  const record: ReceiptKeySketch = { setSize: keys.length, commit: keySketchCommitment(sketch, salt) };
  return { record, store: async (sessionId, role) => void (await hook({ sessionId, role, sketch, salt, record })) };
}

/** `{ sketch }` for a receipt contribution when the run has one, else `{}`. */
export function sketchOf(sketch: RunKeySketch | undefined): { sketch?: ReceiptKeySketch } {
  return sketch === undefined ? {} : { sketch: sketch.record };
}

/** `{ source }` for a receipt contribution when the run options name one, else `{}`. */
export function sourceOf(options: Pick<SessionRunOptions, 'source'>): { source?: ReceiptSource } {
  return options.source === undefined ? {} : { source: options.source };
}
