// Issue 12, item 5 (third part): a party could withhold a co-signed receipt from its own ledger —
// rebuild the ledger without it and sign everything again — and nothing compared its ledger with
// the counterparty's, which holds the same receipt. `ledger cross-check --ledger DIR --peer-export
// FILE` now reports every co-signed receipt of a run between the two that one holds and the other
// lacks (or holds differently), and exits 3 when there is any.
//
// On the code before the fix `ledger cross-check` did not exist (exit 1, unknown subcommand), so
// both the "agree: exit 0" and the "withheld: exit 3, reported" expectations fail.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, lastJson, runCli } from '../cli-helpers.js';
import { crossCheckLedgers, parseLedgerExport } from '../../src/ledger/index.js';
import { readLedgerSnapshot } from '../../src/ledger/node.js';
import { formatPublicKeyFile } from '../../src/session/identity.js';
import { toBase64 } from '../../src/utils/bytes.js';
import { psiRuns, rewriteLedger, twoParties, type Party } from '../ledger-fixtures.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});
beforeAll(assertBuilt);

async function exportOf(party: Party, file: string): Promise<string> {
  const r = await runCli(['ledger', 'export', '--ledger', party.dir]);
  expect(r.code).toBe(0);
  writeFileSync(file, r.stdout);
  return file;
}

async function fourRuns() {
  const p = await twoParties('dataport-cross-check-');
  cleanup = p.cleanup;
  await psiRuns(p.pharma, p.hospital, 4);
  const root = join(p.hospital.dir, '..');
  return { ...p, root };
}

describe('ledger cross-check', () => {
  it('two intact ledgers agree: exit 0 both ways, every co-signed receipt matched', async () => {
    const { pharma, hospital, root } = await fourRuns();
    const fromPharma = await exportOf(pharma, join(root, 'pharma.json'));
    const fromHospital = await exportOf(hospital, join(root, 'hospital.json'));
    writeFileSync(join(root, 'pharma.pub'), formatPublicKeyFile(pharma.identity.publicKey));
    const a = await runCli(['ledger', 'cross-check', '--ledger', hospital.dir, '--peer-export', fromPharma, '--peer-key', join(root, 'pharma.pub')]);
    expect(a.code).toBe(0);
    expect(a.stderr).toBe('');
    expect(a.stdout).toMatch(/identical in both {2}4\n/);
    expect(a.stdout).toMatch(/ledgers agree\n$/);
    const b = await runCli(['ledger', 'cross-check', '--ledger', pharma.dir, '--peer-export', fromHospital, '--json']);
    expect(b.code).toBe(0);
    expect(b.stdout.trimEnd().split('\n')).toHaveLength(1); // --json: stdout holds only the JSON line
    expect(lastJson(b.stdout)).toMatchObject({ ok: true, peerKeyPinned: false, matched: 4, missingAtPeer: [], missingHere: [], different: [] });
    expect(b.stderr).toMatch(/warning: the peer's key was read from \S+; pass --peer-key to pin it/);
    // Pinned to another key, the export is refused.
    const wrong = await runCli(['ledger', 'cross-check', '--ledger', pharma.dir, '--peer-export', fromHospital, '--peer-key', join(root, 'pharma.pub')]);
    expect(wrong.code).toBe(1);
    expectOneLineError(wrong.stderr, /not a ledger export: it is the ledger of another key than the given peer key/);
  });

  it('a receipt withheld by one party is reported on both sides (exit 3), though its own ledger verifies', async () => {
    const { pharma, hospital, root } = await fourRuns();
    const withheld = (await readLedgerSnapshot(pharma.dir)).receipts()[1]!;
    await rewriteLedger(pharma, (i) => i !== 1);
    expect((await runCli(['ledger', 'verify', '--ledger', pharma.dir])).code).toBe(0);
    const session = toBase64(withheld.body.sessionId);

    const fromPharma = await exportOf(pharma, join(root, 'pharma.json'));
    const h = await runCli(['ledger', 'cross-check', '--ledger', hospital.dir, '--peer-export', fromPharma, '--json']);
    expect(h.code).toBe(3);
    const hj = lastJson(h.stdout);
    expect(hj).toMatchObject({ ok: false, matched: 3, missingHere: [], different: [] });
    expect(hj.missingAtPeer).toEqual([expect.objectContaining({ index: 1, peerIndex: null, sessionId: session, protocol: 'ecdh-psi' })]);
    expect(h.stderr).toMatch(/I hold, the peer lacks: 1\n {4}my entry 1: session \S+ ecdh-psi completed/);
    expect(h.stderr).toMatch(/ledgers DISAGREE: 1 missing at the peer, 0 missing here, 0 different/);

    const fromHospital = await exportOf(hospital, join(root, 'hospital.json'));
    const p = await runCli(['ledger', 'cross-check', '--ledger', pharma.dir, '--peer-export', fromHospital]);
    expect(p.code).toBe(3);
    expect(p.stdout).toContain(`the peer holds, I lack: 1\n    peer entry 1: session ${session} ecdh-psi`);

    // The same through the SDK.
    const r = crossCheckLedgers(await readLedgerSnapshot(hospital.dir), parseLedgerExport(JSON.parse(readFileSync(fromPharma, 'utf8'))));
    expect([r.agree, r.matched, r.missingAtPeer.map((i) => i.index)]).toEqual([false, 3, [1]]);
  });

  it('refuses a peer export that is not well-formed or does not verify, in one line', async () => {
    const { pharma, hospital, root } = await fourRuns();
    const file = await exportOf(pharma, join(root, 'pharma.json'));
    const good = JSON.parse(readFileSync(file, 'utf8'));
    const variants: [string, (e: any) => unknown, RegExp][] = [
      ['a leaf byte changed', (e) => { const b = Buffer.from(e.entries[2].leaf, 'base64'); b[b.length - 1]! ^= 1; e.entries[2].leaf = b.toString('base64'); }, /not a ledger export: entry 2: /],
      ['an entry dropped', (e) => { e.entries.splice(1, 1); e.size = 3; e.entries.forEach((x: any, i: number) => (x.index = i)); }, /not a ledger export: root does not match its entries/],
      ['a wrong owner key', (e) => { e.ownerPublicKey = toBase64(new Uint8Array(32).fill(7)); }, /not a ledger export: /],
      ['no entries array', (e) => { delete e.entries; }, /not a ledger export: entries must be an array/],
    ];
    for (const [what, mutate, message] of variants) {
      const e = structuredClone(good);
      mutate(e);
      writeFileSync(file, JSON.stringify(e));
      const r = await runCli(['ledger', 'cross-check', '--ledger', hospital.dir, '--peer-export', file]);
      expect(r.code, what).toBe(1);
      expectOneLineError(r.stderr, new RegExp(`peer export \\S+pharma\\.json: ${message.source}`));
    }
    writeFileSync(file, '{"origin": ');
    expectOneLineError((await runCli(['ledger', 'cross-check', '--ledger', hospital.dir, '--peer-export', file])).stderr, /peer export \S+: not JSON/);
    // My own export is not a peer's.
    const mine = await exportOf(hospital, join(root, 'mine.json'));
    expectOneLineError((await runCli(['ledger', 'cross-check', '--ledger', hospital.dir, '--peer-export', mine])).stderr, /this ledger's own owner/);
  });
});
