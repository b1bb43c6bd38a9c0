/**
 * The runtime-neutral part of the WebSocket transports: limits, timeouts, backpressure and the
 * mapping of every way a connection can end to a typed error. The Node (`ws`) and the native
 * (browser) WebSocket clients are thin adapters over {@link WebSocketFrameTransport}.
 *
 * No `node:*` import here: this file is part of the universal build.
 * @module
 */
import {
  AbortError,
  type DataportError,
  LimitExceededError,
  MalformedMessageError,
  TimeoutError,
  TransportClosedError,
} from '../errors.js';
import type { FrameTransport, TransportStats } from './types.js';

/**
 * Limits of one WebSocket session. Every limit is explicit; the defaults are in
 * {@link DEFAULT_WEBSOCKET_LIMITS} and documented in docs/session.md.
 *
 * @example
 * ```ts
 * const t = await connectWebSocket(url, { limits: { maxFrameBytes: 1 << 20, idleTimeoutMs: 30_000 } });
 * ```
 */
export interface WebSocketLimits {
  /** Largest frame accepted or sent, in bytes (enforced by `ws` `maxPayload` and again on receipt). */
  maxFrameBytes?: number;
  /** Largest number of payload bytes sent plus received over the whole session. */
  maxSessionBytes?: number;
  /** A pending `receive` fails with `TimeoutError` when no frame arrives for this long (ms). */
  idleTimeoutMs?: number;
  /** The session fails with `TimeoutError` this long after it opened (ms); `Infinity` disables it. */
  overallTimeoutMs?: number;
  /** `send` waits while more than this many bytes are queued for the socket (backpressure). */
  sendHighWaterBytes?: number;
  /**
   * Bytes of received frames queued before the reader takes them. Above it the Node transport
   * pauses reading from the socket (TCP flow control then slows the peer); the native (browser)
   * WebSocket cannot pause, so there the session fails with `LimitExceededError` instead.
   */
  receiveQueueBytes?: number;
}

/**
 * Defaults of {@link WebSocketLimits}.
 * @example
 * ```ts
 * const limits = { ...DEFAULT_WEBSOCKET_LIMITS, idleTimeoutMs: 30_000 };
 * ```
 */
export const DEFAULT_WEBSOCKET_LIMITS: Readonly<Required<WebSocketLimits>> = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  maxSessionBytes: 4 * 1024 * 1024 * 1024,
  idleTimeoutMs: 120_000,
  overallTimeoutMs: 3_600_000,
  sendHighWaterBytes: 4 * 1024 * 1024,
  receiveQueueBytes: 64 * 1024 * 1024,
});

/**
 * WebSocket close codes dataport sends, and how the receiving side maps them to errors.
 * 1000–1011 are RFC 6455 §7.4.1; 4000–4999 are reserved for applications.
 * @example
 * ```ts
 * if (event.code === CloseCode.TIMEOUT) console.log('the peer timed out');
 * ```
 */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  ABNORMAL: 1006,
  MESSAGE_TOO_BIG: 1009,
  TIMEOUT: 4001,
  SESSION_LIMIT: 4002,
  ABORTED: 4003,
  RECEIVE_QUEUE_FULL: 4004,
  /** The listener already serves all the authenticated sessions it may (e.g. its one job). */
  BUSY: 4005,
  /** 1009 / 1003 / 1002 as sent by clients whose API only allows 1000 and 3000–4999 (browsers). */
  APP_MESSAGE_TOO_BIG: 4009,
  APP_UNSUPPORTED_DATA: 4010,
  APP_PROTOCOL_ERROR: 4011,
} as const;

/**
 * The close code a WHATWG WebSocket may send for `code` (it only allows 1000 and 3000–4999).
 * @internal
 */
export function toApplicationCloseCode(code: number): number {
  if (code === CloseCode.NORMAL || (code >= 3000 && code <= 4999)) return code;
  if (code === CloseCode.MESSAGE_TOO_BIG) return CloseCode.APP_MESSAGE_TOO_BIG;
  if (code === CloseCode.UNSUPPORTED_DATA) return CloseCode.APP_UNSUPPORTED_DATA;
  if (code === CloseCode.PROTOCOL_ERROR) return CloseCode.APP_PROTOCOL_ERROR;
  return CloseCode.NORMAL;
}

/**
 * What a requester reports when the listener closed with {@link CloseCode.BUSY}.
 * @internal
 */
export const LISTENER_BUSY_MESSAGE = 'the listener is busy with another session';

/**
 * The typed error a side reports when the peer closed the connection with `code`.
 * @internal
 */
export function errorForPeerClose(code: number): DataportError {
  switch (code) {
    case CloseCode.NORMAL:
      return new TransportClosedError('peer closed the connection');
    case CloseCode.GOING_AWAY:
      return new TransportClosedError('peer went away');
    case CloseCode.PROTOCOL_ERROR:
    case CloseCode.APP_PROTOCOL_ERROR:
      return new MalformedMessageError('peer rejected a malformed WebSocket frame');
    case CloseCode.UNSUPPORTED_DATA:
    case CloseCode.APP_UNSUPPORTED_DATA:
      return new MalformedMessageError('peer rejected a frame (binary frames only)');
    case CloseCode.MESSAGE_TOO_BIG:
    case CloseCode.APP_MESSAGE_TOO_BIG:
      return new LimitExceededError('peer rejected a frame over its size limit');
    case CloseCode.TIMEOUT:
      return new TimeoutError('peer timed out');
    case CloseCode.SESSION_LIMIT:
      return new LimitExceededError('peer: session byte limit exceeded');
    case CloseCode.ABORTED:
      return new TransportClosedError('peer aborted the session');
    case CloseCode.RECEIVE_QUEUE_FULL:
      return new LimitExceededError('peer: receive queue full');
    case CloseCode.BUSY:
      return new TransportClosedError(LISTENER_BUSY_MESSAGE);
    case CloseCode.ABNORMAL:
      return new TransportClosedError('connection lost');
    default:
      return new TransportClosedError(`connection closed (code ${code})`);
  }
}

/**
 * What {@link WebSocketFrameTransport} needs from a concrete socket.
 * @internal
 */
export interface SocketAdapter {
  /** Hands one binary frame to the socket. Must call `transport.notifyDrain()` when bytes leave. */
  send(frame: Uint8Array): void;
  /** Bytes handed to `send` that have not yet left user space. */
  bufferedAmount(): number;
  /** True if the adapter never calls `notifyDrain` and the transport must poll `bufferedAmount`. */
  readonly pollsDrain: boolean;
  /** Stop / restart reading from the socket; absent where the runtime cannot (native WebSocket). */
  pause?(): void;
  resume?(): void;
  /** Starts the closing handshake with `code` (RFC 6455 §7.1.2). */
  close(code: number, reason: string): void;
  /** Drops the connection at once. */
  terminate(): void;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

const POLL_MS = 5;
const CLOSE_GRACE_MS = 2_000;

function checkLimit(name: string, value: number, allowInfinity = false): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value <= 0 || (!allowInfinity && !Number.isFinite(value))) {
    throw new RangeError(`${name} must be a positive number`);
  }
  return value;
}

/**
 * Resolves every limit against the defaults and validates it (`RangeError` naming the limit).
 * @internal
 */
export function resolveLimits(limits: WebSocketLimits | undefined): Required<WebSocketLimits> {
  const l = { ...DEFAULT_WEBSOCKET_LIMITS, ...stripUndefined(limits ?? {}) };
  checkLimit('maxFrameBytes', l.maxFrameBytes);
  checkLimit('maxSessionBytes', l.maxSessionBytes, true);
  checkLimit('idleTimeoutMs', l.idleTimeoutMs, true);
  checkLimit('overallTimeoutMs', l.overallTimeoutMs, true);
  checkLimit('sendHighWaterBytes', l.sendHighWaterBytes);
  checkLimit('receiveQueueBytes', l.receiveQueueBytes);
  return l;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

function unrefTimer(t: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (t as { unref?: () => void }).unref?.();
  return t;
}

// setTimeout takes a 32-bit signed delay; longer delays fire at once, so clamp (and treat
// Infinity as "no timer").
const MAX_DELAY = 2_147_483_647;

/**
 * A {@link FrameTransport} over a WebSocket-like socket. Created by `connectWebSocket`,
 * `listenWebSocket` (Node) and {@link connectNativeWebSocket} (browsers); not constructed directly.
 *
 * Binary frames only: a text frame ends the session with `MalformedMessageError`. Every way the
 * session can end maps to one typed error, which every pending and later call rejects with; frames
 * that arrived before a peer's close are still delivered first.
 *
 * @example
 * ```ts
 * const t = await connectWebSocket('wss://port.example:8443', { limits: { idleTimeoutMs: 30_000 } });
 * await t.send(frame);
 * const reply = await t.receive();
 * await t.close();
 * ```
 */
export class WebSocketFrameTransport implements FrameTransport {
  /** Live counters (payload bytes and frames). */
  readonly stats: TransportStats = { bytesSent: 0, bytesReceived: 0, framesSent: 0, framesReceived: 0 };
  /**
   * A 32-byte TLS exporter value (RFC 5705 / RFC 8446 §7.5) of the underlying TLS connection, when
   * there is one and the runtime exposes it (Node); the session layer mixes it into its binding.
   */
  readonly channelBinding: Uint8Array | undefined;
  /** The resolved limits of this session. */
  readonly limits: Readonly<Required<WebSocketLimits>>;

  #adapter: SocketAdapter | undefined;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #paused = false;
  #receivers: Waiter<Uint8Array>[] = [];
  #drainWaiters: (() => void)[] = [];
  #error: DataportError | undefined;
  #closedByPeer = false;
  #socketClosed = false;
  #closeWaiters: (() => void)[] = [];
  #overallTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #sendWaiting = 0;
  #authenticate: (() => boolean) | undefined;
  #authenticated = false;

  /** @internal */
  constructor(limits: Required<WebSocketLimits>, channelBinding?: Uint8Array) {
    this.limits = limits;
    this.channelBinding = channelBinding;
    if (Number.isFinite(limits.overallTimeoutMs)) {
      this.#overallTimer = unrefTimer(
        setTimeout(() => this.fail(new TimeoutError('session timed out'), CloseCode.TIMEOUT), Math.min(limits.overallTimeoutMs, MAX_DELAY)),
      );
    }
  }

  /** @internal Attaches the socket; called once by the adapter factory. */
  attach(adapter: SocketAdapter): void {
    this.#adapter = adapter;
  }

  /** Bytes handed to the socket that have not yet left user space. */
  get bufferedAmount(): number {
    return this.#adapter?.bufferedAmount() ?? 0;
  }

  /** Bytes of received frames waiting for `receive`. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** True while at least one `send` is waiting for the socket buffer to drain (backpressure). */
  get sendWaiting(): boolean {
    return this.#sendWaiting > 0;
  }

  /** True once the session has ended (by either side or by an error). */
  get closed(): boolean {
    return this.#error !== undefined;
  }

  /** True once the session layer reported the peer authenticated ({@link peerAuthenticated}). */
  get authenticated(): boolean {
    return this.#authenticated;
  }

  /**
   * Called by the session layer once the peer proved an accepted identity. On a listener's
   * connection it lifts the handshake deadline and counts the session; if the listener is busy it
   * closes the connection with {@link CloseCode.BUSY} and throws `TransportClosedError`.
   */
  peerAuthenticated(): void {
    if (this.#error) throw this.#error;
    if (this.#authenticated) return;
    if (this.#authenticate && !this.#authenticate()) {
      const err = new TransportClosedError(LISTENER_BUSY_MESSAGE);
      this.fail(err, CloseCode.BUSY);
      throw err;
    }
    this.#authenticated = true;
  }

  /**
   * @internal The listener's admission check, run once by {@link peerAuthenticated}: true admits
   * the session, false refuses it as busy.
   */
  setAuthenticator(admit: () => boolean): void {
    this.#authenticate = admit;
  }

  async send(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (!(frame instanceof Uint8Array)) throw new TypeError('frame must be a Uint8Array');
    if (signal?.aborted) throw new AbortError();
    if (this.#error) throw this.#error;
    if (frame.length > this.limits.maxFrameBytes) {
      // Ending the session tells the peer as well (close 1009), so both sides see the limit.
      const err = new LimitExceededError(`frame of ${frame.length} bytes exceeds the ${this.limits.maxFrameBytes}-byte limit`);
      this.fail(err, CloseCode.MESSAGE_TOO_BIG);
      throw err;
    }
    if (this.stats.bytesSent + this.stats.bytesReceived + frame.length > this.limits.maxSessionBytes) {
      const err = new LimitExceededError('session byte limit exceeded');
      this.fail(err, CloseCode.SESSION_LIMIT);
      throw err;
    }
    const adapter = this.#adapter!;
    adapter.send(frame);
    this.stats.bytesSent += frame.length;
    this.stats.framesSent++;
    this.#sendWaiting++;
    try {
      // A peer that stops reading must not hold this send for ever: no progress in draining the
      // buffer for idleTimeoutMs ends the session like a silent peer would.
      let last = adapter.bufferedAmount();
      let since = Date.now();
      while (adapter.bufferedAmount() > this.limits.sendHighWaterBytes) {
        if (this.#error) throw this.#error;
        const remaining = this.limits.idleTimeoutMs - (Date.now() - since);
        if (remaining <= 0) {
          const err = new TimeoutError('idle timeout: the peer stopped reading');
          this.fail(err, CloseCode.TIMEOUT);
          throw err;
        }
        await this.#waitDrain(signal, adapter.pollsDrain, remaining);
        const now = adapter.bufferedAmount();
        if (now < last) since = Date.now();
        last = now;
      }
    } finally {
      this.#sendWaiting--;
    }
    if (this.#error) throw this.#error;
  }

  #waitDrain(signal: AbortSignal | undefined, poll: boolean, maxWaitMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortError());
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.#drainWaiters.indexOf(done);
        if (i >= 0) this.#drainWaiters.splice(i, 1);
        resolve();
      };
      const onAbort = (): void => {
        done();
        reject(new AbortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#drainWaiters.push(done);
      // The native WebSocket has no drain event: poll its bufferedAmount. Either way wake up by
      // the idle deadline so the caller can check it.
      const wait = Math.min(poll ? POLL_MS : MAX_DELAY, Math.max(1, Math.ceil(maxWaitMs)));
      if (Number.isFinite(wait)) timer = unrefTimer(setTimeout(done, wait));
    });
  }

  receive(signal?: AbortSignal): Promise<Uint8Array> {
    if (signal?.aborted) return Promise.reject(new AbortError());
    const next = this.#queue.shift();
    if (next) {
      this.#queuedBytes -= next.length;
      this.#maybeResume();
      return Promise.resolve(next);
    }
    if (this.#error) return Promise.reject(this.#error);
    return new Promise<Uint8Array>((resolve, reject) => {
      const waiter: Waiter<Uint8Array> = {
        resolve: (v) => {
          cleanup();
          resolve(v);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      const onAbort = (): void => waiter.reject(new AbortError());
      const cleanup = (): void => {
        signal?.removeEventListener('abort', onAbort);
        const i = this.#receivers.indexOf(waiter);
        if (i >= 0) this.#receivers.splice(i, 1);
        if (this.#receivers.length === 0) this.#clearIdle();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#receivers.push(waiter);
      this.#armIdle();
    });
  }

  async close(reason = 'closed'): Promise<void> {
    if (!this.#error) {
      this.#error = new TransportClosedError('transport closed');
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#finish(CloseCode.NORMAL, reason);
    }
    await this.#waitSocketClosed();
  }

  #waitSocketClosed(): Promise<void> {
    if (this.#socketClosed || !this.#adapter) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = unrefTimer(
        setTimeout(() => {
          this.#adapter?.terminate();
          resolve();
        }, CLOSE_GRACE_MS),
      );
      this.#closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // --- called by adapters -------------------------------------------------------------------

  /** @internal A frame arrived. `data` is a string for a text frame. */
  handleFrame(data: Uint8Array | string): void {
    if (this.#error) return;
    if (typeof data === 'string') {
      this.fail(new MalformedMessageError('text frame received; only binary frames are allowed'), CloseCode.UNSUPPORTED_DATA);
      return;
    }
    // `ws` enforces maxPayload before this point; check again in case an adapter does not.
    if (data.length > this.limits.maxFrameBytes) {
      this.fail(new LimitExceededError(`received frame exceeds the ${this.limits.maxFrameBytes}-byte limit`), CloseCode.MESSAGE_TOO_BIG);
      return;
    }
    if (this.stats.bytesSent + this.stats.bytesReceived + data.length > this.limits.maxSessionBytes) {
      this.fail(new LimitExceededError('session byte limit exceeded'), CloseCode.SESSION_LIMIT);
      return;
    }
    this.stats.bytesReceived += data.length;
    this.stats.framesReceived++;
    const waiter = this.#receivers.shift();
    if (waiter) {
      waiter.resolve(data);
      if (this.#receivers.length > 0) this.#armIdle();
      return;
    }
    this.#queue.push(data);
    this.#queuedBytes += data.length;
    if (this.#queuedBytes > this.limits.receiveQueueBytes) {
      const adapter = this.#adapter!;
      if (adapter.pause) {
        if (!this.#paused) {
          this.#paused = true;
          adapter.pause();
        }
      } else {
        this.fail(new LimitExceededError('receive queue full (reader too slow)'), CloseCode.RECEIVE_QUEUE_FULL);
      }
    }
  }

  /** @internal Some buffered bytes left user space. */
  notifyDrain(): void {
    const waiters = this.#drainWaiters.splice(0);
    for (const w of waiters) w();
  }

  /** @internal The socket closed; `code` is the close code received (1006 when none). */
  handleClose(code: number): void {
    this.#socketClosed = true;
    this.#clearTimers();
    if (!this.#error) {
      this.#closedByPeer = true;
      this.#setError(errorForPeerClose(code));
    }
    for (const w of this.#closeWaiters.splice(0)) w();
    this.notifyDrain();
  }

  /**
   * @internal Ends the session locally with `error` and tells the peer with close `code`.
   * Pending receives reject at once; queued frames are dropped.
   */
  fail(error: DataportError, code: number): void {
    if (this.#error) return;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#setError(error);
    this.#finish(code, error.message);
  }

  #setError(error: DataportError): void {
    this.#error = error;
    this.#clearTimers();
    // After a peer's close, frames already queued are still delivered (receive drains the queue
    // first); only the waiters, which by construction have an empty queue, reject now.
    for (const w of this.#receivers.splice(0)) w.reject(error);
    this.notifyDrain();
  }

  #finish(code: number, reason: string): void {
    this.#clearTimers();
    for (const w of this.#receivers.splice(0)) w.reject(this.#error!);
    this.notifyDrain();
    if (!this.#closedByPeer && !this.#socketClosed) {
      // The close reason is limited to 123 bytes (RFC 6455 §5.5); keep it short and ASCII.
      this.#adapter?.close(code, reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 120));
    }
  }

  #maybeResume(): void {
    if (this.#paused && this.#queuedBytes <= this.limits.receiveQueueBytes / 2) {
      this.#paused = false;
      this.#adapter?.resume?.();
    }
  }

  #armIdle(): void {
    this.#clearIdle();
    if (!Number.isFinite(this.limits.idleTimeoutMs) || this.#error) return;
    this.#idleTimer = unrefTimer(
      setTimeout(() => this.fail(new TimeoutError('idle timeout: no frame from the peer'), CloseCode.TIMEOUT), Math.min(this.limits.idleTimeoutMs, MAX_DELAY)),
    );
  }

  #clearIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #clearTimers(): void {
    this.#clearIdle();
    if (this.#overallTimer) clearTimeout(this.#overallTimer);
    this.#overallTimer = undefined;
  }
}
