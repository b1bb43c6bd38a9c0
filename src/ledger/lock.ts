/**
 * An exclusive, cross-process lock on a directory (Node-only): a ledger directory (`ledger.lock`),
 * and a data-product cache that `dataport product fetch` writes (`fetch.lock`, docs/products.md).
 *
 * Scheme: the lock is the file `ledger.lock`, created atomically *with its content* by writing a
 * private temporary file and hard-linking it into place (`link` fails with EEXIST if the lock
 * exists, exactly like O_EXCL, but a reader never sees an empty lock file). The content is
 * `<pid> <random nonce>`. A lock whose pid is not alive (`kill(pid, 0)` → ESRCH) is stale: a
 * process may remove it only while it holds the break guard `ledger.lock.break` (taken the same
 * way) and only if the lock still holds the very content it judged stale, so two waiters can never
 * both break one stale lock and then remove each other's fresh lock.
 *
 * Limits (documented in docs/ledger.md): local file systems only (pid liveness means nothing across
 * hosts); a stale lock whose pid was reused by an unrelated process is not broken (the wait times
 * out with a message naming the file to delete); a break guard left by a process killed inside its
 * few-microsecond break window is itself removed when its pid is dead.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { AbortError, LedgerIntegrityError, TimeoutError } from '../errors.js';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): number | undefined {
  const m = /^(\d{1,10}) [0-9a-f]{32}\n$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Creates `path` holding `content`, atomically; false if it already exists. */
async function createExclusive(dir: string, path: string, content: string): Promise<boolean> {
  const tmp = join(dir, `.lock-${process.pid}-${randomBytes(6).toString('hex')}`);
  await fsp.writeFile(tmp, content, { flag: 'wx', mode: 0o600 });
  try {
    await fsp.link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await fsp.unlink(tmp).catch(() => undefined);
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Options of {@link DirectoryLock.acquire}. */
export interface AcquireOptions {
  /** Give up after this long (default 30 s; 0: one attempt, after breaking a stale lock). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What a {@link DirectoryLock} locks: its file's name and how messages name the directory. */
export interface DirectoryLockOptions {
  /** The lock file's name in the directory (default `ledger.lock`; the break guard adds `.break`). */
  file?: string;
  /**
   * The message when the lock cannot be had, given the holder's pid (if known) and the lock
   * file (default: `ledger is locked by process N; if no dataport process uses it, delete PATH`).
   */
  busyMessage?: (pid: number | undefined, path: string) => string;
}

/** The exclusive lock of one directory. Not re-entrant. */
export class DirectoryLock {
  readonly path: string;
  private readonly guardPath: string;
  private content: string | undefined;
  private readonly busyMessage: (pid: number | undefined, path: string) => string;

  constructor(
    private readonly dir: string,
    options: DirectoryLockOptions = {},
  ) {
    const file = options.file ?? 'ledger.lock';
    this.path = join(dir, file);
    this.guardPath = join(dir, `${file}.break`);
    this.busyMessage =
      options.busyMessage ?? ((pid, path) => `ledger is locked${pid === undefined ? '' : ` by process ${pid}`}; if no dataport process uses it, delete ${path}`);
  }

  get held(): boolean {
    return this.content !== undefined;
  }

  async acquire(options: AcquireOptions = {}): Promise<void> {
    if (this.content !== undefined) throw new Error('lock already held');
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    const mine = `${process.pid} ${randomBytes(16).toString('hex')}\n`;
    let wait = 1;
    for (;;) {
      if (options.signal?.aborted) throw new AbortError();
      if (await createExclusive(this.dir, this.path, mine)) {
        this.content = mine;
        return;
      }
      const current = await readOrUndefined(this.path);
      let stale = false;
      if (current !== undefined) {
        const pid = parseOwner(current);
        stale = pid === undefined || !pidAlive(pid);
        if (stale) await this.breakStale(current);
      }
      // A live holder past the deadline: give up. A lock gone or broken just now is tried again
      // first (so a zero timeout still gets that attempt), within a second's grace.
      if (current !== undefined && !stale && Date.now() >= deadline) throw new TimeoutError(this.busyMessage(parseOwner(current), this.path));
      if (Date.now() > deadline + 1000) throw new TimeoutError(this.busyMessage(undefined, this.path));
      // Back off with jitter: the holder keeps the lock only for one write + fsync.
      await delay(wait + Math.random() * wait);
      wait = Math.min(wait * 2, 25);
    }
  }

  /** Removes the lock iff it still holds `staleContent`, under the break guard. */
  private async breakStale(staleContent: string): Promise<void> {
    const guard = `${process.pid} ${randomBytes(16).toString('hex')}\n`;
    if (!(await createExclusive(this.dir, this.guardPath, guard))) {
      const g = await readOrUndefined(this.guardPath);
      const gpid = g === undefined ? undefined : parseOwner(g);
      // A guard left by a dead breaker: remove it (only reachable after a crash inside a break).
      if (g !== undefined && (gpid === undefined || !pidAlive(gpid))) await fsp.unlink(this.guardPath).catch(() => undefined);
      return;
    }
    try {
      if ((await readOrUndefined(this.path)) === staleContent) await fsp.unlink(this.path).catch(() => undefined);
    } finally {
      await fsp.unlink(this.guardPath).catch(() => undefined);
    }
  }

  async release(): Promise<void> {
    const mine = this.content;
    if (mine === undefined) return;
    this.content = undefined;
    const current = await readOrUndefined(this.path);
    if (current !== mine) throw new LedgerIntegrityError('ledger lock was taken from this process while it held it');
    await fsp.unlink(this.path);
  }
}
