import { afterEach, describe, expect, it } from 'vitest';
import { createGrpcPpcaLink, type GrpcPpcaLink } from '../src/transport/ppca-link-grpc.js';
import { runPpcaPsi } from '../src/protocols/ppca/index.js';
import { TimeoutError } from '../src/errors.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const open: GrpcPpcaLink[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});

async function pair(opts: { recvTimeoutMs?: number; chunkBytes?: number } = {}): Promise<[GrpcPpcaLink, GrpcPpcaLink]> {
  const common = { recvTimeoutMs: opts.recvTimeoutMs ?? 5000, connectRetries: 3, connectRetryDelayMs: 50, sendRetries: 0, ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}) };
  const l0 = await createGrpcPpcaLink({ rank: 0, listen: '127.0.0.1:0', ...common });
  const l1 = await createGrpcPpcaLink({ rank: 1, listen: '127.0.0.1:0', peer: `127.0.0.1:${l0.port}`, ...common });
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
});
