/**
 * Helpers of the CLI end-to-end tests: run the built CLI (`node dist/cli/main.js`, built by
 * `npm test` / `npx tsup` beforehand) as separate processes, read the listener's bound address
 * from its stderr, and make sure no process outlives its test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatPublicKeyFile, formatSecretKeyFile, generateIdentity, type Identity } from '../src/session/identity.js';

/** The built CLI; DATAPORT_TEST_CLI may point at a private copy of dist/ (shared checkouts). */
export const CLI = process.env.DATAPORT_TEST_CLI
  ? resolve(process.env.DATAPORT_TEST_CLI)
  : resolve(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npx tsup' (npm test builds first)`);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  /** Resolves when the process exits (rejects if it outlives `watchdogMs`: it hung). */
  done: Promise<CliResult>;
  /** Resolves with the URL the listener printed (`listening on ws://…`). */
  listening(): Promise<string>;
  stdout(): string;
  stderr(): string;
}

const live = new Set<ChildProcess>();

/** Kills every process a test left behind (call from afterEach). */
export function killAll(): void {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}

/**
 * Starts `dataport ...args`. The watchdog is not a timing assertion: it only turns a hang (the
 * failure this suite exists to catch) into a test failure instead of a stuck run.
 */
export function startCli(args: readonly string[], options: { cwd?: string; watchdogMs?: number; env?: Record<string, string> } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { ...process.env, DATAPORT_DEBUG: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const waiters: { resolve(url: string): void; reject(e: Error): void }[] = [];
  let url: string | undefined;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    if (url === undefined) {
      const m = /listening on ((?:wss?|http):\/\/\S+)/.exec(err);
      if (m) {
        url = m[1]!;
        for (const w of waiters.splice(0)) w.resolve(url);
      }
    }
  });
  const done = new Promise<CliResult>((resolvePromise, rejectPromise) => {
    const watchdog = setTimeout(() => {
      child.kill('SIGKILL');
      rejectPromise(new Error(`dataport ${args.join(' ')} hung (killed after ${options.watchdogMs ?? 120_000} ms)\nstderr: ${err}`));
    }, options.watchdogMs ?? 120_000);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      live.delete(child);
      for (const w of waiters.splice(0)) w.reject(new Error(`exited (${code}) before listening\nstderr: ${err}`));
      resolvePromise({ code, signal, stdout: out, stderr: err });
    });
  });
  done.catch(() => {});
  return {
    child,
    done,
    listening: () =>
      url !== undefined
        ? Promise.resolve(url)
        : new Promise<string>((resolveUrl, rejectUrl) => waiters.push({ resolve: resolveUrl, reject: rejectUrl })),
    stdout: () => out,
    stderr: () => err,
  };
}

/** Runs `dataport ...args` to completion. */
export function runCli(args: readonly string[], options: { cwd?: string; watchdogMs?: number } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** stderr must hold exactly one `dataport: …` error line (no stack trace; warnings and progress records aside), matching `pattern`. */
export function expectOneLineError(stderr: string, pattern: RegExp): string {
  const errLines = stderr.split('\n').filter((l) => l.startsWith('dataport: ') && !l.startsWith('dataport: warning:') && !l.startsWith('dataport: progress '));
  if (errLines.length !== 1) throw new Error(`expected one error line, got:\n${stderr}`);
  if (/\n\s+at /.test(stderr)) throw new Error(`stack trace in stderr:\n${stderr}`);
  if (!pattern.test(errLines[0]!)) throw new Error(`error line ${JSON.stringify(errLines[0])} does not match ${pattern}`);
  return errLines[0]!;
}

/** Starts a listening `dataport` command, then the connecting one at its URL; both results. */
export async function runCliPair(
  listenerArgs: readonly string[],
  requesterArgs: (url: string) => readonly string[],
  options: { watchdogMs?: number } = {},
): Promise<{ l: CliResult; r: CliResult }> {
  const listener = startCli(listenerArgs, options);
  const url = await listener.listening();
  const requester = startCli(requesterArgs(url), options);
  const [l, r] = await Promise.all([listener.done, requester.done]);
  return { l, r };
}

/** A port the system just handed out on 127.0.0.1 (a listener on port 0, closed again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The port a `ppca-psi` rank prints (`listening on 127.0.0.1:PORT as rank …`). */
export function ppcaListeningPort(p: CliProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(p.stderr());
      if (m) resolve(Number(m[1]));
      return Boolean(m);
    };
    if (check()) return;
    p.child.stderr!.on('data', () => check());
    p.done.then((r) => reject(new Error(`exited before listening: ${r.stderr}`)), reject);
  });
}

/**
 * Runs `dataport ppca-psi` rank 0 (on port 0) and rank 1 (on a free port), each told the other's
 * address, with `args0` / `args1` added; both results.
 */
export async function runPpcaPair(args0: readonly string[], args1: readonly string[], options: { watchdogMs?: number } = {}): Promise<[CliResult, CliResult]> {
  const p1port = await freePort();
  const r0 = startCli(['ppca-psi', '--rank', '0', '--listen', '127.0.0.1:0', '--peer', `127.0.0.1:${p1port}`, '--timeout', '20', ...args0], options);
  const port0 = await ppcaListeningPort(r0);
  const r1 = startCli(['ppca-psi', '--rank', '1', '--listen', `127.0.0.1:${p1port}`, '--peer', `127.0.0.1:${port0}`, '--timeout', '20', ...args1], options);
  return Promise.all([r0.done, r1.done]);
}

/** The one-line `--json` summary: the last line of `stdout`, parsed. */
export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

/** A fresh identity written as `keygen` writes it (DIR/identity.key 0600, DIR/identity.pub); returned. */
export function writeIdentityDir(dir: string): Identity {
  const id = generateIdentity();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'identity.key'), formatSecretKeyFile(id.secretKey));
  chmodSync(join(dir, 'identity.key'), 0o600);
  writeFileSync(join(dir, 'identity.pub'), formatPublicKeyFile(id.publicKey));
  return id;
}

/** `n` distinct deterministic 18-character resident ids from `seed` (xorshift32), below `range`. */
export function seededIds(seed: number, n: number, range: number): string[] {
  let x = seed;
  const out = new Set<string>();
  while (out.size < n) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.add(`1101011900${String(x % range).padStart(8, '0')}`);
  }
  return [...out];
}

/** Stops a CLI process started with {@link startCli} (SIGINT, as Ctrl-C) and waits for it to exit. */
export async function stopCli(proc: CliProcess): Promise<void> {
  proc.child.kill('SIGINT');
  await proc.done;
}

/** Polls a condition every 25 ms until it holds (a state is waited for, never a fixed time). */
export async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await cond())) await new Promise((r) => setTimeout(r, 25));
}

/** Finished buckets in a side's job directory `DIR/<job id>` (their results' .json files). */
export function finishedBuckets(jobDir: string): number {
  try {
    return readdirSync(join(jobDir, 'results')).filter((n) => n.endsWith('.json')).length;
  } catch {
    return 0;
  }
}
