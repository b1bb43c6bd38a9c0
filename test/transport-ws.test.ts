import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  AbortError,
  LimitExceededError,
  MalformedMessageError,
  TimeoutError,
  TransportClosedError,
} from '../src/errors.js';
import { connectNativeWebSocket, type NativeWebSocketConstructor } from '../src/transport/websocket-browser.js';
import { errorForPeerClose, WebSocketFrameTransport, type WebSocketLimits } from '../src/transport/websocket-core.js';
import { connectWebSocket, listenWebSocket, type WebSocketServerHandle } from '../src/transport/websocket-node.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Pair {
  server: WebSocketServerHandle;
  client: WebSocketFrameTransport;
  peer: WebSocketFrameTransport;
}

/** A listener whose first session is handed to the test; the session ends when the test ends. */
async function pair(serverLimits?: WebSocketLimits, clientLimits?: WebSocketLimits, tls?: { cert: string; key: string }, ca?: string): Promise<Pair> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let gotPeer!: (t: WebSocketFrameTransport) => void;
  const peerP = new Promise<WebSocketFrameTransport>((r) => (gotPeer = r));
  const server = await listenWebSocket({ limits: serverLimits, ...(tls ? { tls } : {}) }, async (t) => {
    gotPeer(t);
    await held;
  });
  cleanups.push(() => server.close());
  cleanups.push(() => release());
  const client = await connectWebSocket(server.address().url, { limits: clientLimits, ...(ca ? { ca } : {}) });
  cleanups.push(() => client.close());
  return { server, client, peer: await peerP };
}

describe('WebSocket transport (ws)', () => {
  it('carries binary frames both ways in order and counts them', async () => {
    const { client, peer } = await pair();
    for (let i = 0; i < 20; i++) await client.send(new Uint8Array([i, i + 1]));
    for (let i = 0; i < 20; i++) expect(await peer.receive()).toEqual(new Uint8Array([i, i + 1]));
    await peer.send(new Uint8Array(100_000).fill(7));
    const big = await client.receive();
    expect(big.length).toBe(100_000);
    expect(big.every((b) => b === 7)).toBe(true);
    expect(client.stats).toEqual({ bytesSent: 40, bytesReceived: 100_000, framesSent: 20, framesReceived: 1 });
    expect(peer.stats).toEqual({ bytesSent: 100_000, bytesReceived: 40, framesSent: 1, framesReceived: 20 });
  });

  it('a received frame over the limit: LimitExceededError on both sides', async () => {
    const { client, peer } = await pair({ maxFrameBytes: 1024 }, { maxFrameBytes: 1 << 20 });
    const r = peer.receive();
    await client.send(new Uint8Array(2048)).catch(() => undefined);
    await expect(r).rejects.toBeInstanceOf(LimitExceededError);
    await expect(client.receive()).rejects.toBeInstanceOf(LimitExceededError);
  });

  it('sending a frame over the own limit: LimitExceededError locally and at the peer', async () => {
    const { client, peer } = await pair(undefined, { maxFrameBytes: 16 });
    await expect(client.send(new Uint8Array(17))).rejects.toBeInstanceOf(LimitExceededError);
    await expect(peer.receive()).rejects.toBeInstanceOf(LimitExceededError);
    await expect(client.send(new Uint8Array(1))).rejects.toBeInstanceOf(LimitExceededError);
  });

  it('per-session byte limit: LimitExceededError on both sides', async () => {
    const { client, peer } = await pair({ maxSessionBytes: 1000 });
    await client.send(new Uint8Array(600));
    expect((await peer.receive()).length).toBe(600);
    await client.send(new Uint8Array(600));
    await expect(peer.receive()).rejects.toBeInstanceOf(LimitExceededError);
    await expect(client.receive()).rejects.toBeInstanceOf(LimitExceededError);
  });

  it('idle timeout: TimeoutError on the waiting side and at the peer', async () => {
    const { client, peer } = await pair({ idleTimeoutMs: 30 });
    await expect(peer.receive()).rejects.toBeInstanceOf(TimeoutError);
    await expect(client.receive()).rejects.toBeInstanceOf(TimeoutError);
  });

  it('overall timeout: TimeoutError on both sides even while frames flow', async () => {
    const { client, peer } = await pair({ overallTimeoutMs: 40 });
    const pump = (async () => {
      for (;;) {
        await client.send(new Uint8Array(8));
        await peer.receive();
      }
    })();
    await expect(pump).rejects.toBeInstanceOf(TimeoutError);
    await expect(client.receive()).rejects.toBeInstanceOf(TimeoutError);
    await expect(peer.receive()).rejects.toBeInstanceOf(TimeoutError);
  });

  it('peer closing mid-run: queued frames are delivered, then TransportClosedError on both sides', async () => {
    const { client, peer } = await pair();
    await client.send(new Uint8Array([1]));
    await client.close();
    expect(await peer.receive()).toEqual(new Uint8Array([1]));
    await expect(peer.receive()).rejects.toBeInstanceOf(TransportClosedError);
    await expect(peer.send(new Uint8Array([2]))).rejects.toBeInstanceOf(TransportClosedError);
    await expect(client.receive()).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('server shutdown ends open sessions with TransportClosedError', async () => {
    const { server, client } = await pair();
    const r = expect(client.receive()).rejects.toBeInstanceOf(TransportClosedError);
    await server.close();
    await r;
  });

  it('abort of a pending receive is AbortError and leaves the session usable', async () => {
    const { client, peer } = await pair();
    const ac = new AbortController();
    const r = peer.receive(ac.signal);
    ac.abort();
    await expect(r).rejects.toBeInstanceOf(AbortError);
    await client.send(new Uint8Array([5]));
    expect(await peer.receive()).toEqual(new Uint8Array([5]));
  });

  it('a text frame is a protocol error: MalformedMessageError at the receiver, close 1003 at the sender', async () => {
    let gotPeer!: (t: WebSocketFrameTransport) => void;
    const peerP = new Promise<WebSocketFrameTransport>((r) => (gotPeer = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = await listenWebSocket({}, async (t) => {
      gotPeer(t);
      await held;
    });
    cleanups.push(() => server.close(), () => release());
    const raw = new WebSocket(server.address().url);
    await new Promise((r) => raw.once('open', r));
    const closed = new Promise<number>((r) => raw.once('close', (code) => r(code)));
    const peer = await peerP;
    raw.send('hello');
    await expect(peer.receive()).rejects.toBeInstanceOf(MalformedMessageError);
    const code = await closed;
    expect(code).toBe(1003);
    expect(errorForPeerClose(code)).toBeInstanceOf(MalformedMessageError);
  });

  it('a text frame sent to a client transport: MalformedMessageError at the client, close 1003 at the server', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    await new Promise((r) => wss.once('listening', r));
    const closed = new Promise<number>((r) => wss.once('connection', (ws) => { ws.once('close', (c) => r(c)); ws.send('text'); }));
    const port = (wss.address() as net.AddressInfo).port;
    const client = await connectWebSocket(`ws://127.0.0.1:${port}`);
    await expect(client.receive()).rejects.toBeInstanceOf(MalformedMessageError);
    expect(await closed).toBe(1003);
  });

  it('a garbage (non-WebSocket) frame: MalformedMessageError at the receiver, close 1002 to the sender', async () => {
    let gotPeer!: (t: WebSocketFrameTransport) => void;
    const peerP = new Promise<WebSocketFrameTransport>((r) => (gotPeer = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = await listenWebSocket({}, async (t) => {
      gotPeer(t);
      await held;
    });
    cleanups.push(() => server.close(), () => release());
    const raw = new WebSocket(server.address().url);
    await new Promise((r) => raw.once('open', r));
    const closed = new Promise<number>((r) => raw.once('close', (code) => r(code)));
    const peer = await peerP;
    // Reserved opcode 0x3 with FIN, masked, zero length: not a valid frame (RFC 6455 §5.2).
    (raw as unknown as { _socket: net.Socket })._socket.write(Buffer.from([0x83, 0x80, 1, 2, 3, 4]));
    await expect(peer.receive()).rejects.toBeInstanceOf(MalformedMessageError);
    const code = await closed;
    expect(code).toBe(1002);
    expect(errorForPeerClose(code)).toBeInstanceOf(MalformedMessageError);
  });

  it('backpressure: a slow reader bounds what the sender buffers', async () => {
    const frame = 64 * 1024;
    const { client, peer } = await pair({ receiveQueueBytes: 256 * 1024 }, { sendHighWaterBytes: 256 * 1024 });
    const total = 512; // 32 MiB: more than the socket buffers and both limits together
    let sent = 0;
    let maxBuffered = 0;
    const sender = (async () => {
      for (let i = 0; i < total; i++) {
        const f = new Uint8Array(frame);
        f[0] = i & 0xff;
        await client.send(f);
        maxBuffered = Math.max(maxBuffered, client.bufferedAmount);
        sent++;
      }
    })();
    // The reader has not read anything: the sender must end up blocked in `send`.
    await vi.waitFor(() => expect(client.sendWaiting).toBe(true), { timeout: 20_000, interval: 5 });
    expect(sent).toBeLessThan(total);
    expect(maxBuffered).toBeLessThanOrEqual(256 * 1024);
    // The receiver paused its socket instead of queueing everything.
    expect(peer.queuedBytes).toBeLessThanOrEqual(256 * 1024 + 2 * frame);
    for (let i = 0; i < total; i++) {
      const f = await peer.receive();
      expect(f.length).toBe(frame);
      expect(f[0]).toBe(i & 0xff);
    }
    await sender;
    expect(maxBuffered).toBeLessThanOrEqual(256 * 1024);
  }, 60_000);

  it('a peer that stops reading: the blocked send ends with TimeoutError, and so does the peer', async () => {
    const { client, peer } = await pair({ receiveQueueBytes: 64 * 1024 }, { sendHighWaterBytes: 64 * 1024, idleTimeoutMs: 50 });
    const frame = new Uint8Array(1 << 20);
    const sending = (async () => {
      for (let i = 0; i < 500; i++) await client.send(frame);
    })();
    await expect(sending).rejects.toBeInstanceOf(TimeoutError);
    // The reader catches up with what was already on the wire, then sees the peer's timeout.
    const err = await (async () => { for (;;) await peer.receive(); })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
  }, 60_000);

  it('an onSession that throws: onError sees it, the client sees TransportClosedError', async () => {
    const errors: unknown[] = [];
    const server = await listenWebSocket({ onError: (e) => errors.push(e) }, () => {
      throw new Error('handler bug');
    });
    cleanups.push(() => server.close());
    const client = await connectWebSocket(server.address().url);
    cleanups.push(() => client.close());
    await expect(client.receive()).rejects.toBeInstanceOf(TransportClosedError);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('handler bug');
  });

  it('rejects bad limits and URLs as misuse', async () => {
    await expect(connectWebSocket('http://x')).rejects.toBeInstanceOf(RangeError);
    await expect(connectWebSocket('ws://127.0.0.1:1', { limits: { maxFrameBytes: 0 } })).rejects.toBeInstanceOf(RangeError);
    await expect(listenWebSocket({ port: 70000 }, () => {})).rejects.toBeInstanceOf(RangeError);
  });

  it('a listener that never answers the upgrade: connect TimeoutError, or AbortError when aborted', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((sock) => void sockets.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); silent.close(() => r()); }));
    const url = `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    await expect(connectWebSocket(url, { connectTimeoutMs: 30 })).rejects.toBeInstanceOf(TimeoutError);
    const ac = new AbortController();
    const p = connectWebSocket(url, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
  });

  it('connections beyond maxConnections authenticated sessions are closed as busy', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = await listenWebSocket({ maxConnections: 1 }, (t) => {
      t.peerAuthenticated();
      return held;
    });
    cleanups.push(() => server.close(), () => release());
    const first = await connectWebSocket(server.address().url);
    cleanups.push(() => first.close());
    await vi.waitFor(() => expect(server.connections).toBe(1));
    const second = await connectWebSocket(server.address().url);
    cleanups.push(() => second.close());
    const err = await second.receive().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportClosedError);
    expect((err as Error).message).toBe('the listener is busy with another session');
  });

  it('a refused connection is TransportClosedError', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    await expect(connectWebSocket(`ws://127.0.0.1:${port}`)).rejects.toBeInstanceOf(TransportClosedError);
  });
});

describe('WebSocket over TLS (wss://)', () => {
  let dir = '';
  let cert = '';
  let key = '';
  let haveOpenssl = true;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dataport-tls-'));
    try {
      execFileSync('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      ], { stdio: 'ignore' });
      cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
      key = readFileSync(join(dir, 'key.pem'), 'utf8');
    } catch {
      haveOpenssl = false;
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round trip with certificate files and a CA option; both ends see the same channel binding', async (ctx) => {
    if (!haveOpenssl) {
      console.warn('skipping TLS test: the openssl command is not available to create a test certificate');
      ctx.skip();
    }
    let gotPeer!: (t: WebSocketFrameTransport) => void;
    const peerP = new Promise<WebSocketFrameTransport>((r) => (gotPeer = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = await listenWebSocket({ tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') } }, async (t) => {
      gotPeer(t);
      await held;
    });
    cleanups.push(() => server.close(), () => release());
    expect(server.address().url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const client = await connectWebSocket(server.address().url, { caFile: join(dir, 'cert.pem') });
    cleanups.push(() => client.close());
    const peer = await peerP;
    await client.send(new Uint8Array([1, 2, 3]));
    expect(await peer.receive()).toEqual(new Uint8Array([1, 2, 3]));
    await peer.send(new Uint8Array([4]));
    expect(await client.receive()).toEqual(new Uint8Array([4]));
    expect(client.channelBinding).toHaveLength(32);
    expect(client.channelBinding).toEqual(peer.channelBinding);
    // Without the CA the self-signed certificate is rejected.
    await expect(connectWebSocket(server.address().url)).rejects.toBeInstanceOf(TransportClosedError);
    // PEM given inline works too.
    const c2 = await connectWebSocket(server.address().url, { ca: cert });
    await c2.close();
    void key;
  });
});

describe('native WebSocket client (WHATWG API)', () => {
  // Node 20 has no global WebSocket; `ws` implements the WHATWG interface, so it stands in here.
  const Native = WebSocket as unknown as NativeWebSocketConstructor;

  it('round trip with the same semantics', async () => {
    let gotPeer!: (t: WebSocketFrameTransport) => void;
    const peerP = new Promise<WebSocketFrameTransport>((r) => (gotPeer = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = await listenWebSocket({}, async (t) => {
      gotPeer(t);
      await held;
    });
    cleanups.push(() => server.close(), () => release());
    const client = await connectNativeWebSocket(server.address().url, { WebSocket: Native });
    const peer = await peerP;
    await client.send(new Uint8Array([9, 8]));
    expect(await peer.receive()).toEqual(new Uint8Array([9, 8]));
    await peer.send(new Uint8Array([7]));
    expect(await client.receive()).toEqual(new Uint8Array([7]));
    const r = expect(client.receive()).rejects.toBeInstanceOf(TransportClosedError);
    await client.close();
    await r;
    await expect(peer.receive()).rejects.toBeInstanceOf(TransportClosedError);
  });

  it('frame over the native client’s limit: LimitExceededError on both sides', async () => {
    let gotPeer!: (t: WebSocketFrameTransport) => void;
    const peerP = new Promise<WebSocketFrameTransport>((r) => (gotPeer = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = await listenWebSocket({}, async (t) => {
      gotPeer(t);
      await held;
    });
    cleanups.push(() => server.close(), () => release());
    const client = await connectNativeWebSocket(server.address().url, { WebSocket: Native, limits: { maxFrameBytes: 1000 } });
    const peer = await peerP;
    await peer.send(new Uint8Array(2000));
    await expect(client.receive()).rejects.toBeInstanceOf(LimitExceededError);
    await expect(peer.receive()).rejects.toBeInstanceOf(LimitExceededError);
  });

  it('a native client that cannot keep up fails with LimitExceededError instead of buffering without bound', async () => {
    let gotPeer!: (t: WebSocketFrameTransport) => void;
    const peerP = new Promise<WebSocketFrameTransport>((r) => (gotPeer = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const server = await listenWebSocket({}, async (t) => {
      gotPeer(t);
      await held;
    });
    cleanups.push(() => server.close(), () => release());
    const client = await connectNativeWebSocket(server.address().url, { WebSocket: Native, limits: { receiveQueueBytes: 4096 } });
    const peer = await peerP;
    // The client never reads; the server sends well past the client's queue limit.
    await Promise.allSettled(Array.from({ length: 16 }, () => peer.send(new Uint8Array(1024))));
    await expect(peer.receive()).rejects.toBeInstanceOf(LimitExceededError);
    expect(client.closed).toBe(true);
    await expect(client.receive()).rejects.toBeInstanceOf(LimitExceededError);
  });
});
