/**
 * Issue 12, item 1 — only the pinned partner can end a listener's job. The built CLI as separate
 * processes over 127.0.0.1, with hostile clients written with `ws` (each from its own loopback
 * address, 127.0.1.x, so the per-address rate limit is not what stops them) and wrong-key
 * requesters, all around the real partner's connection: the real run completes with the exact
 * result, the listener exits 0, and its stderr has exactly one line per rejected connection.
 *
 * On the code before this change the listener ended (exit 1) with the first hostile connection.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { type Identity } from '../src/session/identity.js';
import type { SessionTerms } from '../src/session/messages.js';
import { establishSession } from '../src/session/session.js';
import { CloseCode } from '../src/transport/websocket-core.js';
import { connectWebSocket } from '../src/transport/websocket-node.js';
import { assertBuilt, killAll, lastJson, runCli, startCli, tempDir, type CliProcess, writeIdentityDir } from './cli-helpers.js';

vi.setConfig({ testTimeout: 240_000 });

const tmp = tempDir('dataport-hostile-');
const p = (...names: string[]) => join(tmp.dir, ...names);
const ids: Record<string, Identity> = {};

function writeIdentity(name: string): void {
  ids[name] = writeIdentityDir(p(name));
}

// 40 hospital patients, 30 programme patients, 17 in both.
const HOSPITAL = ['patient_id,cost', ...Array.from({ length: 40 }, (_, i) => `ID${1000 + i},${i + 1}`)].join('\n') + '\n';
const PHARMA = ['resident_id', ...Array.from({ length: 30 }, (_, i) => `id${1023 + i}`)].join('\n') + '\n';
const EXPECTED = 17; // ID1023..ID1039
const EXPECTED_COST = Array.from({ length: 17 }, (_, i) => 24 + i).reduce((a, b) => a + b, 0); // ids 1023..1039 cost i+1

beforeAll(() => {
  assertBuilt();
  for (const who of ['hospital', 'pharma', 'mallory', 'operator', 'analyst', 'h1', 'h2']) writeIdentity(who);
  writeFileSync(p('hospital.csv'), HOSPITAL);
  writeFileSync(p('pharma.csv'), PHARMA);
  mkdirSync(p('providers'));
  for (const h of ['h1', 'h2']) copyFileSync(p(h, 'identity.pub'), p('providers', `${h}.pub`));
  mkdirSync(p('out'));
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

/**
 * The header of a masked binary frame announcing 16 MiB + 1 bytes, one over the CLI's frame limit
 * (RFC 6455 §5.2: 127 = 64-bit length follows). The listener refuses it from the header alone, so
 * the payload is not sent: sending it would only load the test process.
 */
const OVERSIZED_HEADER = Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 0, 0x01, 0x00, 0x00, 0x01, 1, 2, 3, 4]);

type Kind = 'garbage' | 'text' | 'oversized' | 'silent';

/** A hostile raw client from `localAddress`: `opened` once the upgrade is done (or refused), `closed` with the close code. */
function hostile(url: string, kind: Kind, localAddress: string): { opened: Promise<boolean>; closed: Promise<number> } {
  const ws = new WebSocket(url, { localAddress });
  ws.on('error', () => {});
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  const opened = new Promise<boolean>((resolve) => {
    ws.once('open', () => {
      if (kind === 'garbage') ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 0xff, 0x10]));
      else if (kind === 'text') ws.send('{"hello":"listener"}');
      else if (kind === 'oversized') (ws as unknown as { _socket: import('node:net').Socket })._socket.write(OVERSIZED_HEADER);
      resolve(true);
    });
    ws.once('unexpected-response', (req) => {
      req.destroy();
      resolve(false);
    });
    ws.once('close', () => resolve(false));
  });
  return { opened, closed };
}

/** A requester with a key the listener does not accept (in process, from 127.0.0.1). */
function wrongKey(url: string, listenerKey: Uint8Array): { connected: Promise<void>; done: Promise<unknown> } {
  const terms: SessionTerms = {
    protocol: 'ecdh-psi',
    options: {},
    purpose: '',
    recipients: ['requester'],
    requesterSetSize: 1,
    responderSetSize: { min: 0, max: 10 },
    minIntersection: 0,
  };
  const t = connectWebSocket(url);
  const done = t.then((transport) =>
    establishSession({ role: 'requester', transport, identity: ids.mallory!, peerPublicKey: listenerKey, terms })
      .then(() => new Error('a wrong key was accepted'))
      .catch((e: unknown) => e)
      .finally(() => transport.close()),
  );
  return { connected: t.then(() => undefined, () => undefined), done };
}

function rejectedLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('dataport: rejected connection from '));
}

let nextHost = 1;
const host = (): string => `127.0.1.${nextHost++}`;
const kinds = (n: number): Kind[] => Array.from({ length: n }, (_, i) => (['garbage', 'text', 'oversized', 'silent'] as const)[i % 4]!);

/** Resolves once the process has written a line matching `pattern` to stderr. */
function stderrLine(proc: CliProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolveLine, rejectLine) => {
    const check = () => {
      if (!pattern.test(proc.stderr())) return;
      proc.child.stderr!.off('data', check);
      resolveLine();
    };
    proc.child.stderr!.on('data', check);
    check();
    void proc.done.then((r) => rejectLine(new Error(`exited (${r.code}) before writing ${pattern}\nstderr: ${r.stderr}`)));
  });
}

const psiListener = ['psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma', 'identity.pub'), '--workers', '0'];
const psiRequester = (url: string, who = 'pharma') => [
  'psi', '--connect', url, '--identity', p(who), '--peer-key', p('hospital', 'identity.pub'), '--workers', '0', '--input', p('pharma.csv'), '--key', 'resident_id',
];

describe('dataport psi --listen: 30 hostile connections around the real partner', () => {
  it('the real run completes with the exact intersection, the listener exits 0, one stderr line per rejected connection', async () => {
    const listener = startCli([...psiListener, '--input', p('hospital.csv'), '--key', 'patient_id', '--reveal', 'both', '--handshake-timeout', '3', '--json']);
    const url = await listener.listening();
    const hostKey = ids.hospital!.publicKey;

    // Phase 1, before the partner: 12 raw hostile clients, 2 wrong keys in process, an impostor
    // process, and the partner's own first attempt pinning a wrong listener key — all at once (16
    // pending at most: the bound). The silent ones are closed by the handshake deadline.
    const phase1Kinds = kinds(12);
    const raw1 = phase1Kinds.map((k) => hostile(url, k, host()));
    const wrong1 = [wrongKey(url, hostKey), wrongKey(url, hostKey)];
    const [impostor, mispinned] = await Promise.all([
      runCli(psiRequester(url, 'mallory')),
      runCli(psiRequester(url).map((a) => (a === p('hospital', 'identity.pub') ? p('mallory', 'identity.pub') : a))),
    ]);
    const codes1 = await Promise.all(raw1.map((h) => h.closed));
    phase1Kinds.forEach((k, i) => {
      if (k === 'silent') expect(codes1[i]).toBe(CloseCode.TIMEOUT);
    });
    for (const e of await Promise.all(wrong1.map((w) => w.done))) expect((e as Error).message).toMatch(/not allowed/);
    expect(impostor.code).toBe(1);
    expect(impostor.stderr).toMatch(/not allowed/);
    expect(mispinned.code).toBe(1);
    expect(mispinned.stderr).toMatch(/does not match the pinned key/);
    expect(listener.child.exitCode).toBeNull(); // still waiting for its partner

    // Phase 2, around the partner: 12 raw hostile clients and 2 wrong keys connect, then the real
    // requester runs while they misbehave (silent ones until the deadline, 16 MiB frames, ...).
    const raw2 = kinds(12).map((k) => hostile(url, k, host()));
    const wrong2 = [wrongKey(url, hostKey), wrongKey(url, hostKey)];
    await Promise.all([...raw2.map((h) => h.opened), ...wrong2.map((w) => w.connected)]);
    const partner = startCli([...psiRequester(url), '--reveal', 'both', '--json']);
    const [r, l] = await Promise.all([partner.done, listener.done, ...raw2.map((h) => h.closed), ...wrong2.map((w) => w.done)]);

    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ok: true, intersectionSize: EXPECTED });
    expect(l.code).toBe(0);
    expect(lastJson(l.stdout)).toMatchObject({ ok: true, intersectionSize: EXPECTED });
    // 24 raw + 4 wrong keys in process + 2 requester processes = 30, one line each.
    const lines = rejectedLines(l.stderr);
    expect(lines).toHaveLength(30);
    for (let i = 1; i < nextHost; i++) expect(lines.filter((x) => x.includes(`from 127.0.1.${i}:`))).toHaveLength(1);
    expect(lines.filter((x) => x.includes('from 127.0.0.1:'))).toHaveLength(6);
    expect(l.stderr).not.toMatch(/\n\s+at /);
  });

  it('a second requester during a session is told the listener is busy; the job still belongs to the first', async () => {
    const listener = startCli([...psiListener, '--input', p('hospital.csv'), '--key', 'patient_id', '--count-only']);
    const url = await listener.listening();
    // The pinned partner authenticates and then holds its session open (its terms are refused,
    // and the listener waits for its receipt signature).
    const t = await connectWebSocket(url);
    const s = await establishSession({
      role: 'requester',
      transport: t,
      identity: ids.pharma!,
      peerPublicKey: ids.hospital!.publicKey,
      terms: { protocol: 'ecdh-psi', options: {}, purpose: '', recipients: ['requester'], requesterSetSize: 1, responderSetSize: { min: 0, max: 100 }, minIntersection: 0 },
    });
    expect(s.accepted).toBe(false);
    const second = await runCli(psiRequester(url));
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^dataport: .*the listener is busy with another session$/m);
    expect(second.stderr).not.toMatch(/503/);
    await s.close();
    const l = await listener.done;
    // The authenticated session ended the job (it failed: refused terms, no receipt signature).
    expect(l.code).toBe(1);
    expect(rejectedLines(l.stderr)).toEqual([expect.stringMatching(/^dataport: rejected connection from 127\.0\.0\.1: the listener is busy with another session$/)]);
  });

  it('--keep-serving --output-dir: two sessions write two distinct output files', async () => {
    const listener = startCli([...psiListener, '--input', p('hospital.csv'), '--key', 'patient_id', '--reveal', 'both', '--keep-serving', '--output-dir', p('out'), '--json']);
    const url = await listener.listening();
    for (let i = 0; i < 2; i++) {
      const r = await runCli([...psiRequester(url), '--reveal', 'both']);
      expect(r.code).toBe(0);
      // A hostile client between sessions changes nothing.
      await hostile(url, 'garbage', host()).closed;
    }
    await stderrLine(listener, /wrote 17 rows to .*\n[\s\S]*wrote 17 rows to /);
    listener.child.kill('SIGINT');
    const l = await listener.done;
    expect(l.code).toBe(0);
    const files = readdirSync(p('out')).sort();
    expect(files).toHaveLength(2);
    for (const f of files) expect(f).toMatch(/^psi-\d{8}T\d{6}Z-000[12]-[0-9a-f]{32}\.csv$/);
    const rows = files.map((f) => readFileSync(p('out', f), 'utf8'));
    expect(rows[0]).toBe(rows[1]);
    expect(rows[0]!.trim().split('\n')).toHaveLength(1 + EXPECTED);
    expect(rejectedLines(l.stderr)).toHaveLength(2);
  });
});

describe('dataport psi-sum --listen and aggregate serve under hostile connections', () => {
  it('psi-sum: the round completes with the exact count and sum despite hostile and wrong-key connections', async () => {
    const listener = startCli([
      'psi-sum', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma', 'identity.pub'), '--workers', '0',
      '--input', p('hospital.csv'), '--key', 'patient_id', '--values', 'cost', '--handshake-timeout', '2', '--json',
    ]);
    const url = await listener.listening();
    const before = await Promise.all([...kinds(4).map((k) => hostile(url, k, host()).closed), wrongKey(url, ids.hospital!.publicKey).done]);
    expect(before[3]).toBe(CloseCode.TIMEOUT); // the silent one
    const r = await runCli([
      'psi-sum', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital', 'identity.pub'), '--workers', '0',
      '--input', p('pharma.csv'), '--key', 'resident_id', '--json',
    ]);
    const l = await listener.done;
    expect(r.code).toBe(0);
    expect(l.code).toBe(0);
    for (const out of [r.stdout, l.stdout]) expect(lastJson(out)).toMatchObject({ intersectionSize: EXPECTED, sums: { cost: String(EXPECTED_COST) } });
    expect(l.stderr).toMatch(/rejected connection from 127\.0\.0\.1: .*not allowed/);
    expect(rejectedLines(l.stderr)).toHaveLength(5);
  });

  it('aggregate serve: a provider with an unknown key and hostile connections are refused and logged; the round completes', async () => {
    writeFileSync(p('q.json'), JSON.stringify({
      version: 1,
      id: 'hostile-round',
      columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '-100.00', max: '100000.00' }],
      groupBy: { column: 'ward', categories: ['oncology', 'surgery'] },
      statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }],
      maxRowsPerProvider: 1000,
      providers: 2,
      minCohort: 2,
    }));
    writeFileSync(p('a.csv'), 'ward,cost\noncology,10.25\nsurgery,-5.00\noncology,99999.99\n');
    writeFileSync(p('b.csv'), 'cost,ward\n0.01,oncology\n');
    const server = startCli([
      'aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--identity', p('operator'),
      '--analyst-key', p('analyst', 'identity.pub'), '--provider-keys', p('providers'), '--handshake-timeout', '2', '--json',
    ]);
    const url = await server.listening();
    const provide = (who: string, input: string) => runCli(['aggregate', 'provide', '--connect', url, '--input', p(input), '--identity', p(who), '--peer-key', p('operator', 'identity.pub')]);
    // The stranger first: on the code before this change its failed handshake was silent.
    const stranger = await provide('mallory', 'a.csv');
    expect(stranger.code).toBe(1);
    await Promise.all(kinds(4).map((k) => hostile(url, k, host()).closed));
    const [h1, h2, analyst] = await Promise.all([
      provide('h1', 'a.csv'),
      provide('h2', 'b.csv'),
      runCli(['aggregate', 'analyst', '--connect', url, '--query', p('q.json'), '--output', p('r.json'), '--identity', p('analyst'), '--peer-key', p('operator', 'identity.pub')]),
    ]);
    const s = await server.done;
    expect([h1.code, h2.code, analyst.code, s.code]).toEqual([0, 0, 0, 0]);
    const result = JSON.parse(readFileSync(p('r.json'), 'utf8')) as { groups: unknown[] };
    expect(result.groups[0]).toEqual({
      group: 'oncology',
      withheld: false,
      statistics: [
        { type: 'count', value: '3' },
        { type: 'sum', column: 'cost', value: '100010.25' },
      ],
    });
    const lines = rejectedLines(s.stderr);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^dataport: rejected connection from 127\.0\.0\.1: .*not allowed/);
  });
});
