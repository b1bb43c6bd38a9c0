// Issue 12, item 5 (second part): nothing proved that a ledger still held what it held before. Its
// owner (who holds the signing key) can cut entries off the end, or rebuild the ledger without some
// entries, and sign every seal and the checkpoint again: `ledger verify` calls the result intact,
// and nothing inside the ledger can tell. A checkpoint saved earlier by someone else — the witness —
// can: `ledger verify --witness FILE` checks the owner's signature on it and that the ledger extends
// it (same root at the witness's size, by a consistency proof), and names both sizes when it does not.
//
// On the code before the fix `--witness` and `ledger checkpoint` did not exist (exit 1: unknown
// option / subcommand), so every expectation on the witness's verdict below fails.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, lastJson, runCli } from '../cli-helpers.js';
import { LedgerIntegrityError } from '../../src/errors.js';
import { checkWitness } from '../../src/ledger/index.js';
import { LEDGER_FILES, openLedger, readLedgerSnapshot, verifyLedgerDir } from '../../src/ledger/node.js';
import { cutLastEntries, psiRuns, rewriteLedger, twoParties } from '../ledger-fixtures.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});
beforeAll(assertBuilt);

/** Four runs; the hospital keeps a witness of the pharma ledger (via `ledger checkpoint --out`). */
async function withWitness() {
  const p = await twoParties('dataport-witness-');
  cleanup = p.cleanup;
  await psiRuns(p.pharma, p.hospital, 4);
  const witness = join(p.hospital.dir, '..', 'pharma-witness.cp');
  const saved = await runCli(['ledger', 'checkpoint', '--ledger', p.pharma.dir, '--out', witness]);
  expect(saved.code).toBe(0);
  expect(readFileSync(witness, 'utf8')).toBe(readFileSync(join(p.pharma.dir, LEDGER_FILES.checkpoint), 'utf8'));
  return { ...p, witness };
}

describe('a witness checkpoint saved elsewhere', () => {
  it('catches the last entry cut off and the checkpoint signed again, naming both sizes', async () => {
    const { pharma, witness } = await withWitness();
    cutLastEntries(pharma.dir, 1);
    // The stored checkpoint (covering 4) gives the cut away: the owner deletes it and re-seals —
    // the checkpoint is derived from the last record's seal, no new signature is even needed.
    expect((await runCli(['ledger', 'verify', '--ledger', pharma.dir])).stderr).toMatch(/checkpoint covers 4 entries but the log holds 3/);
    rmSync(join(pharma.dir, LEDGER_FILES.checkpoint));
    const resealed = await runCli(['ledger', 'checkpoint', '--ledger', pharma.dir, '--allow-missing-checkpoint', '--out', join(pharma.dir, LEDGER_FILES.checkpoint)]);
    expect(resealed.code).toBe(0);
    // Alone, the ledger is consistent with itself: this is what only a witness can reveal.
    expect((await runCli(['ledger', 'verify', '--ledger', pharma.dir])).code).toBe(0);

    const r = await runCli(['ledger', 'verify', '--ledger', pharma.dir, '--witness', witness]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /NOT intact: witness \S+pharma-witness\.cp covers 4 entries but the ledger holds only 3/);
    const v = await verifyLedgerDir(pharma.dir, { witnesses: [{ name: 'w', text: readFileSync(witness, 'utf8') }] });
    expect(v.ok).toBe(false);
    expect(v.problem?.message).toMatch(/^witness w covers 4 entries but the ledger holds only 3/);
  });

  it('catches a rewrite by the owner (fresh ledger, same key and origin, an entry dropped, more appended)', async () => {
    const { pharma, hospital, witness } = await withWitness();
    await rewriteLedger(pharma, (i) => i !== 1);
    await psiRuns(pharma, hospital, 2); // 5 entries now: longer than the witness, but not an extension
    expect((await runCli(['ledger', 'verify', '--ledger', pharma.dir])).code).toBe(0);

    const r = await runCli(['ledger', 'verify', '--ledger', pharma.dir, '--witness', witness]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /witness \S+ \(size 4\) is not a prefix of the ledger \(size 5\)/);
    const snap = await readLedgerSnapshot(pharma.dir);
    expect(() => checkWitness(snap, { text: readFileSync(witness, 'utf8') })).toThrow(LedgerIntegrityError);
  });

  it('passes for a ledger that extends every witness given (CLI, SDK on a snapshot and on an open ledger)', async () => {
    const { pharma, hospital, witness } = await withWitness();
    const early = join(hospital.dir, '..', 'early.cp');
    await psiRuns(pharma, hospital, 1);
    writeFileSync(early, readFileSync(witness, 'utf8'));
    const later = join(hospital.dir, '..', 'later.cp');
    expect((await runCli(['ledger', 'checkpoint', '--ledger', pharma.dir, '--out', later])).code).toBe(0);
    await psiRuns(pharma, hospital, 1);

    const r = await runCli(['ledger', 'verify', '--ledger', pharma.dir, '--witness', early, '--witness', later, '--json']);
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ok: true, size: 6, witnesses: [{ file: early, size: 4 }, { file: later, size: 5 }] });
    expect(r.stderr).toMatch(/witness {5}\S+early\.cp: signed by the owner, covers 4 entries; the ledger extends it/);

    const text = readFileSync(later, 'utf8');
    expect(checkWitness(await readLedgerSnapshot(pharma.dir), { text }).size).toBe(5);
    const l = await openLedger(pharma.dir, { owner: pharma.identity });
    expect(checkWitness(l, { text }).size).toBe(5);
    await l.close();
  });

  it('must be signed by the ledger owner: another party’s checkpoint is refused in one line', async () => {
    const { pharma, hospital } = await withWitness();
    const other = join(hospital.dir, '..', 'hospital.cp');
    expect((await runCli(['ledger', 'checkpoint', '--ledger', hospital.dir, '--out', other])).code).toBe(0);
    const r = await runCli(['ledger', 'verify', '--ledger', pharma.dir, '--witness', other]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /witness \S+hospital\.cp: not a checkpoint of this ledger signed by its owner/);
    writeFileSync(other, 'not a checkpoint\n');
    expectOneLineError((await runCli(['ledger', 'verify', '--ledger', pharma.dir, '--witness', other])).stderr, /witness \S+: checkpoint: not a signed note/);
  });

  it('ledger checkpoint refuses to overwrite a file without --force', async () => {
    const { pharma, witness } = await withWitness();
    const r = await runCli(['ledger', 'checkpoint', '--ledger', pharma.dir, '--out', witness]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /already exists; refusing to overwrite it \(use --force/);
  });
});
