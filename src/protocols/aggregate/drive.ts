/**
 * Drivers that run the aggregation state machines over any {@link FrameTransport} (memory pair in
 * tests, WebSocket in the CLI). The state machines do the protocol; these only move frames, apply
 * the collection deadline and turn transport failures into protocol events.
 * @module
 */
import { AbortError, DataportError, TimeoutError, throwIfAborted } from '../../errors.js';
import type { FrameTransport } from '../../transport/types.js';
import { createAggregator, type AggregatorOptions, type AggregatorOutcome, type AggregatorStep } from './aggregator.js';
import { createAnalyst } from './analyst.js';
import { createProvider, type ProviderOptions } from './provider.js';
import type { AggregateQuery } from './query.js';
import { AggregateMessageType, encodeAggregateMessage } from './messages.js';
import type { AggregateResult } from './result.js';

/**
 * Steps of a round, for progress reports: the operator `collecting` the providers' replies
 * (unit `providers`); a provider `waiting-for-query`, `contributing` (local aggregates encrypted
 * and sent) and `waiting-for-round-end`; the analyst `waiting-for-total` and `decrypting`
 * (unit `steps`, total 1).
 */
export type AggregateProgressPhase = 'collecting' | 'waiting-for-query' | 'contributing' | 'waiting-for-round-end' | 'waiting-for-total' | 'decrypting';

/** A progress event of a round: `done` of `total` in `phase`; the last event of a phase has done = total. */
export interface AggregateProgress {
  readonly phase: AggregateProgressPhase;
  readonly done: number;
  readonly total: number;
  readonly unit: 'providers' | 'steps';
}

/** A progress callback; its errors are ignored (a display hook, the round does not depend on it). */
export type AggregateProgressHook = (progress: AggregateProgress) => void;

function progressReporter(hook: AggregateProgressHook | undefined) {
  return (phase: AggregateProgressPhase, done: number, total: number, unit: AggregateProgress['unit'] = 'steps') => {
    if (typeof hook !== 'function') return;
    try {
      hook({ phase, done, total, unit });
    } catch {
      /* a display hook */
    }
  };
}

/**
 * Options of {@link runAggregator}.
 *
 * @example
 * ```ts
 * const outcome = await runAggregator({ analyst, providers: [p1, p2, p3], timeoutMs: 60_000 });
 * ```
 */
export interface RunAggregatorOptions extends Omit<AggregatorOptions, 'providers'> {
  analyst: FrameTransport;
  providers: readonly FrameTransport[];
  /** Collection deadline after the query arrives (default 10 minutes). */
  timeoutMs?: number;
  /**
   * After the outcome, wait up to this long (ms) for the one reply (CONTRIBUTION or ABORT) that each
   * provider which was sent the query still owes, so that every connection is left quiet and in
   * step (what a receipt exchange on the same connection needs). Default 0: do not wait.
   */
  drainTimeoutMs?: number;
  signal?: AbortSignal;
  /** `collecting`: providers that replied (or were lost) of those in the round. */
  onProgress?: AggregateProgressHook;
}

/**
 * What {@link runAggregatorRound} returns: the outcome, and which connections were left quiet (every
 * frame the peer sent in this round was read, none of its later frames was) and alive.
 *
 * @example
 * ```ts
 * const { outcome, settled } = await runAggregatorRound(options);
 * if (settled.providers[0]) await exchangeSomethingElseOn(providers[0]);
 * ```
 */
export interface AggregatorRoundResult {
  outcome: AggregatorOutcome;
  settled: { analyst: boolean; providers: boolean[] };
  /** Per provider: whether it was sent the query (ANNOUNCE). */
  announced: boolean[];
}

/**
 * Runs one aggregation round as the aggregator. Resolves with the outcome (completed or aborted —
 * an aborted round is reported, not thrown, since the aggregator itself did nothing wrong).
 *
 * @example
 * ```ts
 * const outcome = await runAggregator({ analyst: a, providers: [p1, p2] });
 * ```
 */
export async function runAggregator(options: RunAggregatorOptions): Promise<AggregatorOutcome> {
  return (await runAggregatorRound(options)).outcome;
}

/**
 * {@link runAggregator}, also telling which connections are quiet afterwards. The driver stops
 * reading a connection the moment the round's outcome is decided (before the final frames go out),
 * except for providers that still owe their reply to the query, which are read exactly once more
 * (within `drainTimeoutMs`). So the frames that follow on a settled connection — a session's
 * receipt exchange — are never consumed by the round.
 *
 * @example
 * ```ts
 * const { outcome, settled } = await runAggregatorRound({ analyst, providers, drainTimeoutMs: 30_000 });
 * ```
 */
export async function runAggregatorRound(options: RunAggregatorOptions): Promise<AggregatorRoundResult> {
  throwIfAborted(options.signal);
  const { analyst, providers } = options;
  const n = providers.length;
  const machine = createAggregator({ providers: n, ...(options.acceptQuery ? { acceptQuery: options.acceptQuery } : {}) });
  const stop = new AbortController();
  type Event = () => AggregatorStep | Promise<AggregatorStep>;
  const queue: Event[] = [];
  let wake: (() => void) | undefined;
  const onAbort = () => {
    stop.abort();
    wake?.();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;

  // Per connection (index n = the analyst): was it sent the query, did it answer, is it dead, and
  // its reader's controller (aborted to stop reading without consuming a frame).
  const announced = new Array<boolean>(n).fill(false);
  const replied = new Array<boolean>(n + 1).fill(false);
  const dead = new Array<boolean>(n + 1).fill(false);
  const readers = Array.from({ length: n + 1 }, () => new AbortController());
  let finished = false;
  const owes = (i: number): boolean => i < n && announced[i]! && !replied[i] && !dead[i];
  const report = progressReporter(options.onProgress);
  let collecting = false;
  const reportCollected = () => {
    if (collecting) report('collecting', providers.filter((_, i) => replied[i] || dead[i]).length, n, 'providers');
  };

  const push = (e: Event) => {
    queue.push(e);
    wake?.();
  };
  const pump = async (i: number, t: FrameTransport, onFrame: (f: Uint8Array) => Event, onLost: Event) => {
    const mine = readers[i]!;
    for (;;) {
      let frame: Uint8Array;
      try {
        frame = await t.receive(mine.signal);
      } catch {
        if (!mine.signal.aborted) {
          dead[i] = true;
          if (!stop.signal.aborted) push(onLost);
          wake?.();
        }
        return;
      }
      // A JOIN (legacy role announcement) is not an answer to anything.
      const isReply = !(frame.length === 2 && frame[0] === AggregateMessageType.JOIN);
      if (isReply) replied[i] = true;
      if (finished) {
        wake?.();
        return; // the round is over: this was the reply it owed; read nothing after it
      }
      push(onFrame(frame));
      // A provider's reply (CONTRIBUTION or ABORT) is the last frame it sends in a round: stop
      // reading it now, not once the main loop has handled the reply. A provider that failed locally
      // sends ABORT and at once the frames of whatever follows on the connection (a session's
      // receipt view); reading on here would consume them whenever they arrive before the loop
      // decides the outcome (seen under load: a `failed` receipt missing on that link).
      // Losing this connection later changes nothing in the round (the machine ignores the loss of
      // a provider that already replied). The analyst is still read after its QUERY, so that its
      // loss aborts the collection at once; it sends nothing else until the round is decided.
      if (isReply && i < n) return;
    }
  };
  void pump(n, analyst, (f) => async () => {
    const step = await machine.receiveFromAnalyst(f);
    if (timer === undefined && step.outcome === undefined) {
      timer = setTimeout(() => push(() => machine.deadline()), options.timeoutMs ?? 600_000);
    }
    return step;
  }, () => machine.analystLost());
  providers.forEach((p, i) => void pump(i, p, (f) => () => machine.receiveFromProvider(i, f), () => machine.providerLost(i)));

  let outcome: AggregatorOutcome | undefined;
  try {
    for (;;) {
      if (options.signal?.aborted) throw new AbortError();
      const event = queue.shift();
      if (event === undefined) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
        continue;
      }
      const step = await event();
      for (const { to, frame } of step.send) if (to !== 'analyst' && frame[0] === AggregateMessageType.ANNOUNCE) announced[to] = true;
      if (!collecting && announced.some(Boolean)) {
        collecting = true;
        report('collecting', 0, n, 'providers');
      }
      reportCollected();
      if (step.outcome !== undefined) {
        // Stop reading every connection that owes nothing before the final frames go out: the
        // peer's next frames (after TOTAL / DONE / ABORT) are not the round's.
        finished = true;
        for (let i = 0; i <= n; i++) if (!owes(i)) readers[i]!.abort();
      }
      for (const { to, frame } of step.send) {
        const idx = to === 'analyst' ? n : to;
        const t = to === 'analyst' ? analyst : providers[to]!;
        // A peer that is gone cannot receive its ABORT; that is not the aggregator's failure.
        await t.send(frame, stop.signal).catch(() => {
          dead[idx] = true;
        });
      }
      if (step.outcome !== undefined) {
        outcome = step.outcome;
        // The collection is over (every provider replied, was lost or is no longer waited for).
        if (collecting) report('collecting', n, n, 'providers');
        break;
      }
    }
    const drainMs = options.drainTimeoutMs ?? 0;
    if (drainMs > 0 && providers.some((_, i) => owes(i))) {
      let expired = false;
      const drainTimer = setTimeout(() => {
        expired = true;
        wake?.();
      }, drainMs);
      try {
        while (!expired && !stop.signal.aborted && providers.some((_, i) => owes(i))) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        clearTimeout(drainTimer);
      }
      if (options.signal?.aborted) throw new AbortError();
    }
    return {
      outcome,
      settled: {
        analyst: replied[n]! && !dead[n],
        providers: providers.map((_, i) => !dead[i] && !owes(i)),
      },
      announced: announced.slice(),
    };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    for (const r of readers) r.abort();
    machine.dispose();
  }
}

/**
 * Options of {@link runAnalyst}.
 *
 * @example
 * ```ts
 * const result = await runAnalyst(transport, { query, timeoutMs: 600_000 });
 * ```
 */
export interface RunAnalystOptions {
  query: AggregateQuery;
  /** Ed25519 identity secret key: sign (query, HE public key) for providers that pin the analyst. */
  identitySecretKey?: Uint8Array;
  /** How long to wait for the total (default 15 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** `waiting-for-total`, then `decrypting`. */
  onProgress?: AggregateProgressHook;
}

async function receiveWithin(t: FrameTransport, timeoutMs: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(new TimeoutError()), timeoutMs);
  const onAbort = () => ctl.abort(new AbortError());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await t.receive(ctl.signal);
  } catch (e) {
    if (ctl.signal.aborted && ctl.signal.reason instanceof DataportError) throw ctl.signal.reason;
    throw e;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Runs one round as the analyst: sends the query and public key, waits for the total, decrypts it
 * and applies the guardrails. Rejects with the typed error of an ABORT or transport failure.
 *
 * @example
 * ```ts
 * const result = await runAnalyst(transport, { query });
 * ```
 */
export async function runAnalyst(transport: FrameTransport, options: RunAnalystOptions): Promise<AggregateResult> {
  throwIfAborted(options.signal);
  const analyst = await createAnalyst(options.query, options.identitySecretKey !== undefined ? { identitySecretKey: options.identitySecretKey } : {});
  const report = progressReporter(options.onProgress);
  try {
    await transport.send(analyst.queryFrame, options.signal);
    report('waiting-for-total', 0, 1);
    const frame = await receiveWithin(transport, options.timeoutMs ?? 900_000, options.signal);
    report('waiting-for-total', 1, 1);
    report('decrypting', 0, 1);
    const result = analyst.receive(frame);
    report('decrypting', 1, 1);
    return result;
  } finally {
    analyst.dispose();
  }
}

/**
 * Options of {@link runProvider}.
 *
 * @example
 * ```ts
 * await runProvider(transport, { rows: () => rows });
 * ```
 */
export interface RunProviderOptions extends ProviderOptions {
  /** Send a JOIN frame first (default true; what `dataport aggregate serve` uses to tell roles apart). */
  join?: boolean;
  /** How long to wait for each aggregator message (default 15 minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** `waiting-for-query`, `contributing`, `waiting-for-round-end`. */
  onProgress?: AggregateProgressHook;
}

/**
 * Runs one round as a provider: waits for the announced query, contributes, waits for DONE.
 * On a local failure it tells the aggregator (ABORT) before rejecting with the typed error.
 *
 * @example
 * ```ts
 * const { contributors } = await runProvider(transport, { rows: () => rows });
 * ```
 */
export async function runProvider(transport: FrameTransport, options: RunProviderOptions): Promise<{ contributors: number; queryId: string }> {
  throwIfAborted(options.signal);
  const provider = createProvider(options);
  const timeoutMs = options.timeoutMs ?? 900_000;
  const report = progressReporter(options.onProgress);
  if (options.join !== false) await transport.send(encodeAggregateMessage({ type: AggregateMessageType.JOIN }), options.signal);
  report('waiting-for-query', 0, 1);
  for (let frames = 0; ; frames++) {
    const frame = await receiveWithin(transport, timeoutMs, options.signal);
    if (frames === 0) report('waiting-for-query', 1, 1);
    const announce = frame[0] === AggregateMessageType.ANNOUNCE;
    if (announce) report('contributing', 0, 1);
    let step;
    try {
      step = await provider.receive(frame);
    } catch (e) {
      // Tell the aggregator about a local failure; an ABORT it sent needs no answer (and an answer
      // would be one frame more than the aggregator reads).
      if (frame[0] !== AggregateMessageType.ABORT) await transport.send(provider.abortFrame(e), options.signal).catch(() => {});
      throw e;
    }
    if (step.send !== undefined) await transport.send(step.send, options.signal);
    if (announce) {
      report('contributing', 1, 1);
      if (step.done === undefined) report('waiting-for-round-end', 0, 1);
    }
    if (step.done !== undefined) {
      report('waiting-for-round-end', 1, 1);
      return step.done;
    }
  }
}
