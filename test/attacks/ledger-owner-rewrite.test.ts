/**
 * Issue 16 finding 6 (a documentation overclaim): the ledger owner can drop or reorder entries and
 * re-seal. Per-record seals and the counterparty's receipt signatures stop a NON-owner from editing
 * a ledger, but the owner holds the sealing key: re-appending a chosen subset of its receipts, in a
 * chosen order, to a fresh ledger with the same key and origin gives files that verify on their
 * own. Only a checkpoint held outside the owner's control, checked with a consistency proof
 * (`dataport ledger consistency`, `verifyConsistencyProof`), detects the rewrite. SECURITY.md §1.5
 * and docs/ledger.md now say so; this test pins both halves of the statement.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLedger, readLedgerSnapshot, verifyLedgerDir } from '../../src/ledger/node.js';
import { parseCheckpoint, signReceiptBody, verifyCheckpoint, verifyConsistencyProof, type UsageReceipt } from '../../src/ledger/index.js';
import { generateIdentity } from '../../src/session/identity.js';
import { VerificationFailedError } from '../../src/errors.js';

const owner = generateIdentity();
const peer = generateIdentity();
const ORIGIN = 'example.org/pharma-ledger';
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'dp-owner-rewrite-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A receipt co-signed by the owner and its counterparty (run n). */
function receipt(n: number): UsageReceipt {
  const body = {
    version: 1 as const,
    sessionId: new Uint8Array(16).map((_, i) => (n * 37 + i) & 0xff),
    startedAt: 1_764_000_000_000 + n * 1000,
    endedAt: 1_764_000_000_500 + n * 1000,
    parties: [owner, peer].map((p, i) => ({ role: i === 0 ? 'requester' : 'responder', publicKey: p.publicKey })),
    protocol: 'ecdh-psi',
    options: { reveal: 'both' },
    purpose: `run ${n}`,
    inputSizes: { requester: 100 + n, responder: 200 },
    outputSizes: { requester: 10 },
    bytesExchanged: 1000 * n,
    computeMs: n,
    guardrails: [],
    outcome: 'completed' as const,
  };
  return { body, signatures: [owner, peer].map((p) => ({ publicKey: p.publicKey, signature: signReceiptBody(p.secretKey, body) })) };
}

async function ledgerOf(receipts: UsageReceipt[]): Promise<string> {
  const dir = tmp();
  const l = await openLedger(dir, { owner, origin: ORIGIN });
  for (const r of receipts) await l.append(r); // one by one: the order is the owner's choice
  await l.close();
  return dir;
}

describe('finding 6: the ledger owner can rewrite its ledger', () => {
  it('dropping and reordering entries re-seals into a ledger that verifies on its own; a checkpoint saved before exposes it', async () => {
    const all = Array.from({ length: 7 }, (_, i) => receipt(i));
    // The honest history: five runs, then a checkpoint handed to an auditor (or the counterparty).
    const honestDir = await ledgerOf(all.slice(0, 5));
    const saved = (await readLedgerSnapshot(honestDir, { publicKey: owner.publicKey })).checkpoint;
    const savedCp = verifyCheckpoint(saved, owner.publicKey, { origin: ORIGIN });
    expect(savedCp.size).toBe(5);

    // The owner rewrites: run 3 dropped, runs 1 and 2 swapped, then later runs appended as usual.
    const rewritten = [all[0]!, all[2]!, all[1]!, all[4]!, all[5]!, all[6]!];
    const dir = await ledgerOf(rewritten);

    // On its own the rewritten ledger is intact: every receipt is co-signed, every seal is the owner's.
    const result = await verifyLedgerDir(dir, { publicKey: owner.publicKey });
    expect(result.ok).toBe(true);
    const snap = await readLedgerSnapshot(dir, { publicKey: owner.publicKey });
    expect(parseCheckpoint(snap.checkpoint).origin).toBe(ORIGIN);
    expect(snap.size).toBe(6);

    // Against the checkpoint saved before, the consistency proof the ledger produces does not verify.
    const proof = snap.consistencyProof(savedCp.size, snap.size);
    expect(() => verifyConsistencyProof(savedCp.size, snap.size, proof, savedCp.root, snap.root())).toThrow(VerificationFailedError);
    // … while the honest continuation of the same history passes the same check.
    const honestLater = await ledgerOf(all.slice(0, 6));
    const h = await readLedgerSnapshot(honestLater, { publicKey: owner.publicKey });
    expect(() => verifyConsistencyProof(savedCp.size, h.size, h.consistencyProof(savedCp.size, h.size), savedCp.root, h.root())).not.toThrow();
    expect(h.root(5)).toEqual(savedCp.root);
  });
});
