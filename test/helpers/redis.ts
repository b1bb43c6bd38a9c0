/**
 * A throw-away Redis for tests: Debian's `redis-server` on a free 127.0.0.1 port, in a temporary
 * directory, with append-only persistence (so a restart keeps the queue, as in production).
 * `startRedis()` returns `undefined` — after a loud warning naming the package — when the binary
 * is missing; the caller skips its tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CANDIDATES = ['/usr/bin/redis-server', '/usr/local/bin/redis-server', '/usr/sbin/redis-server'];

/** The redis-server binary, or undefined. */
export function redisServerBinary(): string | undefined {
  return CANDIDATES.find((p) => existsSync(p));
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket: true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      c.destroy();
      resolve(ok);
    };
    c.setTimeout(2000, () => done(false));
    c.once('error', () => done(false));
    c.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    c.once('connect', () => c.write('PING\r\n'));
  });
}

export interface TestRedis {
  port: number;
  url: string;
  dir: string;
  /** Stops the server (SIGKILL: no final save; the append-only file is what survives). */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory; resolves once PING answers. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

async function waitUntilUp(port: number, child: ChildProcess, log: () => string): Promise<void> {
  // Polls a condition (PING answered), not a fixed sleep; gives up if the server exits.
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited: ${log()}`);
    if (await ping(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a private redis-server, or returns undefined (with a warning) when it is not installed.
 * @example
 * ```ts
 * const redis = await startRedis('job-queue'); if (!redis) return;
 * ```
 */
export async function startRedis(testName: string): Promise<TestRedis | undefined> {
  const bin = redisServerBinary();
  if (!bin) {
    console.warn(`${testName}: SKIPPED — redis-server is not installed (Debian package 'redis-server'; npm test's scripts/test-setup.mjs installs it)`);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'dataport-redis-'));
  const port = await freePort();
  let child: ChildProcess;
  let log = '';
  const launch = async () => {
    log = '';
    child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'yes'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitUntilUp(port, child, () => log);
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    dir,
    kill,
    restart: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
