/**
 * Issue 12 item 2: two parties whose keys are built differently (`patient_id,ward` against
 * `resident_id`) ran to completion with an intersection of 0 — a silently wrong answer. The number
 * of key columns and the normalisation profile are now in the signed terms; a responder refuses a
 * mismatch before any protocol data, and both sides get the refusal naming both schemas.
 * On the code before this change every run below completed (exit 0, intersection 0).
 */
import { afterEach, beforeAll, afterAll, describe, expect, it, vi } from 'vitest';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TermsRefusedError } from '../../src/errors.js';
import type { UsageReceipt } from '../../src/ledger/receipt-types.js';
import { formatPublicKeyFile, formatSecretKeyFile, generateIdentity } from '../../src/session/identity.js';
import { runPsi } from '../../src/session/run-psi.js';
import { runPsiSum } from '../../src/session/run-psi-sum.js';
import { keySchemaOf } from '../../src/session/key-schema.js';
import { createMemoryTransportPair } from '../../src/transport/index.js';
import { assertBuilt, expectOneLineError, killAll, runCliPair, tempDir } from '../cli-helpers.js';

vi.setConfig({ testTimeout: 180_000 });

const pharma = generateIdentity();
const hospital = generateIdentity();
const SCHEMAS = /key schemas differ: requester 1 key column \(resident_id\), nfkc-trim-lower-v1; responder 2 key columns \(patient_id, ward\), nfkc-trim-lower-v1/;

/** Both results of a pair of calls, settled. */
async function both<T>(a: Promise<T>, b: Promise<T>): Promise<[PromiseSettledResult<T>, PromiseSettledResult<T>]> {
  return (await Promise.allSettled([a, b])) as [PromiseSettledResult<T>, PromiseSettledResult<T>];
}

function refusedWith(r: PromiseSettledResult<unknown>, pattern: RegExp): void {
  expect(r.status).toBe('rejected');
  const e = (r as PromiseRejectedResult).reason as Error;
  expect(e).toBeInstanceOf(TermsRefusedError);
  expect(e.message).toMatch(pattern);
}

describe('key schema in the signed terms (SDK)', () => {
  it('runPsi: 1 key column against 2 is refused on both sides, naming both schemas, with a refused receipt', async () => {
    const [a, b] = createMemoryTransportPair();
    const receipts: UsageReceipt[] = [];
    const [req, res] = await both(
      runPsi({ role: 'requester', records: ['11010119900307001x', '110101199003070022'], keySchema: { columns: ['resident_id'] },
        transport: a, identity: pharma, peerPublicKey: hospital.publicKey, onReceipt: (r) => void receipts.push(r) }),
      runPsi({ role: 'responder', records: [['11010119900307001x', 'cardiology'], ['110101199003070033', 'oncology']],
        keySchema: { columns: ['patient_id', 'ward'] }, transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
    );
    refusedWith(req, SCHEMAS);
    refusedWith(res, SCHEMAS);
    expect(receipts.map((r) => r.body.outcome)).toEqual(['refused']);
    expect(receipts[0]!.body.options['key-schema']).toBe('1/nfkc-trim-lower-v1');
  });

  it('runPsi: the same number of columns under different names runs, and the receipt signs the schema', async () => {
    const [a, b] = createMemoryTransportPair();
    const [req, res] = await Promise.all([
      runPsi({ role: 'requester', records: [['1', 'A'], ['2', 'b']], keySchema: { columns: ['resident_id', 'ward'] },
        transport: a, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsi({ role: 'responder', records: [['1', 'a'], ['3', 'c']], keySchema: { columns: ['patient_id', 'dept'] },
        transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
    ]);
    expect(req.intersectionRows).toEqual([0]);
    expect(res.receipt.body.options['key-schema']).toBe('2/nfkc-trim-lower-v1');
    expect(res.receipt.body.options['key-columns']).toBe('["resident_id","ward"]');
  });

  it('runPsi: the width comes from the records when no names are given', async () => {
    const [a, b] = createMemoryTransportPair();
    const [req, res] = await both(
      runPsi({ role: 'requester', records: [['1', 'a']], transport: a, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsi({ role: 'responder', records: ['1'], transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
    );
    const p = /key schemas differ: requester 2 key columns, nfkc-trim-lower-v1; responder 1 key column, nfkc-trim-lower-v1/;
    refusedWith(req, p);
    refusedWith(res, p);
  });

  it('runPsiSum: a key schema mismatch is refused on both sides before any point', async () => {
    const [a, b] = createMemoryTransportPair();
    const [req, res] = await both(
      runPsiSum({ role: 'requester', records: ['11010119900307001x'], keySchema: { columns: ['resident_id'] },
        transport: a, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsiSum({ role: 'responder', records: [['11010119900307001x', 'cardiology']], keySchema: { columns: ['patient_id', 'ward'] },
        values: { columns: [{ name: 'cost_yuan' }], rows: [['10.5']] }, transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
    );
    refusedWith(req, SCHEMAS);
    refusedWith(res, SCHEMAS);
  });

  it('runPsiSum: a value holder\'s scale other than the ID holder expects is refused on both sides, naming both', async () => {
    const [a, b] = createMemoryTransportPair();
    const scales = /value column scales differ: requester has cost_yuan=1; responder expects cost_yuan=2/;
    const [req, res] = await both(
      runPsiSum({ role: 'requester', records: ['1', '2'], values: { columns: [{ name: 'cost_yuan' }], rows: [['10.5'], ['3']] },
        transport: a, identity: hospital, peerPublicKey: pharma.publicKey }),
      runPsiSum({ role: 'responder', records: ['1'], policy: { expectValues: { cost_yuan: 2 } },
        transport: b, identity: pharma, peerPublicKey: hospital.publicKey }),
    );
    refusedWith(req, scales);
    refusedWith(res, scales);
  });

  it('runPsiSum: the ID holder\'s expectation is in the terms; the scales are signed in the receipt either way', async () => {
    const [a, b] = createMemoryTransportPair();
    const [req, res] = await both(
      runPsiSum({ role: 'requester', records: ['1'], terms: { expectValues: { cost_yuan: 2 } },
        transport: a, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsiSum({ role: 'responder', records: ['1', '2'], values: { columns: [{ name: 'cost_yuan', decimals: 1 }], rows: [['10.5'], ['3']] },
        transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
    );
    const p = /value column scales differ: requester expects cost_yuan=2; responder has cost_yuan=1/;
    refusedWith(req, p);
    refusedWith(res, p);
    const [c, d] = createMemoryTransportPair();
    const [i, v] = await Promise.all([
      runPsiSum({ role: 'requester', records: ['1'], transport: c, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsiSum({ role: 'responder', records: ['1', '2'], values: { columns: [{ name: 'cost_yuan', decimals: 1 }], rows: [['10.5'], ['3']] },
        transport: d, identity: hospital, peerPublicKey: pharma.publicKey }),
    ]);
    expect(i.sums).toEqual({ cost_yuan: '10.5' });
    expect(i.receipt.body.options['value-scales']).toBe('cost_yuan=1');
    expect(v.receipt.body.options['value-scales']).toBe('cost_yuan=1');
  });

  it('keySchemaOf refuses rows of different widths, names that do not fit, and unknown profiles', () => {
    expect(() => keySchemaOf([['1', 'a'], ['2']])).toThrow(RangeError);
    expect(() => keySchemaOf([['1', 'a']], { columns: ['id'] })).toThrow(RangeError);
    expect(() => keySchemaOf(['1'], { profile: 'nfkc-v0' })).toThrow(RangeError);
    expect(keySchemaOf([], { columns: ['a', 'b'] }).columns).toBe(2);
  });
});

describe('key schema in the signed terms (CLI, two processes)', () => {
  const tmp = tempDir('dataport-keyschema-');
  const p = (name: string) => join(tmp.dir, name);
  function writeIdentity(name: string): void {
    const id = generateIdentity();
    mkdirSync(p(name), { recursive: true });
    writeFileSync(p(`${name}/identity.key`), formatSecretKeyFile(id.secretKey));
    chmodSync(p(`${name}/identity.key`), 0o600);
    writeFileSync(p(`${name}/identity.pub`), formatPublicKeyFile(id.publicKey));
  }
  beforeAll(() => {
    assertBuilt();
    writeIdentity('pharma');
    writeIdentity('hospital');
    writeFileSync(p('pharma.csv'), 'resident_id,name\n11010119900307001X,Zhang San\n110101199003070022,Li Si\n');
    writeFileSync(p('hospital.csv'), 'patient_id,ward,cost_yuan\n11010119900307001x,cardiology,10.5\n110101199003070022,oncology,20\n');
  });
  afterEach(killAll);
  afterAll(() => tmp.cleanup());

  it('psi-sum --expect-values cost_yuan=2 against a value holder with 1 decimal place: both exit 1 naming both scales', async () => {
    const { l, r } = await runCliPair(
      ['psi-sum', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0',
        '--input', p('hospital.csv'), '--key', 'patient_id', '--values', 'cost_yuan'],
      (url) => ['psi-sum', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
        '--input', p('pharma.csv'), '--key', 'resident_id', '--expect-values', 'cost_yuan=2'],
    );
    expect([l.code, r.code]).toEqual([1, 1]);
    const scales = /value column scales differ: requester expects cost_yuan=2; responder has cost_yuan=1/;
    expectOneLineError(r.stderr, scales);
    expectOneLineError(l.stderr, scales);
  });

  for (const cmd of ['psi', 'psi-sum'] as const) {
    it(`${cmd}: --key patient_id,ward against --key resident_id: both exit 1 with one line naming both schemas`, async () => {
      const values = cmd === 'psi-sum' ? ['--values', 'cost_yuan'] : [];
      const { l, r } = await runCliPair(
        [cmd, '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0',
          '--input', p('hospital.csv'), '--key', 'patient_id,ward', ...values],
        (url) => [cmd, '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
          '--input', p('pharma.csv'), '--key', 'resident_id'],
      );
      expect([l.code, r.code]).toEqual([1, 1]);
      expectOneLineError(r.stderr, SCHEMAS);
      expectOneLineError(l.stderr, SCHEMAS);
    });
  }
});
