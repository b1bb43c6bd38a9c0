/**
 * File helpers of the CLI: atomic output files (written to a temporary file next to the target and
 * renamed only when complete, so a failed run never leaves a half-written result behind) and
 * secret files created with mode 0600.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { chmod, link, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { FILE_MESSAGES, fsErrorText, keyExistsMessage, outputExistsMessage } from './messages.js';

/**
 * A file-system error as the few words a person needs (`permission denied (EACCES)`): the texts
 * live in messages.ts; re-exported here, where the CLI's file helpers are.
 */
export { fsErrorText };

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** Whether a process with this pid exists on this host (EPERM: it exists, owned by someone else). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary files that earlier runs writing `path` left behind when they were killed
 * (SIGKILL, power loss): `.NAME.PID.RANDOM.tmp` beside the target whose PID no longer runs. A live
 * writer's file is left alone. Best effort: a folder that cannot be listed is not an error here.
 */
async function removeStaleTemps(path: string): Promise<void> {
  const prefix = `.${basename(path)}.`;
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name.slice(prefix.length));
    if (m === null) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    await unlink(join(dirname(path), name)).catch(() => {});
  }
}

/** An output file being written; `commit` moves it into place, `abort` removes it. */
export interface AtomicOutput {
  /** Appends bytes, waiting when the OS buffer is full (backpressure). */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Flushes to disk and moves the temporary file to the target path: a rename with `force`, else
   * a hard link that fails (`InputError`, the temporary file removed) if the path exists by then.
   */
  commit(): Promise<void>;
  /** Removes the temporary file (safe to call after a failed write). */
  abort(): Promise<void>;
}

/**
 * Checks that `path` can be an output: not a directory and, unless `force`, not an existing file
 * (`InputError` naming the path and `--force`). What a command runs before any network work.
 *
 * @example
 * ```ts
 * await checkOutputPath('matches.csv', { force: false });
 * ```
 */
export async function checkOutputPath(path: string, options: { force?: boolean } = {}): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (st?.isDirectory()) throw new InputError(FILE_MESSAGES.isDirectory(path));
  if (st && options.force !== true) throw new InputError(outputExistsMessage(path));
}

/**
 * Opens `path` for atomic creation (or replacement with `force`). Fails early (before any network
 * work) with `InputError` if the directory is not writable or, unless `force`, the file exists; the
 * commit checks again atomically (a file created meanwhile is never overwritten).
 *
 * @example
 * ```ts
 * const out = await openAtomicOutput('matches.csv');
 * await out.write(headerBytes);
 * await out.commit();
 * ```
 */
export async function openAtomicOutput(path: string, options: { force?: boolean } = {}): Promise<AtomicOutput> {
  const force = options.force === true;
  const tmp = tempPathFor(path);
  await removeStaleTemps(path);
  try {
    await checkOutputPath(path, { force });
    const fh = await open(tmp, 'wx', 0o644);
    await fh.close();
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(FILE_MESSAGES.cannotWriteOutput(path, err));
  }
  let stream: WriteStream | undefined = createWriteStream(tmp, { flags: 'w' });
  let failure: unknown;
  stream.on('error', (err) => {
    failure = err;
  });
  const check = () => {
    if (failure) throw new InputError(FILE_MESSAGES.cannotWriteOutput(path, failure));
  };
  return {
    async write(bytes) {
      check();
      const ws = stream!;
      if (!ws.write(bytes)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            ws.off('drain', done);
            ws.off('error', done);
            resolve();
          };
          ws.on('drain', done);
          ws.on('error', done);
        });
      }
      check();
    },
    async commit() {
      check();
      const s = stream!;
      stream = undefined;
      await new Promise<void>((resolve, reject) => s.end((err?: Error | null) => (err ? reject(err) : resolve())));
      check();
      if (force) {
        await rename(tmp, path).catch((err: NodeJS.ErrnoException) => {
          throw new InputError(FILE_MESSAGES.cannotWriteOutput(path, err));
        });
        return;
      }
      // link() fails with EEXIST instead of replacing: a file created since the early check stays.
      try {
        await link(tmp, path);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InputError(outputExistsMessage(path));
        throw new InputError(FILE_MESSAGES.cannotWriteOutput(path, err));
      }
      await unlink(tmp).catch(() => {});
    },
    async abort() {
      const s = stream;
      stream = undefined;
      if (s) await new Promise<void>((resolve) => s.end(() => resolve()));
      await unlink(tmp).catch(() => {});
    },
  };
}

/**
 * Writes a secret file with mode 0600. Without `overwrite`, refuses (with `InputError`) if the
 * file exists — atomically, by hard-linking a complete temporary file into place, so two
 * concurrent runs cannot both "win" and a crash never leaves a truncated key.
 *
 * @example
 * ```ts
 * await writeSecretFile('dir/identity.key', text, false);
 * ```
 */
export async function writeSecretFile(path: string, text: string | Uint8Array, overwrite: boolean): Promise<void> {
  await writeFileAtomically(path, text, 0o600, overwrite);
}

/**
 * Writes a non-secret file (mode 0644) atomically, replacing any existing one.
 * @example
 * ```ts
 * await writePublicFile('dir/identity.pub', text);
 * ```
 */
export async function writePublicFile(path: string, text: string | Uint8Array): Promise<void> {
  await writeFileAtomically(path, text, 0o644, true);
}

async function writeFileAtomically(path: string, text: string | Uint8Array, mode: number, overwrite: boolean): Promise<void> {
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', mode);
  try {
    await (typeof text === 'string' ? fh.writeFile(text, 'utf8') : fh.writeFile(text));
    // The umask may have removed bits from `mode` on creation; set exactly what we mean.
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (overwrite) {
      await rename(tmp, path);
    } else {
      await link(tmp, path);
      await unlink(tmp);
    }
  } catch (err) {
    await unlink(tmp).catch(() => {});
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new InputError(keyExistsMessage(path));
    }
    throw err;
  }
  await chmod(path, mode).catch(() => {});
}
