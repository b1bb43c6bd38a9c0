import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync, truncateSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLedger, verifyLedgerDir } from '../src/ledger/node.js';
import {
  hashLeaf,
  verifyCheckpoint,
  verifyConsistencyProof,
  verifyInclusionProof,
  signReceiptBody,
  encodeReceipt,
} from '../src/ledger/index.js';
import type { UsageReceipt } from '../src/ledger/index.js';
import { decodeLogHeader, encodeRecord, scanRecords } from '../src/ledger/log-format.js';
import { generateIdentity } from '../src/session/identity.js';
import { LedgerIntegrityError, TimeoutError, VerificationFailedError, InputError } from '../src/errors.js';

const owner = generateIdentity();
const peer = generateIdentity();
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'dp-ledger-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function receipt(n: number, parties = [owner, peer]): UsageReceipt {
  const body = {
    version: 1 as const,
    sessionId: new Uint8Array(16).map((_, i) => (n * 31 + i) & 0xff),
    startedAt: 1_764_000_000_000 + n * 1000,
    endedAt: 1_764_000_000_500 + n * 1000,
    parties: parties.map((p, i) => ({ role: i === 0 ? 'requester' : 'responder', publicKey: p.publicKey })),
    protocol: n % 2 ? 'psi-sum' : 'ecdh-psi',
    options: { reveal: 'both' },
    purpose: `run ${n}`,
    inputSizes: { requester: 100 + n, responder: 200 },
    outputSizes: { requester: 10 },
    bytesExchanged: 1000 * n,
    computeMs: n,
    guardrails: [],
    outcome: 'completed',
  };
  return { body, signatures: parties.map((p) => ({ publicKey: p.publicKey, signature: signReceiptBody(p.secretKey, body) })) };
}

async function makeLedger(n: number): Promise<string> {
  const dir = tmp();
  const l = await openLedger(dir, { owner });
  await Promise.all(Array.from({ length: n }, (_, i) => l.append(receipt(i))));
  await l.close();
  return dir;
}

describe('file ledger', () => {
  it('appends durably, reopens with the same root, and verifies', async () => {
    const dir = tmp();
    const l = await openLedger(dir, { owner, origin: 'example.org/hospital-ledger' });
    expect(l.size).toBe(0);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => l.append(receipt(i))));
    expect(results.map((r) => r.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (const r of results) expect(r.leafHash).toEqual(hashLeaf(await l.readEntry(r.index)));
    const root = l.root();
    const cp = verifyCheckpoint(l.checkpoint(), owner.publicKey);
    expect([cp.origin, cp.size]).toEqual(['example.org/hospital-ledger', 50]);
    expect(cp.root).toEqual(root);
    await l.close();

    const again = await openLedger(dir, { owner });
    expect(again.size).toBe(50);
    expect(again.root()).toEqual(root);
    expect(again.origin).toBe('example.org/hospital-ledger');
    const proof = again.inclusionProof(17);
    verifyInclusionProof(again.leafHash(17), 17, 50, proof, root);
    verifyConsistencyProof(20, 50, again.consistencyProof(20), again.root(20), root);
    const receipts = await again.readReceipts();
    expect(receipts[7]!.body.purpose).toBe('run 7');
    await again.append(receipt(50));
    await again.close();

    const v = await verifyLedgerDir(dir, { publicKey: owner.publicKey });
    expect(v.ok).toBe(true);
    expect(v.size).toBe(51);
    expect(v.checkpointSize).toBe(51);
  });

  it('refuses receipts that are not signed by every party, and another identity', async () => {
    const dir = tmp();
    const l = await openLedger(dir, { owner });
    const r = receipt(1);
    await expect(l.append({ body: r.body, signatures: [r.signatures[0]!] })).rejects.toThrow(VerificationFailedError);
    await expect(l.append({ body: { ...r.body, computeMs: 99 }, signatures: r.signatures })).rejects.toThrow(VerificationFailedError);
    await l.close();
    await expect(openLedger(dir, { owner: peer })).rejects.toThrow(InputError);
    await expect(openLedger(dir, { owner, origin: 'other.example/x' })).rejects.toThrow(InputError);
  });

  it('two handles appending at once (one lock) keep both sets', async () => {
    const dir = tmp();
    const a = await openLedger(dir, { owner });
    const b = await openLedger(dir, { owner });
    const ra = Array.from({ length: 30 }, (_, i) => a.append(receipt(i)));
    const rb = Array.from({ length: 30 }, (_, i) => b.append(receipt(100 + i)));
    const idx = (await Promise.all([...ra, ...rb])).map((r) => r.index).sort((x, y) => x - y);
    expect(idx).toEqual(Array.from({ length: 60 }, (_, i) => i));
    await a.close();
    await b.close();
    const v = await verifyLedgerDir(dir);
    expect(v.ok).toBe(true);
    expect(v.size).toBe(60);
  });

  it('refresh, readReceipts and proofs stay consistent while commits are in flight', async () => {
    const dir = tmp();
    const a = await openLedger(dir, { owner });
    const b = await openLedger(dir, { owner });
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      pending.push((i % 2 ? a : b).append(receipt(i)));
      pending.push(b.refresh());
      pending.push(b.readReceipts().then((rs) => expect(rs.length).toBeLessThanOrEqual(40)));
    }
    await Promise.all(pending);
    await b.refresh();
    expect(b.size).toBe(40);
    const rootB = b.root();
    const purposes = (await b.readReceipts()).map((r) => r.body.purpose).sort();
    expect(purposes).toEqual(Array.from({ length: 40 }, (_, i) => `run ${i}`).sort());
    expect(() => b.inclusionProof(0, 41)).toThrow(RangeError);
    await a.close();
    await b.close();
    const v = await verifyLedgerDir(dir);
    expect([v.ok, v.size]).toEqual([true, 40]);
    expect(v.root).toEqual(rootB);
  });

  it('breaks a stale lock of a dead process and waits for a live one', async () => {
    const dir = await makeLedger(1);
    const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
    writeFileSync(join(dir, 'ledger.lock'), `${deadPid} ${'ab'.repeat(16)}\n`);
    const l = await openLedger(dir, { owner });
    await l.append(receipt(1));
    // Now pretend a live process (this one, with another nonce) holds it.
    writeFileSync(join(dir, 'ledger.lock'), `${process.pid} ${'cd'.repeat(16)}\n`);
    await expect(openLedger(dir, { owner, lockTimeoutMs: 50 })).rejects.toThrow(TimeoutError);
    rmSync(join(dir, 'ledger.lock'));
    await l.close();
    expect(existsSync(join(dir, 'ledger.lock'))).toBe(false);
  });

  it('cuts a torn tail on reopen and keeps appending', async () => {
    const dir = tmp();
    const l = await openLedger(dir, { owner });
    for (let i = 0; i < 3; i++) await l.append(receipt(i));
    // Simulate a crash: no close() (so the checkpoint file still says size 0), half a record.
    const rec = encodeRecord(3, encodeReceipt(receipt(3)), new Uint8Array(64));
    appendFileSync(join(dir, 'ledger.log'), rec.subarray(0, rec.length - 10));
    const v = await verifyLedgerDir(dir);
    expect(v.ok).toBe(true);
    expect(v.size).toBe(3);
    expect(v.tornTailBytes).toBe(rec.length - 10);
    const again = await openLedger(dir, { owner });
    expect(again.size).toBe(3);
    expect((await again.append(receipt(3))).index).toBe(3);
    await again.close();
    await l.close().catch(() => undefined);
    const v2 = await verifyLedgerDir(dir);
    expect([v2.ok, v2.size, v2.tornTailBytes]).toEqual([true, 4, 0]);
  });

  it('refuses to open a ledger corrupted in the middle', async () => {
    const dir = await makeLedger(5);
    const path = join(dir, 'ledger.log');
    const bytes = new Uint8Array(readFileSync(path));
    const { length } = decodeLogHeader(bytes);
    const recs = scanRecords(bytes, length, 0).records;
    bytes[recs[2]!.offset + 40]! ^= 0x04;
    writeFileSync(path, bytes);
    const err = await openLedger(dir, { owner }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerIntegrityError);
    expect((err as LedgerIntegrityError).index).toBe(2);
  });
});

describe('tamper detection (verify locates the first bad entry)', () => {
  async function base(): Promise<{ dir: string; bytes: Uint8Array; header: number; recs: ReturnType<typeof scanRecords>['records'] }> {
    const dir = await makeLedger(5);
    const bytes = new Uint8Array(readFileSync(join(dir, 'ledger.log')));
    const header = decodeLogHeader(bytes).length;
    return { dir, bytes, header, recs: scanRecords(bytes, header, 0).records };
  }
  const recordAt = (recs: { offset: number; length: number; index: number }[], pos: number): number =>
    recs.find((r) => pos >= r.offset && pos < r.offset + r.length)!.index;

  it('every flipped byte is detected and located', async () => {
    const { dir, bytes, header, recs } = await base();
    const path = join(dir, 'ledger.log');
    for (let pos = 0; pos < bytes.length; pos++) {
      const m = new Uint8Array(bytes);
      m[pos]! ^= 1 << (pos % 8);
      writeFileSync(path, m);
      const v = await verifyLedgerDir(dir);
      expect(v.ok, `flip at ${pos}`).toBe(false);
      if (pos < header) expect(v.problem!.index, `flip at ${pos}`).toBeUndefined();
      else expect(v.problem!.index, `flip at ${pos}`).toBe(recordAt(recs, pos));
    }
  });

  it('deleted, reordered and truncated entries are located', async () => {
    const { dir, bytes, header, recs } = await base();
    const path = join(dir, 'ledger.log');
    const rec = (i: number): Uint8Array => bytes.subarray(recs[i]!.offset, recs[i]!.offset + recs[i]!.length);
    const build = (order: number[]): Uint8Array => {
      const parts = [bytes.subarray(0, header), ...order.map(rec)];
      const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length;
      }
      return out;
    };
    const cases: [number[], number][] = [
      [[0, 1, 3, 4], 2],
      [[1, 2, 3, 4], 0],
      [[0, 1, 2, 3], 4],
      [[0, 2, 1, 3, 4], 1],
      [[0, 1, 2, 4, 3], 3],
      [[0, 1, 1, 2, 3, 4], 2],
    ];
    for (const [order, bad] of cases) {
      writeFileSync(path, build(order));
      const v = await verifyLedgerDir(dir);
      expect(v.ok, order.join()).toBe(false);
      expect(v.problem!.index, order.join()).toBe(bad);
    }
    for (let cut = header; cut < bytes.length; cut += 7) {
      writeFileSync(path, bytes);
      truncateSync(path, cut);
      const v = await verifyLedgerDir(dir);
      expect(v.ok, `cut at ${cut}`).toBe(false);
      expect(v.problem!.index, `cut at ${cut}`).toBe(recs.filter((r) => r.offset + r.length <= cut).length);
    }
  });

  it('rewritten logs with recomputed checksums are located by the seals', async () => {
    const { dir, bytes, header, recs } = await base();
    const path = join(dir, 'ledger.log');
    // Remove entry 2 and renumber the rest, recomputing every checksum.
    const kept = [0, 1, 3, 4].map((i, j) => encodeRecord(j, recs[i]!.entry, recs[i]!.seal));
    const out = Buffer.concat([bytes.subarray(0, header), ...kept]);
    writeFileSync(path, out);
    let v = await verifyLedgerDir(dir);
    expect([v.ok, v.problem?.index]).toEqual([false, 2]);
    expect(v.problem!.message).toMatch(/seal/);
    // Replace entry 3 by another validly signed receipt.
    const swapped = recs.map((r) => (r.index === 3 ? encodeRecord(3, encodeReceipt(receipt(77)), r.seal) : encodeRecord(r.index, r.entry, r.seal)));
    writeFileSync(path, Buffer.concat([bytes.subarray(0, header), ...swapped]));
    v = await verifyLedgerDir(dir);
    expect([v.ok, v.problem?.index]).toEqual([false, 3]);
    // Flip one bit of every byte of entry 1's body in turn, recomputing the checksum each time.
    const body1 = recs[1]!.entry;
    for (let pos = 5; pos < body1.length - 1 - 2 * 96; pos += 3) {
      const forged = body1.slice();
      forged[pos]! ^= 0x01;
      const out2 = recs.map((r) => encodeRecord(r.index, r.index === 1 ? forged : r.entry, r.seal));
      writeFileSync(path, Buffer.concat([bytes.subarray(0, header), ...out2]));
      v = await verifyLedgerDir(dir);
      expect([v.ok, v.problem?.index], `body byte ${pos}`).toEqual([false, 1]);
      expect(v.problem!.message, `body byte ${pos}`).toMatch(/receipt/);
    }
  });

  it('a wrong owner key or a forged checkpoint is reported', async () => {
    const { dir } = await base();
    let v = await verifyLedgerDir(dir, { publicKey: peer.publicKey });
    expect(v.ok).toBe(false);
    expect(v.problem!.message).toMatch(/different key/);
    const cpPath = join(dir, 'checkpoint');
    const cp = readFileSync(cpPath, 'utf8');
    writeFileSync(cpPath, cp.replace('\n5\n', '\n4\n'));
    v = await verifyLedgerDir(dir);
    expect(v.ok).toBe(false);
    expect(v.problem!.message).toMatch(/checkpoint/);
  });
});

describe('parallel verification (signature checks on worker threads)', () => {
  it('reports the same result and first problem as the sequential check', async () => {
    const { verifyLedgerBytesParallel } = await import('../src/ledger/parallel-verify.js');
    const { verifyLedgerBytes } = await import('../src/ledger/index.js');
    const dir = await makeLedger(12);
    const bytes = new Uint8Array(readFileSync(join(dir, 'ledger.log')));
    const checkpoint = readFileSync(join(dir, 'checkpoint'), 'utf8');
    const header = decodeLogHeader(bytes).length;
    const recs = scanRecords(bytes, header, 0).records;
    const variants: Uint8Array[] = [bytes];
    // A forged receipt body at 7, a forged seal at 4, a renumbered deletion at 9 (checksums redone).
    const forgedBody = recs.map((r) => {
      if (r.index !== 7) return encodeRecord(r.index, r.entry, r.seal);
      const e = r.entry.slice();
      e[40]! ^= 1;
      return encodeRecord(7, e, r.seal);
    });
    const forgedSeal = recs.map((r) => encodeRecord(r.index, r.entry, r.index === 4 ? r.seal.map((b, i) => (i === 0 ? b ^ 1 : b)) : r.seal));
    const deleted = recs.filter((r) => r.index !== 9).map((r, j) => encodeRecord(j, r.entry, r.seal));
    for (const rs of [forgedBody, forgedSeal, deleted, [...forgedSeal.slice(0, 5), ...forgedBody.slice(5)]]) {
      variants.push(new Uint8Array(Buffer.concat([bytes.subarray(0, header), ...rs])));
    }
    for (const [k, log] of variants.entries()) {
      const seq = verifyLedgerBytes(log, { checkpoint });
      const par = (await verifyLedgerBytesParallel(log, { checkpoint, workers: 2, minParallelTasks: 0, chunkSize: 3 })).result;
      expect(par, `variant ${k}`).toEqual(seq);
    }
    expect(verifyLedgerBytes(variants[1]!, { checkpoint }).problem?.index).toBe(7);
    expect(verifyLedgerBytes(variants[2]!, { checkpoint }).problem?.index).toBe(4);
    expect(verifyLedgerBytes(variants[3]!, { checkpoint }).problem?.index).toBe(9);
    expect(verifyLedgerBytes(variants[4]!, { checkpoint }).problem?.index).toBe(4);
    expect(verifyLedgerBytes(variants[0]!, { checkpoint }).ok).toBe(true);
  });
});

describe('hostile ledger files', () => {
  it('verifyLedgerBytes never throws on mutated or arbitrary bytes, and never accepts a changed log', async () => {
    const fc = (await import('fast-check')).default;
    const { verifyLedgerBytes } = await import('../src/ledger/index.js');
    const dir = await makeLedger(4);
    const bytes = new Uint8Array(readFileSync(join(dir, 'ledger.log')));
    const checkpoint = readFileSync(join(dir, 'checkpoint'), 'utf8');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 6 }),
        (flips) => {
          const m = new Uint8Array(bytes);
          for (const [pos, x] of flips) m[pos]! ^= x;
          const changed = m.some((b, i) => b !== bytes[i]);
          const r = verifyLedgerBytes(m, { checkpoint });
          if (changed) expect(r.ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (junk) => {
        const r = verifyLedgerBytes(new Uint8Array([...bytes.subarray(0, 60), ...junk]));
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 300 },
    );
  });

  it('checkLedgerBudget counts the ledger’s entries, including other processes’ appends', async () => {
    const { checkLedgerBudget } = await import('../src/ledger/node.js');
    const { parseBudgetPolicy } = await import('../src/ledger/index.js');
    const dir = tmp();
    const a = await openLedger(dir, { owner });
    const b = await openLedger(dir, { owner });
    const policy = parseBudgetPolicy({ period: 'month', maxQueries: 3 });
    const now = 1_764_000_000_000 + 10_000;
    for (let i = 0; i < 2; i++) await b.append(receipt(i));
    expect((await checkLedgerBudget(a, { counterparty: peer.publicKey, policy, now })).queriesUsed).toBe(2);
    await b.append(receipt(2));
    await expect(checkLedgerBudget(a, { counterparty: peer.publicKey, policy, now })).rejects.toThrow(/3 of 3 queries used this month/);
    await a.close();
    await b.close();
  });

  it('a break guard left by a dead process does not block the lock forever', async () => {
    const dir = await makeLedger(1);
    const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).toString());
    writeFileSync(join(dir, 'ledger.lock'), `${deadPid} ${'ab'.repeat(16)}\n`);
    writeFileSync(join(dir, 'ledger.lock.break'), `${deadPid} ${'cd'.repeat(16)}\n`);
    const l = await openLedger(dir, { owner, lockTimeoutMs: 10_000 });
    expect(l.size).toBe(1);
    await l.close();
    expect(existsSync(join(dir, 'ledger.lock'))).toBe(false);
    expect(existsSync(join(dir, 'ledger.lock.break'))).toBe(false);
  });
});
