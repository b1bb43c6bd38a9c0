/**
 * WebSocket transport for Node.js on top of `ws`: a client ({@link connectWebSocket}) and a
 * listener ({@link listenWebSocket}), plain or TLS (`wss://`). Node-only (exported from
 * `dataport/node`).
 * @module
 */
import { readFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { AbortError, LimitExceededError, MalformedMessageError, TimeoutError, TransportClosedError } from '../errors.js';
import { createRateLimiter, type RateLimitOptions } from './rate-limit.js';
import {
  CloseCode,
  LISTENER_BUSY_MESSAGE,
  resolveLimits,
  WebSocketFrameTransport,
  type WebSocketLimits,
} from './websocket-core.js';

/** PEM text or bytes of a certificate, key or CA bundle. */
export type PemInput = string | Uint8Array;

/**
 * Options of {@link connectWebSocket}.
 *
 * @example
 * ```ts
 * const t = await connectWebSocket('wss://hospital.example:8443', { caFile: 'port-ca.pem', connectTimeoutMs: 10_000 });
 * ```
 */
export interface ConnectWebSocketOptions {
  /** Session limits (defaults: `DEFAULT_WEBSOCKET_LIMITS`). */
  limits?: WebSocketLimits;
  /** Extra trusted CA certificates (PEM) for `wss://`, e.g. a private port CA or a self-signed cert. */
  ca?: PemInput | readonly PemInput[];
  /** A PEM file of trusted CA certificates (read once at connect). */
  caFile?: string;
  /** Time allowed for the TCP, TLS and WebSocket opening handshakes, in ms (default 30 000). */
  connectTimeoutMs?: number;
  /** Cancels the connection attempt. */
  signal?: AbortSignal;
}

/** Certificate and key of a TLS listener, as files or as PEM. */
export type TlsServerOptions = { certFile: string; keyFile: string } | { cert: PemInput; key: PemInput };

/**
 * Options of {@link listenWebSocket}.
 *
 * @example
 * ```ts
 * const server = await listenWebSocket({ host: '0.0.0.0', port: 8443, tls: { certFile: 'cert.pem', keyFile: 'key.pem' } }, onSession);
 * ```
 */
export interface ListenWebSocketOptions {
  /** Interface to bind (default `127.0.0.1`). */
  host?: string;
  /** Port to bind (default 0: a free port; see `address()`). */
  port?: number;
  /** Serve `wss://` with this certificate and key. */
  tls?: TlsServerOptions;
  /** Session limits applied to every accepted connection. */
  limits?: WebSocketLimits;
  /**
   * Authenticated sessions served at once (default 16). A connection arriving while that many
   * run, or whose peer authenticates while they do, is closed with `CloseCode.BUSY`; the client
   * reports "the listener is busy with another session".
   */
  maxConnections?: number;
  /**
   * Connections not yet authenticated, at once (default 16). Further upgrade requests are
   * refused with HTTP 503 before any WebSocket exists.
   */
  maxPending?: number;
  /**
   * A connection whose peer has not authenticated (see `FrameTransport.peerAuthenticated`, called
   * by the session layer) within this many ms is closed with `CloseCode.TIMEOUT`; `onSession`'s
   * run then fails with `TimeoutError` (default 10 000; `Infinity` disables it).
   */
  handshakeTimeoutMs?: number;
  /**
   * Token bucket per remote address on new connections (default `DEFAULT_RATE_LIMIT`: a burst of
   * 16, then 1 per second, 4096 addresses tracked); beyond it the upgrade is refused with HTTP 429.
   * A connection whose peer then authenticates with an accepted key gets its token back, so the
   * limit throttles strangers and failed handshakes, never the pinned partner. `false` disables it.
   */
  rateLimit?: RateLimitOptions | false;
  /**
   * Called once for every connection the listener refuses itself, before `onSession` would see
   * it: rate-limited, too many pending, or busy. (A connection that fails its handshake or misses
   * the handshake deadline is `onSession`'s to report: its run rejects.)
   */
  onRefused?: (refusal: RefusedConnection) => void;
  /** Called with anything `onSession` throws or rejects with (default: ignored). */
  onError?: (error: unknown) => void;
}

/**
 * A connection the listener refused before any session ran on it.
 * @example
 * ```ts
 * const onRefused = (r: RefusedConnection) => console.error(`connection from ${r.remoteAddress} refused: ${r.message}`);
 * ```
 */
export interface RefusedConnection {
  /** The peer's IP address, for logs (not authenticated). */
  remoteAddress: string | undefined;
  /** Why: per-address rate limit (HTTP 429), pending bound (HTTP 503), or busy (`CloseCode.BUSY`). */
  reason: 'rate-limited' | 'too-many-pending' | 'busy';
  /** One line for a log. */
  message: string;
}

/** Where a listener is bound. */
export interface WebSocketServerAddress {
  host: string;
  port: number;
  /** `ws://host:port` or `wss://host:port`. */
  url: string;
}

/** A running listener. */
export interface WebSocketServerHandle {
  /** The bound address (the real port when `port` was 0). */
  address(): WebSocketServerAddress;
  /** Stops accepting, ends every open session (`TransportClosedError` on both sides) and resolves once closed. */
  close(): Promise<void>;
  /** Authenticated sessions open right now. */
  readonly connections: number;
  /** Connections open right now whose peer has not authenticated yet (at most `maxPending`). */
  readonly pending: number;
  /** The most connections that were pending at once since the listener started. */
  readonly peakPending: number;
}

/** Information about an accepted connection. */
export interface WebSocketSessionInfo {
  /** The peer's IP address, for logs (not authenticated). */
  remoteAddress: string | undefined;
  /**
   * The request path of the upgrade (`/` when the URL had none), not authenticated: a listener
   * may route on it (e.g. `dataport job serve`), but must check what it routes on against the
   * signed terms.
   */
  path?: string;
}

const REFUSED_BY_STATUS: Partial<Record<number, string>> = {
  429: 'HTTP 429: too many connections from this address; try again later',
  503: 'HTTP 503: too many connections waiting to authenticate; try again later',
};

const REFUSAL_MESSAGES: Record<RefusedConnection['reason'], string> = {
  'rate-limited': 'too many connections from this address',
  'too-many-pending': 'too many connections waiting to authenticate',
  busy: LISTENER_BUSY_MESSAGE,
};

/** Label of the TLS exporter value used as channel binding (RFC 5705; RFC 8446 §7.5). */
const EXPORTER_LABEL = 'EXPORTER-dataport-session-binding-v1';

function channelBindingOf(socket: unknown): Uint8Array | undefined {
  const tls = socket as Partial<TLSSocket> | undefined;
  if (!tls || typeof tls.exportKeyingMaterial !== 'function' || !tls.encrypted) return undefined;
  try {
    return new Uint8Array(tls.exportKeyingMaterial(32, EXPORTER_LABEL, Buffer.alloc(0)));
  } catch {
    return undefined;
  }
}

function toBuffer(pem: PemInput): Buffer {
  return typeof pem === 'string' ? Buffer.from(pem, 'utf8') : Buffer.from(pem);
}

function wsErrorToDataport(err: unknown): { error: LimitExceededError | MalformedMessageError | TransportClosedError; code: number } {
  const code = (err as { code?: unknown }).code;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
    return { error: new LimitExceededError('received frame exceeds the size limit'), code: CloseCode.MESSAGE_TOO_BIG };
  }
  if (typeof code === 'string' && code.startsWith('WS_ERR_')) {
    return { error: new MalformedMessageError('invalid WebSocket frame'), code: CloseCode.PROTOCOL_ERROR };
  }
  return { error: new TransportClosedError('connection lost'), code: CloseCode.ABNORMAL };
}

/** Wraps an open `ws` socket. Frames are copied in and out so no caller bytes are retained. */
function wrapSocket(ws: WebSocket, limits: Required<WebSocketLimits>, binding: Uint8Array | undefined): WebSocketFrameTransport {
  const t = new WebSocketFrameTransport(limits, binding);
  let inflight = 0;
  t.attach({
    send(frame) {
      const copy = new Uint8Array(frame);
      inflight += copy.length;
      ws.send(copy, { binary: true }, () => {
        inflight -= copy.length;
        t.notifyDrain();
      });
    },
    bufferedAmount: () => inflight,
    pollsDrain: false,
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    close: (code, reason) => ws.close(code, reason),
    terminate: () => ws.terminate(),
  });
  ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    if (!isBinary) return t.handleFrame('');
    // binaryType is 'nodebuffer', so `data` is one Buffer (ws concatenates fragments); copy it out
    // of ws's pooled memory.
    const buf = Array.isArray(data) ? Buffer.concat(data) : data;
    t.handleFrame(new Uint8Array(buf as ArrayBufferLike));
  });
  ws.on('close', (code: number) => t.handleClose(code));
  ws.on('error', (err: unknown) => {
    const { error, code } = wsErrorToDataport(err);
    t.fail(error, code);
  });
  return t;
}

/**
 * Opens a WebSocket client session to `url` (`ws://` or `wss://`).
 *
 * @example
 * ```ts
 * import { connectWebSocket } from 'dataport/node';
 * const transport = await connectWebSocket('wss://hospital.example:8443', { caFile: 'port-ca.pem' });
 * ```
 */
export async function connectWebSocket(url: string, options: ConnectWebSocketOptions = {}): Promise<WebSocketFrameTransport> {
  if (typeof url !== 'string') throw new TypeError('url must be a string');
  const parsed = new URL(url);
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new RangeError('url must start with ws:// or wss://');
  const limits = resolveLimits(options.limits);
  const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
  if (!(connectTimeoutMs > 0)) throw new RangeError('connectTimeoutMs must be positive');
  const signal = options.signal;
  if (signal?.aborted) throw new AbortError();
  const ca: Buffer[] = [];
  if (options.ca !== undefined) {
    const list = Array.isArray(options.ca) ? options.ca : [options.ca as PemInput];
    for (const c of list) ca.push(toBuffer(c));
  }
  if (options.caFile !== undefined) ca.push(await readFile(options.caFile));

  const ws = new WebSocket(url, {
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false, // no compression: avoids decompression bombs and CRIME-style leaks
    followRedirects: false,
    ...(ca.length > 0 ? { ca } : {}),
  });
  // `ws` emits 'error' once more after terminate() of a connecting socket; with no listener that
  // would be an uncaught exception, so keep one for the socket's whole life.
  ws.on('error', () => {});
  let binding: Uint8Array | undefined;
  ws.once('upgrade', (res: http.IncomingMessage) => {
    binding = channelBindingOf(res.socket);
  });
  return new Promise<WebSocketFrameTransport>((resolve, reject) => {
    // One timer for TCP + TLS + upgrade, so a listener that never answers cannot hold us.
    const timer = setTimeout(() => {
      cleanup();
      ws.terminate();
      reject(new TimeoutError('connect timed out'));
    }, connectTimeoutMs);
    const onAbort = (): void => {
      cleanup();
      ws.terminate();
      reject(new AbortError());
    };
    const onOpen = (): void => {
      cleanup();
      resolve(wrapSocket(ws, limits, binding));
    };
    const onError = (err: Error): void => {
      cleanup();
      ws.terminate();
      reject(new TransportClosedError(`could not connect: ${err.message}`, { cause: err }));
    };
    // A dataport listener refuses with 429 (rate limit) or 503 (too many pending connections).
    const onUnexpected = (_req: http.ClientRequest, res: http.IncomingMessage): void => {
      cleanup();
      ws.terminate();
      const status = res.statusCode ?? 0;
      const why = REFUSED_BY_STATUS[status] ?? `unexpected HTTP response ${status}`;
      reject(new TransportClosedError(`could not connect: the listener refused the connection (${why})`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      ws.off('open', onOpen);
      ws.off('error', onError);
      ws.off('unexpected-response', onUnexpected);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.on('open', onOpen);
    ws.on('error', onError);
    ws.on('unexpected-response', onUnexpected);
  });
}

async function loadTls(tls: TlsServerOptions): Promise<{ cert: Buffer; key: Buffer }> {
  if ('certFile' in tls) {
    return { cert: await readFile(tls.certFile), key: await readFile(tls.keyFile) };
  }
  return { cert: toBuffer(tls.cert), key: toBuffer(tls.key) };
}

/**
 * Listens for WebSocket sessions. `onSession` gets one transport per accepted connection; the
 * transport is closed when the promise it returns settles.
 *
 * Admission, so that no unauthenticated client can take the listener's job away from the real
 * peer: a new connection is refused when its address has spent its token bucket (`rateLimit`,
 * HTTP 429) or `maxPending` connections are already waiting to authenticate (HTTP 503), and closed
 * with `CloseCode.BUSY` while `maxConnections` authenticated sessions run. An accepted connection
 * is *pending* until the session layer calls its `peerAuthenticated()` (`runPsi`, `runPsiSum`,
 * `establishSession` and the aggregate operator do, once the peer's signature verifies under an
 * accepted key); a pending connection is closed with `CloseCode.TIMEOUT` after
 * `handshakeTimeoutMs`. Code that runs no session layer over the transport must call
 * `transport.peerAuthenticated()` itself.
 *
 * @example
 * ```ts
 * import { listenWebSocket } from 'dataport/node';
 * const server = await listenWebSocket(
 *   { host: '0.0.0.0', port: 8443, tls: { certFile: 'cert.pem', keyFile: 'key.pem' } },
 *   async (transport) => { await runPsi({ role: 'responder', transport, records, identity, policy }); },
 * );
 * console.log(server.address().url);
 * await server.close();
 * ```
 */
export async function listenWebSocket(
  options: ListenWebSocketOptions,
  onSession: (transport: WebSocketFrameTransport, info: WebSocketSessionInfo) => void | Promise<void>,
): Promise<WebSocketServerHandle> {
  if (typeof onSession !== 'function') throw new TypeError('onSession must be a function');
  const limits = resolveLimits(options.limits);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('port must be an integer in 0..65535');
  const maxConnections = options.maxConnections ?? 16;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new RangeError('maxConnections must be a positive integer');
  const maxPending = options.maxPending ?? 16;
  if (!Number.isInteger(maxPending) || maxPending < 1) throw new RangeError('maxPending must be a positive integer');
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
  if (typeof handshakeTimeoutMs !== 'number' || !(handshakeTimeoutMs > 0)) throw new RangeError('handshakeTimeoutMs must be a positive number');
  const limiter = options.rateLimit === false ? undefined : createRateLimiter(options.rateLimit ?? {});
  const onError = options.onError ?? ((): void => {});
  const refuse = (remoteAddress: string | undefined, reason: RefusedConnection['reason']): void => {
    try {
      options.onRefused?.({ remoteAddress, reason, message: REFUSAL_MESSAGES[reason] });
    } catch (e) {
      onError(e);
    }
  };

  const server = options.tls ? https.createServer(await loadTls(options.tls)) : http.createServer();
  // Sockets at once, upgraded or not: the sessions, the pending ones, and room to answer refusals.
  server.maxConnections = maxConnections + maxPending + 64;
  // Plain HTTP requests get a fixed 426 and nothing else.
  server.on('request', (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket required\n');
  });
  const open = new Set<WebSocketFrameTransport>();
  const pending = new Set<WebSocketFrameTransport>();
  let peakPending = 0;
  const wss = new WebSocketServer({
    server,
    maxPayload: limits.maxFrameBytes,
    perMessageDeflate: false,
    // `cb` is called synchronously, so the 'connection' handler below runs before the next
    // upgrade is verified: the counts seen here are exact.
    verifyClient: (info, cb) => {
      const addr = info.req.socket.remoteAddress;
      if (limiter && !limiter.take(addr ?? '')) {
        refuse(addr, 'rate-limited');
        cb(false, 429, 'Too Many Requests');
      } else if (pending.size >= maxPending) {
        refuse(addr, 'too-many-pending');
        cb(false, 503, 'Service Unavailable');
      } else cb(true);
    },
  });
  wss.on('connection', (ws, req) => {
    const remoteAddress = req.socket.remoteAddress;
    if (open.size >= maxConnections) {
      refuse(remoteAddress, 'busy');
      ws.on('error', () => {});
      ws.close(CloseCode.BUSY, LISTENER_BUSY_MESSAGE);
      return;
    }
    const t = wrapSocket(ws, limits, channelBindingOf(req.socket));
    pending.add(t);
    peakPending = Math.max(peakPending, pending.size);
    const deadline = Number.isFinite(handshakeTimeoutMs)
      ? setTimeout(() => t.fail(new TimeoutError(`no authenticated handshake within ${handshakeTimeoutMs} ms`), CloseCode.TIMEOUT), Math.min(handshakeTimeoutMs, 2_147_483_647))
      : undefined;
    deadline?.unref();
    t.setAuthenticator(() => {
      clearTimeout(deadline);
      pending.delete(t);
      // An authenticated peer gets its connection's token back: only strangers are throttled.
      limiter?.refund(remoteAddress ?? '');
      if (open.size >= maxConnections) return false;
      open.add(t);
      return true;
    });
    ws.once('close', () => {
      clearTimeout(deadline);
      pending.delete(t);
      open.delete(t);
    });
    let result: void | Promise<void>;
    try {
      result = onSession(t, { remoteAddress, path: req.url ?? '/' });
    } catch (e) {
      result = Promise.reject(e);
    }
    Promise.resolve(result)
      .catch(onError)
      .finally(() => void t.close('session ended'));
  });
  wss.on('error', onError);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const scheme = options.tls ? 'wss' : 'ws';
  const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    address: () => ({ host: addr.address, port: addr.port, url: `${scheme}://${urlHost}:${addr.port}` }),
    get connections() {
      return open.size;
    },
    get pending() {
      return pending.size;
    },
    get peakPending() {
      return peakPending;
    },
    close() {
      closing ??= (async () => {
        const ends = [...open, ...pending].map((t) => {
          t.fail(new TransportClosedError('server shutting down'), CloseCode.GOING_AWAY);
          return t.close();
        });
        await Promise.all(ends);
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        server.closeAllConnections?.();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}
