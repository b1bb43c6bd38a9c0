/**
 * PPCA 9-2023 ECDH-PSI, the main flow as SecretFlow's interconnection mode runs it (brief §2,
 * §3): the handshake, then three concurrent streams — MaskSelf (`enc` batches of own items),
 * MaskPeer (the peer's `enc` batches masked again, answered as `dual.enc` or kept), and
 * RecvDualMaskedSelf (own items doubly masked, for the party that learns the result) — and the
 * comparison of the last 12 bytes. No I/O here: messages go through the injected {@link PpcaLink},
 * batch cryptography through the injected `CryptoExecutor` (the worker pool in the CLI).
 *
 * Who learns what (semi-honest peer): the result party learns which of its rows are in the
 * intersection; the other party learns only the peer's item count. A malicious peer can choose
 * its set freely, and as result party can probe with any items; nothing binds its inputs.
 * @module
 */
import { generatePpcaScalar, ppcaHashBatch, ppcaMultiplyBatch, ppcaNormalizePeerPoints, ppcaPointBytes, type PpcaSuiteName, PpcaSuiteNames } from '../../crypto/ppca-suite.js';
import { createGroup } from '../../crypto/group.js';
import { InvalidPointError, LimitExceededError, MalformedMessageError, ProtocolVersionError, UnexpectedMessageError, throwIfAborted } from '../../errors.js';
import type { CryptoExecutor } from '../executor.js';
import { decodeCipherBatch, encodeCipherBatch, PpcaBatchType } from './codec.js';
import { checkPpcaHandshakeRequest, checkPpcaHandshakeResponse, encodePpcaHandshakeRequest, type PpcaResultToRank } from './handshake.js';
import type { PpcaLink } from './link.js';

/** Items per `enc` batch (`psi/utils/communication.h kEcdhPsiBatchSize`). */
export const PPCA_BATCH_SIZE = 4096;
/** Bytes of a `dual.enc` item: the last 12 bytes of the doubly masked point (`kFinalCompareBytes`, brief §4.4). */
export const PPCA_COMPARE_BYTES = 12;

/**
 * Steps of a PPCA run, for progress reports, in the order they are shown: `encrypting` (own items
 * hashed and masked), `sending` (own `enc` batches delivered to the peer), `dual-encrypting` (the
 * peer's items masked again), `comparing` (own doubly masked items received and compared; only
 * where this rank learns the result). Unit: items.
 */
export type PpcaPhase = 'encrypting' | 'sending' | 'dual-encrypting' | 'comparing';

/**
 * Progress of a PPCA run: `done` of `total` items in `phase`. The steps run concurrently; reports
 * follow the first unfinished step only, and a step's last report has done = total before the
 * next step's first. The total of `dual-encrypting` is the item count the peer announced in the
 * handshake (only shown, never trusted: at the peer's last batch it becomes the count received).
 *
 * @example
 * ```ts
 * await runPpcaPsi({ ...options, onProgress: (p) => console.error(p.phase, p.done, p.total) });
 * ```
 */
export interface PpcaProgress {
  readonly phase: PpcaPhase;
  readonly done: number;
  readonly total: number;
  readonly unit: 'items';
}

/**
 * Reports concurrent steps one at a time, in `order`: the current step is the first unfinished one;
 * when it finishes its last report (done = total) is followed by the next step's state. A throwing
 * hook is ignored (a display; the run does not depend on it).
 */
function phaseSequence(hook: ((p: PpcaProgress) => void) | undefined, order: readonly PpcaPhase[]) {
  const done = new Map<PpcaPhase, number>();
  const total = new Map<PpcaPhase, number>();
  const finished = new Set<PpcaPhase>();
  let at = 0;
  const emit = (phase: PpcaPhase): void => {
    if (typeof hook !== 'function') return;
    try {
      hook({ phase, done: done.get(phase) ?? 0, total: total.get(phase) ?? 0, unit: 'items' });
    } catch {
      /* a display hook */
    }
  };
  const advance = (): void => {
    while (at < order.length) {
      emit(order[at]!);
      if (!finished.has(order[at]!)) return;
      at++;
    }
  };
  return {
    start: advance,
    /** Sets a step's state; reported when it is the current step. */
    set(phase: PpcaPhase, d: number, t: number): void {
      if (finished.has(phase)) return;
      done.set(phase, d);
      total.set(phase, Math.max(d, t));
      if (order[at] === phase) emit(phase);
    },
    /** Ends a step at done = total (`finalTotal`, when given, is then both). */
    finish(phase: PpcaPhase, finalTotal?: number): void {
      if (finished.has(phase)) return;
      const t = finalTotal ?? total.get(phase) ?? 0;
      done.set(phase, t);
      total.set(phase, t);
      finished.add(phase);
      if (order[at] === phase) advance();
    },
  };
}

/**
 * Options of {@link runPpcaPsi}.
 *
 * @example
 * ```ts
 * const options: RunPpcaPsiOptions = { rank: 0, records, suite: 'sm2-sha256-tar', resultToRank: -1, link };
 * ```
 */
export interface RunPpcaPsiOptions {
  /** This party's rank: 0 answers the handshake, 1 proposes. */
  rank: 0 | 1;
  /** Key bytes of every input row, in row order, duplicates included (see {@link trimAsciiWhitespace}). */
  records: readonly Uint8Array[];
  /** The suite (default `curve25519-sha256-direct`); both sides must configure the same. */
  suite?: PpcaSuiteName;
  /** Who learns the intersection: -1 both (default), 0 or 1. Both sides must configure the same. */
  resultToRank?: PpcaResultToRank;
  /** The link to the peer; `connect` is called here. */
  link: PpcaLink;
  /** Batch crypto (default: inline on this thread). */
  executor?: CryptoExecutor;
  /** Items per `enc` batch (default 4096, the reference's). */
  batchSize?: number;
  /** Most items accepted from the peer (default 2^28, the .proto's bucket bound). */
  maxPeerItems?: number;
  /** Cancels the run. */
  signal?: AbortSignal;
  /** Progress of the run's steps (see {@link PpcaProgress}); errors it throws are ignored. */
  onProgress?: (progress: PpcaProgress) => void;
}

/**
 * What a run returns.
 *
 * @example
 * ```ts
 * const { learned, indices } = await runPpcaPsi(options);
 * ```
 */
export interface PpcaPsiResult {
  /** The suite used. */
  suite: PpcaSuiteName;
  /** Whether this rank learned the intersection (`resultToRank` is -1 or this rank). */
  learned: boolean;
  /** Indices into `records` of the rows whose key is in the intersection, ascending; null where not learned. */
  indices: number[] | null;
  /** Number of own distinct keys in the intersection; null where not learned. */
  intersectionSize: number | null;
  /** Items the peer sent (its rows, duplicates included). */
  peerItemNum: number;
  /** Own distinct keys. */
  distinctKeys: number;
}

/**
 * ASCII whitespace (space, tab, LF, VT, FF, CR) removed at both ends of a key field — the only
 * normalisation the reference applies (absl `StripAsciiWhitespace`, brief §3.1). Everything else
 * (case, Unicode forms, inner spaces) is compared byte for byte.
 *
 * @example
 * ```ts
 * trimAsciiWhitespace(new TextEncoder().encode(' id-1\r')); // bytes of 'id-1'
 * ```
 */
export function trimAsciiWhitespace(field: Uint8Array): Uint8Array {
  const ws = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);
  let s = 0;
  let e = field.length;
  while (s < e && ws(field[s]!)) s++;
  while (e > s && ws(field[e - 1]!)) e--;
  return field.subarray(s, e);
}

const latin1 = (b: Uint8Array, start: number, end: number): string => String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);

function checkOptions(o: RunPpcaPsiOptions): { suite: PpcaSuiteName; resultToRank: PpcaResultToRank; batchSize: number; maxPeerItems: number } {
  if (o.rank !== 0 && o.rank !== 1) throw new RangeError('rank must be 0 or 1');
  if (!Array.isArray(o.records)) throw new TypeError('records must be an array of Uint8Array');
  const suite = o.suite ?? 'curve25519-sha256-direct';
  if (!PpcaSuiteNames.includes(suite)) throw new RangeError(`suite must be one of ${PpcaSuiteNames.join(', ')}`);
  const resultToRank = o.resultToRank ?? -1;
  if (resultToRank !== -1 && resultToRank !== 0 && resultToRank !== 1) throw new RangeError('resultToRank must be -1, 0 or 1');
  const batchSize = o.batchSize ?? PPCA_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 1 << 20) throw new RangeError('batchSize must be in 1..2^20');
  const maxPeerItems = o.maxPeerItems ?? 2 ** 28;
  if (!Number.isSafeInteger(maxPeerItems) || maxPeerItems < 0) throw new RangeError('maxPeerItems must be a non-negative integer');
  if (typeof o.link !== 'object' || o.link === null || o.link.rank !== o.rank) throw new TypeError('link must be a PpcaLink of the same rank');
  return { suite, resultToRank, batchSize, maxPeerItems };
}

/**
 * Runs two-party PPCA ECDH-PSI with a peer over `link` (another dataport or SecretFlow's
 * interconnection mode). Rejects with a typed error on any failure (the link is aborted so the
 * peer stops too): `ProtocolVersionError` for a refused handshake (one line naming what
 * differed), `MalformedMessageError` / `UnexpectedMessageError` / `InvalidPointError` for a bad
 * message, `TimeoutError` when the peer goes silent for the receive timeout.
 *
 * @example
 * ```ts
 * const link = await createGrpcPpcaLink({ rank: 0, listen: '127.0.0.1:9100', peer: '127.0.0.1:9101' });
 * const { indices } = await runPpcaPsi({ rank: 0, records, suite: 'sm2-sha256-tar', link });
 * await link.close();
 * ```
 */
export async function runPpcaPsi(options: RunPpcaPsiOptions): Promise<PpcaPsiResult> {
  const { suite, resultToRank, batchSize, maxPeerItems } = checkOptions(options);
  const { rank, records, link, signal } = options;
  for (let i = 0; i < records.length; i++) if (!(records[i] instanceof Uint8Array)) throw new TypeError(`records[${i}] must be a Uint8Array`);
  const peer = (1 - rank) as 0 | 1;
  const iLearn = resultToRank === -1 || resultToRank === rank;
  const peerLearns = resultToRank === -1 || resultToRank === peer;
  const width = ppcaPointBytes(suite);
  const ex = options.executor;
  let inlineGroup: Awaited<ReturnType<typeof createGroup>> | undefined;
  const hash = async (items: readonly Uint8Array[]): Promise<Uint8Array> => (ex?.ppcaHash ? ex.ppcaHash(suite, items, signal) : ppcaHashBatch(suite, items));
  const multiply = async (scalar: Uint8Array, points: Uint8Array): Promise<Uint8Array> => {
    if (ex?.ppcaMultiply) return ex.ppcaMultiply(suite, scalar, points, signal);
    if (ex && suite === 'curve25519-sha256-direct') return ex.multiply(scalar, points, signal);
    inlineGroup ??= await createGroup();
    return ppcaMultiplyBatch(suite, scalar, points, inlineGroup, signal);
  };

  const distinct = new Set<string>();
  for (const r of records) distinct.add(latin1(r, 0, r.length));

  const scalar = generatePpcaScalar(suite);
  try {
    throwIfAborted(signal);
    await link.connect(signal);

    // ---- handshake (brief §2) ----
    const mine = { suite, resultToRank, itemNum: records.length };
    let announced: number | undefined;
    if (rank === 1) {
      await link.send('main', encodePpcaHandshakeRequest(mine), signal);
      announced = checkPpcaHandshakeResponse(await link.recv('main', signal), mine).peerItemNum;
    } else {
      const verdict = checkPpcaHandshakeRequest(await link.recv('main', signal), mine);
      await link.send('main', verdict.response, signal);
      if (verdict.refusal) throw new ProtocolVersionError(`refused the peer's handshake: ${verdict.refusal.code} ${verdict.refusal.message}`);
      announced = verdict.peerItemNum;
    }
    // The peer's announced count is only a progress total (capped); what it sends is what counts.
    const peerTotal = Math.min(announced ?? 0, maxPeerItems);
    const progress = phaseSequence(options.onProgress, ['encrypting', 'sending', 'dual-encrypting', ...(iLearn ? (['comparing'] as const) : [])]);
    progress.start();

    // ---- main flow (brief §3.2) ----
    const ownBatchCounts: number[] = [];
    // Streams queue their messages and go on (the link's send queue applies the throttle window);
    // each stream waits for its deliveries at its end. Awaiting each send would let two streaming
    // peers deadlock on each other's window.
    const queued = (sends: Promise<void>[], p: Promise<void>): void => {
      p.catch(() => {}); // observed by Promise.all at the end of the stream; the link fails meanwhile
      sends.push(p);
    };
    const nBatches = Math.ceil(records.length / batchSize);

    const maskSelf = async (): Promise<void> => {
      const sends: Promise<void>[] = [];
      let encrypted = 0;
      let sent = 0;
      const compute = async (b: number): Promise<Uint8Array> => {
        const items = records.slice(b * batchSize, Math.min(records.length, (b + 1) * batchSize));
        return multiply(scalar, await hash(items));
      };
      // One batch computed ahead of the one being sent.
      let next: Promise<Uint8Array> | undefined = nBatches > 0 ? compute(0) : undefined;
      for (let b = 0; b < nBatches; b++) {
        const ct = await next!;
        next = b + 1 < nBatches ? compute(b + 1) : undefined;
        next?.catch(() => {}); // observed on the next turn; a failure there must not be unhandled meanwhile
        const count = ct.length / width;
        ownBatchCounts[b] = count;
        progress.set('encrypting', (encrypted += count), records.length);
        const delivered = link.send('main', encodeCipherBatch(PpcaBatchType.enc, b, false, count, ct), signal);
        queued(sends, delivered);
        void delivered.then(() => progress.set('sending', (sent += count), records.length), () => {});
      }
      progress.finish('encrypting', records.length);
      // Always one more, empty, last batch (the only one for an empty set).
      ownBatchCounts[nBatches] = 0;
      queued(sends, link.send('main', encodeCipherBatch(PpcaBatchType.enc, nBatches, true, 0, new Uint8Array(0)), signal));
      await Promise.all(sends);
      progress.finish('sending', records.length);
    };

    const peerValues = iLearn ? new Set<string>() : undefined;
    let peerItems = 0;
    const maskPeer = async (): Promise<void> => {
      const sends: Promise<void>[] = [];
      for (let b = 0; ; b++) {
        const batch = decodeCipherBatch(await link.recv('main', signal), PpcaBatchType.enc);
        if (batch.batchIndex !== b) throw new UnexpectedMessageError(`enc batch ${batch.batchIndex} where batch ${b} was expected`);
        if (batch.count === 0) {
          if (peerLearns) queued(sends, link.send('dual', encodeCipherBatch(PpcaBatchType.dualEnc, b, true, 0, new Uint8Array(0)), signal));
          await Promise.all(sends);
          progress.finish('dual-encrypting', peerItems);
          return;
        }
        peerItems += batch.count;
        if (peerItems > maxPeerItems) throw new LimitExceededError(`the peer sent more than ${maxPeerItems} items`);
        let points: Uint8Array;
        try {
          points = ppcaNormalizePeerPoints(suite, batch.ciphertext, batch.count);
        } catch (e) {
          if (e instanceof RangeError) throw new MalformedMessageError(`enc batch ${b}: ${batch.ciphertext.length} bytes do not hold ${batch.count} points of ${width} bytes`);
          if (e instanceof InvalidPointError) throw new InvalidPointError(`enc batch ${b}: ${e.message}`);
          throw e;
        }
        const dual = await multiply(scalar, points);
        const out = new Uint8Array(batch.count * PPCA_COMPARE_BYTES);
        for (let i = 0; i < batch.count; i++) out.set(dual.subarray((i + 1) * width - PPCA_COMPARE_BYTES, (i + 1) * width), i * PPCA_COMPARE_BYTES);
        if (peerLearns) queued(sends, link.send('dual', encodeCipherBatch(PpcaBatchType.dualEnc, b, false, batch.count, out), signal));
        if (peerValues) for (let i = 0; i < batch.count; i++) peerValues.add(latin1(out, i * PPCA_COMPARE_BYTES, (i + 1) * PPCA_COMPARE_BYTES));
        progress.set('dual-encrypting', peerItems, peerTotal);
      }
    };

    const selfDual: Uint8Array[] = [];
    let received = 0;
    const recvDual = async (): Promise<void> => {
      for (let b = 0; ; b++) {
        const batch = decodeCipherBatch(await link.recv('dual', signal), PpcaBatchType.dualEnc);
        if (batch.batchIndex !== b) throw new UnexpectedMessageError(`dual.enc batch ${batch.batchIndex} where batch ${b} was expected`);
        // The peer can only answer a batch this side has sent, so its count is known.
        const expected = ownBatchCounts[b];
        if (expected === undefined) throw new UnexpectedMessageError(`dual.enc batch ${b} answers an enc batch this side has not sent`);
        if (batch.count !== expected) throw new MalformedMessageError(`dual.enc batch ${b} holds ${batch.count} items, enc batch ${b} had ${expected}`);
        if (batch.count === 0) return;
        // The reference sends 12 bytes per item; a peer sending wider values (full points) is
        // compared on their last 12 bytes, as the reference's own values are (brief §3.6, §7).
        const w = batch.ciphertext.length / batch.count;
        if (w < PPCA_COMPARE_BYTES || w > width) throw new MalformedMessageError(`dual.enc batch ${b}: items of ${w} bytes`);
        const items = new Uint8Array(batch.count * PPCA_COMPARE_BYTES);
        for (let i = 0; i < batch.count; i++) items.set(batch.ciphertext.subarray((i + 1) * w - PPCA_COMPARE_BYTES, (i + 1) * w), i * PPCA_COMPARE_BYTES);
        selfDual.push(items);
        received += batch.count;
        progress.set('comparing', received, records.length);
      }
    };

    // Fail fast: the first failure aborts the link, which rejects whatever the others wait for.
    const tasks = [maskSelf(), maskPeer(), ...(iLearn ? [recvDual()] : [])].map((p) =>
      p.catch((e: unknown) => {
        link.abort(e);
        throw e;
      }),
    );
    const settled = await Promise.allSettled(tasks);
    const firstFailure = settled.find((s) => s.status === 'rejected');
    if (firstFailure) throw (firstFailure as PromiseRejectedResult).reason;

    // ---- result (brief §3.3): every own row whose dual item is among the peer's ----
    let indices: number[] | null = null;
    let intersectionSize: number | null = null;
    if (iLearn) {
      indices = [];
      const matched = new Set<string>();
      let row = 0;
      for (const items of selfDual) {
        for (let i = 0; i < items.length; i += PPCA_COMPARE_BYTES, row++) {
          if (peerValues!.has(latin1(items, i, i + PPCA_COMPARE_BYTES))) {
            indices.push(row);
            const r = records[row]!;
            matched.add(latin1(r, 0, r.length));
          }
        }
      }
      if (row !== records.length) throw new MalformedMessageError(`the peer answered ${row} of ${records.length} items`);
      intersectionSize = matched.size;
      progress.finish('comparing', records.length);
    }
    await link.finish(signal);
    return { suite, learned: iLearn, indices, intersectionSize, peerItemNum: peerItems, distinctKeys: distinct.size };
  } catch (e) {
    link.abort(e);
    throw e;
  } finally {
    scalar.fill(0);
  }
}
