// Issue 12, item 5 (first part): the ledger could be shortened without a word. Deleting the
// `checkpoint` file — or the last entry together with it — left a ledger that `ledger verify` called
// intact (exit 0), and `openLedger` accepted new appends on top, re-sealing over the cut. The
// checkpoint is what records how many entries there were: now a missing one fails verification
// (unless --allow-missing-checkpoint) and a ledger opened for appending without it is refused.
//
// On the code before the fix every `verify` below exits 0 / returns ok, and `openLedger` succeeds.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, lastJson, runCli } from '../cli-helpers.js';
import { LedgerIntegrityError } from '../../src/errors.js';
import { LEDGER_FILES, openLedger, readLedgerSnapshot, verifyLedgerDir } from '../../src/ledger/node.js';
import { cutLastEntries, psiRuns, twoParties } from '../ledger-fixtures.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});
beforeAll(assertBuilt);

async function ledgerWithRuns(runs: number) {
  const p = await twoParties('dataport-cp-deleted-');
  cleanup = p.cleanup;
  await psiRuns(p.pharma, p.hospital, runs);
  return p.pharma;
}

describe('a deleted checkpoint', () => {
  it('fails ledger verify (SDK and CLI, one line naming what is missing) unless explicitly allowed', async () => {
    const pharma = await ledgerWithRuns(3);
    rmSync(join(pharma.dir, LEDGER_FILES.checkpoint));

    const v = await verifyLedgerDir(pharma.dir);
    expect(v.ok).toBe(false);
    expect(v.problem?.message).toMatch(/^checkpoint is missing: the log holds 3 entries/);
    await expect(readLedgerSnapshot(pharma.dir)).rejects.toThrow(/checkpoint is missing/);

    const r = await runCli(['ledger', 'verify', '--ledger', pharma.dir]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /NOT intact: checkpoint is missing: the log holds 3 entries/);
    // The other read-only commands refuse to answer from it too.
    expect((await runCli(['ledger', 'report', '--ledger', pharma.dir])).code).toBe(1);

    const allowed = await runCli(['ledger', 'verify', '--ledger', pharma.dir, '--allow-missing-checkpoint', '--json']);
    expect(allowed.code).toBe(0);
    expect(lastJson(allowed.stdout)).toMatchObject({ ok: true, size: 3, checkpointSize: null });
    expect(allowed.stderr).toMatch(/checkpoint {2}none stored \(accepted: --allow-missing-checkpoint\)/);
  });

  it('together with the last entry: verify fails, and no append is accepted on top', async () => {
    const pharma = await ledgerWithRuns(3);
    cutLastEntries(pharma.dir, 1);
    rmSync(join(pharma.dir, LEDGER_FILES.checkpoint));
    const logBefore = readFileSync(join(pharma.dir, LEDGER_FILES.log));

    expect((await verifyLedgerDir(pharma.dir)).ok).toBe(false);
    const r = await runCli(['ledger', 'verify', '--ledger', pharma.dir]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, /NOT intact: checkpoint is missing: the log holds 2 entries/);

    const opened = openLedger(pharma.dir, { owner: pharma.identity });
    await expect(opened).rejects.toBeInstanceOf(LedgerIntegrityError);
    await expect(opened).rejects.toThrow(/checkpoint is missing \(the log holds 2 entries\)/);
    // Nothing was re-sealed over the cut: the log is untouched and no checkpoint was written.
    expect(readFileSync(join(pharma.dir, LEDGER_FILES.log)).equals(logBefore)).toBe(true);
    expect(existsSync(join(pharma.dir, LEDGER_FILES.checkpoint))).toBe(false);
  });

  it('cutting every entry and the checkpoint is refused as well', async () => {
    const pharma = await ledgerWithRuns(2);
    cutLastEntries(pharma.dir, 2);
    rmSync(join(pharma.dir, LEDGER_FILES.checkpoint));
    expect((await verifyLedgerDir(pharma.dir)).problem?.message).toMatch(/checkpoint is missing: the log holds 0 entries/);
    await expect(openLedger(pharma.dir, { owner: pharma.identity })).rejects.toThrow(/checkpoint is missing/);
  });

  it('a removed log whose checkpoint covers entries is not silently started afresh', async () => {
    const pharma = await ledgerWithRuns(2);
    rmSync(join(pharma.dir, LEDGER_FILES.log));
    await expect(openLedger(pharma.dir, { owner: pharma.identity })).rejects.toThrow(/ledger\.log is missing but .*checkpoint covers 2 entries/);
    expect(existsSync(join(pharma.dir, LEDGER_FILES.log))).toBe(false);
  });

  it('an empty new ledger still works; a restore is explicit (allowMissingCheckpoint / ledger checkpoint --out)', async () => {
    const pharma = await ledgerWithRuns(2);
    // New ledgers: created with their (empty) checkpoint, verify intact with 0 entries.
    const fresh = join(pharma.dir, '..', 'fresh');
    await (await openLedger(fresh, { owner: pharma.identity })).close();
    const empty = await runCli(['ledger', 'verify', '--ledger', fresh, '--json']);
    expect(empty.code).toBe(0);
    expect(lastJson(empty.stdout)).toMatchObject({ ok: true, size: 0, checkpointSize: 0 });

    // A ledger moved without its checkpoint: the owner restores it on purpose.
    const cpPath = join(pharma.dir, LEDGER_FILES.checkpoint);
    const original = readFileSync(cpPath, 'utf8');
    rmSync(cpPath);
    const restore = await runCli(['ledger', 'checkpoint', '--ledger', pharma.dir, '--allow-missing-checkpoint', '--out', cpPath]);
    expect(restore.code).toBe(0);
    expect(readFileSync(cpPath, 'utf8')).toBe(original);
    expect((await runCli(['ledger', 'verify', '--ledger', pharma.dir])).code).toBe(0);

    rmSync(cpPath);
    const l = await openLedger(pharma.dir, { owner: pharma.identity, allowMissingCheckpoint: true });
    expect(l.size).toBe(2);
    await l.close();
    expect(readFileSync(cpPath, 'utf8')).toBe(original);
  });
});
