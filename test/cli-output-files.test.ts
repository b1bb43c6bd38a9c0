/**
 * Atomic output files of the CLI (src/cli/files.ts): a writer killed mid-write leaves its
 * `.NAME.PID.RANDOM.tmp` behind; the next run writing the same target removes those whose process
 * is gone, and leaves a live writer's alone (issue 12 §4).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openAtomicOutput } from '../src/cli/files.js';

const dir = mkdtempSync(join(tmpdir(), 'dataport-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openAtomicOutput', () => {
  it('removes temporary files of dead writers of the same target, keeps live ones and other targets', async () => {
    const target = join(dir, 'matches.csv');
    // A pid that has certainly exited: a child we waited for.
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid!;
    const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      const stale = join(dir, `.matches.csv.${deadPid}.0a1b2c3d.tmp`);
      const running = join(dir, `.matches.csv.${live.pid}.0a1b2c3d.tmp`);
      const other = join(dir, `.other.csv.${deadPid}.0a1b2c3d.tmp`);
      for (const f of [stale, running, other]) writeFileSync(f, '');

      const out = await openAtomicOutput(target);
      await out.write(new TextEncoder().encode('id\n1\n'));
      await out.commit();

      expect(readFileSync(target, 'utf8')).toBe('id\n1\n');
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(running)).toBe(true);
      expect(existsSync(other)).toBe(true);
      // Our own temporary file was renamed into place, none of ours is left.
      expect(readdirSync(dir).filter((n) => n.includes(`.${process.pid}.`))).toEqual([]);
    } finally {
      live.kill('SIGKILL');
    }
  });
});
