/**
 * Issue 12 item 6: psi's listener waited forever without --timeout while psi-sum's gave up after
 * 600 s. One rule now: every listener's --timeout defaults to DEFAULT_LISTEN_TIMEOUT_MS, limits
 * each session, and bounds a one-shot listener's wait for an authenticated partner.
 */
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_LISTEN_TIMEOUT_MS } from '../src/cli/listen-loop.js';
import { DEFAULT_TIMEOUT_MS, parsePsiOptions } from '../src/cli/psi-options.js';
import { assertBuilt, runCli } from './cli-helpers.js';

vi.setConfig({ testTimeout: 60_000 });

describe('one listener timeout rule', () => {
  it('psi takes its default from the one listener default', () => {
    expect(DEFAULT_TIMEOUT_MS).toBe(DEFAULT_LISTEN_TIMEOUT_MS);
    const opts = parsePsiOptions(['--listen', '127.0.0.1:0', '--input', 'x.csv', '--key', 'id', '--identity', 'd', '--allow-any-peer'])!;
    expect(opts.timeoutMs).toBe(DEFAULT_LISTEN_TIMEOUT_MS);
    // No separate "was --timeout given" switch any more: a one-shot listener always waits at most timeoutMs.
    expect(opts).not.toHaveProperty('timeoutGiven');
  });

  it('the --help of psi, psi-sum and aggregate state the same default', async () => {
    assertBuilt();
    const s = DEFAULT_LISTEN_TIMEOUT_MS / 1000;
    for (const args of [['psi', '--help'], ['psi-sum', '--help'], ['aggregate', 'serve', '--help']]) {
      const r = await runCli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`--timeout[^\\n]*(\\n[^\\n]*)?\\(default ${s}\\)`));
    }
  });
});
