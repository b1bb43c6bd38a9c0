import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VerificationFailedError } from '../src/errors.js';
import { generateIdentity } from '../src/session/identity.js';
import { establishSession, type Session } from '../src/session/session.js';
import type { SessionTerms } from '../src/session/messages.js';
import { connectWebSocket, listenWebSocket } from '../src/transport/websocket-node.js';
import type { WebSocketFrameTransport } from '../src/transport/websocket-core.js';

const alice = generateIdentity();
const bob = generateIdentity();
const terms: SessionTerms = {
  protocol: 'ecdh-psi',
  options: {},
  purpose: '',
  recipients: ['requester'],
  requesterSetSize: 1,
  responderSetSize: { min: 0, max: 10 },
  minIntersection: 0,
};

let dir = '';
let cert = '';
let key = '';
let haveOpenssl = true;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dataport-session-tls-'));
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

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

function responder(transport: WebSocketFrameTransport): Promise<Session> {
  return establishSession({ role: 'responder', transport, identity: bob, peerPublicKey: alice.publicKey, policy: {}, localSetSize: 1 });
}

describe('session over wss://', () => {
  it('mixes the TLS exporter into ekm when both ends terminate the same TLS connection', async (ctx) => {
    if (!haveOpenssl) {
      console.warn('skipping: the openssl command is not available to create a test certificate');
      ctx.skip();
    }
    let serverSession!: Promise<Session>;
    const server = await listenWebSocket({ tls: { cert, key } }, async (t) => {
      serverSession = responder(t);
      await serverSession.then((s) => s.exchangeReceipt({ outcome: 'completed', inputSize: 1, outputSize: 0, computeMs: 0 }));
    });
    stops.push(() => server.close());
    const t = await connectWebSocket(server.address().url, { ca: cert });
    const s = await establishSession({ role: 'requester', transport: t, identity: alice, peerPublicKey: bob.publicKey, terms });
    await s.exchangeReceipt({ outcome: 'completed', inputSize: 1, outputSize: 0, computeMs: 0 });
    const s2 = await serverSession;
    expect(s.channelBound).toBe(true);
    expect(s2.channelBound).toBe(true);
    expect(s.ekm).toEqual(s2.ekm);
    await s.close();
  });

  it('a relay that terminates TLS on both sides is detected (channel binding mismatch)', async (ctx) => {
    if (!haveOpenssl) {
      console.warn('skipping: the openssl command is not available to create a test certificate');
      ctx.skip();
    }
    let serverSession!: Promise<Session>;
    const server = await listenWebSocket({ tls: { cert, key } }, async (t) => {
      serverSession = responder(t);
      await serverSession.catch(() => undefined);
    });
    stops.push(() => server.close());
    // The relay holds a certificate the client trusts (here: the same one) and forwards frames.
    const relay = await listenWebSocket({ tls: { cert, key } }, async (down) => {
      const up = await connectWebSocket(server.address().url, { ca: cert });
      const pump = async (from: WebSocketFrameTransport, to: WebSocketFrameTransport) => {
        for (;;) await to.send(await from.receive());
      };
      await Promise.race([pump(down, up), pump(up, down)]).catch(() => undefined);
      await up.close();
    });
    stops.push(() => relay.close());
    const t = await connectWebSocket(relay.address().url, { ca: cert });
    await expect(
      establishSession({ role: 'requester', transport: t, identity: alice, peerPublicKey: bob.publicKey, terms }),
    ).rejects.toBeInstanceOf(VerificationFailedError);
    await expect(serverSession).rejects.toBeInstanceOf(VerificationFailedError);
  });
});
