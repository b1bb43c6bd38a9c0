/**
 * A throw-away MariaDB server for tests: Debian's `mariadb-server` binaries, a data directory in a
 * temporary directory, listening on a free 127.0.0.1 port, with a password user `dataport` owning a
 * database `dataport`. Start it once per test FILE (beforeAll) and stop it in afterAll. Readiness is
 * polled through a real connection, never waited for with a fixed sleep. Without the binaries it
 * returns `undefined` after a loud warning naming the package, and the caller skips.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './free-port.js';

export interface MariadbServer {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  /** `mysql://dataport@127.0.0.1:PORT/dataport` (no password: give it through MYSQL_PWD). */
  url: string;
  /** Runs SQL as the `dataport` user. */
  query(sql: string, params?: unknown[]): Promise<unknown>;
  stop(): Promise<void>;
}

function findBinary(names: string[]): string | undefined {
  for (const n of names) for (const d of ['/usr/sbin', '/usr/bin']) if (existsSync(join(d, n))) return join(d, n);
  return undefined;
}

/**
 * Starts a MariaDB server (see the module comment); `undefined` when MariaDB is not installed.
 * @example
 * ```ts
 * let server: MariadbServer | undefined;
 * beforeAll(async () => { server = await startMariadb(); });
 * afterAll(async () => { await server?.stop(); });
 * ```
 */
export async function startMariadb(): Promise<MariadbServer | undefined> {
  const daemon = findBinary(['mariadbd', 'mysqld']);
  const install = findBinary(['mariadb-install-db', 'mysql_install_db']);
  if (daemon === undefined || install === undefined) {
    console.warn('\n*** SKIPPING MariaDB/MySQL tests: no mariadbd / mariadb-install-db (apt-get install mariadb-server) ***\n');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'dataport-mariadb-'));
  const user = process.getuid?.() === 0 ? ['--user=root'] : [];
  const init = spawnSync(install, ['--no-defaults', `--datadir=${join(dir, 'data')}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...user], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`mariadb-install-db failed: ${init.stderr}`);
  const password = `pw-${randomBytes(12).toString('hex')}`;
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    let output = '';
    child = spawn(daemon, ['--no-defaults', `--datadir=${join(dir, 'data')}`, `--socket=${join(dir, 'sock')}`, `--port=${port}`, '--bind-address=127.0.0.1', '--skip-log-bin', '--innodb-buffer-pool-size=32M', '--skip-name-resolve', ...user], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    let exited: string | undefined;
    child.once('exit', (code, signal) => (exited = `exited (${code ?? signal})`));
    let ready = false;
    while (!ready) {
      if (exited !== undefined) break;
      try {
        const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
        await c.end();
        ready = true;
      } catch {
        // Polling a real connection; the pause only spaces the attempts out.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (ready) break;
    if (attempt >= 3 || !/bind|in use/i.test(output)) throw new Error(`mariadbd ${exited}: ${output.slice(-2000)}`);
  }
  const root = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
  await root.query('CREATE DATABASE dataport CHARACTER SET utf8mb4');
  await root.query(`CREATE USER 'dataport'@'127.0.0.1' IDENTIFIED BY '${password}'`);
  await root.query(`CREATE USER 'dataport'@'localhost' IDENTIFIED BY '${password}'`);
  await root.query("GRANT ALL ON dataport.* TO 'dataport'@'127.0.0.1'");
  await root.query("GRANT ALL ON dataport.* TO 'dataport'@'localhost'");
  await root.end();
  const server = child!;
  return {
    host: '127.0.0.1',
    port,
    user: 'dataport',
    password,
    database: 'dataport',
    url: `mysql://dataport@127.0.0.1:${port}/dataport`,
    async query(sql, params) {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'dataport', password, database: 'dataport', multipleStatements: false });
      try {
        return (await c.query(sql, params))[0];
      } finally {
        await c.end();
      }
    },
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        const gone = new Promise((r) => server.once('exit', r));
        server.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
