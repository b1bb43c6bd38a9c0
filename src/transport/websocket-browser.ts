/**
 * WebSocket client on the WHATWG `WebSocket` API (browsers, Deno, Node ≥ 22), with the same
 * {@link FrameTransport} semantics as the Node transport. Universal: no `ws`, no `node:*`.
 *
 * Two differences the native API forces, both documented in docs/session.md:
 * - it cannot pause reading, so a reader that falls more than `receiveQueueBytes` behind ends the
 *   session with `LimitExceededError` instead of slowing the peer down;
 * - it has no drain event, so a blocked `send` polls `bufferedAmount` every few milliseconds.
 * @module
 */
import { AbortError, TimeoutError, TransportClosedError } from '../errors.js';
import type { FrameTransport } from './types.js';
import { resolveLimits, toApplicationCloseCode, WebSocketFrameTransport, type WebSocketLimits } from './websocket-core.js';

/** The subset of the WHATWG WebSocket interface the native client uses. */
export interface NativeWebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: unknown) => void): void;
  removeEventListener(type: string, listener: (event: unknown) => void): void;
}

/** A constructor of {@link NativeWebSocketLike} sockets, e.g. `globalThis.WebSocket`. */
export type NativeWebSocketConstructor = new (url: string) => NativeWebSocketLike;

/** Options of {@link connectNativeWebSocket}. */
export interface ConnectNativeWebSocketOptions {
  /** Session limits (defaults: `DEFAULT_WEBSOCKET_LIMITS`). */
  limits?: WebSocketLimits;
  /** Time allowed for the opening handshake, in ms (default 30 000). */
  connectTimeoutMs?: number;
  /** Cancels the connection attempt. */
  signal?: AbortSignal;
  /** The WebSocket implementation (default `globalThis.WebSocket`). */
  WebSocket?: NativeWebSocketConstructor;
}

/**
 * Opens a client session with the runtime's native WebSocket. In browsers, TLS (`wss://`) trust is
 * the browser's: there is no CA option.
 *
 * @example
 * ```ts
 * import { connectNativeWebSocket, runPsi } from 'dataport';
 * const transport = await connectNativeWebSocket('wss://hospital.example:8443');
 * ```
 */
export async function connectNativeWebSocket(
  url: string,
  options: ConnectNativeWebSocketOptions = {},
): Promise<WebSocketFrameTransport & FrameTransport> {
  if (typeof url !== 'string') throw new TypeError('url must be a string');
  if (!/^wss?:\/\//i.test(url)) throw new RangeError('url must start with ws:// or wss://');
  const limits = resolveLimits(options.limits);
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  if (!(connectTimeoutMs > 0)) throw new RangeError('connectTimeoutMs must be positive');
  const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: NativeWebSocketConstructor }).WebSocket;
  if (!Ctor) throw new TypeError('no WebSocket implementation: pass options.WebSocket');
  const signal = options.signal;
  if (signal?.aborted) throw new AbortError();

  const ws = new Ctor(url);
  ws.binaryType = 'arraybuffer';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new TimeoutError('connect timed out')), connectTimeoutMs);
    const onOpen = (): void => {
      cleanup();
      resolve();
    };
    const onFailure = (): void => fail(new TransportClosedError('could not connect'));
    const onAbort = (): void => fail(new AbortError());
    const fail = (e: Error): void => {
      cleanup();
      try {
        ws.close();
      } catch {
        // closing a socket that never opened may throw in some runtimes; nothing to release then
      }
      reject(e);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      ws.removeEventListener('open', onOpen);
      ws.removeEventListener('error', onFailure);
      ws.removeEventListener('close', onFailure);
      signal?.removeEventListener('abort', onAbort);
    };
    ws.addEventListener('open', onOpen);
    ws.addEventListener('error', onFailure);
    ws.addEventListener('close', onFailure);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

  const t = new WebSocketFrameTransport(limits);
  t.attach({
    send(frame) {
      // The WHATWG send copies the bytes into its own buffer, so the caller's array is not retained.
      ws.send(frame);
    },
    bufferedAmount: () => ws.bufferedAmount,
    pollsDrain: true,
    close: (code, reason) => ws.close(toApplicationCloseCode(code), reason),
    terminate: () => ws.close(),
  });
  ws.addEventListener('message', (event) => {
    const data = (event as { data: unknown }).data;
    if (typeof data === 'string') return t.handleFrame(data);
    if (data instanceof ArrayBuffer) return t.handleFrame(new Uint8Array(data));
    if (ArrayBuffer.isView(data)) return t.handleFrame(new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)));
    // A Blob would mean binaryType was changed behind our back: treat as a text-like protocol error.
    t.handleFrame('');
  });
  ws.addEventListener('close', (event) => t.handleClose((event as { code?: number }).code ?? 1006));
  return t;
}
