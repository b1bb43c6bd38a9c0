/**
 * The accept loop of `dataport psi --listen` and `dataport psi-sum --listen`: only a peer that
 * completed the authenticated handshake with an accepted key can end (or take) the listener's job.
 *
 * Every other connection — garbage, text or oversized frames, silence past `--handshake-timeout`,
 * a wrong key, a refusal by the transport's limits (rate per address, pending bound, busy) — is
 * closed with a reason, reported as one line on stderr (`dataport: rejected connection from ADDR:
 * WHAT`), and the listener goes on waiting until its own `--timeout`. The limits themselves live
 * in the transport (`listenWebSocket`); this loop only decides what ends the job.
 * @module
 */
import { appendFileSync } from 'node:fs';
import { AbortError, InputError, TimeoutError } from '../errors.js';
import { formatRefusalLine } from '../supervise/refusal-log.js';
import type { WebSocketLimits } from '../transport/websocket-core.js';
import type { RateLimitOptions } from '../transport/rate-limit.js';
import { listenWebSocket, type RefusedConnection, type WebSocketServerHandle } from '../transport/websocket-node.js';
import type { WebSocketFrameTransport } from '../transport/websocket-core.js';
import type { HostPort } from './args.js';
import { FILE_MESSAGES, SESSION_MESSAGES } from './messages.js';
import { cliSignal } from './signals.js';

/** Default `--handshake-timeout`: seconds a connection has to authenticate. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * The one default of `--timeout` for every listener (`psi`, `psi-sum`, `aggregate serve`): ten
 * minutes. It limits each session (for `aggregate serve`: joining, then collecting), and a
 * listener without `--keep-serving` waits at most this long for a partner that authenticates,
 * then exits with a timeout (docs/cli.md, "Listeners and timeouts").
 */
export const DEFAULT_LISTEN_TIMEOUT_MS = 600_000;
/** Connections waiting to authenticate at once; further ones are refused (HTTP 503). */
export const LISTENER_MAX_PENDING = 16;

/** What {@link serveListener} needs. */
export interface ListenLoopOptions<R> {
  listen: HostPort;
  tls?: { certFile: string; keyFile: string };
  limits: WebSocketLimits;
  handshakeTimeoutMs: number;
  /** Authenticated sessions at once; 1 for a single-session listener. */
  maxSessions: number;
  /** Serve sessions until interrupted instead of ending with the first authenticated one. */
  keepServing: boolean;
  /** New connections per address (default: the transport's `DEFAULT_RATE_LIMIT`). */
  rateLimit?: RateLimitOptions;
  /** Single session: give up when no peer authenticated within this many ms. */
  waitTimeoutMs?: number;
  /**
   * No session layer runs (`--insecure-interop`): every accepted connection counts as the peer at
   * once, so the first one takes the job.
   */
  unauthenticated?: boolean;
  /**
   * Runs one session on an accepted connection (`who` is its address, for messages; `path` the
   * upgrade request's path, unauthenticated).
   */
  run(transport: WebSocketFrameTransport, who: string, path: string): Promise<R>;
  /** Keep-serving: an authenticated session's result or error (the loop goes on). */
  onServed?(outcome: { result?: R; error?: unknown }, who: string): Promise<void> | void;
}

/** How a single-session listener ended. */
export type ListenOutcome<R> = { result: R } | { error: unknown };

/**
 * The one stderr line of a connection that was not served: `dataport: rejected connection from
 * ADDR: WHAT`.
 * @example
 * ```ts
 * reportRejected('198.51.100.7', 'peer key not allowed');
 * ```
 */
export function reportRejected(who: string, what: string): void {
  process.stderr.write(`dataport: ${SESSION_MESSAGES.rejected(who, what.replace(/\s*\n\s*/g, ' '))}\n`);
  if (refusalLog === undefined) return;
  try {
    appendFileSync(refusalLog, `${formatRefusalLine({ at: Date.now(), address: who, reason: what })}\n`, { mode: 0o600 });
  } catch (err) {
    // The listener goes on: a log it cannot write must not end the job (said once per failure).
    process.stderr.write(`dataport: warning: ${FILE_MESSAGES.cannotWrite(refusalLog, err)}\n`);
  }
}

let refusalLog: string | undefined;

/**
 * `--refusal-log FILE` of the listeners: from now on every connection {@link reportRejected}
 * reports is also appended to FILE as one JSON line (src/supervise/refusal-log.ts), for `dataport
 * supervise --listener-log FILE`. `undefined` stops it.
 * @example
 * ```ts
 * setRefusalLog(stringOption(values, 'refusal-log'));
 * ```
 */
export function setRefusalLog(path: string | undefined): void {
  refusalLog = path;
}

function messageOf(err: unknown): string {
  return String((err as Error)?.message ?? err);
}

/**
 * Listens and serves. Resolves with the first authenticated session's outcome (single session),
 * or — with `keepServing` — once interrupted, with `{ error: AbortError }`. Also rejects the wait
 * with `TimeoutError` after `waitTimeoutMs` without an authenticated peer, and with `AbortError` on
 * Ctrl-C. Every connection's handler has finished (and its line is written) when it resolves.
 * @example
 * ```ts
 * const outcome = await serveListener({ listen, limits, handshakeTimeoutMs: 10_000, maxSessions: 1,
 *   keepServing: false, run: (t) => runSession(t) });
 * ```
 */
export async function serveListener<R>(o: ListenLoopOptions<R>, onListening: (server: WebSocketServerHandle) => void): Promise<ListenOutcome<R>> {
  let settle!: (v: ListenOutcome<R>) => void;
  const done = new Promise<ListenOutcome<R>>((r) => (settle = r));
  let claimed = false;
  let over = false;
  const handlers = new Set<Promise<void>>();

  const onConnection = async (transport: WebSocketFrameTransport, who: string, path: string): Promise<void> => {
    let outcome: { result?: R; error?: unknown };
    try {
      if (o.unauthenticated) transport.peerAuthenticated();
      outcome = { result: await o.run(transport, who, path) };
    } catch (error) {
      outcome = { error };
    }
    if (!transport.authenticated) {
      // Never the job's end: the peer did not prove an accepted key.
      reportRejected(who, over ? SESSION_MESSAGES.shuttingDown() : messageOf(outcome.error ?? SESSION_MESSAGES.closedBeforeAuthentication()));
      return;
    }
    if (!o.keepServing) {
      claimed = true;
      settle(outcome.error !== undefined ? { error: outcome.error } : { result: outcome.result as R });
      return;
    }
    await o.onServed?.(outcome, who);
  };

  let server: WebSocketServerHandle;
  try {
    server = await listenWebSocket(
      {
        host: o.listen.host,
        port: o.listen.port,
        limits: o.limits,
        maxConnections: o.maxSessions,
        maxPending: LISTENER_MAX_PENDING,
        handshakeTimeoutMs: o.handshakeTimeoutMs,
        ...(o.rateLimit ? { rateLimit: o.rateLimit } : {}),
        ...(o.tls ? { tls: o.tls } : {}),
        onRefused: (r: RefusedConnection) => reportRejected(r.remoteAddress ?? 'unknown address', r.message),
      },
      (transport, info) => {
        const h = onConnection(transport, info.remoteAddress ?? 'unknown address', info.path ?? '/');
        handlers.add(h);
        void h.finally(() => handlers.delete(h));
        return h;
      },
    );
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code) throw new InputError(FILE_MESSAGES.cannotListen(`${o.listen.host}:${o.listen.port}`, err));
    throw err;
  }
  onListening(server);

  const onAbort = (): void => settle({ error: new AbortError('interrupted') });
  cliSignal.addEventListener('abort', onAbort, { once: true });
  let waitTimer: NodeJS.Timeout | undefined;
  if (!o.keepServing && o.waitTimeoutMs !== undefined) {
    waitTimer = setTimeout(() => {
      if (!claimed && !server.connections) settle({ error: new TimeoutError('no peer connected within the --timeout limit') });
    }, o.waitTimeoutMs);
  }
  try {
    return await done;
  } finally {
    over = true;
    clearTimeout(waitTimer);
    cliSignal.removeEventListener('abort', onAbort);
    await server.close();
    // Every connection still pending has been closed: let each report itself before returning.
    await Promise.allSettled([...handlers]);
  }
}
