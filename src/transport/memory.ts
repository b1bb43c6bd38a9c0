/**
 * An in-memory {@link FrameTransport} pair: two connected ends in one process, with the same
 * limits and failure behaviour as a network transport (frame size, bytes per session, bounded
 * buffering with backpressure, close propagation, idle timeout, `AbortSignal`), plus test hooks
 * for hostile-peer scenarios (frame interception, abrupt disconnect).
 *
 * Semantics, per end:
 * - `send` copies the frame, then waits until the peer's receive buffer has room
 *   (`maxBufferedFrames` / `maxBufferedBytes`); a frame larger than the byte budget is accepted
 *   only into an empty buffer, so a legal frame can never deadlock.
 * - Limits are enforced on both ends: the sender refuses to send a frame over its own
 *   `maxFrameBytes` or past its own `maxSessionBytes` (local `LimitExceededError`, nothing sent);
 *   the receiver, whose limits may differ (see `MemoryTransportOptions.b`) or which may face a
 *   sender that bypassed its checks through `intercept`, checks again, and a violation fails its
 *   `receive` with `LimitExceededError` and tears the channel down (the peer sees
 *   `TransportClosedError`).
 * - `close()` is graceful: frames already buffered for the peer are still delivered, then the
 *   peer's `receive` rejects with `TransportClosedError`. `destroy()` is abrupt: buffers are dropped
 *   and every pending call on both ends rejects at once.
 * @module
 */
import {
  AbortError,
  LimitExceededError,
  TimeoutError,
  TransportClosedError,
  type DataportError,
} from '../errors.js';
import type { FrameTransport, TransportStats } from './types.js';

/** Per-end limits of {@link createMemoryTransportPair}. */
export interface MemoryTransportLimits {
  /** Largest frame accepted, in bytes (default 16 MiB). */
  maxFrameBytes?: number;
  /** Most bytes this end may send, and, separately, receive, over its life (default 2^32). */
  maxSessionBytes?: number;
  /** Most frames buffered for this end before the peer's `send` waits (default 16). */
  maxBufferedFrames?: number;
  /** Most bytes buffered for this end before the peer's `send` waits (default 16 MiB). */
  maxBufferedBytes?: number;
  /** `receive` rejects with `TimeoutError` after this many ms without a frame (default: none). */
  idleTimeoutMs?: number;
}

/**
 * Options of {@link createMemoryTransportPair}: limits shared by both ends, optionally overridden
 * per end (`a` is the first element of the returned pair, `b` the second), and test hooks.
 */
export interface MemoryTransportOptions extends MemoryTransportLimits {
  /** Overrides for end `a` (the first of the pair). */
  a?: MemoryTransportLimits;
  /** Overrides for end `b` (the second of the pair). */
  b?: MemoryTransportLimits;
  /**
   * Test hook, called for every frame in flight (after the sender's own checks, before delivery).
   * Return `undefined` to deliver the frame unchanged, a `Uint8Array` to deliver it instead, or an
   * array of frames (possibly empty, to drop it) to deliver in its place. Replacement frames skip
   * the sender's checks but still face the receiver's, which is how a test plays a peer that
   * ignores limits.
   */
  intercept?: (frame: Uint8Array, from: MemoryTransportSide, index: number) => Uint8Array | readonly Uint8Array[] | undefined;
}

/** Names the two ends of a memory pair. */
export type MemoryTransportSide = 'a' | 'b';

/** One end of an in-memory pair: a {@link FrameTransport} with test hooks. */
export interface MemoryTransport extends FrameTransport {
  /** Which end this is. */
  readonly side: MemoryTransportSide;
  /** Frames currently buffered for this end (sent by the peer, not yet received). */
  readonly bufferedFrames: number;
  /** Whether this end is closed (by either side, a limit, or `destroy`). */
  readonly closed: boolean;
  /**
   * Abrupt disconnect (test hook): drops every buffered frame in both directions and rejects every
   * pending call on both ends with `error` (default `TransportClosedError`).
   */
  destroy(error?: DataportError): void;
}

const DEFAULTS: Required<Omit<MemoryTransportLimits, 'idleTimeoutMs'>> = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxSessionBytes: 2 ** 32,
  maxBufferedFrames: 16,
  maxBufferedBytes: 16 * 1024 * 1024,
};

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

function checkLimit(value: number | undefined, name: string, allowZero = false): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new RangeError(`${name} must be a positive safe integer`);
  }
}

function resolveLimits(shared: MemoryTransportLimits, own: MemoryTransportLimits | undefined, side: string) {
  const merged = { ...shared, ...own };
  for (const k of ['maxFrameBytes', 'maxSessionBytes', 'maxBufferedFrames', 'maxBufferedBytes', 'idleTimeoutMs'] as const) {
    checkLimit(merged[k], own?.[k] !== undefined ? `options.${side}.${k}` : `options.${k}`);
  }
  return {
    maxFrameBytes: merged.maxFrameBytes ?? DEFAULTS.maxFrameBytes,
    maxSessionBytes: merged.maxSessionBytes ?? DEFAULTS.maxSessionBytes,
    maxBufferedFrames: merged.maxBufferedFrames ?? DEFAULTS.maxBufferedFrames,
    maxBufferedBytes: merged.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes,
    idleTimeoutMs: merged.idleTimeoutMs,
  };
}

type Limits = ReturnType<typeof resolveLimits>;

/** State of one end: the inbound queue is the buffer of frames sent *to* this end. */
class End implements MemoryTransport {
  readonly side: MemoryTransportSide;
  readonly stats: TransportStats = { bytesSent: 0, bytesReceived: 0, framesSent: 0, framesReceived: 0 };
  peer!: End;
  private readonly limits: Limits;
  private readonly intercept: MemoryTransportOptions['intercept'];
  private readonly inbound: Uint8Array[] = [];
  private inboundBytes = 0;
  /** Bytes accepted for delivery to this end so far (session limit on receive). */
  private inboundTotal = 0;
  private readonly receivers: Waiter<Uint8Array>[] = [];
  /** Senders (on the peer) waiting for room in this end's inbound buffer. */
  private readonly roomWaiters: Waiter<void>[] = [];
  private sendChain: Promise<void> = Promise.resolve();
  private framesInFlight = 0;
  /** Set once this end can no longer receive: the error later receives reject with. */
  private endError: DataportError | undefined;
  /** Set once the peer stopped sending (graceful close): receive drains then rejects. */
  private peerDone: DataportError | undefined;
  private isClosed = false;

  constructor(side: MemoryTransportSide, limits: Limits, intercept: MemoryTransportOptions['intercept']) {
    this.side = side;
    this.limits = limits;
    this.intercept = intercept;
  }

  get bufferedFrames(): number {
    return this.inbound.length;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  send(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (!(frame instanceof Uint8Array)) return Promise.reject(new TypeError('frame must be a Uint8Array'));
    // Serialise sends so frames keep their order even when a caller does not await each one.
    let started = false;
    let cancelled = false;
    const run = this.sendChain.then(() => {
      if (cancelled) throw new AbortError();
      started = true;
      return this.sendNow(frame, signal);
    });
    this.sendChain = run.catch(() => {});
    if (signal === undefined) return run;
    // A send still queued behind others rejects at once on abort and is never delivered; one that
    // already started settles through its own wait (accept() observes the same signal).
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        if (started) return;
        cancelled = true;
        reject(new AbortError());
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async sendNow(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw new AbortError();
    if (this.isClosed) throw this.endError ?? new TransportClosedError();
    if (frame.length > this.limits.maxFrameBytes) throw new LimitExceededError('frame exceeds the maximum frame size');
    if (this.stats.bytesSent + frame.length > this.limits.maxSessionBytes) {
      throw new LimitExceededError('session byte limit exceeded');
    }
    const copy = new Uint8Array(frame);
    const replaced = this.intercept?.(copy, this.side, this.framesInFlight++);
    const out: readonly Uint8Array[] = replaced === undefined ? [copy] : replaced instanceof Uint8Array ? [replaced] : replaced;
    for (const f of out) await this.peer.accept(new Uint8Array(f), signal);
    this.stats.bytesSent += frame.length;
    this.stats.framesSent += 1;
  }

  /** Called by the peer's send: waits for room, then buffers `frame` for this end. */
  private async accept(frame: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      if (this.endError !== undefined || this.peerDone !== undefined) throw new TransportClosedError();
      const empty = this.inbound.length === 0;
      const room =
        empty ||
        (this.inbound.length < this.limits.maxBufferedFrames &&
          this.inboundBytes + frame.length <= this.limits.maxBufferedBytes);
      if (room) break;
      await this.waitFor(this.roomWaiters, signal, undefined);
    }
    // The receiver's own limits: a violation tears the channel down (a network transport would
    // close the connection), the receiver's next receive reports the limit, the sender sees closed.
    if (frame.length > this.limits.maxFrameBytes) {
      this.fail(new LimitExceededError('received frame exceeds the maximum frame size'));
      throw new TransportClosedError();
    }
    if (this.inboundTotal + frame.length > this.limits.maxSessionBytes) {
      this.fail(new LimitExceededError('session byte limit exceeded'));
      throw new TransportClosedError();
    }
    this.inboundTotal += frame.length;
    const r = this.receivers.shift();
    if (r) {
      this.countReceived(frame);
      r.resolve(frame);
    } else {
      this.inbound.push(frame);
      this.inboundBytes += frame.length;
    }
  }

  private countReceived(frame: Uint8Array): void {
    this.stats.bytesReceived += frame.length;
    this.stats.framesReceived += 1;
  }

  async receive(signal?: AbortSignal): Promise<Uint8Array> {
    if (signal?.aborted) throw new AbortError();
    const next = this.inbound.shift();
    if (next !== undefined) {
      this.inboundBytes -= next.length;
      this.countReceived(next);
      this.wake(this.roomWaiters);
      return next;
    }
    if (this.endError) throw this.endError;
    if (this.peerDone) throw this.peerDone;
    return this.waitFor(this.receivers, signal, this.limits.idleTimeoutMs);
  }

  private waitFor<T>(queue: Waiter<T>[], signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cleanup = () => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
      };
      const waiter: Waiter<T> = {
        resolve: (v) => {
          cleanup();
          resolve(v);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      const onAbort = () => waiter.reject(new AbortError());
      signal?.addEventListener('abort', onAbort, { once: true });
      // An idle timeout ends the channel (as a network transport would), not just this call.
      if (timeoutMs !== undefined) timer = setTimeout(() => this.fail(new TimeoutError('receive timed out')), timeoutMs);
      queue.push(waiter);
    });
  }

  private wake(queue: Waiter<void>[]): void {
    // Wake every waiting sender; each re-checks for room (there is usually one).
    for (const w of queue.splice(0)) w.resolve();
  }

  private rejectAll(error: DataportError): void {
    for (const w of this.receivers.splice(0)) w.reject(error);
    for (const w of this.roomWaiters.splice(0)) w.reject(new TransportClosedError());
  }

  /** This end stops: later receives fail with `error` once the buffer is drained (or at once). */
  private fail(error: DataportError, dropBuffered = true): void {
    if (dropBuffered) {
      this.inbound.length = 0;
      this.inboundBytes = 0;
    }
    this.endError ??= error;
    this.isClosed = true;
    this.rejectAll(this.endError);
    this.peer.markPeerDone();
  }

  /** The peer will send nothing more: wake receivers once the buffer is empty. */
  private markPeerDone(): void {
    this.peerDone ??= new TransportClosedError('peer closed the transport');
    this.isClosed = true;
    if (this.inbound.length === 0) {
      for (const w of this.receivers.splice(0)) w.reject(this.peerDone);
    }
    for (const w of this.roomWaiters.splice(0)) w.reject(new TransportClosedError());
  }

  async close(_reason?: string): Promise<void> {
    if (this.endError === undefined) this.fail(new TransportClosedError('transport closed'));
  }

  destroy(error: DataportError = new TransportClosedError('connection lost')): void {
    this.fail(error);
    this.peer.fail(error);
  }
}

/**
 * Creates two connected in-memory transports. What one end sends, the other receives, in order.
 *
 * @example
 * ```ts
 * const [client, server] = createMemoryTransportPair({ maxFrameBytes: 1 << 20 });
 * await client.send(new Uint8Array([1, 2, 3]));
 * const frame = await server.receive(); // Uint8Array [1, 2, 3]
 * await client.close();                // server.receive() now rejects with TransportClosedError
 * ```
 */
export function createMemoryTransportPair(
  options: MemoryTransportOptions = {},
): readonly [MemoryTransport, MemoryTransport] {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  if (options.intercept !== undefined && typeof options.intercept !== 'function') {
    throw new TypeError('options.intercept must be a function');
  }
  const a = new End('a', resolveLimits(options, options.a, 'a'), options.intercept);
  const b = new End('b', resolveLimits(options, options.b, 'b'), options.intercept);
  a.peer = b;
  b.peer = a;
  return [a, b] as const;
}
