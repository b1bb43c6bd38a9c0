import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { createGrpcPpcaLink, PPCA_PUSH_PATH, type GrpcPpcaLink } from '../src/transport/ppca-link-grpc.js';
import { PushResponseSchema } from '../src/protocols/ppca/codec.js';
import { runPpcaPsi } from '../src/protocols/ppca/index.js';
import { TimeoutError, TransportClosedError } from '../src/errors.js';

// Self-signed certificates (each its own CA) for 127.0.0.1, made with the openssl command.
const dir = mkdtempSync(join(tmpdir(), 'dataport-ppca-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function selfSigned(name: string): { cert: string; key: string } | undefined {
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, `${name}.crt`), 'utf8'), key: readFileSync(join(dir, `${name}.key`), 'utf8') };
  } catch {
    return undefined;
  }
}
const good = selfSigned('good');
const other = selfSigned('other');

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const open: GrpcPpcaLink[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});

async function pair(opts: { recvTimeoutMs?: number; chunkBytes?: number; tls0?: { cert: string; key: string; ca?: string }; tls1?: { cert: string; key: string; ca?: string } } = {}): Promise<[GrpcPpcaLink, GrpcPpcaLink]> {
  const common = { recvTimeoutMs: opts.recvTimeoutMs ?? 5000, connectRetries: 3, connectRetryDelayMs: 50, sendRetries: 0, ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}) };
  const l0 = await createGrpcPpcaLink({ rank: 0, listen: '127.0.0.1:0', ...common, ...(opts.tls0 ? { tls: opts.tls0 } : {}) });
  const l1 = await createGrpcPpcaLink({ rank: 1, listen: '127.0.0.1:0', peer: `127.0.0.1:${l0.port}`, ...common, ...(opts.tls1 ? { tls: opts.tls1 } : {}) });
  l0.setPeer(`127.0.0.1:${l1.port}`);
  open.push(l0, l1);
  return [l0, l1];
}

describe('PPCA over gRPC on 127.0.0.1', () => {
  it('runs ECDH-PSI between two links, chunked', async () => {
    const [l0, l1] = await pair({ chunkBytes: 1000 });
    const a = Array.from({ length: 300 }, (_, i) => enc(`k${i}`));
    const b = Array.from({ length: 200 }, (_, i) => enc(`k${i * 2}`));
    const [r0, r1] = await Promise.all([runPpcaPsi({ rank: 0, records: a, link: l0 }), runPpcaPsi({ rank: 1, records: b, link: l1 })]);
    expect(r0.intersectionSize).toBe(150);
    expect(r1.intersectionSize).toBe(150);
    const s = l0.stats();
    expect(s.bytesSent).toBeGreaterThan(300 * 32);
    expect(s.bytesReceived).toBeGreaterThan(200 * 32);
  });

  it('a peer that never starts: connect gives up with a typed error', async () => {
    const l1 = await createGrpcPpcaLink({ rank: 1, listen: '127.0.0.1:0', peer: '127.0.0.1:1', connectRetries: 2, connectRetryDelayMs: 10, recvTimeoutMs: 500 });
    open.push(l1);
    await expect(l1.connect()).rejects.toThrow(/could not be reached after 2 tries/);
  });

  it('a peer whose server is up but never runs: bounded wait for connect_', async () => {
    const [, l1] = await pair({ recvTimeoutMs: 300 });
    await expect(l1.connect()).rejects.toBeInstanceOf(TimeoutError);
  });

  it('mutual TLS: runs when each trusts the other; a party with an untrusted certificate is refused', async (ctx) => {
    if (!good || !other) {
      console.warn('skipping: the openssl command is not available to create test certificates');
      ctx.skip();
      return;
    }
    const mtls = { cert: good.cert, key: good.key, ca: good.cert };
    const [l0, l1] = await pair({ tls0: mtls, tls1: mtls });
    expect(l0.peerAuthenticated).toBe(true);
    const [r0] = await Promise.all([runPpcaPsi({ rank: 0, records: [enc('a'), enc('b')], link: l0 }), runPpcaPsi({ rank: 1, records: [enc('b')], link: l1 })]);
    expect(r0.indices).toEqual([1]);

    const [m0, m1] = await pair({ recvTimeoutMs: 1500, tls0: mtls, tls1: { cert: other.cert, key: other.key, ca: good.cert } });
    const rs = await Promise.allSettled([m0.connect(), m1.connect()]);
    for (const r of rs) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason;
      expect(e instanceof TransportClosedError || e instanceof TimeoutError).toBe(true);
    }
  });

  it('a raw gRPC client sending malformed protobuf gets an error_code, the link a typed error', async () => {
    const l0 = await createGrpcPpcaLink({ rank: 0, listen: '127.0.0.1:0', recvTimeoutMs: 1000 });
    open.push(l0);
    const client = new grpc.Client(`127.0.0.1:${l0.port}`, grpc.credentials.createInsecure());
    const answer = await new Promise<Uint8Array>((resolve, reject) =>
      client.makeUnaryRequest(PPCA_PUSH_PATH, (b: Buffer) => b, (b: Buffer) => new Uint8Array(b), Buffer.from([0x12, 0x7f, 0x01]), (err, v) => (err ? reject(err) : resolve(v!))),
    );
    client.close();
    const res = fromBinary(PushResponseSchema, answer);
    expect(res.header?.errorCode).toBe(31100100);
    expect(res.header?.errorMsg).toBe('PushRequest: malformed protobuf');
    await expect(l0.recv('main')).rejects.toThrow(/malformed protobuf/);
  });
});
