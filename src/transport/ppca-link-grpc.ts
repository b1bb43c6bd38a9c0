/**
 * The PPCA link over gRPC (Node.js only): every party serves
 * `org.interconnection.link.ReceiverService/Push` and calls the peer's (brief §1.1, §1.2), with
 * `@grpc/grpc-js`. Plain h2c by default; TLS with a certificate, mutual TLS when a CA is given.
 *
 * The service is registered as a generic unary method whose (de)serialisers pass the bytes to
 * and from the link core (`ppca-link.ts`), which encodes and decodes `PushRequest` /
 * `PushResponse` with the code generated from `transport.proto`: the in-memory link and this one
 * put the same bytes in the gRPC frames, and a malformed request reaches the core (which answers
 * with an `error_code`) instead of failing inside the RPC library.
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import { AbortError, TransportClosedError } from '../errors.js';
import type { PpcaLink } from '../protocols/ppca/link.js';
import { createPpcaLinkEndpoint, type PpcaLinkOptions } from './ppca-link.js';
import type { PemInput } from './websocket-node.js';

/** The one RPC of the PPCA link (transport.proto `ReceiverService.Push`). */
export const PPCA_PUSH_PATH = '/org.interconnection.link.ReceiverService/Push';

const toBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);
const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.length);
const pem = (p: PemInput): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p));

const serviceDefinition: grpc.ServiceDefinition = {
  Push: {
    path: PPCA_PUSH_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: toBuffer,
    requestDeserialize: toBytes,
    responseSerialize: toBuffer,
    responseDeserialize: toBytes,
  },
};

/**
 * TLS for the link: this party's certificate and key (served to the peer's client and, with `ca`,
 * presented to the peer's server), and optionally the CA that signs the peer's certificates —
 * then both directions are mutually authenticated.
 *
 * @example
 * ```ts
 * const tls: PpcaTlsOptions = { cert: readFileSync('me.crt'), key: readFileSync('me.key'), ca: readFileSync('ca.crt') };
 * ```
 */
export interface PpcaTlsOptions {
  cert: PemInput;
  key: PemInput;
  /** Trusted CA for the peer; when set, the server requires client certificates signed by it. */
  ca?: PemInput;
}

/**
 * Options of {@link createGrpcPpcaLink}.
 *
 * @example
 * ```ts
 * const options: GrpcPpcaLinkOptions = { rank: 0, listen: '127.0.0.1:0', peer: '127.0.0.1:9101' };
 * ```
 */
export interface GrpcPpcaLinkOptions extends PpcaLinkOptions {
  /** `HOST:PORT` this party's server binds to (port 0: any free port, see `address`). */
  listen: string;
  /** `HOST:PORT` of the peer's server. May be set later with `setPeer` (tests binding port 0). */
  peer?: string;
  /** TLS; without it the link is plain h2c and the peer is not authenticated. */
  tls?: PpcaTlsOptions;
  /** Deadline of one RPC (default 20 000 ms, the reference's). */
  rpcTimeoutMs?: number;
}

/**
 * A PPCA link over gRPC.
 *
 * @example
 * ```ts
 * const link = await createGrpcPpcaLink({ rank: 1, listen: '127.0.0.1:9101', peer: '127.0.0.1:9100' });
 * try { await runPpcaPsi({ rank: 1, records, link }); } finally { await link.close(); }
 * ```
 */
export interface GrpcPpcaLink extends PpcaLink {
  /** The port the server is bound to. */
  readonly port: number;
  /** Whether the peer is authenticated (mutual TLS). */
  readonly peerAuthenticated: boolean;
  /** Sets the peer's address (before `connect`). */
  setPeer(address: string): void;
  /** Stops the server and the client (in-flight calls finish first, for at most a second). */
  close(): Promise<void>;
}

function splitHostPort(s: string, name: string): string {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new RangeError(`${name} must be HOST:PORT`);
  return s;
}

/**
 * Starts this party's `ReceiverService` server on `listen` and prepares the client to `peer`.
 * Rejects with `TransportClosedError` when the address cannot be bound.
 *
 * @example
 * ```ts
 * const link = await createGrpcPpcaLink({ rank: 0, listen: '0.0.0.0:9100', peer: 'peer.example:9100', tls });
 * ```
 */
export async function createGrpcPpcaLink(options: GrpcPpcaLinkOptions): Promise<GrpcPpcaLink> {
  const listen = splitHostPort(options.listen, 'listen');
  let peer = options.peer === undefined ? undefined : splitHostPort(options.peer, 'peer');
  const rpcTimeoutMs = options.rpcTimeoutMs ?? 20_000;
  if (!Number.isSafeInteger(rpcTimeoutMs) || rpcTimeoutMs < 1) throw new RangeError('rpcTimeoutMs must be a positive integer');
  const tls = options.tls;
  const maxBytes = Math.max(options.chunkBytes ?? 1_044_480, 1 << 20) + 8192;

  let client: grpc.Client | undefined;
  const getClient = (): grpc.Client => {
    if (client) return client;
    if (!peer) throw new TypeError('peer address not set');
    const creds = tls ? grpc.credentials.createSsl(tls.ca ? pem(tls.ca) : null, tls.ca ? pem(tls.key) : null, tls.ca ? pem(tls.cert) : null) : grpc.credentials.createInsecure();
    const Ctor = grpc.makeGenericClientConstructor(serviceDefinition, 'ReceiverService');
    client = new Ctor(peer, creds, {
      'grpc.max_send_message_length': maxBytes,
      'grpc.max_receive_message_length': 64 * 1024,
      // One connection for the run; no transparent retries beyond the link's own.
      'grpc.enable_retries': 0,
      // While the peer is still starting, reconnect within the link's own 1 s retry rhythm
      // (grpc-js would otherwise back off for up to 120 s and fail every try meanwhile).
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
    return client;
  };

  const deliver = (bytes: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortError());
      const c = getClient();
      const call = c.makeUnaryRequest<Uint8Array, Uint8Array>(PPCA_PUSH_PATH, toBuffer, toBytes, bytes, { deadline: Date.now() + rpcTimeoutMs }, (err, value) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(new TransportClosedError(`gRPC ${grpc.status[err.code] ?? err.code}: the peer's server did not take the message`, { cause: err }));
        else resolve(value!);
      });
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });

  const endpoint = createPpcaLinkEndpoint(options, deliver);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': 64 * 1024,
  });
  server.addService(serviceDefinition, {
    Push: (call: grpc.ServerUnaryCall<Uint8Array, Uint8Array>, callback: grpc.sendUnaryData<Uint8Array>) => {
      // The core never throws: every problem is an error_code in the answer (no stack trace leaves).
      callback(null, endpoint.onPush(call.request));
    },
  });
  const serverCreds = tls ? grpc.ServerCredentials.createSsl(tls.ca ? pem(tls.ca) : null, [{ cert_chain: pem(tls.cert), private_key: pem(tls.key) }], Boolean(tls.ca)) : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, serverCreds, (err, p) => (err ? reject(new TransportClosedError(`cannot listen on ${listen}: ${err.message}`, { cause: err })) : resolve(p)));
  });

  let closed: Promise<void> | undefined;
  const link: GrpcPpcaLink = {
    rank: endpoint.rank,
    port,
    peerAuthenticated: Boolean(tls?.ca),
    setPeer(address) {
      if (client) throw new TypeError('peer already in use');
      peer = splitHostPort(address, 'peer');
    },
    connect: (signal) => endpoint.connect(signal),
    send: (channel, value, signal) => endpoint.send(channel, value, signal),
    recv: (channel, signal) => endpoint.recv(channel, signal),
    finish: (signal) => endpoint.finish(signal),
    abort: (reason) => endpoint.abort(reason),
    stats: () => endpoint.stats(),
    close() {
      closed ??= (async () => {
        endpoint.abort(new TransportClosedError('link closed'));
        client?.close();
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 1000);
          server.tryShutdown(() => {
            clearTimeout(t);
            resolve();
          });
        });
      })();
      return closed;
    },
  };
  return link;
}
