/**
 * `runPsiProtocol`: pumps one ECDH-PSI party (`party.ts`) over a {@link FrameTransport}.
 *
 * The options object ({@link RunPsiOptions}) is the stable seam used by the session layer and the
 * CLI. Interop mode is this driver with `ekm` empty and `options.interop` set (each round in a
 * single batch, the draft's messages only, no session layer: unauthenticated).
 * @module
 */
import { AbortError, DataportError, throwIfAborted } from '../../errors.js';
import type { FrameTransport } from '../../transport/types.js';
import type { CryptoExecutor } from '../executor.js';
import {
  createPsiRequester,
  createPsiResponder,
  resolvePsiOptions,
  type PsiProgress,
  type PsiProtocolOptions,
} from './party.js';
import { dedupeRecords, type DedupedRecords } from './normalize.js';
import {
  checkPayloadShape,
  PayloadReceiver,
  PayloadSender,
  type PayloadRequesterView,
  type PayloadResponderView,
} from './payload.js';
import { createYielder } from './yield.js';

/** Arguments of {@link runPsiProtocol}. */
export interface RunPsiOptions {
  /** `'requester'` (the connecting side; sends first) or `'responder'`. */
  role: 'requester' | 'responder';
  /** Record bytes per row (from `normalizeKey`); `undefined` rows are skipped, duplicates collapse. */
  records: readonly (Uint8Array | undefined)[];
  /** A connected transport; left open on success, closed on failure. */
  transport: FrameTransport;
  /** Session binding prepended to each record before hashing; empty in interop mode. */
  ekm: Uint8Array;
  /** Protocol options; both parties must pass the same. */
  options?: PsiProtocolOptions;
  /** Runs the batch crypto (inline or the worker pool). */
  executor: CryptoExecutor;
  /** Cancels the run: it then rejects with `AbortError` and closes the transport. */
  signal?: AbortSignal;
  /** Called after every frame sent or received. Must not throw. */
  onProgress?: (progress: PsiProgress) => void;
  /** `dedupeRecords(records)`, if the caller has it already (see `PsiPartyConfig.deduped`). */
  deduped?: DedupedRecords;
  /**
   * PSI with payload (docs/psi-protocol.md §8): after the PSI the responder sends every record's
   * payload sealed so that the requester can open those of matched records only. Both parties
   * pass the same `columns` and `maxBytes`; the responder also `plaintexts`
   * (`encodePayloadPlaintexts(deduped, rows, columns, maxBytes)`). Not in interop mode; the requester
   * must learn the intersection (output `'requester'` or `'both'`, not cardinality-only).
   */
  payload?: PsiPayloadProtocolOptions;
}

/**
 * The payload of {@link RunPsiOptions}.
 *
 * @example
 * ```ts
 * const payload: PsiPayloadProtocolOptions = { columns: 2, maxBytes: 256, plaintexts };
 * ```
 */
export interface PsiPayloadProtocolOptions {
  /** Number of payload columns. */
  columns: number;
  /** Encoded bytes per key that every payload is padded to. */
  maxBytes: number;
  /** Responder: the padded plaintext per distinct key (`encodePayloadPlaintexts`). */
  plaintexts?: readonly Uint8Array[];
}

/** Result of {@link runPsiProtocol}. */
export interface PsiResult {
  /**
   * Indexes into `records` (ascending) of every row whose key is in the intersection; present only
   * when this party learns the intersection (not in cardinality-only mode, not for a responder
   * that learns nothing).
   */
  intersection?: number[];
  /** Distinct keys in the intersection; absent when this party learns nothing. */
  intersectionSize?: number;
  /** What this party learned: `'intersection'`, `'cardinality'` or `'nothing'`. */
  learned: 'intersection' | 'cardinality' | 'nothing';
  /** Distinct keys the peer announced. */
  peerSetSize: number;
  /** Distinct keys of this party. */
  selfSetSize: number;
  /**
   * Requester with payload: per distinct key of this party (`deduped.keys` order) the responder's
   * payload rows for it, `undefined` for keys that did not match.
   */
  payloadOfKey?: (string[][] | undefined)[];
  /** Requester with payload: the responder rows whose payload was delivered (opened). */
  payloadRecords?: number;
  /**
   * Requester with payload: matched records whose payload failed authentication (a cheating or
   * faulty responder). The run still completes, so the responder cannot tell which of its
   * records matched by corrupting them; the caller treats a non-zero count as an error.
   */
  payloadFailures?: number;
  /** Bytes this run sent (frame payloads, from the transport's counters). */
  bytesSent: number;
  /** Bytes this run received. */
  bytesReceived: number;
}

/**
 * Runs ECDH-PSI for one party over `transport`. Any failure (a typed error from a malformed,
 * unexpected or out-of-limit frame, a closed transport, an abort) closes the transport, so the peer
 * ends too, and rejects with that error.
 *
 * @example
 * ```ts
 * const [a, b] = createMemoryTransportPair();
 * const executor = await createInlineExecutor();
 * const ekm = new Uint8Array(32); // the session binding in real use
 * const [alice, bob] = await Promise.all([
 *   runPsiProtocol({ role: 'requester', records: [utf8('x'), utf8('y')], transport: a, ekm, executor }),
 *   runPsiProtocol({ role: 'responder', records: [utf8('y'), utf8('z')], transport: b, ekm, executor }),
 * ]);
 * alice.intersection; // [1]
 * ```
 */
export async function runPsiProtocol(args: RunPsiOptions): Promise<PsiResult> {
  if (args === null || typeof args !== 'object') throw new TypeError('arguments must be an object');
  const { role, transport, signal, onProgress } = args;
  if (role !== 'requester' && role !== 'responder') throw new TypeError("role must be 'requester' or 'responder'");
  if (!transport || typeof transport.send !== 'function' || typeof transport.receive !== 'function') {
    throw new TypeError('transport must be a FrameTransport');
  }
  const payload = args.payload;
  if (payload !== undefined) {
    if (payload === null || typeof payload !== 'object') throw new TypeError('payload must be an object');
    checkPayloadShape(payload.columns, payload.maxBytes);
    if (role === 'responder' && !Array.isArray(payload.plaintexts)) throw new TypeError('payload.plaintexts is required on the responder');
  }
  const suite = resolvePsiOptions(args.options).suite;
  const deduped = args.deduped ?? (payload !== undefined ? dedupeRecords(args.records) : undefined);
  const config = {
    records: args.records,
    ekm: args.ekm,
    executor: args.executor,
    options: args.options,
    ...(deduped !== undefined ? { deduped } : {}),
    ...(payload !== undefined ? { payload: true } : {}),
  };
  const party = role === 'requester' ? createPsiRequester(config) : createPsiResponder(config);
  const sent0 = transport.stats.bytesSent;
  const received0 = transport.stats.bytesReceived;
  // While one frame waits for the transport (backpressure, network), the next one is computed:
  // at most one frame is in flight, so memory stays bounded by two frames.
  let inFlight: Promise<void> | undefined;
  const settleSend = async () => {
    const p = inFlight;
    inFlight = undefined;
    if (p) await p;
  };
  // Frames that are already queued (a fast peer, an in-memory transport) resolve `receive` in a
  // microtask, and so would a whole round of them: between frames, the loop gets its turn back
  // once a slice of work has run (`yield.ts`).
  const maybeYield = createYielder();
  let sender: PayloadSender | undefined;
  let receiver: PayloadReceiver | undefined;
  try {
    throwIfAborted(signal);
    for (;;) {
      await maybeYield();
      const status = party.status;
      if (status === 'send') {
        const frame = await party.nextFrame(signal);
        await settleSend();
        const sending = transport.send(frame, signal);
        sending.catch(() => {}); // observed by settleSend; never an unhandled rejection
        inFlight = sending;
        // A refusal is sent first, then the party fails with the local reason.
        if (party.status === 'failed') {
          await settleSend();
          throw party.error;
        }
      } else if (status === 'receive') {
        await settleSend();
        const frame = await transport.receive(signal);
        await party.receiveFrame(frame, signal);
      } else if (status === 'done') {
        await settleSend();
        break;
      } else {
        throw party.error;
      }
      onProgress?.(party.progress);
    }
    if (payload !== undefined) {
      // The payload phase (payload.ts): the responder sends, the requester receives, same transport.
      if (role === 'responder') {
        sender = new PayloadSender(suite, party.payloadView() as PayloadResponderView, payload.plaintexts!, args.ekm, args.executor, payload.maxBytes);
        while (!sender.done) {
          await maybeYield();
          const frame = await sender.nextFrame(signal);
          await transport.send(frame, signal);
        }
        sender.dispose();
      } else {
        receiver = new PayloadReceiver(suite, party.payloadView() as PayloadRequesterView, args.ekm, args.executor, payload.columns, payload.maxBytes);
        while (!receiver.done) {
          await maybeYield();
          await receiver.receiveFrame(await transport.receive(signal), signal);
        }
      }
    }
  } catch (e) {
    sender?.dispose();
    receiver?.dispose();
    if (inFlight) await inFlight.catch(() => {});
    await transport.close('psi failed').catch(() => {});
    if (signal?.aborted && !(e instanceof DataportError)) throw new AbortError();
    throw e;
  }
  receiver?.dispose();
  const r = party.result();
  return {
    learned: r.learned,
    ...(r.intersection !== undefined ? { intersection: r.intersection } : {}),
    ...(r.intersectionSize !== undefined ? { intersectionSize: r.intersectionSize } : {}),
    peerSetSize: r.peerSetSize,
    selfSetSize: r.selfSetSize,
    ...(receiver !== undefined ? { payloadOfKey: receiver.rowsOfKey, payloadRecords: receiver.delivered, payloadFailures: receiver.failed } : {}),
    bytesSent: transport.stats.bytesSent - sent0,
    bytesReceived: transport.stats.bytesReceived - received0,
  };
}
