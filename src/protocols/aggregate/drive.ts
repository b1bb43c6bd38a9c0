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
  signal?: AbortSignal;
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
  throwIfAborted(options.signal);
  const { analyst, providers } = options;
  const machine = createAggregator({ providers: providers.length, ...(options.acceptQuery ? { acceptQuery: options.acceptQuery } : {}) });
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

  const pumps: AbortController[] = [];
  const push = (e: Event) => {
    queue.push(e);
    wake?.();
  };
  const pump = async (t: FrameTransport, onFrame: (f: Uint8Array) => Event, onLost: Event) => {
    // One controller per connection, aborted in `finally` (a shared signal would collect one
    // listener per connection).
    const mine = new AbortController();
    pumps.push(mine);
    for (;;) {
      let frame: Uint8Array;
      try {
        frame = await t.receive(mine.signal);
      } catch {
        if (!stop.signal.aborted) push(onLost);
        return;
      }
      push(onFrame(frame));
    }
  };
  void pump(analyst, (f) => async () => {
    const step = await machine.receiveFromAnalyst(f);
    if (timer === undefined && step.outcome === undefined) {
      timer = setTimeout(() => push(() => machine.deadline()), options.timeoutMs ?? 600_000);
    }
    return step;
  }, () => machine.analystLost());
  providers.forEach((p, i) => void pump(p, (f) => () => machine.receiveFromProvider(i, f), () => machine.providerLost(i)));

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
      for (const { to, frame } of step.send) {
        const t = to === 'analyst' ? analyst : providers[to]!;
        // A peer that is gone cannot receive its ABORT; that is not the aggregator's failure.
        await t.send(frame, stop.signal).catch(() => {});
      }
      if (step.outcome !== undefined) return step.outcome;
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    stop.abort();
    for (const p of pumps) p.abort();
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
  try {
    await transport.send(analyst.queryFrame, options.signal);
    const frame = await receiveWithin(transport, options.timeoutMs ?? 900_000, options.signal);
    return analyst.receive(frame);
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
  if (options.join !== false) await transport.send(encodeAggregateMessage({ type: AggregateMessageType.JOIN }), options.signal);
  for (;;) {
    const frame = await receiveWithin(transport, timeoutMs, options.signal);
    let step;
    try {
      step = await provider.receive(frame);
    } catch (e) {
      await transport.send(provider.abortFrame(e), options.signal).catch(() => {});
      throw e;
    }
    if (step.send !== undefined) await transport.send(step.send, options.signal);
    if (step.done !== undefined) return step.done;
  }
}
