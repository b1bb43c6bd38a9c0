/**
 * Admission of the Node WebSocket listener (issue 12, item 1): only a peer that completed the
 * authenticated handshake with an accepted key counts as a session; everything else is bounded —
 * pending connections (`maxPending`), their handshake deadline (`handshakeTimeoutMs`), the
 * per-address token bucket (`rateLimit`) — and a busy listener closes new connections with
 * `CloseCode.BUSY`, which the requester reports as "the listener is busy with another session".
 *
 * No sleeps: deadlines are small and waited for through events; the token bucket has an
 * injectable clock.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { TimeoutError, TransportClosedError, VerificationFailedError } from '../src/errors.js';
import { generateIdentity } from '../src/session/identity.js';
import type { SessionTerms } from '../src/session/messages.js';
import { createAggregateOperator } from '../src/session/run-aggregate.js';
import { establishSession } from '../src/session/session.js';
import { createRateLimiter } from '../src/transport/rate-limit.js';
import { CloseCode, type WebSocketFrameTransport } from '../src/transport/websocket-core.js';
import { connectWebSocket, listenWebSocket, type RefusedConnection } from '../src/transport/websocket-node.js';

const alice = generateIdentity();
const bob = generateIdentity();
const mallory = generateIdentity();
const terms: SessionTerms = {
  protocol: 'ecdh-psi',
  options: {},
  purpose: '',
  recipients: ['requester'],
  requesterSetSize: 1,
  responderSetSize: { min: 0, max: 10 },
  minIntersection: 0,
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A raw `ws` client (optionally from another loopback address); resolves once open or refused. */
function rawClient(url: string, localAddress?: string): Promise<{ ws: WebSocket; opened: boolean; status?: number; closed: Promise<number> }> {
  const ws = new WebSocket(url, localAddress ? { localAddress } : {});
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  ws.on('error', () => {});
  cleanups.push(() => ws.terminate());
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ ws, opened: true, closed }));
    ws.once('unexpected-response', (req, res) => {
      req.destroy();
      resolve({ ws, opened: false, status: res.statusCode, closed });
    });
  });
}

describe('per-address token bucket', () => {
  it('allows a burst, then refills at the given rate (injected clock)', () => {
    let now = 1_000;
    const limiter = createRateLimiter({ burst: 3, perSecond: 2 }, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, true, false]);
    expect(limiter.take('b')).toBe(true); // another address has its own bucket
    now += 499;
    expect(limiter.take('a')).toBe(false); // 0.998 tokens
    now += 1;
    expect(limiter.take('a')).toBe(true); // one token after 500 ms at 2/s
    expect(limiter.take('a')).toBe(false);
    now += 60_000;
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, true, false]); // capped at the burst
  });

  it('a refunded token (the connection authenticated) is available again at once, up to the burst', () => {
    let now = 0;
    const limiter = createRateLimiter({ burst: 2, perSecond: 1 }, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, false]);
    limiter.refund('a');
    expect([limiter.take('a'), limiter.take('a')]).toEqual([true, false]);
    limiter.refund('a');
    limiter.refund('a');
    limiter.refund('a'); // capped at the burst
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, false]);
    limiter.refund('unknown'); // an address not tracked: nothing happens
    expect(limiter.size).toBe(1);
  });

  it('never tracks more than maxAddresses addresses', () => {
    let now = 0;
    const limiter = createRateLimiter({ burst: 2, perSecond: 1, maxAddresses: 8 }, () => now);
    for (let i = 0; i < 1000; i++) {
      limiter.take(`10.0.${i >> 8}.${i & 255}`);
      expect(limiter.size).toBeLessThanOrEqual(8);
      now += 1;
    }
    // A new address is never refused because the table is full.
    expect(limiter.take('192.0.2.1')).toBe(true);
  });

  it('rejects nonsense limits with RangeError naming them', () => {
    expect(() => createRateLimiter({ burst: 0 })).toThrow(/rateLimit.burst/);
    expect(() => createRateLimiter({ perSecond: Number.NaN })).toThrow(/rateLimit.perSecond/);
    expect(() => createRateLimiter({ maxAddresses: 1.5 })).toThrow(/rateLimit.maxAddresses/);
  });
});

describe('listenWebSocket admission', () => {
  it('closes a connection that does not authenticate within handshakeTimeoutMs (TIMEOUT), and says so to both sides', async () => {
    const errors: unknown[] = [];
    let handled!: () => void;
    const done = new Promise<void>((r) => (handled = r));
    const server = await listenWebSocket({ handshakeTimeoutMs: 50 }, async (t) => {
      await t.receive().catch((e: unknown) => errors.push(e));
      handled();
    });
    cleanups.push(() => server.close());
    const c = await rawClient(server.address().url);
    expect(c.opened).toBe(true);
    expect(await c.closed).toBe(CloseCode.TIMEOUT);
    await done;
    expect(errors[0]).toBeInstanceOf(TimeoutError);
    expect((errors[0] as Error).message).toMatch(/no authenticated handshake within 50 ms/);
    // The slot is free once the server side of the socket is gone too.
    await vi.waitFor(() => expect(server.pending).toBe(0));
  });

  it('an authenticated connection is no longer pending and has no handshake deadline', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let peer!: WebSocketFrameTransport;
    let authenticated!: () => void;
    const isAuthenticated = new Promise<void>((r) => (authenticated = r));
    const server = await listenWebSocket({ handshakeTimeoutMs: 50 }, async (t) => {
      if (peer !== undefined) return void (await t.receive().catch(() => {})); // later ones stay silent
      peer = t;
      t.peerAuthenticated();
      authenticated();
      await held;
    });
    cleanups.push(() => server.close(), () => release());
    const client = await connectWebSocket(server.address().url);
    cleanups.push(() => client.close());
    await isAuthenticated;
    expect(peer.authenticated).toBe(true);
    expect(server.connections).toBe(1);
    expect(server.pending).toBe(0);
    // A silent second connection times out while the first goes on: wait for that event, then
    // the first one still carries frames.
    const silent = await rawClient(server.address().url);
    expect(await silent.closed).toBe(CloseCode.TIMEOUT);
    await client.send(new Uint8Array([1, 2, 3]));
    expect(await peer.receive()).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('refuses connections beyond maxPending with HTTP 503; the pending map never exceeds the bound', async () => {
    const refusals: RefusedConnection[] = [];
    const maxPending = 4;
    let peak = 0;
    const server = await listenWebSocket(
      { maxPending, rateLimit: false, handshakeTimeoutMs: 60_000, onRefused: (r) => refusals.push(r) },
      async (t) => {
        peak = Math.max(peak, server.pending);
        await t.receive().catch(() => {});
      },
    );
    cleanups.push(() => server.close());
    const clients = await Promise.all(Array.from({ length: 40 }, () => rawClient(server.address().url)));
    expect(clients.filter((c) => c.opened)).toHaveLength(maxPending);
    expect(clients.filter((c) => !c.opened).every((c) => c.status === 503)).toBe(true);
    expect(refusals).toHaveLength(40 - maxPending);
    expect(refusals.every((r) => r.reason === 'too-many-pending' && r.remoteAddress === '127.0.0.1')).toBe(true);
    expect(peak).toBeLessThanOrEqual(maxPending);
    expect(server.peakPending).toBe(maxPending);
    expect(server.pending).toBe(maxPending);
    // The requester's own client says what happened instead of "Unexpected server response".
    const err = await connectWebSocket(server.address().url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportClosedError);
    expect((err as Error).message).toMatch(/HTTP 503: too many connections waiting to authenticate/);
    // Freed slots are reused: closing the pending ones lets a new connection in.
    for (const c of clients) if (c.opened) c.ws.close();
    await Promise.all(clients.filter((c) => c.opened).map((c) => c.closed));
    const later = await rawClient(server.address().url);
    expect(later.opened).toBe(true);
    expect(server.peakPending).toBe(maxPending);
  });

  it('rate-limits new connections per remote address (HTTP 429), other addresses unaffected', async () => {
    const refusals: RefusedConnection[] = [];
    const server = await listenWebSocket({ rateLimit: { burst: 2, perSecond: 0.001 }, onRefused: (r) => refusals.push(r) }, async (t) => {
      await t.receive().catch(() => {});
    });
    cleanups.push(() => server.close());
    const url = server.address().url;
    const a = [await rawClient(url), await rawClient(url), await rawClient(url)];
    expect(a.map((c) => c.opened)).toEqual([true, true, false]);
    expect(a[2]!.status).toBe(429);
    expect(refusals).toEqual([{ remoteAddress: '127.0.0.1', reason: 'rate-limited', message: 'too many connections from this address' }]);
    const err = await connectWebSocket(url).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/HTTP 429: too many connections from this address/);
    // Linux routes all of 127/8 to loopback: a second address has its own bucket.
    const other = await rawClient(url, '127.0.0.2');
    expect(other.opened).toBe(true);
  });

  it('while an authenticated session runs, a new requester is told the listener is busy (CloseCode.BUSY)', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const refusals: RefusedConnection[] = [];
    const serverErrors: unknown[] = [];
    const server = await listenWebSocket({ maxConnections: 1, onRefused: (r) => refusals.push(r) }, async (t) => {
      try {
        await establishSession({ role: 'responder', transport: t, identity: bob, peerPublicKey: alice.publicKey, policy: {}, localSetSize: 1 });
        await held;
      } catch (e) {
        serverErrors.push(e);
      }
    });
    cleanups.push(() => server.close(), () => release());
    const url = server.address().url;
    // A wrong key is not a session: it does not make the listener busy.
    const wrong = await connectWebSocket(url);
    await expect(establishSession({ role: 'requester', transport: wrong, identity: mallory, peerPublicKey: bob.publicKey, terms })).rejects.toBeInstanceOf(
      VerificationFailedError,
    );
    expect(server.connections).toBe(0);
    const t1 = await connectWebSocket(url);
    cleanups.push(() => t1.close());
    const s1 = await establishSession({ role: 'requester', transport: t1, identity: alice, peerPublicKey: bob.publicKey, terms });
    expect(s1.accepted).toBe(true);
    expect(server.connections).toBe(1);
    const t2 = await connectWebSocket(url);
    const err = await establishSession({ role: 'requester', transport: t2, identity: alice, peerPublicKey: bob.publicKey, terms }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportClosedError);
    expect((err as Error).message).toBe('the listener is busy with another session');
    expect(refusals.map((r) => r.reason)).toEqual(['busy']);
  });

  it('a peer that authenticates while the listener is full is closed as busy before any policy runs', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let policyCalls = 0;
    const outcomes: unknown[] = [];
    // Both requesters are admitted as pending, then authenticate one after the other.
    const server = await listenWebSocket({ maxConnections: 1 }, async (t) => {
      try {
        await establishSession({
          role: 'responder',
          transport: t,
          identity: bob,
          peerPublicKey: alice.publicKey,
          policy: { check: () => void policyCalls++ },
          localSetSize: 1,
        });
        outcomes.push('session');
        await held;
      } catch (e) {
        outcomes.push(e);
      }
    });
    cleanups.push(() => server.close(), () => release());
    const url = server.address().url;
    const [t1, t2] = await Promise.all([connectWebSocket(url), connectWebSocket(url)]);
    cleanups.push(() => t1.close(), () => t2.close());
    expect(server.pending).toBe(2);
    await establishSession({ role: 'requester', transport: t1, identity: alice, peerPublicKey: bob.publicKey, terms });
    const err = await establishSession({ role: 'requester', transport: t2, identity: alice, peerPublicKey: bob.publicKey, terms }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('the listener is busy with another session');
    expect(policyCalls).toBe(1);
    expect(server.connections).toBe(1);
    expect(server.pending).toBe(0);
  });

  it('aggregate operator: a connection with an unknown key goes to onRejected and does not end the round', async () => {
    const rejected: { error: unknown; from: string | undefined }[] = [];
    const ac = new AbortController();
    const operator = createAggregateOperator({
      identity: bob,
      providers: 2,
      analystKeys: [alice.publicKey],
      providerKeys: [alice.publicKey],
      onRejected: (r) => rejected.push(r),
      signal: ac.signal,
    });
    let settled = false;
    operator.result.then(
      () => (settled = true),
      () => (settled = true),
    );
    const server = await listenWebSocket({}, (t, info) => operator.handle(t, info.remoteAddress));
    cleanups.push(() => server.close(), () => ac.abort());
    const t = await connectWebSocket(server.address().url);
    cleanups.push(() => t.close());
    const err = await establishSession({ role: 'requester', transport: t, identity: mallory, peerPublicKey: bob.publicKey, terms }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationFailedError);
    await vi.waitFor(() => expect(rejected).toHaveLength(1));
    expect(rejected[0]!.from).toBe('127.0.0.1');
    expect(rejected[0]!.error).toBeInstanceOf(VerificationFailedError);
    expect(settled).toBe(false); // the round is still joining
  });
});
