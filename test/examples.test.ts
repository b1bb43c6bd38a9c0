/**
 * The SDK examples run as a user runs them (`node examples/…` against the built dist/) and check
 * their own results against the plain computation; this keeps them true.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');

describe('SDK examples', () => {
  it('examples/sdk.mjs: PSI and psi-sum of the scenario, co-signed receipt', async () => {
    const { stdout } = await run(process.execPath, ['examples/sdk.mjs'], { cwd: root, timeout: 120_000 });
    expect(stdout).toContain('receipt co-signed by both, outcome completed');
    expect(stdout).toContain("cost_yuan: '1590.75'");
  }, 150_000);

  it('examples/aggregate-sdk.mjs: three hospitals, per-ward totals equal the plain sums, receipts', async () => {
    const { stdout } = await run(process.execPath, ['examples/aggregate-sdk.mjs'], { cwd: root, timeout: 240_000 });
    // The example itself throws when a ward's total differs from the plain sum or a receipt is missing.
    expect(stdout).toContain('completed, 3 of 3 hospitals contributed');
    expect(stdout).toContain('every participant holds the same co-signed receipt as the operator');
  }, 300_000);

  it('examples/demo.mjs (npm run demo): every step matches the ground truth, ledgers intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dataport-demo-test-'));
    try {
      // The demo throws (exit 1) when a result differs from the generator's ground truth.
      const { stdout } = await run(process.execPath, ['examples/demo.mjs'], { cwd: root, timeout: 240_000, env: { ...process.env, DATAPORT_DEMO_DIR: dir } });
      expect(stdout).toContain('ground truth:     600 common patients');
      // Step 4 reads the hospital's admissions from PostgreSQL, or says why not and uses the CSV.
      // Where Debian's postgresql is installed (as on CI), the PostgreSQL path must be the one taken.
      expect(stdout).toMatch(existsSync('/usr/lib/postgresql') ? /hospital read \d+ admission rows from PostgreSQL in a read-only transaction/ : /the hospital reads hospital\.csv instead/);
      expect(stdout.match(/→ intact: 2 entries/g)).toHaveLength(2);
      expect(stdout).toContain('operator dataport ledger verify → intact: 4 co-signed aggregation receipts');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
