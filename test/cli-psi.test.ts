/**
 * End-to-end tests of `dataport psi`: two separate processes of the built CLI over real sockets on
 * 127.0.0.1 (the listener binds port 0 and prints its address), plus fake peers written with `ws`
 * for the misbehaving-peer cases. Inputs are tiny so the suite stays fast on 2 cores.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openLedger, verifyLedgerDir } from '../src/ledger/file-ledger.js';
import { toJsonFriendly } from '../src/cli/summary.js';
import {
  formatPublicKeyFile,
  formatSecretKeyFile,
  generateIdentity,
  identityFromSecretKey,
  parseSecretKeyFile,
} from '../src/session/identity.js';
import { assertBuilt, expectOneLineError, killAll, startCli, tempDir, runCliPair, lastJson, writeIdentityDir } from './cli-helpers.js';

// Several processes per test on a shared 2-core machine: generous limits (a hang is still caught by
// the per-process watchdog in cli-helpers.ts).
vi.setConfig({ testTimeout: 180_000 });

const tmp = tempDir('dataport-psi-');
const D = tmp.dir;
const p = (name: string) => join(D, name);

function writeIdentity(name: string): void {
  writeIdentityDir(p(name));
}

// The requester (a pharmaceutical company) and the listener (a hospital). Keys match after
// normalisation: case (X/x), surrounding spaces, full-width digits; one duplicate key.
const PHARMA_LINES = [
  '\uFEFFresident_id,name,note\r\n',
  '"11010119900307001X","Zhang, San","said ""hi"""\r\n',
  '110101199003070022,Li Si,\r\n',
  ' 110101199003070033 ,Wang Wu,"multi\nline"\r\n',
  '110101199003070044,Zhao Liu,y\r\n',
  '"11010119900307001x",duplicate key,z\r\n',
  ',no key,skipped\r\n',
  '１１０１０１１９９００３０７００６６,full width,w',
];
const PHARMA_MATCHING = [1, 2, 3, 5];
const HOSPITAL_LINES = [
  'patient_id,ward,cost_yuan\n',
  '11010119900307001x,cardiology,10.5\n',
  '110101199003070033,oncology,20\n',
  '110101199003070055,gastroenterology,30\n',
  '110101199003070022,cardiology,5\n',
  '110101199003070066,"ward, east",7\n',
];
const HOSPITAL_MATCHING = [1, 2, 4, 5];

beforeAll(() => {
  assertBuilt();
  writeIdentity('pharma');
  writeIdentity('hospital');
  writeIdentity('mallory');
  writeFileSync(p('pharma.csv'), PHARMA_LINES.join(''));
  writeFileSync(p('hospital.csv'), HOSPITAL_LINES.join(''));
  writeFileSync(p('wards-a.csv'), 'ward,month,n\ncardiology,2023-01,1\ncardiology,2023-02,2\noncology,2023-01,3\nonc,ology2023-01,4\n');
  writeFileSync(p('wards-b.csv'), 'month,dept\n2023-01,Cardiology\n2023-03,cardiology\n2023-01,oncology\n');
  writeFileSync(p('empty.csv'), '');
  writeFileSync(p('header-only.csv'), 'resident_id,name\n');
  writeFileSync(p('malformed.csv'), 'resident_id,name\n1,a\n2,b,extra\n3,c\n');
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

const listenerBase = ['psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0'];
const requesterBase = (url: string) => ['psi', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0'];
const hospitalInput = ['--input', p('hospital.csv'), '--key', 'patient_id'];
const pharmaInput = ['--input', p('pharma.csv'), '--key', 'resident_id'];

/** Starts a listener, then a requester against its printed address; both results. */
const pair = (listenerArgs: string[], requesterArgs: (url: string) => string[]) => runCliPair(listenerArgs, requesterArgs);

/** The header plus the given data lines of `lines`, concatenated: the expected --output bytes. */
function expectedOutput(lines: string[], matching: number[]): Buffer {
  return Buffer.from(lines[0]! + matching.map((i) => lines[i]!).join(''), 'utf8');
}

describe('dataport psi (authenticated)', () => {
  it('reveal both: each side learns the intersection, --output rows are byte-identical, --json is the last line', async () => {
    const { l, r } = await pair(
      [...listenerBase, ...hospitalInput, '--reveal', 'both', '--output', p('out-hospital.csv'), '--json', '--purpose', 'programme review'],
      (url) => [...requesterBase(url), ...pharmaInput, '--reveal', 'both', '--output', p('out-pharma.csv'), '--json', '--purpose', 'programme review'],
    );
    expect(r.stderr).toMatch(/1 rows with an empty key were skipped \(first at data row 6\)/);
    expect([l.code, r.code]).toEqual([0, 0]);
    const rj = lastJson(r.stdout);
    const lj = lastJson(l.stdout);
    expect(rj).toMatchObject({
      role: 'requester',
      intersectionSize: 4,
      inputRecords: 7,
      distinctKeys: 5,
      skippedRows: 1,
      peerDistinctKeys: 5,
      outputRows: 5,
      reveal: 'both',
      countOnly: false,
      purpose: 'programme review',
    });
    expect(lj).toMatchObject({ role: 'responder', intersectionSize: 4, inputRecords: 5, distinctKeys: 5, peerDistinctKeys: 5, outputRows: 4 });
    for (const j of [rj, lj]) {
      expect(j.bytesSent).toBeGreaterThan(0);
      expect(j.bytesReceived).toBeGreaterThan(0);
      expect(typeof j.ms).toBe('number');
    }
    expect(rj.bytesSent).toBe(lj.bytesReceived);
    // The same co-signed receipt on both sides, bytes as base64.
    const receipt = rj.receipt as { body: { sessionId: string; purpose: string }; signatures: { publicKey: string }[] };
    expect(receipt).toEqual(lj.receipt);
    expect(receipt.body.purpose).toBe('programme review');
    expect(receipt.signatures.map((s) => s.publicKey).sort()).toEqual(
      [readFileSync(p('pharma/identity.pub'), 'utf8'), readFileSync(p('hospital/identity.pub'), 'utf8')].map((t) => t.split(' ')[1]!.trim()).sort(),
    );
    expect(readFileSync(p('out-pharma.csv'))).toEqual(expectedOutput(PHARMA_LINES, [...PHARMA_MATCHING, 7]));
    expect(readFileSync(p('out-hospital.csv'))).toEqual(expectedOutput(HOSPITAL_LINES, HOSPITAL_MATCHING));
  });

  it('reveal requester (the default): the listener learns only the sizes', async () => {
    const { l, r } = await pair([...listenerBase, ...hospitalInput, '--json'], (url) => [
      ...requesterBase(url),
      ...pharmaInput,
      '--reveal',
      'requester',
      '--json',
    ]);
    expect([l.code, r.code]).toEqual([0, 0]);
    expect(lastJson(r.stdout)).toMatchObject({ intersectionSize: 4, learned: 'intersection' });
    expect(lastJson(l.stdout)).toMatchObject({ intersectionSize: null, learned: 'nothing', peerDistinctKeys: 5 });
  });

  it('count-only with 192-bit truncation: both learn the size only', async () => {
    const { l, r } = await pair([...listenerBase, ...hospitalInput, '--count-only', '--reveal', 'both', '--truncate', '192', '--json'], (url) => [
      ...requesterBase(url),
      ...pharmaInput,
      '--reveal',
      'both',
      '--count-only',
      '--truncate',
      '192',
      '--json',
    ]);
    expect([l.code, r.code]).toEqual([0, 0]);
    for (const j of [lastJson(l.stdout), lastJson(r.stdout)]) expect(j).toMatchObject({ intersectionSize: 4, learned: 'cardinality', truncate: 192 });
  });

  it('untruncated values and multi-column keys (column names may differ, order is the --key order)', async () => {
    const { l, r } = await pair(
      [...listenerBase, '--input', p('wards-b.csv'), '--key', 'dept,month', '--truncate', '0', '--json'],
      (url) => [...requesterBase(url), '--input', p('wards-a.csv'), '--key', 'ward,month', '--truncate', '0', '--output', p('out-wards.csv'), '--json'],
    );
    expect([l.code, r.code]).toEqual([0, 0]);
    // ('onc','ology2023-01') must not match ('oncology','2023-01'): the encoding is unambiguous.
    expect(lastJson(r.stdout)).toMatchObject({ intersectionSize: 2, distinctKeys: 4, peerDistinctKeys: 3 });
    expect(readFileSync(p('out-wards.csv'), 'utf8')).toBe('ward,month,n\ncardiology,2023-01,1\noncology,2023-01,3\n');
  });

  it('a refused term ends both sides with a one-line message and exit 1', async () => {
    const { l, r } = await pair([...listenerBase, ...hospitalInput, '--count-only'], (url) => [...requesterBase(url), ...pharmaInput, '--json']);
    expect([l.code, r.code]).toEqual([1, 1]);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'ERR_TERMS_REFUSED' });
    expectOneLineError(r.stderr, /terms refused: .*count/i);
    expectOneLineError(l.stderr, /terms refused: .*count/i);
  });

  it("a requester pinning a wrong listener key exits 1; the listener logs it and serves the partner's next attempt", async () => {
    const listener = startCli([...listenerBase, ...hospitalInput]);
    const url = await listener.listening();
    const wrong = await startCli(['psi', '--connect', url, '--identity', p('pharma'), '--peer-key', p('mallory/identity.pub'), '--workers', '0', ...pharmaInput]).done;
    expect(wrong.code).toBe(1);
    expectOneLineError(wrong.stderr, /peer authentication failed .*does not match the pinned key/);
    const r = await startCli([...requesterBase(url), ...pharmaInput]).done;
    const l = await listener.done;
    expect([l.code, r.code]).toEqual([0, 0]);
    expectOneLineError(l.stderr, /^dataport: rejected connection from 127\.0\.0\.1: .*verification failed$/);
  });

  it('a listener pinned to another peer refuses the requester, logs it and goes on waiting', async () => {
    const listener = startCli(['psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('mallory/identity.pub'), '--workers', '0', ...hospitalInput]);
    const r = await startCli([...requesterBase(await listener.listening()), ...pharmaInput]).done;
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /peer authentication failed .*not allowed/);
    await vi.waitFor(() => expect(listener.stderr()).toMatch(/rejected connection/));
    expect(listener.child.exitCode).toBeNull();
    listener.child.kill('SIGINT');
    const l = await listener.done;
    expect(l.code).toBe(130);
    expect(l.stderr).toMatch(/^dataport: rejected connection from 127\.0\.0\.1: peer authentication failed .*not allowed$/m);
  });
});

describe('dataport psi --ledger, --keep-serving, TLS and timeouts', () => {
  it('appends the co-signed receipt to both ledgers, for completed and for refused runs', async () => {
    const lLedger = ['--ledger', p('ledger-hospital')];
    const rLedger = ['--ledger', p('ledger-pharma')];
    const ok = await pair([...listenerBase, ...hospitalInput, ...lLedger, '--json'], (url) => [...requesterBase(url), ...pharmaInput, ...rLedger, '--json']);
    expect([ok.l.code, ok.r.code]).toEqual([0, 0]);
    expect(lastJson(ok.r.stdout).ledger).toMatchObject({ index: 0 });
    const refused = await pair([...listenerBase, ...hospitalInput, ...lLedger, '--truncate', '192'], (url) => [
      ...requesterBase(url),
      ...pharmaInput,
      ...rLedger,
    ]);
    expect([refused.l.code, refused.r.code]).toEqual([1, 1]);
    expectOneLineError(refused.r.stderr, /terms refused: .*truncate/);
    expect(refused.r.stderr).toMatch(/receipt of the refused run appended to .*ledger-pharma \(entry 1\)/);
    for (const [dir, owner] of [
      ['ledger-hospital', 'hospital'],
      ['ledger-pharma', 'pharma'],
    ] as const) {
      const id = identityFromSecretKey(parseSecretKeyFile(readFileSync(p(`${owner}/identity.key`), 'utf8')));
      const v = await verifyLedgerDir(p(dir), { publicKey: id.publicKey });
      expect(v.ok).toBe(true);
      expect(v.size).toBe(2);
      const ledger = await openLedger(p(dir), { owner: id });
      const receipts = await ledger.readReceipts();
      await ledger.close();
      expect(receipts.map((r) => r.body.outcome)).toEqual(['completed', 'refused']);
      expect(toJsonFriendly(receipts[0])).toEqual(lastJson(ok.r.stdout).receipt);
    }
  });

  it('--keep-serving serves several sessions until interrupted, then exits 0', async () => {
    const listener = startCli(['psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--allow-any-peer', '--workers', '0', ...hospitalInput, '--keep-serving', '--json']);
    const url = await listener.listening();
    expect(listener.stderr()).toMatch(/warning: --allow-any-peer/);
    for (const who of ['pharma', 'mallory']) {
      const r = await startCli(['psi', '--connect', url, '--identity', p(who), '--peer-key', p('hospital/identity.pub'), '--workers', '0', ...pharmaInput, '--json']).done;
      expect(r.code).toBe(0);
      expect(lastJson(r.stdout)).toMatchObject({ intersectionSize: 4 });
    }
    // A failed session does not stop the listener.
    const bad = await startCli([...requesterBase(url), ...pharmaInput, '--count-only']).done;
    expect(bad.code).toBe(1);
    const good = await startCli([...requesterBase(url), ...pharmaInput]).done;
    expect(good.code).toBe(0);
    listener.child.kill('SIGINT');
    const l = await listener.done;
    expect(l.code).toBe(0);
    const summaries = l.stdout.trim().split('\n').map((line) => JSON.parse(line) as { ok: boolean; code?: string });
    expect(summaries.map((j) => j.ok)).toEqual([true, true, false, true]);
    expect(summaries[2]!.code).toBe('ERR_TERMS_REFUSED');
    expect(l.stderr).toMatch(/session from .* failed: terms refused/);
  });

  it('runs over TLS (wss://) with --tls-cert/--tls-key and --ca', async () => {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-keyout', p('tls.key'), '-out', p('tls.crt'), '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    const tls = ['--tls-cert', p('tls.crt'), '--tls-key', p('tls.key')];
    const { l, r } = await pair([...listenerBase, ...hospitalInput, ...tls, '--json'], (url) => {
      expect(url).toMatch(/^wss:\/\//);
      return [...requesterBase(url), ...pharmaInput, '--ca', p('tls.crt'), '--json'];
    });
    expect([l.code, r.code]).toEqual([0, 0]);
    expect(lastJson(r.stdout)).toMatchObject({ intersectionSize: 4 });
    // Without --ca the self-signed certificate is not trusted.
    const listener = startCli([...listenerBase, ...hospitalInput, ...tls]);
    const url = await listener.listening();
    const untrusted = await startCli([...requesterBase(url), ...pharmaInput]).done;
    expect(untrusted.code).toBe(1);
    expectOneLineError(untrusted.stderr, /could not connect.*certificate/i);
    listener.child.kill('SIGTERM');
    await listener.done;
  });

  it('a peer that accepts and then stays silent: the requester times out with --timeout and exits 1', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    try {
      const port = (wss.address() as AddressInfo).port;
      const r = await startCli([...requesterBase(`ws://127.0.0.1:${port}`), ...pharmaInput, '--timeout', '1']).done;
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, /timed out/);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  it('Ctrl-C stops a waiting single-session listener with exit code 130', async () => {
    const listener = startCli([...listenerBase, ...hospitalInput]);
    await listener.listening();
    listener.child.kill('SIGINT');
    const l = await listener.done;
    expect(l.code).toBe(130);
    expectOneLineError(l.stderr, /^dataport: interrupted$/);
  });

  it('a single-session listener given --timeout gives up when no peer connects', async () => {
    const l = await startCli([...listenerBase, ...hospitalInput, '--timeout', '0.5']).done;
    expect(l.code).toBe(1);
    expectOneLineError(l.stderr, /no peer connected within/);
  });
});

describe('dataport psi on the seed scenario', () => {
  it("matches the generator's ground truth (BOM, CRLF, noisy IDs; default worker pool)", async () => {
    const out = p('seeds');
    execFileSync(process.execPath, [join(import.meta.dirname, '..', 'seeds', 'generate.mjs'), '--out', out, '--pharma', '300', '--hospital', '700', '--hospitals', '1', '--rows', '10', '--seed', '7', '--bom', '--crlf'], { stdio: 'ignore' });
    const truth = JSON.parse(readFileSync(join(out, 'truth.json'), 'utf8')) as { psi: Record<string, number> };
    const { l, r } = await pair(
      ['psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--input', join(out, 'hospital.csv'), '--key', 'patient_id', '--reveal', 'both', '--output', p('seed-out-h.csv'), '--json'],
      (url) => ['psi', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--input', join(out, 'pharma.csv'), '--key', 'resident_id', '--reveal', 'both', '--json'],
    );
    expect([l.code, r.code]).toEqual([0, 0]);
    expect(lastJson(r.stdout)).toMatchObject({
      intersectionSize: truth.psi.intersectionSize,
      inputRecords: truth.psi.pharmaRows,
      distinctKeys: truth.psi.pharmaDistinctKeys,
      peerDistinctKeys: truth.psi.hospitalDistinctKeys,
    });
    expect(lastJson(l.stdout)).toMatchObject({ intersectionSize: truth.psi.intersectionSize, outputRows: truth.psi.intersectionHospitalRows });
    // Every output line is an input line, in input order, starting with the (BOM) header.
    const input = readFileSync(join(out, 'hospital.csv'), 'latin1').split('\r\n');
    const output = readFileSync(p('seed-out-h.csv'), 'latin1').split('\r\n');
    expect(output[0]).toBe(input[0]);
    expect(output[0]!.startsWith('\xef\xbb\xbf')).toBe(true);
    let at = 0;
    for (const line of output.slice(1, -1)) {
      at = input.indexOf(line, at + 1);
      expect(at).toBeGreaterThan(0);
    }
  });
});

describe('dataport psi --insecure-interop', () => {
  it('runs the bare draft protocol between two processes, with a loud warning', async () => {
    const { l, r } = await pair(
      ['psi', '--listen', '127.0.0.1:0', '--insecure-interop', '--workers', '0', ...hospitalInput, '--reveal', 'both', '--json'],
      (url) => ['psi', '--connect', url, '--insecure-interop', '--workers', '1', ...pharmaInput, '--reveal', 'both', '--output', p('out-interop.csv'), '--json'],
    );
    expect([l.code, r.code]).toEqual([0, 0]);
    for (const res of [l, r]) expect(res.stderr).toMatch(/WARNING: --insecure-interop: NO AUTHENTICATION/);
    expect(lastJson(r.stdout)).toMatchObject({ intersectionSize: 4, authenticated: false, receipt: null });
    expect(lastJson(l.stdout)).toMatchObject({ intersectionSize: 4 });
    expect(readFileSync(p('out-interop.csv'))).toEqual(expectedOutput(PHARMA_LINES, [...PHARMA_MATCHING, 7]));
  });

  it('refuses identity options that would suggest authentication', async () => {
    const r = await startCli(['psi', '--connect', 'ws://127.0.0.1:1', '--insecure-interop', '--identity', p('pharma'), ...pharmaInput]).done;
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /--identity has no meaning with --insecure-interop/);
  });
});

describe('dataport psi input errors (before any connection)', () => {
  const cases: [string, string[], RegExp][] = [
    ['a missing key column', ['--input', p('hospital.csv'), '--key', 'resident_id'], /no column 'resident_id'; the header has 'patient_id', 'ward', 'cost_yuan'/],
    ['an empty file', ['--input', p('empty.csv'), '--key', 'resident_id'], /empty\.csv: the file is empty/],
    ['a header-only file', ['--input', p('header-only.csv'), '--key', 'resident_id'], /header but no data rows/],
    ['a malformed line', ['--input', p('malformed.csv'), '--key', 'resident_id'], /malformed CSV at line 3: expected 2 fields like the header, got 3/],
    ['a missing file', ['--input', p('nope.csv'), '--key', 'resident_id'], /nope\.csv: cannot read input \(no such file or directory \(ENOENT\)\)/],
  ];
  for (const [what, args, pattern] of cases) {
    it(`listener and requester both report ${what}`, async () => {
      const l = await startCli([...listenerBase, ...args]).done;
      expect(l.code).toBe(1);
      expect(l.stderr).not.toMatch(/listening on/);
      expectOneLineError(l.stderr, pattern);
      const r = await startCli([...requesterBase('ws://127.0.0.1:1'), ...args]).done;
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, pattern);
    });
  }

  it('checks the command line before reading anything', async () => {
    const r1 = await startCli(['psi', '--connect', 'ws://127.0.0.1:1', '--identity', p('pharma'), ...pharmaInput]).done;
    expectOneLineError(r1.stderr, /--peer-key FILE: the requester must pin/);
    const r2 = await startCli(['psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), ...hospitalInput]).done;
    expectOneLineError(r2.stderr, /--listen needs --peer-key FILE .* or --allow-any-peer/);
    const r3 = await startCli([...requesterBase('ws://127.0.0.1:1'), ...pharmaInput, '--count-only', '--output', p('x.csv')]).done;
    expectOneLineError(r3.stderr, /--output .* cannot be used with --count-only/);
    const r4 = await startCli([...requesterBase('http://127.0.0.1:1'), ...pharmaInput]).done;
    expectOneLineError(r4.stderr, /must start with ws:\/\/ or wss:\/\//);
    for (const r of [r1, r2, r3, r4]) expect(r.code).toBe(1);
  });
});

describe('dataport psi against unreachable or misbehaving peers', () => {
  async function freePort(): Promise<number> {
    const srv = createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    return port;
  }

  it('an unreachable listener: the requester exits 1 naming the connection failure', async () => {
    const port = await freePort();
    const r = await startCli([...requesterBase(`ws://127.0.0.1:${port}`), ...pharmaInput]).done;
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /could not connect.*ECONNREFUSED/);
  });

  it('a listener that answers garbage: the requester exits 1 without hanging', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => ws.send(Buffer.from('this is not a dataport message at all')));
    try {
      const port = (wss.address() as AddressInfo).port;
      const r = await startCli([...requesterBase(`ws://127.0.0.1:${port}`), ...pharmaInput]).done;
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, /malformed|unexpected|closed/i);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  it('a listener that drops the connection after the first message: the requester exits 1', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    wss.on('connection', (ws) => ws.once('message', () => ws.terminate()));
    try {
      const port = (wss.address() as AddressInfo).port;
      for (const interop of [false, true]) {
        const args = interop
          ? ['psi', '--connect', `ws://127.0.0.1:${port}`, '--insecure-interop', '--workers', '0', ...pharmaInput]
          : [...requesterBase(`ws://127.0.0.1:${port}`), ...pharmaInput];
        const r = await startCli(args).done;
        expect(r.code).toBe(1);
        expectOneLineError(r.stderr, /connection|closed/i);
      }
    } finally {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });

  for (const [what, payload] of [
    ['binary garbage', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3])],
    ['a text frame', 'hello'],
  ] as const) {
    it(`a listener that gets ${what} from a client logs it and serves its real peer (interop mode: exits 1)`, async () => {
      for (const interop of [false, true]) {
        const args = interop
          ? ['psi', '--listen', '127.0.0.1:0', '--insecure-interop', '--workers', '0', ...hospitalInput]
          : [...listenerBase, ...hospitalInput];
        const listener = startCli(args);
        const url = await listener.listening();
        const ws = new WebSocket(url);
        ws.on('error', () => {});
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        ws.send(payload);
        if (interop) {
          // No authentication: whoever connects first is the peer, and a bad one ends the run.
          const l = await listener.done;
          ws.terminate();
          expect(l.code).toBe(1);
          expectOneLineError(l.stderr, /malformed|unexpected|closed|text frame/i);
          continue;
        }
        await new Promise<void>((resolve) => ws.once('close', () => resolve()));
        const r = await startCli([...requesterBase(url), ...pharmaInput]).done;
        const l = await listener.done;
        expect([l.code, r.code]).toEqual([0, 0]);
        expectOneLineError(l.stderr, /^dataport: rejected connection from 127\.0\.0\.1: .*(version|malformed|unexpected|text frame)/i);
      }
    });
  }

  it('a client that connects and leaves before authenticating is logged; the listener serves its real peer', async () => {
    const listener = startCli([...listenerBase, ...hospitalInput]);
    const url = await listener.listening();
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    await new Promise<void>((resolve) => ws.once('open', () => resolve()));
    ws.terminate();
    await vi.waitFor(() => expect(listener.stderr()).toMatch(/rejected connection/));
    const r = await startCli([...requesterBase(url), ...pharmaInput]).done;
    const l = await listener.done;
    expect([l.code, r.code]).toEqual([0, 0]);
    expectOneLineError(l.stderr, /^dataport: rejected connection from 127\.0\.0\.1: .*(closed|connection)/i);
  });
});
