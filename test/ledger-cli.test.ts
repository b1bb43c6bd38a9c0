/** End-to-end tests of `dataport ledger …` as a separate process. */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLedger } from '../src/ledger/node.js';
import {
  hashLeaf,
  parsePriceSchedule,
  priceRun,
  signReceiptBody,
  verifyCheckpoint,
  verifyConsistencyProof,
  verifyInclusionProof,
} from '../src/ledger/index.js';
import type { UsageReceipt, UsageReceiptBody } from '../src/ledger/index.js';
import { formatPublicKeyFile, generateIdentity } from '../src/session/identity.js';
import { fromBase64, toBase64 } from '../src/utils/bytes.js';
import { decodeLogHeader, scanRecords } from '../src/ledger/log-format.js';

let work: string;
let cli: string;
let dir: string;
const owner = generateIdentity();
const hospital = generateIdentity();
const insurer = generateIdentity();
const schedule = parsePriceSchedule({ id: 'port-2026', currency: 'CNY', protocols: {}, default: { perRun: 100, per1000Records: 10 } });

function receipt(n: number): UsageReceipt {
  const peer = n % 3 === 0 ? insurer : hospital;
  const body: UsageReceiptBody = {
    version: 1,
    sessionId: new Uint8Array(16).fill(n),
    startedAt: Date.UTC(2026, 9 + (n % 2), 10 + n),
    endedAt: Date.UTC(2026, 9 + (n % 2), 10 + n, 1),
    parties: [
      { role: 'requester', publicKey: owner.publicKey },
      { role: 'responder', publicKey: peer.publicKey },
    ],
    protocol: n % 2 ? 'psi-sum' : 'ecdh-psi',
    options: {},
    purpose: 'study',
    inputSizes: { requester: 1000 * n, responder: 500 },
    outputSizes: { requester: n },
    bytesExchanged: 10_000 * n,
    computeMs: 5,
    guardrails: [{ rule: 'min-cohort', outcome: 'passed', detail: 'k=10' }],
    outcome: 'completed',
  };
  body.billing = priceRun(schedule, body);
  return { body, signatures: [owner, peer].map((p) => ({ publicKey: p.publicKey, signature: signReceiptBody(p.secretKey, body) })) };
}

beforeAll(async () => {
  // Inside the project so that the bundle's external packages resolve from its node_modules.
  const cache = join(import.meta.dirname, '..', 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  work = mkdtempSync(join(cache, 'dp-ledger-cli-'));
  cli = join(work, 'dataport.mjs');
  buildSync({
    entryPoints: [join(import.meta.dirname, '..', 'src', 'cli', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: cli,
    logLevel: 'error',
    // Keep other commands' heavy native dependencies out of the bundle; `ledger` does not load them.
    packages: 'external',
  });
  dir = join(work, 'ledger');
  const l = await openLedger(dir, { owner });
  for (let i = 0; i < 7; i++) await l.append(receipt(i));
  await l.close();
  writeFileSync(join(work, 'owner.pub'), formatPublicKeyFile(owner.publicKey));
  writeFileSync(join(work, 'other.pub'), formatPublicKeyFile(hospital.publicKey));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function dataport(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: join(import.meta.dirname, '..') }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('dataport ledger', () => {
  it('verify: exit 0 with a summary when intact', async () => {
    const r = await dataport('ledger', 'verify', '--ledger', dir, '--public-key', join(work, 'owner.pub'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/intact/);
    expect(r.stdout).toMatch(/entries\s+7/);
    expect(r.stdout).toMatch(/pinned by --public-key/);
  });

  it('verify --json: stdout holds only the JSON line, the summary goes to stderr', async () => {
    const r = await dataport('ledger', 'verify', '--ledger', dir, '--public-key', join(work, 'owner.pub'), '--json');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ ok: true, size: 7, checkpointSize: 7 });
    expect(r.stderr).toMatch(/intact/);
  });

  it('verify: non-zero and the first bad index otherwise', async () => {
    const wrongKey = await dataport('ledger', 'verify', '--ledger', dir, '--public-key', join(work, 'other.pub'));
    expect(wrongKey.code).not.toBe(0);
    expect(wrongKey.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrongKey.stderr).toMatch(/different key/);

    const copy = join(work, 'tampered');
    const l = await openLedger(copy, { owner });
    for (let i = 0; i < 7; i++) await l.append(receipt(i));
    await l.close();
    const path = join(copy, 'ledger.log');
    const bytes = new Uint8Array(readFileSync(path));
    const recs = scanRecords(bytes, decodeLogHeader(bytes).length, 0).records;
    bytes[recs[3]!.offset + 30]! ^= 0x10;
    writeFileSync(path, bytes);
    const r = await dataport('ledger', 'verify', '--ledger', copy);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^dataport: ledger .* is NOT intact: entry 3: record checksum mismatch\n$/);
    // The read-only commands refuse to answer from it.
    const e = await dataport('ledger', 'export', '--ledger', copy);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/entry 3/);
  });

  it('export: origin, owner key, size, root, checkpoint and decoded entries with their exact leaf bytes', async () => {
    const r = await dataport('ledger', 'export', '--ledger', dir);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['origin', 'ownerPublicKey', 'size', 'root', 'checkpoint', 'entries']);
    expect(out.ownerPublicKey).toBe(toBase64(owner.publicKey));
    expect(out.size).toBe(7);
    const cp = verifyCheckpoint(out.checkpoint, owner.publicKey);
    expect([cp.size, toBase64(cp.root), cp.origin]).toEqual([7, out.root, out.origin]);
    expect(out.entries[2].index).toBe(2);
    expect(out.entries[2].entry.body.protocol).toBe('ecdh-psi');
    expect(out.entries[2].entry.body.parties[0].publicKey).toBe(toBase64(owner.publicKey));
    expect(out.entries[2].entry.body.billing).toEqual({ currency: 'CNY', amountMinor: 100 + 25, schedule: 'port-2026' });
    const p = JSON.parse((await dataport('ledger', 'prove', '--ledger', dir, '--index', '2')).stdout);
    expect(toBase64(hashLeaf(fromBase64(out.entries[2].leaf)))).toBe(p.leafHash);
  });

  it('prove: an inclusion proof that verifies', async () => {
    for (const [index, size] of [
      [0, 7],
      [4, 7],
      [3, 5],
    ] as const) {
      const r = await dataport('ledger', 'prove', '--ledger', dir, '--index', String(index), '--size', String(size));
      expect(r.code).toBe(0);
      const p = JSON.parse(r.stdout);
      expect(Object.keys(p)).toEqual(['leafIndex', 'treeSize', 'leafHash', 'root', 'proof']);
      expect([p.leafIndex, p.treeSize]).toEqual([index, size]);
      verifyInclusionProof(fromBase64(p.leafHash), index, size, p.proof.map(fromBase64), fromBase64(p.root));
    }
    const bad = await dataport('ledger', 'prove', '--ledger', dir, '--index', '7');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--index 7 is not below the tree size 7/);
  });

  it('consistency: a proof that verifies', async () => {
    const r = await dataport('ledger', 'consistency', '--ledger', dir, '--from', '3', '--to', '7');
    expect(r.code).toBe(0);
    const c = JSON.parse(r.stdout);
    expect(Object.keys(c)).toEqual(['size1', 'size2', 'root1', 'root2', 'proof']);
    verifyConsistencyProof(3, 7, c.proof.map(fromBase64), fromBase64(c.root1), fromBase64(c.root2));
    const bad = await dataport('ledger', 'consistency', '--ledger', dir, '--from', '5', '--to', '3');
    expect(bad.code).toBe(1);
  });

  it('report: table, CSV and JSON by counterparty, protocol and month', async () => {
    const t = await dataport('ledger', 'report', '--ledger', dir, '--by', 'protocol');
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^protocol\s+runs/);
    expect(t.stdout).toMatch(/ecdh-psi\s+4\s+4/);
    expect(t.stdout).toMatch(/TOTAL\s+7\s+7/);
    const csv = await dataport('ledger', 'report', '--ledger', dir, '--by', 'month', '--format', 'csv');
    expect(csv.stdout.split('\r\n').slice(0, 3)).toEqual([
      'month,runs,completed,withheld,refused,failed,aborted,records_in,records_out,bytes,compute_ms,billed',
      expect.stringMatching(/^2026-10,4,4,/),
      expect.stringMatching(/^2026-11,3,3,/),
    ]);
    const json = JSON.parse((await dataport('ledger', 'report', '--ledger', dir, '--format', 'json')).stdout);
    expect(json.by).toBe('counterparty');
    const keys = json.rows.map((r: { key: string }) => r.key).sort();
    expect(keys).toEqual([toBase64(hospital.publicKey), toBase64(insurer.publicKey)].sort());
    const bad = await dataport('ledger', 'report', '--ledger', dir, '--by', 'year');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--by must be one of counterparty, protocol, month/);
  });

  it('report --names FILE / --keys DIR label counterparties; unknown keys stay base64', async () => {
    const names = join(dir, '..', `names-${process.pid}.json`);
    writeFileSync(names, JSON.stringify({ [toBase64(hospital.publicKey)]: 'Hospital A' }));
    const t = await dataport('ledger', 'report', '--ledger', dir, '--names', names);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^Hospital A\s+\d/m);
    expect(t.stdout).toContain(toBase64(insurer.publicKey));
    expect(t.stdout).not.toContain(toBase64(hospital.publicKey));
    const csv = await dataport('ledger', 'report', '--ledger', dir, '--names', names, '--format', 'csv');
    expect(csv.stdout.split('\r\n')[0]).toMatch(/^counterparty,label,runs,/);
    expect(csv.stdout).toContain(`${toBase64(hospital.publicKey)},Hospital A,`);
    // A folder of keygen folders: label = folder name.
    const keys = join(dir, '..', `keys-${process.pid}`);
    mkdirSync(join(keys, 'insurer-b'), { recursive: true });
    writeFileSync(join(keys, 'insurer-b', 'identity.pub'), formatPublicKeyFile(insurer.publicKey));
    const json = JSON.parse((await dataport('ledger', 'report', '--ledger', dir, '--keys', keys, '--names', names, '--format', 'json')).stdout);
    const labels = Object.fromEntries(json.rows.map((r: { key: string; label?: string }) => [r.key, r.label]));
    expect(labels).toEqual({ [toBase64(hospital.publicKey)]: 'Hospital A', [toBase64(insurer.publicKey)]: 'insurer-b' });
    writeFileSync(names, JSON.stringify({ 'not-a-key': 'x' }));
    const bad = await dataport('ledger', 'report', '--ledger', dir, '--names', names);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--names .*'not-a-key' is not a base64 Ed25519 public key/);
    rmSync(names);
    rmSync(keys, { recursive: true });
  });

  it('one-line errors for usage mistakes', async () => {
    for (const args of [
      ['ledger', 'verify'],
      ['ledger', 'frobnicate', '--ledger', dir],
      ['ledger', 'verify', '--ledger', join(work, 'nowhere')],
      ['ledger', 'prove', '--ledger', dir, '--index', 'x'],
      ['ledger', 'verify', '--ledger', dir, '--bogus'],
    ]) {
      const r = await dataport(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/at .*\.js/);
    }
  });
});
