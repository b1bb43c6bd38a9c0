/**
 * Issue 12 §4: psi-sum value errors name the file and the line, like CSV errors
 * (`FILE: line N: column C: …`), found before any connection (nothing listens on the port).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, killAll, runCli, tempDir } from './cli-helpers.js';

const W = { watchdogMs: 60_000 };
const tmp = tempDir('dp-psi-sum-values-');
const p = (...names: string[]) => join(tmp.dir, ...names);

beforeAll(async () => {
  assertBuilt();
  for (const who of ['a', 'b']) expect((await runCli(['keygen', '--out', p(who)])).code).toBe(0);
});
afterEach(killAll);
afterAll(() => tmp.cleanup());

const run = (file: string, extra: string[] = []) =>
  runCli(['psi-sum', '--connect', 'ws://127.0.0.1:9', '--identity', p('a'), '--peer-key', p('b', 'identity.pub'),
    '--input', p(file), '--key', 'id', '--values', 'cost', ...extra], W);

describe('psi-sum value errors name FILE: line N: column C', () => {
  it('a malformed value: the file line counts the header, a row without a key and a quoted field spanning lines', async () => {
    writeFileSync(p('bad.csv'), 'id,cost,note\nk1,1.5,x\n,9,no key\nk2,2,"two\nlines"\nk3,12.345,y\n');
    const r = await run('bad.csv', ['--decimals', 'cost=2']);
    expect(r.code).not.toBe(0);
    expectOneLineError(r.stderr, new RegExp(`^dataport: ${p('bad.csv').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 6: column cost: '12\\.345': .*decimal places`));
  });

  it('an empty value and a value beyond --bound', async () => {
    writeFileSync(p('empty.csv'), 'id,cost\nk1,1\nk2,\n');
    expectOneLineError((await run('empty.csv')).stderr, /empty\.csv: line 3: column cost: empty value$/);
    writeFileSync(p('big.csv'), 'id,cost\nk1,1\nk2,2\nk3,500\n');
    expectOneLineError((await run('big.csv', ['--bound', 'cost=100'])).stderr, /big\.csv: line 4: column cost: value exceeds the declared bound 100; refused before encryption$/);
  });
});
