/**
 * Issue 17 parts 1+2 joined, as separate CLI processes over real sockets: one hospital delivers
 * payloads (`psi --listen --payload … --payload-tolerance …`) to two requesters; each session's
 * release is fingerprinted for its requester and recorded in the hospital's ledger, linked to the
 * run's receipt; `dataport trace` on a leak of 30 % of one requester's `--output` (reordered,
 * numbers re-formatted, a payload column dropped, the key column renamed) names that requester and
 * not the other; the unmarked source is not attributed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readLedgerSnapshot } from '../src/ledger/node.js';
import { isRunReceipt, releaseRecordOf } from '../src/ledger/release-records.js';
import { parseNumber } from '../src/protocols/fingerprint/index.js';
import { toHex } from '../src/utils/bytes.js';
import { prng, shuffle, csv } from './helpers/random.js';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, runCliPair, tempDir, writeIdentityDir } from './cli-helpers.js';

vi.setConfig({ testTimeout: 240_000 });

const tmp = tempDir('dataport-payload-trace-');
const p = (name: string) => join(tmp.dir, name);

const HOSPITAL_ROWS = 3000;
const REQUESTERS = ['pharmaA', 'pharmaB'];
const keyHex: Record<string, string> = {};
let hospital: string[][];

beforeAll(() => {
  assertBuilt();
  const rand = prng(2026);
  writeIdentityDir(p('hospital'));
  hospital = Array.from({ length: HOSPITAL_ROWS }, (_, i) => [
    `11010119900${String(100000 + i)}`,
    `ward-${1 + Math.floor(rand() * 6)}`,
    (50 + rand() * 5000).toFixed(2),
    String(1 + Math.floor(rand() * 40)),
  ]);
  writeFileSync(p('hospital.csv'), csv(['patient_id', 'ward', 'cost_yuan', 'stay_days'], hospital));
  // Two programmes with overlapping patients (1500 of the hospital's 3000 each, plus 200 it does not have).
  REQUESTERS.forEach((name, n) => {
    keyHex[name] = toHex(writeIdentityDir(p(name)).publicKey);
    const mine = shuffle(hospital, prng(7 + n)).slice(0, 1500).map((r) => [r[0]!, `P${n}`]);
    const others = Array.from({ length: 200 }, (_, i) => [`99${n}${String(100000 + i)}`, `P${n}`]);
    writeFileSync(p(`${name}.csv`), csv(['resident_id', 'programme'], shuffle([...mine, ...others], rand)));
  });
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

const listener = (peer: string, ...extra: string[]) => [
  'psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p(`${peer}/identity.pub`), '--workers', '0',
  '--input', p('hospital.csv'), '--key', 'patient_id', '--json', ...extra,
];
const requester = (name: string, url: string, ...extra: string[]) => [
  'psi', '--connect', url, '--identity', p(name), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
  '--input', p(`${name}.csv`), '--key', 'resident_id', '--json', ...extra,
];
const PAYLOAD = ['--payload', 'ward,cost_yuan,stay_days', '--payload-tolerance', 'cost_yuan=0.01,stay_days=1'];
const ACCEPT = ['--accept-payload', 'ward,cost_yuan,stay_days', '--payload-tolerance', 'cost_yuan=0.01,stay_days=1', '--purpose', 'PV-2026-0042'];

function trace(file: string, extra: string[] = []): ReturnType<typeof runCli> {
  return runCli(['trace', '--ledger', p('ledger-h'), '--identity', p('hospital'), '--file', file, '--json', ...extra]);
}
type TraceJson = { ok: boolean; matches: { releaseId: string; recipient: string; rowsMatched: number; falseAccusationProbability: number }[] };

describe('psi --payload fingerprinted per requester, traced with dataport trace', () => {
  it('delivers marked payloads within their tolerance, records a release entry per session, and traces a leak to its requester only', async () => {
    for (const name of REQUESTERS) {
      const { l, r } = await runCliPair(listener(name, ...PAYLOAD, '--ledger', p('ledger-h')), (url) => requester(name, url, ...ACCEPT, '--output', p(`${name}-out.csv`)));
      expect(r.code, r.stderr).toBe(0);
      expect(l.code, l.stderr).toBe(0);
      expect(l.stderr).toMatch(/payload fingerprinted for the requester \(release [0-9a-f]{32}, \d+ marked cells\); release entry \d+ appended to/);
    }
    // Each delivered value is within its tolerance of the hospital's; the ward (no tolerance) is unchanged.
    const byId = new Map(hospital.map((r) => [r[0]!, r]));
    const outs: Record<string, string[][]> = {};
    for (const name of REQUESTERS) {
      const [head, ...rows] = readFileSync(p(`${name}-out.csv`), 'utf8').trim().split(/\r?\n/).map((l) => l.split(','));
      expect(head).toEqual(['resident_id', 'programme', 'ward', 'cost_yuan', 'stay_days']);
      expect(rows.length).toBe(1500);
      let changed = 0;
      for (const row of rows) {
        const src = byId.get(row[0]!)!;
        expect(row[2]).toBe(src[1]);
        expect(Math.abs(parseNumber(row[3]!)! - Number(src[2]))).toBeLessThanOrEqual(0.01 + 1e-9);
        expect(Math.abs(Number(row[4]) - Number(src[3]))).toBeLessThanOrEqual(1);
        if (Number(row[3]) !== Number(src[2]) || row[4] !== src[3]) changed++;
      }
      expect(changed).toBeGreaterThan(100); // about one row in 5 carries a mark
      outs[name] = rows;
    }
    // The two requesters got different marks for the patients they share.
    const b = new Map(outs['pharmaB']!.map((r) => [r[0]!, r]));
    expect(outs['pharmaA']!.some((r) => b.has(r[0]!) && (b.get(r[0]!)![3] !== r[3] || b.get(r[0]!)![4] !== r[4]))).toBe(true);

    // The hospital's ledger: per session, the release entry (appended before any payload left) and the run's receipt, linked by session id.
    const snap = await readLedgerSnapshot(p('ledger-h'));
    const entries = snap.receipts();
    const runs = entries.filter(isRunReceipt);
    const releases = entries.filter((e) => e.body.protocol === 'release');
    expect(runs.length).toBe(2);
    expect(releases.length).toBe(2);
    for (const [i, name] of REQUESTERS.entries()) {
      const rel = releases[i]!;
      expect(rel.kind).toBe('one-sided');
      expect(rel.body.options).toMatchObject({
        recipient: keyHex[name],
        columns: 'ward,cost_yuan,stay_days',
        'key-columns': 'patient_id',
        tolerance: 'cost_yuan=0.01,stay_days=1',
        'source-protocol': 'ecdh-psi',
        rows: String(HOSPITAL_ROWS),
        'session-id': toHex(runs[i]!.body.sessionId),
      });
      expect(rel.body.purpose).toBe('PV-2026-0042');
      expect(releaseRecordOf(rel)).toBeDefined();
      expect(JSON.stringify(rel.body)).not.toMatch(/ward-\d|11010119900/);
    }

    // A leak of 30 % of pharmaA's output: reordered, the key renamed, stay_days dropped, costs re-formatted.
    const leaked = shuffle(outs['pharmaA']!, prng(99)).slice(0, 450).map((r) => [r[0]!, r[2]!, `"¥${Number(r[3]).toLocaleString('en-US', { minimumFractionDigits: 2 })}"`]);
    writeFileSync(p('leak.csv'), csv(['id_number', 'ward', 'cost'], leaked));
    const res = await trace(p('leak.csv'), ['--key', 'id_number']);
    expect(res.code, res.stderr).toBe(0);
    const j = lastJson(res.stdout) as TraceJson;
    expect(j.matches.map((m) => m.recipient), res.stdout + res.stderr).toEqual([keyHex['pharmaA']]);
    expect(j.matches[0]!.releaseId).toBe(releases[0]!.body.options['release-id']);
    expect(j.matches[0]!.falseAccusationProbability).toBeLessThanOrEqual(1e-6);

    // pharmaB's whole output names pharmaB.
    const resB = await trace(p('pharmaB-out.csv'), ['--key', 'resident_id']);
    expect(resB.code, resB.stderr).toBe(0);
    expect((lastJson(resB.stdout) as TraceJson).matches.map((m) => m.recipient)).toEqual([keyHex['pharmaB']]);

    // The unmarked source (the same patients and columns) is attributed to no one.
    const resU = await trace(p('hospital.csv'));
    expect(resU.code, resU.stderr).toBe(0);
    expect((lastJson(resU.stdout) as TraceJson).matches).toEqual([]);
  });

  it('refuses a tolerance the requester did not state, on both sides', async () => {
    const { l, r } = await runCliPair(listener('pharmaA', ...PAYLOAD, '--ledger', p('ledger-refuse')), (url) =>
      requester('pharmaA', url, '--accept-payload', 'ward,cost_yuan,stay_days', '--purpose', 'x'),
    );
    expect(r.code).toBe(1);
    expect(l.code).toBe(1);
    const reason = /payloads differ: requester accepts ward,cost_yuan,stay_days \(256 bytes\); responder delivers ward,cost_yuan,stay_days \(256 bytes, tolerance cost_yuan=0\.01,stay_days=1\)/;
    expectOneLineError(r.stderr, reason);
    expectOneLineError(l.stderr, reason);
  });

  it('checks the tolerance options before listening', async () => {
    for (const [args, pattern] of [
      [['--payload', 'ward,cost_yuan', '--payload-tolerance', 'cost_yuan=0.01'], /--payload-tolerance needs --ledger/],
      [['--payload-tolerance', 'cost_yuan=0.01'], /--payload-tolerance applies only with --payload/],
      [['--payload', 'ward', '--payload-tolerance', 'cost_yuan=0.01', '--ledger', p('l2')], /--payload-tolerance cost_yuan: not one of the --payload/],
      [['--payload', 'ward,cost_yuan', '--payload-tolerance', 'cost_yuan=abc', '--ledger', p('l2')], /--payload-tolerance cost_yuan=abc:/],
    ] as const) {
      const res = await runCli(listener('pharmaA', ...args));
      expect(res.code).toBe(1);
      expectOneLineError(res.stderr, pattern);
    }
    // Without a tolerance the payload is delivered unmarked, and the listener says so.
    const { l, r } = await runCliPair(listener('pharmaA', '--payload', 'ward'), (url) => requester('pharmaA', url, '--accept-payload', 'ward', '--purpose', 'x'));
    expect(r.code, r.stderr).toBe(0);
    expect(l.code, l.stderr).toBe(0);
    expect(l.stderr).toMatch(/delivered unmarked \(no --payload-tolerance\): a leaked copy cannot be traced/);
  });
});
