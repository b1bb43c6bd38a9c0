/**
 * Crash safety and multi-process appends, with real processes: a child appends in a loop and is
 * killed with SIGKILL at a random point; the ledger must then verify, reopen, and hold every entry
 * whose append the child had seen acknowledged.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLedger, verifyLedgerDir } from '../src/ledger/node.js';
import { generateIdentity } from '../src/session/identity.js';
import { toHex } from '../src/utils/bytes.js';

const CHILD = `
import { writeSync } from 'node:fs';
import { openLedger } from '../src/ledger/node.ts';
import { createPrivateKey, sign } from 'node:crypto';
import { encodeReceiptBody, RECEIPT_SIGNATURE_CONTEXT } from '../src/ledger/index.ts';
import { identityFromSecretKey } from '../src/session/identity.ts';
import { fromHex } from '../src/utils/bytes.ts';

const [dir, ownerHex, peerHex, tag, countText] = process.argv.slice(2);
const owner = identityFromSecretKey(fromHex(ownerHex));
const peer = identityFromSecretKey(fromHex(peerHex));
const limit = Number(countText); // 0 = forever
const say = (line) => writeSync(1, line + '\\n');
// Native signing keeps the child's time in the ledger's commits, where a kill is most interesting.
const keyOf = (seed) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed)]), format: 'der', type: 'pkcs8' });
const keys = [keyOf(owner.secretKey), keyOf(peer.secretKey)];

function receipt(seq) {
  const body = {
    version: 1, sessionId: new Uint8Array(16).fill(seq & 0xff), startedAt: 1764000000000 + seq, endedAt: 1764000000001 + seq,
    parties: [{ role: 'requester', publicKey: owner.publicKey }, { role: 'responder', publicKey: peer.publicKey }],
    protocol: 'ecdh-psi', options: {}, purpose: tag + '-' + seq, inputSizes: { requester: seq }, outputSizes: {},
    bytesExchanged: seq, computeMs: 1, guardrails: [], outcome: 'completed',
  };
  const msg = Buffer.concat([RECEIPT_SIGNATURE_CONTEXT, encodeReceiptBody(body)]);
  return { body, signatures: [owner, peer].map((p, i) => ({ publicKey: p.publicKey, signature: new Uint8Array(sign(null, msg, keys[i])) })) };
}

const ledger = await openLedger(dir, { owner });
say('ready');
let seq = 0;
let done = 0;
const inFlight = 6; // keep several appends outstanding so that group commits batch them
async function worker() {
  while (limit === 0 || seq < limit) {
    const mine = seq++;
    const { index } = await ledger.append(receipt(mine));
    say('ack ' + index + ' ' + tag + '-' + mine);
    done++;
  }
}
await Promise.all(Array.from({ length: inFlight }, worker));
await ledger.close();
say('done ' + done);
`;

let work: string;
let childJs: string;
const owner = generateIdentity();
const peer = generateIdentity();

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dp-ledger-crash-'));
  childJs = join(work, 'child.mjs');
  buildSync({
    stdin: { contents: CHILD, resolveDir: import.meta.dirname, loader: 'ts', sourcefile: 'ledger-child.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: childJs,
    logLevel: 'error',
  });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Child {
  acked: Set<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
  onLine(fn: (line: string) => void): void;
}

function startChild(dir: string, tag: string, count: number): Child {
  const proc = spawn(process.execPath, [childJs, dir, toHex(owner.secretKey), toHex(peer.secretKey), tag, String(count)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acked = new Set<string>();
  const listeners: ((line: string) => void)[] = [];
  let buf = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('ack ')) acked.add(line.split(' ')[2]!);
      for (const fn of listeners) fn(line);
    }
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c: string) => (stderr += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      if (code !== 0 && signal === null) console.error(stderr);
      resolve({ code, signal });
    }),
  );
  return { acked, exited, kill: () => proc.kill('SIGKILL'), onLine: (fn) => listeners.push(fn) };
}

async function purposes(dir: string): Promise<Set<string>> {
  const l = await openLedger(dir, { owner });
  const all = (await l.readReceipts()).map((r) => r.body.purpose);
  await l.close();
  expect(new Set(all).size).toBe(all.length);
  return new Set(all);
}

describe('crash safety', () => {
  it('survives 20 SIGKILLs at random points without losing an acknowledged entry', async () => {
    const dir = join(work, 'crash');
    const allAcked = new Set<string>();
    let staleLocks = 0;
    let tornTails = 0;
    for (let round = 0; round < 20; round++) {
      const child = startChild(dir, `r${round}`, 0);
      if (round % 2 === 0) {
        // Kill after a random number of acknowledgements (0: as soon as the ledger is open)…
        const killAfter = Math.floor(Math.random() * 60);
        child.onLine((line) => {
          if (line === 'ready' && killAfter === 0) child.kill();
          if (line.startsWith('ack ') && child.acked.size >= killAfter) child.kill();
        });
      } else {
        // …or at a random moment after it opened. Fault injection, not a race to win: every
        // outcome is acceptable as long as no acknowledged entry is lost.
        child.onLine((line) => {
          if (line === 'ready') setTimeout(() => child.kill(), Math.random() * 80);
        });
      }
      const { signal } = await child.exited;
      expect(signal, `round ${round}`).toBe('SIGKILL');
      for (const a of child.acked) allAcked.add(a);
      if (existsSync(join(dir, 'ledger.lock'))) staleLocks++;

      const v = await verifyLedgerDir(dir, { publicKey: owner.publicKey });
      expect(v.problem, `round ${round}`).toBeUndefined();
      expect(v.ok).toBe(true);
      if (v.tornTailBytes > 0) tornTails++;
      const present = await purposes(dir);
      for (const a of allAcked) expect(present.has(a), `round ${round}: acknowledged ${a} lost`).toBe(true);
      // Reopening cut any torn tail and rewrote the checkpoint: the ledger is clean again.
      const after = await verifyLedgerDir(dir, { publicKey: owner.publicKey });
      expect([after.ok, after.tornTailBytes, after.checkpointSize]).toEqual([true, 0, after.size]);
    }
    expect(allAcked.size).toBeGreaterThan(0);
    // Reopening removed the temporary files the killed children left behind.
    expect(readdirSync(dir).sort()).toEqual(['checkpoint', 'ledger.log']);
    // How often the kill landed inside a commit (informational: the kill points are random).
    console.log(`crash test: ${allAcked.size} acknowledged, ${staleLocks} stale locks, ${tornTails} torn tails`);
  }, 600_000);
});

describe('multi-process appends', () => {
  it('two processes appending to one ledger at once leave a valid ledger holding both sets', async () => {
    const dir = join(work, 'concurrent');
    const n = 60;
    const a = startChild(dir, 'A', n);
    const b = startChild(dir, 'B', n);
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect([ea.code, eb.code]).toEqual([0, 0]);
    expect(a.acked.size + b.acked.size).toBe(2 * n);
    const v = await verifyLedgerDir(dir, { publicKey: owner.publicKey });
    expect(v.ok).toBe(true);
    expect(v.size).toBe(2 * n);
    const present = await purposes(dir);
    for (let i = 0; i < n; i++) {
      expect(present.has(`A-${i}`)).toBe(true);
      expect(present.has(`B-${i}`)).toBe(true);
    }
  }, 300_000);
});
