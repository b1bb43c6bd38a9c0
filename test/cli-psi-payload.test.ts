/**
 * End-to-end tests of `dataport psi --payload` / `--accept-payload`: two processes of the built CLI
 * over real sockets on 127.0.0.1. The requester's --output must equal the plain join of its matched
 * rows with the listener's payload columns; mismatched payload terms are refused on both sides.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openLedger } from '../src/ledger/file-ledger.js';
import type { Identity } from '../src/session/identity.js';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, runCliPair, tempDir, writeIdentityDir } from './cli-helpers.js';

vi.setConfig({ testTimeout: 180_000 });

/** RFC 4180 CSV (quotes, doubled quotes, CRLF or LF; a BOM dropped), for checking outputs. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  const t = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < t.length; i++) {
    const c = t[i]!;
    if (quoted) {
      if (c === '"' && t[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && t[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length > 0) rows.push([...row, field]);
  return rows;
}

const tmp = tempDir('dataport-payload-');
const p = (name: string) => join(tmp.dir, name);

// The pharma company's programme patients and the hospital's admissions (two rows for one patient,
// quoting in the values, an unmatched patient with a long note).
const PHARMA = 'resident_id,name\r\n11010119900307001X,"Zhang, San"\r\n110101199003070022,Li Si\r\n110101199003070099,Nobody\r\n11010119900307001x,dup\r\n';
const HOSPITAL = [
  'patient_id,ward,cost_yuan,note',
  '11010119900307001x,cardiology,10.5,a',
  '110101199003070055,"ward, east",30,' + 'x'.repeat(150),
  '110101199003070022,oncology,"1,200",b',
  '11010119900307001X,"icu ""B""",99,c',
].join('\n');

const ids: Record<string, Identity> = {};
beforeAll(() => {
  assertBuilt();
  ids['ledger-p'] = writeIdentityDir(p('pharma'));
  ids['ledger-h'] = writeIdentityDir(p('hospital'));
  writeFileSync(p('pharma.csv'), PHARMA);
  writeFileSync(p('hospital.csv'), HOSPITAL);
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

/** `--workers 0` unless the extra arguments give `--workers`. */
const workers = (extra: string[]) => (extra.includes('--workers') ? [] : ['--workers', '0']);
const listener = (...extra: string[]) => [
  'psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), ...workers(extra),
  '--input', p('hospital.csv'), '--key', 'patient_id', '--json', ...extra,
];
const requester = (url: string, ...extra: string[]) => [
  'psi', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), ...workers(extra),
  '--input', p('pharma.csv'), '--key', 'resident_id', '--json', ...extra,
];

/** The plain join of the two files on the normalised key, the hospital's `cols` appended. */
function plainJoin(cols: string[]): string[][] {
  const norm = (s: string) => s.normalize('NFKC').trim().toLowerCase();
  const [ph, ...pharma] = parseCsv(PHARMA);
  const [hh, ...hospital] = parseCsv(HOSPITAL);
  const out: string[][] = [[...ph!, ...cols]];
  for (const r of pharma) {
    for (const h of hospital) {
      if (norm(h[hh!.indexOf('patient_id')]!) === norm(r[0]!)) out.push([...r, ...cols.map((c) => h[hh!.indexOf(c)]!)]);
    }
  }
  return out;
}

describe('dataport psi --payload', () => {
  it("appends exactly the plain join's payload columns to the requester's matched rows; receipts record columns and count", async () => {
    // On the worker pool (2 workers each): the extra multiplications of the payload phase run there.
    const { l, r } = await runCliPair(listener('--payload', 'ward,cost_yuan', '--reveal', 'both', '--ledger', p('ledger-h'), '--workers', '2'), (url) =>
      requester(url, '--accept-payload', 'ward,cost_yuan', '--purpose', 'programme audit', '--reveal', 'both', '--output', p('out.csv'), '--ledger', p('ledger-p'), '--workers', '2'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(l.code, l.stderr).toBe(0);
    const got = parseCsv(readFileSync(p('out.csv'), 'utf8'));
    const want = plainJoin(['ward', 'cost_yuan']);
    expect(got[0]).toEqual(want[0]);
    expect(got.slice(1).sort()).toEqual(want.slice(1).sort());
    // Rows 1 and 4 of pharma share a key with two hospital rows: 2 × 2 + 1 output rows.
    expect(got.length - 1).toBe(5);
    const rj = lastJson(r.stdout);
    expect(rj['payloadColumns']).toEqual(['ward', 'cost_yuan']);
    expect(rj['payloadRecords']).toBe(3);
    expect(lastJson(l.stdout)['payloadRecords']).toBe(3);
    for (const dir of ['ledger-h', 'ledger-p']) {
      const ledger = await openLedger(p(dir), { owner: ids[dir]! });
      const [e] = await ledger.readReceipts();
      await ledger.close();
      const o = e!.body.options;
      expect(o['payload-columns']).toBe('ward,cost_yuan');
      expect(o['payload-records']).toBe('3');
      expect(o['payload-max-bytes']).toBe('256');
      expect(o['payload-recipient']).toMatch(/^[0-9a-f]{64}$/);
      expect(e!.body.purpose).toBe('programme audit');
      // Never a value.
      expect(JSON.stringify(e!.body)).not.toMatch(/cardiology|oncology/);
    }
  });

  it('refuses mismatched payload terms on both sides, with the reason', async () => {
    const cases: [string[], string[], RegExp][] = [
      [['--payload', 'ward'], [], /did not accept/],
      [[], ['--accept-payload', 'ward', '--purpose', 'x'], /delivers none/],
      [['--payload', 'ward'], ['--accept-payload', 'ward,cost_yuan', '--purpose', 'x'], /payloads differ: requester accepts ward,cost_yuan \(256 bytes\); responder delivers ward \(256 bytes\)/],
      [['--payload', 'ward', '--payload-max-bytes', '300'], ['--accept-payload', 'ward', '--purpose', 'x'], /payloads differ/],
    ];
    for (const [lArgs, rArgs, reason] of cases) {
      const { l, r } = await runCliPair(listener(...lArgs), (url) => requester(url, ...rArgs));
      expect(r.code, r.stderr).toBe(1);
      expect(l.code, l.stderr).toBe(1);
      expectOneLineError(r.stderr, reason);
      expectOneLineError(l.stderr, reason);
    }
  });

  it('refuses an oversize payload before listening, naming the row', async () => {
    const res = await runCli(listener('--payload', 'note', '--payload-max-bytes', '100'));
    expect(res.code).toBe(1);
    expectOneLineError(res.stderr, /payload of record 2 .*over the declared maximum of 100.*--payload-max-bytes/);
    expect(res.stderr).not.toMatch(/listening/);
  });

  it('checks the options before anything else', async () => {
    for (const [args, pattern] of [
      [['--payload', 'ward', '--count-only'], /not available with --count-only/],
      [['--payload-max-bytes', '300'], /applies only with --payload/],
    ] as const) {
      const res = await runCli(listener(...args));
      expect(res.code).toBe(1);
      expectOneLineError(res.stderr, pattern);
    }
    const res = await runCli(requester('ws://127.0.0.1:1', '--accept-payload', 'ward'));
    expect(res.code).toBe(1);
    expectOneLineError(res.stderr, /needs --purpose/);
  });
});
