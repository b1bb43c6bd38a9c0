/**
 * A throw-away PostgreSQL server for tests: Debian's `postgresql` binaries, a cluster in a
 * temporary directory, listening on a free 127.0.0.1 port, with a password user `dataport` owning a
 * database `dataport`. Start it once per test FILE (beforeAll) and stop it in afterAll. Readiness is
 * polled through a real connection, never waited for with a fixed sleep. Without the binaries it
 * returns `undefined` after a loud warning naming the package, and the caller skips.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

export interface PostgresServer {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** `postgres://dataport@127.0.0.1:PORT/dataport` (no password: give it through PGPASSWORD). */
  url: string;
  /** Runs SQL as the `dataport` user (autocommit). */
  query(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  stop(): Promise<void>;
}

/** The directory of the newest installed PostgreSQL's binaries, or undefined. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(root, versions[0]!, 'bin') : undefined;
}

const isRoot = process.getuid?.() === 0;
/** As root, PostgreSQL refuses to run: its commands run as the `postgres` user. */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

async function waitReady(child: ChildProcess, config: pg.ClientConfig, log: () => string): Promise<void> {
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited (${code ?? signal})`));
  for (;;) {
    if (exited !== undefined) throw new Error(`postgres ${exited}: ${log()}`);
    const c = new pg.Client(config);
    c.on('error', () => {});
    try {
      await c.connect();
      await c.end();
      return;
    } catch {
      await c.end().catch(() => {});
      // Polling a real connection; the pause only spaces the attempts out.
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Starts a PostgreSQL server (see the module comment); `undefined` when PostgreSQL is not installed.
 * @example
 * ```ts
 * let server: PostgresServer | undefined;
 * beforeAll(async () => { server = await startPostgres(); });
 * afterAll(async () => { await server?.stop(); });
 * ```
 */
export async function startPostgres(): Promise<PostgresServer | undefined> {
  const bin = postgresBinDir();
  if (bin === undefined) {
    console.warn('\n*** SKIPPING PostgreSQL tests: no /usr/lib/postgresql/*/bin/postgres (apt-get install postgresql) ***\n');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'dataport-pg-'));
  if (isRoot) chownSync(dir, Number(spawnSync('id', ['-u', 'postgres']).stdout.toString().trim()), Number(spawnSync('id', ['-g', 'postgres']).stdout.toString().trim()));
  const superPassword = randomBytes(12).toString('hex');
  const password = `pw-${randomBytes(12).toString('hex')}`;
  writeFileSync(join(dir, 'pw'), `${superPassword}\n`);
  if (isRoot) spawnSync('chown', ['postgres', join(dir, 'pw')]);
  const [icmd, iargs] = asServerUser(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'scram-sha-256', `--pwfile=${join(dir, 'pw')}`, '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8']);
  const init = spawnSync(icmd, iargs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  let child: ChildProcess | undefined;
  let port = 0;
  let output = '';
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const [cmd, args] = asServerUser(join(bin, 'postgres'), ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=30', '-c', 'shared_buffers=16MB']);
    output = '';
    child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    try {
      await waitReady(child, { host: '127.0.0.1', port, user: 'postgres', password: superPassword, database: 'postgres' }, () => output);
      break;
    } catch (err) {
      if (attempt >= 3 || !/could not bind|already in use/i.test(output)) throw err;
    }
  }
  const admin = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: superPassword, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE USER dataport PASSWORD '${password}'`);
  await admin.query('CREATE DATABASE dataport OWNER dataport');
  await admin.end();
  const config = { host: '127.0.0.1', port, user: 'dataport', password, database: 'dataport' };
  const server = child!;
  return {
    host: '127.0.0.1',
    port,
    user: 'dataport',
    password,
    database: 'dataport',
    url: `postgres://dataport@127.0.0.1:${port}/dataport`,
    async query(sql, params) {
      const c = new pg.Client(config);
      await c.connect();
      try {
        return await c.query(sql, params);
      } finally {
        await c.end();
      }
    },
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        const gone = new Promise((r) => server.once('exit', r));
        // SIGINT: PostgreSQL's "fast shutdown" (disconnects clients). Sent to the postmaster itself
        // (its pid file), not to runuser in front of it.
        const pid = Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
        process.kill(pid, 'SIGINT');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
