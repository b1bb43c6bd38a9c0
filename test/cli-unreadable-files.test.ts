/**
 * Unreadable files (issue 12 §4): an identity, peer key, public key or input file that exists but
 * cannot be read gives one line naming the file and the reason — never `internal error: EACCES …`.
 *
 * Permission bits do not stop root, so as root the CLI runs as `nobody` (runuser) on files owned by
 * root with mode 0600 in a folder nobody may enter and list; where that cannot be arranged (no
 * runuser, or `nobody` cannot read the built CLI) the tests skip and say why.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, assertBuilt } from './cli-helpers.js';

assertBuilt();
const isRoot = process.getuid?.() === 0;
const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => spawnSync('test', ['-x', p]).status === 0);

/** The command prefix that runs the CLI without the power to ignore permission bits, or why not. */
function unprivileged(): { prefix: string[] } | { why: string } {
  if (process.platform === 'win32') return { why: 'POSIX permissions only' };
  if (!isRoot) return { prefix: [process.execPath] };
  if (runuser === undefined) return { why: 'running as root without runuser' };
  const probe = spawnSync(runuser, ['-u', 'nobody', '--', process.execPath, CLI, '--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return { why: `user nobody cannot run ${CLI} (${(probe.stderr || '').trim().split('\n')[0]})` };
  return { prefix: [runuser, '-u', 'nobody', '--', process.execPath] };
}

const how = unprivileged();
if ('why' in how) console.warn(`cli-unreadable-files: SKIPPED — ${how.why}`);

const dir = mkdtempSync(join(tmpdir(), 'dataport-unreadable-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function dataport(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const p = how as { prefix: string[] };
  const r = spawnSync(p.prefix[0]!, [...p.prefix.slice(1), CLI, ...args], { encoding: 'utf8', cwd: dir, env: { ...process.env, DATAPORT_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A file the unprivileged CLI can see (stat works) but not read. */
function unreadable(name: string, content: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 });
  writeFileSync(path, content);
  chmodSync(path, isRoot ? 0o600 : 0o000);
  return path;
}

function expectOneLine(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  // Warnings (--allow-any-peer) are their own `dataport: warning:` lines; the error is one line.
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('dataport: warning: '));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).not.toMatch(/internal error/);
}

describe.skipIf('why' in how)('unreadable files give one line naming the file', () => {
  it('identity.key, --peer-key and a ledger --public-key', () => {
    execFileSync(process.execPath, [CLI, 'keygen', '--out', join(dir, 'me')]);
    execFileSync(process.execPath, [CLI, 'keygen', '--out', join(dir, 'peer')]);
    chmodSync(join(dir, 'me'), 0o755);
    chmodSync(join(dir, 'peer'), 0o755);
    chmodSync(join(dir, 'me', 'identity.key'), isRoot ? 0o600 : 0o000);
    const input = join(dir, 'in.csv');
    writeFileSync(input, 'id\n1\n2\n');
    chmodSync(input, 0o644);

    const id = dataport('psi', '--listen', '127.0.0.1:0', '--input', input, '--key', 'id', '--identity', join(dir, 'me'), '--allow-any-peer', '--timeout', '5');
    expectOneLine(id, /identity .*me\/identity\.key: cannot read \(permission denied \(EACCES\)\)/);

    const peer = unreadable('keys/peer.pub', '');
    const pk = dataport('ledger', 'verify', '--ledger', join(dir, 'no-ledger'), '--public-key', peer);
    expectOneLine(pk, /public key .*keys\/peer\.pub: cannot read \(permission denied \(EACCES\)\)/);
  });

  it('a CSV input file', () => {
    const input = unreadable('secret.csv', 'id\n1\n');
    execFileSync(process.execPath, [CLI, 'keygen', '--out', join(dir, 'csv-id'), '--force']);
    chmodSync(join(dir, 'csv-id'), 0o755);
    if (isRoot) execFileSync('chown', ['nobody', join(dir, 'csv-id', 'identity.key')]);
    const r = dataport('psi', '--listen', '127.0.0.1:0', '--input', input, '--key', 'id', '--identity', join(dir, 'csv-id'), '--allow-any-peer', '--timeout', '5');
    expectOneLine(r, /secret\.csv: cannot read input \(permission denied \(EACCES\)\)/);
  });
});
