/**
 * The embedded, append-only ledger on disk (Node-only). A ledger directory holds:
 *
 * - `ledger.log` — header and records (see `log-format.ts`), only ever appended to;
 * - `checkpoint` — the owner-signed C2SP checkpoint of the log, rewritten (atomically: temporary
 *   file, fsync, rename, directory fsync) when a ledger is created, opened and closed;
 * - `ledger.lock` — present while a process commits (see `lock.ts`).
 *
 * Durability: an `append` resolves only after the `fdatasync` that covers its record. Group commit:
 * appends that arrive while a sync is in flight are written together and covered by the next one,
 * so throughput grows with concurrency instead of being one sync per entry. Each commit takes the
 * directory lock, first adopts any records another process appended, cuts a torn tail left by a
 * crashed writer, writes, syncs and releases — so several processes may share one ledger.
 * @module
 */
import { constants as fsConstants, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, LedgerIntegrityError, MalformedMessageError } from '../errors.js';
import type { Identity } from '../session/identity.js';
import { assertBytes, equalBytes, toHex, utf8 } from '../utils/bytes.js';
import { assertOrigin, formatCheckpointBody, formatSignedNote, parseCheckpoint, signCheckpoint, verifyCheckpoint } from './checkpoint.js';
import { ed25519Signer, ed25519Verify } from './hash.js';
import { DirectoryLock } from './lock.js';
import { SEAL_BYTES, decodeLogHeader, encodeLogHeader, encodeRecord, scanRecords } from './log-format.js';
import type { LogRecord } from './log-format.js';
import { MerkleTree, hashLeaf } from './merkle.js';
import { decodeAndVerifyReceipt, decodeReceipt, encodeReceipt } from './receipt.js';
import type { UsageReceipt } from './receipt-types.js';
import { verifyLedgerBytesParallel } from './parallel-verify.js';
import { checkBudget } from './budget.js';
import { cachedLedgerReceipts, liveBudgetReservations } from './reservations.js';
import type { BudgetCheckOptions, BudgetStatus } from './budget.js';
import type { VerifyLedgerOptions, VerifyLedgerResult } from './verify.js';

/**
 * File names inside a ledger directory.
 * @example
 * ```ts
 * const logPath = join(dir, LEDGER_FILES.log);
 * ```
 */
export const LEDGER_FILES = { log: 'ledger.log', checkpoint: 'checkpoint', lock: 'ledger.lock' } as const;

/**
 * Options of {@link openLedger}.
 * @example
 * ```ts
 * const ledger = await openLedger(dir, { owner: identity, groupCommit: true });
 * ```
 */
export interface OpenLedgerOptions {
  /** The ledger owner's identity: signs every record's seal and the checkpoints. */
  owner: Identity;
  /**
   * The log's origin (checkpoint first line and key name). Used when the ledger is created;
   * checked when it exists. Default: `dataport.ledger/<first 8 bytes of the owner key in hex>`.
   */
  origin?: string;
  /** Batch concurrent appends into one fsync (default true); false = one fsync per append. */
  groupCommit?: boolean;
  /** How long to wait for another process's lock (default 30 s). */
  lockTimeoutMs?: number;
  /**
   * Open an existing log whose `checkpoint` file is missing (and write a new one over it). Without
   * it such a ledger is refused: the checkpoint is what records how many entries there were, and
   * re-sealing over a log cut short would hide the cut. Legitimate only when restoring a ledger
   * moved without its checkpoint, after checking it with `verifyLedgerDir(dir, { witnesses })`.
   */
  allowMissingCheckpoint?: boolean;
}

/**
 * Result of {@link Ledger.append}.
 * @example
 * ```ts
 * const { index, leafHash } = await ledger.append(receipt);
 * ```
 */
export interface AppendResult {
  /** Index of the new entry. */
  index: number;
  /** Its RFC 9162 leaf hash. */
  leafHash: Uint8Array;
}

/**
 * An open ledger.
 * @example
 * ```ts
 * const ledger: Ledger = await openLedger(dir, { owner });
 * const proof = ledger.inclusionProof(0);
 * ```
 */
export interface Ledger {
  readonly dir: string;
  readonly origin: string;
  /** The owner's Ed25519 public key (a copy). */
  readonly ownerPublicKey: Uint8Array;
  /** Number of entries this handle knows of (see {@link Ledger.refresh}). */
  readonly size: number;
  /**
   * Appends a receipt (signed by all of its parties, or a one-sided receipt signed by the ledger's
   * owner) and resolves once it is durable. Throws `VerificationFailedError` for a receipt whose
   * signatures do not verify.
   */
  append(receipt: UsageReceipt): Promise<AppendResult>;
  /** Picks up entries appended by other processes since this handle last looked. */
  refresh(): Promise<void>;
  /** The root of the first `size` entries (default: all). */
  root(size?: number): Uint8Array;
  /** The leaf hash of entry `index`. */
  leafHash(index: number): Uint8Array;
  /** The owner-signed checkpoint (C2SP signed note) of the current size. */
  checkpoint(): string;
  /** The exact bytes of entry `index` (the leaf input). */
  readEntry(index: number): Promise<Uint8Array>;
  /** Every entry decoded, in order (for reports and budgets). */
  readReceipts(): Promise<UsageReceipt[]>;
  inclusionProof(index: number, size?: number): Uint8Array[];
  consistencyProof(size1: number, size2?: number): Uint8Array[];
  /** Waits for pending appends, writes the checkpoint file and releases the file handle. */
  close(): Promise<void>;
  /**
   * Runs `fn` holding the directory lock, after adopting every entry other processes committed
   * and serialised with this handle's commits: while `fn` runs, no process appends, so what
   * `readReceipts()` returns stays the whole ledger (budget reservations rely on this). `fn` must
   * not wait for `append`, `refresh` or `close` of this handle (they queue behind it).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/**
 * The default origin of a ledger owned by `publicKey`.
 * @example
 * ```ts
 * defaultOrigin(identity.publicKey); // 'dataport.ledger/0123456789abcdef'
 * ```
 */
export function defaultOrigin(publicKey: Uint8Array): string {
  return `dataport.ledger/${toHex(publicKey.subarray(0, 8))}`;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, fsConstants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `text` to `dir/name` atomically and durably. */
async function writeFileDurably(dir: string, name: string, text: string): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const fh = await fsp.open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

async function readTextOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function readRange(fh: FileHandle, start: number, end: number): Promise<Uint8Array> {
  const out = new Uint8Array(end - start);
  let off = 0;
  while (off < out.length) {
    const { bytesRead } = await fh.read(out, off, out.length - off, start + off);
    if (bytesRead === 0) throw new LedgerIntegrityError('ledger log shrank while being read');
    off += bytesRead;
  }
  return out;
}

interface Pending {
  entry: Uint8Array;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

class FileLedger implements Ledger {
  readonly tree = new MerkleTree();
  /** Offset and length of each record (entry bytes are read back from the file on demand). */
  private offsets: number[] = [];
  private entryLengths: number[] = [];
  /** Seal of the last record: the owner's signature over the current checkpoint body. */
  private lastSeal: Uint8Array | undefined;
  private end = 0;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly sign: (m: Uint8Array) => Uint8Array;

  private readonly owner: Identity;

  constructor(
    readonly dir: string,
    readonly origin: string,
    owner: Identity,
    private readonly fh: FileHandle,
    private readonly lock: DirectoryLock,
    headerLength: number,
    private readonly opts: { groupCommit: boolean; lockTimeoutMs: number },
  ) {
    this.owner = { secretKey: new Uint8Array(owner.secretKey), publicKey: new Uint8Array(owner.publicKey) };
    this.sign = ed25519Signer(owner.secretKey);
    this.end = headerLength;
  }

  get ownerPublicKey(): Uint8Array {
    return this.owner.publicKey.slice();
  }

  /** Committed (durable) entries; the tree may briefly hold more while a commit is in flight. */
  get size(): number {
    return this.offsets.length;
  }

  /** Tail of the queue that serialises commits, refreshes and close (see {@link serial}). */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * Runs `fn` after every earlier serialised operation. Commits, refreshes and close all read the
   * file past `end` and move it; two of them interleaved would adopt the same records twice.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Adopts records read from the file (already checksum- and index-checked by the scan). */
  private adopt(records: LogRecord[], base: number): void {
    for (const r of records) {
      this.tree.append(hashLeaf(r.entry));
      this.offsets.push(base + r.offset);
      this.entryLengths.push(r.entry.length);
      this.lastSeal = r.seal;
    }
  }

  /**
   * Reads whatever lies past `this.end` (records of other processes). With `repair` (lock held):
   * cuts a torn tail; without: stops quietly before anything incomplete.
   */
  async syncTail(repair: boolean, checkpointSize = 0): Promise<void> {
    const { size: fileSize } = await this.fh.stat();
    if (fileSize < this.end) throw new LedgerIntegrityError('ledger log is shorter than its acknowledged entries', { index: this.size });
    if (fileSize === this.end) return;
    const bytes = await readRange(this.fh, this.end, fileSize);
    const scan = scanRecords(bytes, 0, this.tree.size);
    this.adopt(scan.records, this.end);
    this.end += scan.end;
    if (!repair || scan.stop.kind === 'clean') return;
    if (scan.stop.kind === 'corrupt') {
      throw new LedgerIntegrityError(`ledger entry ${scan.stop.index} is corrupt (${scan.stop.reason}); run 'dataport ledger verify'`, {
        index: scan.stop.index,
      });
    }
    if (checkpointSize > this.size) {
      throw new LedgerIntegrityError(`ledger entry ${this.size} is incomplete but covered by the signed checkpoint`, { index: this.size });
    }
    // A torn tail: a crashed writer's unacknowledged append. Cut it, durably.
    await this.fh.truncate(this.end);
    await this.fh.datasync();
  }

  root(size: number = this.size): Uint8Array {
    if (size > this.size) throw new RangeError('size exceeds the ledger size');
    return this.tree.root(size);
  }

  leafHash(index: number): Uint8Array {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) throw new RangeError('index out of range');
    return this.tree.leafHash(index);
  }

  checkpoint(): string {
    const size = this.size;
    const root = this.tree.root(size);
    // The seal of the last record is the owner's signature over exactly this body.
    if (size === 0) return signCheckpoint({ origin: this.origin, size: 0, root }, this.owner);
    return formatSignedNote(formatCheckpointBody({ origin: this.origin, size, root }), this.origin, this.owner.publicKey, this.lastSeal!);
  }

  async readEntry(index: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) throw new RangeError('index out of range');
    const start = this.offsets[index]! + 16;
    return readRange(this.fh, start, start + this.entryLengths[index]!);
  }

  async readReceipts(): Promise<UsageReceipt[]> {
    // Snapshot the committed extent first: a commit may complete while the read is in flight.
    const n = this.size;
    if (n === 0) return [];
    const start = this.offsets[0]!;
    const end = this.offsets[n - 1]! + 16 + this.entryLengths[n - 1]! + SEAL_BYTES;
    const bytes = await readRange(this.fh, start, end);
    const out: UsageReceipt[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.offsets[i]! - start + 16;
      out.push(decodeReceipt(bytes.subarray(s, s + this.entryLengths[i]!)));
    }
    return out;
  }

  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    if (size > this.size) throw new RangeError('size exceeds the ledger size');
    return this.tree.inclusionProof(index, size);
  }

  consistencyProof(size1: number, size2: number = this.size): Uint8Array[] {
    if (size2 > this.size) throw new RangeError('size2 exceeds the ledger size');
    return this.tree.consistencyProof(size1, size2);
  }

  refresh(): Promise<void> {
    return this.serial(() => this.syncTail(false));
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new InputError('ledger is closed'));
    return this.serial(async () => {
      await this.lock.acquire({ timeoutMs: this.opts.lockTimeoutMs });
      try {
        await this.syncTail(true);
        return await fn();
      } finally {
        await this.lock.release();
      }
    });
  }

  append(receipt: UsageReceipt): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new InputError('ledger is closed'));
    let entry: Uint8Array;
    try {
      entry = encodeReceipt(receipt);
      // Never store what an auditor would reject.
      decodeAndVerifyReceipt(entry, { verify: ed25519Verify, oneSidedSigner: this.owner.publicKey });
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  /**
   * Group commit: while one batch is being written and synced, new appends queue up in `pending`
   * and go out together in the next batch. Never rejects (each batch's callers get its error).
   */
  private async flushLoop(): Promise<void> {
    // Let appends issued in the same tick join the first batch.
    await Promise.resolve();
    for (;;) {
      // Checking for work and clearing `flushing` happen in one synchronous step, so an append
      // can never find `flushing` set by a loop that is about to stop.
      if (this.pending.length === 0) {
        this.flushing = undefined;
        return;
      }
      const batch = this.opts.groupCommit ? this.pending.splice(0) : this.pending.splice(0, 1);
      try {
        const results = await this.serial(() => this.commit(batch.map((p) => p.entry)));
        batch.forEach((p, i) => p.resolve(results[i]!));
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
  }

  /** Writes `entries` as the next records under the lock, durably. */
  private async commit(entries: Uint8Array[]): Promise<AppendResult[]> {
    await this.lock.acquire({ timeoutMs: this.opts.lockTimeoutMs });
    try {
      await this.syncTail(true);
      const startSize = this.tree.size;
      const startEnd = this.end;
      const records: Uint8Array[] = [];
      const results: AppendResult[] = [];
      const newSeals: Uint8Array[] = [];
      try {
        for (const entry of entries) {
          const leafHash = hashLeaf(entry);
          const index = this.tree.append(leafHash);
          const body = formatCheckpointBody({ origin: this.origin, size: index + 1, root: this.tree.root() });
          const seal = this.sign(utf8(body));
          records.push(encodeRecord(index, entry, seal));
          newSeals.push(seal);
          results.push({ index, leafHash });
        }
        let total = 0;
        for (const r of records) total += r.length;
        const buf = new Uint8Array(total);
        let off = 0;
        for (const r of records) {
          buf.set(r, off);
          off += r.length;
        }
        let written = 0;
        while (written < buf.length) {
          const { bytesWritten } = await this.fh.write(buf, written, buf.length - written, startEnd + written);
          written += bytesWritten;
        }
        await this.fh.datasync();
      } catch (e) {
        // Undo in memory and on disk (best effort: a leftover tail is cut by the next commit).
        this.tree.truncate(startSize);
        await this.fh.truncate(startEnd).catch(() => undefined);
        throw e;
      }
      let off = startEnd;
      records.forEach((r, i) => {
        this.offsets.push(off);
        this.entryLengths.push(entries[i]!.length);
        off += r.length;
      });
      this.lastSeal = newSeals[newSeals.length - 1];
      this.end = off;
      return results;
    } finally {
      await this.lock.release();
    }
  }

  /** Writes the current checkpoint file (lock held by the caller). */
  async writeCheckpointFile(): Promise<void> {
    await writeFileDurably(this.dir, LEDGER_FILES.checkpoint, this.checkpoint());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.serial(async () => {
      await this.lock.acquire({ timeoutMs: this.opts.lockTimeoutMs });
      try {
        await this.syncTail(true);
        await this.writeCheckpointFile();
      } finally {
        await this.lock.release();
        await this.fh.close();
      }
    });
  }
}

/** Temporary files of this module and of `lock.ts`, each named with its writer's pid. */
const LEFTOVER = /^\.(?:lock-(\d+)-[0-9a-f]+|checkpoint\.(\d+)\.tmp|ledger\.log\.(\d+)\.tmp)$/;

/** Best effort: removes temporary files left by processes that died (lock held by the caller). */
async function removeLeftovers(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = LEFTOVER.exec(name);
    if (!m) continue;
    const pid = Number(m[1] ?? m[2] ?? m[3]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) await fsp.unlink(join(dir, name)).catch(() => undefined);
  }
}

/**
 * Opens (creating if needed) the ledger in directory `dir`, owned by `options.owner`. Recovers
 * from a crash: a torn final record (never acknowledged) is cut; anything else that is wrong
 * throws `LedgerIntegrityError` naming the entry index.
 * @example
 * ```ts
 * const ledger = await openLedger('./ledger', { owner: identity });
 * const { index } = await ledger.append(receipt);
 * await ledger.close();
 * ```
 */
export async function openLedger(dir: string, options: OpenLedgerOptions): Promise<Ledger> {
  if (typeof dir !== 'string' || dir.length === 0) throw new TypeError('dir must be a non-empty path');
  const owner = options?.owner;
  if (!owner) throw new TypeError('options.owner is required');
  assertBytes(owner.secretKey, 'options.owner.secretKey', 32);
  assertBytes(owner.publicKey, 'options.owner.publicKey', 32);
  if (options.origin !== undefined) assertOrigin(options.origin);
  await fsp.mkdir(dir, { recursive: true });
  const lock = new DirectoryLock(dir);
  const lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
  const logPath = join(dir, LEDGER_FILES.log);
  await lock.acquire({ timeoutMs: lockTimeoutMs });
  let fh: FileHandle | undefined;
  try {
    let created = false;
    const cpPath = join(dir, LEDGER_FILES.checkpoint);
    try {
      fh = await fsp.open(logPath, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const origin = options.origin ?? defaultOrigin(owner.publicKey);
      // A checkpoint of a non-empty log without the log: the log was removed, not never created.
      const orphan = await readTextOrUndefined(cpPath);
      let orphanSize = 0;
      try {
        if (orphan !== undefined) orphanSize = parseCheckpoint(orphan).size;
      } catch {
        // not a checkpoint: overwritten below like any leftover
      }
      if (orphanSize > 0) {
        throw new LedgerIntegrityError(`${logPath} is missing but ${cpPath} covers ${orphanSize} entries; restore the log (nothing was written)`);
      }
      const tmp = join(dir, `.${LEDGER_FILES.log}.${process.pid}.tmp`);
      const t = await fsp.open(tmp, 'w', 0o644);
      try {
        await t.writeFile(encodeLogHeader({ ownerPublicKey: owner.publicKey, origin }));
        await t.sync();
      } finally {
        await t.close();
      }
      // The empty checkpoint goes in place before the log does, so that an existing log without
      // a checkpoint never arises from a crash and can be refused below.
      await writeFileDurably(dir, LEDGER_FILES.checkpoint, signCheckpoint({ origin, size: 0, root: new MerkleTree().root() }, owner));
      await fsp.rename(tmp, logPath);
      await fsyncDir(dir);
      fh = await fsp.open(logPath, 'r+');
      created = true;
    }
    const { size: fileSize } = await fh.stat();
    const headBytes = await readRange(fh, 0, Math.min(fileSize, 512));
    let header;
    try {
      header = decodeLogHeader(headBytes);
    } catch (e) {
      if (e instanceof MalformedMessageError) throw new LedgerIntegrityError(`${logPath}: ${e.message}`);
      throw e;
    }
    if (!equalBytes(header.header.ownerPublicKey, owner.publicKey)) {
      throw new InputError(`${dir} is the ledger of another identity`);
    }
    if (options.origin !== undefined && options.origin !== header.header.origin) {
      throw new InputError(`${dir} has origin '${header.header.origin}', not '${options.origin}'`);
    }
    const ledger = new FileLedger(dir, header.header.origin, owner, fh, lock, header.length, {
      groupCommit: options.groupCommit ?? true,
      lockTimeoutMs,
    });

    // The stored checkpoint bounds what a torn tail may cut: a covered entry is never "torn".
    let cpSize = 0;
    let cpRoot: Uint8Array | undefined;
    const cpText = await readTextOrUndefined(cpPath);
    if (cpText === undefined && !created && options.allowMissingCheckpoint !== true) {
      await ledger.syncTail(false);
      throw new LedgerIntegrityError(
        `${cpPath} is missing (the log holds ${ledger.size} entries): entries may have been removed; nothing was appended. Check it with 'dataport ledger verify --ledger ${dir} --allow-missing-checkpoint --witness FILE' and restore it with 'dataport ledger checkpoint --ledger ${dir} --allow-missing-checkpoint --out ${cpPath}'`,
      );
    }
    if (cpText !== undefined && !created) {
      try {
        const cp = verifyCheckpoint(cpText, owner.publicKey, { origin: header.header.origin });
        cpSize = cp.size;
        cpRoot = cp.root;
      } catch (e) {
        throw new LedgerIntegrityError(`${dir}/${LEDGER_FILES.checkpoint}: ${(e as Error).message}`);
      }
    }
    await ledger.syncTail(true, cpSize);
    if (cpSize > ledger.size) {
      throw new LedgerIntegrityError(`ledger entry ${ledger.size} is missing: the checkpoint covers ${cpSize} entries`, { index: ledger.size });
    }
    if (cpRoot !== undefined && !equalBytes(cpRoot, ledger.root(cpSize))) {
      throw new LedgerIntegrityError(`the stored checkpoint does not match the log; run 'dataport ledger verify'`);
    }
    await ledger.writeCheckpointFile();
    await removeLeftovers(dir);
    return ledger;
  } catch (e) {
    await fh?.close().catch(() => undefined);
    throw e;
  } finally {
    if (lock.held) await lock.release();
  }
}

/**
 * Parses the stored checkpoint of a ledger directory without verifying it (see `verifyLedgerBytes`).
 * @example
 * ```ts
 * const cp = await readLedgerCheckpoint('./ledger');
 * ```
 */
export async function readLedgerCheckpoint(dir: string): Promise<string | undefined> {
  const text = await readTextOrUndefined(join(dir, LEDGER_FILES.checkpoint));
  if (text !== undefined) parseCheckpoint(text);
  return text;
}

/**
 * Verifies the ledger in `dir` offline from its files (see `verifyLedgerBytes`); pass the owner's
 * public key to pin it, and checkpoints saved earlier elsewhere as `witnesses` to prove the ledger
 * still extends them. A missing checkpoint file fails (`ok: false`) unless `allowMissingCheckpoint`
 * is set, then it is reported as `checkpointSize: undefined`. On a
 * large ledger the signature checks run on `workers` threads (default: the available cores, at most
 * 8); the result, including the first problem reported, is the same as sequentially.
 * @example
 * ```ts
 * const r = await verifyLedgerDir('./ledger', { publicKey, witnesses: [{ name: 'saved.cp', text: saved }] });
 * ```
 */
export async function verifyLedgerDir(
  dir: string,
  options: Omit<VerifyLedgerOptions, 'checkpoint'> & { workers?: number } = {},
): Promise<VerifyLedgerResult> {
  let log: Uint8Array;
  try {
    log = new Uint8Array(await fsp.readFile(join(dir, LEDGER_FILES.log)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`no ledger in ${dir} (${LEDGER_FILES.log} not found)`);
    throw e;
  }
  const checkpoint = await readTextOrUndefined(join(dir, LEDGER_FILES.checkpoint));
  return (await verifyLedgerBytesParallel(log, checkpoint === undefined ? options : { ...options, checkpoint })).result;
}

/**
 * {@link checkBudget} over an open ledger: picks up entries other processes appended and the runs
 * in progress (live budget reservations), then throws `GuardrailRefusedError` if the
 * counterparty's budget for the period is spent. It only checks: two callers may both pass. To
 * enforce a budget under concurrency, reserve with `reserveLedgerBudget` (src/ledger/reservations.ts).
 * @example
 * ```ts
 * await checkLedgerBudget(ledger, { counterparty: peerKey, policy, records: rows.length });
 * ```
 */
export async function checkLedgerBudget(ledger: Ledger, options: BudgetCheckOptions): Promise<BudgetStatus> {
  await ledger.refresh();
  const receipts = await cachedLedgerReceipts(ledger);
  const pending = await liveBudgetReservations(ledger.dir, receipts, options.now);
  return checkBudget(receipts, { ...options, pending: [...(options.pending ?? []), ...pending] });
}

/**
 * A verified, read-only view of a ledger directory (see {@link readLedgerSnapshot}).
 * @example
 * ```ts
 * const snap: LedgerSnapshot = await readLedgerSnapshot(dir);
 * console.log(snap.size, snap.checkpoint);
 * ```
 */
export interface LedgerSnapshot {
  readonly origin: string;
  readonly ownerPublicKey: Uint8Array;
  /** True if the owner key was pinned by the caller rather than read from the log header. */
  readonly ownerKeyPinned: boolean;
  readonly size: number;
  /** Bytes of an incomplete final record left by a crash (not an entry; cut on the next open). */
  readonly tornTailBytes: number;
  /** The exact bytes of each entry (the leaf inputs). */
  readonly entries: readonly Uint8Array[];
  /** The owner-signed checkpoint (C2SP signed note) of `size`. */
  readonly checkpoint: string;
  root(size?: number): Uint8Array;
  leafHash(index: number): Uint8Array;
  inclusionProof(index: number, size?: number): Uint8Array[];
  consistencyProof(size1: number, size2?: number): Uint8Array[];
  /** Every entry decoded. */
  receipts(): UsageReceipt[];
}

/**
 * Reads and fully verifies a ledger directory without its owner's secret key (for auditors and
 * the read-only CLI commands), with the same options as {@link verifyLedgerDir}. Throws
 * `LedgerIntegrityError` naming the first bad entry index if verification fails (a missing
 * checkpoint fails unless `allowMissingCheckpoint`).
 * @example
 * ```ts
 * const snap = await readLedgerSnapshot('./ledger', { publicKey });
 * const proof = snap.inclusionProof(3);
 * ```
 */
export async function readLedgerSnapshot(
  dir: string,
  options: Omit<VerifyLedgerOptions, 'checkpoint' | 'onProgress'> & { workers?: number } = {},
): Promise<LedgerSnapshot> {
  let log: Uint8Array;
  try {
    log = new Uint8Array(await fsp.readFile(join(dir, LEDGER_FILES.log)));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new InputError(`no ledger in ${dir} (${LEDGER_FILES.log} not found)`);
    throw e;
  }
  const cpText = await readTextOrUndefined(join(dir, LEDGER_FILES.checkpoint));
  const { result, tree, records } = await verifyLedgerBytesParallel(log, cpText === undefined ? options : { ...options, checkpoint: cpText });
  if (!result.ok) {
    const p = result.problem!;
    throw new LedgerIntegrityError(p.index === undefined ? p.message : `entry ${p.index}: ${p.message}`, p.index === undefined ? {} : { index: p.index });
  }
  const origin = result.origin!;
  const owner = result.ownerPublicKey!;
  const size = tree.size;
  let checkpoint: string;
  if (size > 0) {
    checkpoint = formatSignedNote(formatCheckpointBody({ origin, size, root: tree.root() }), origin, owner, records[size - 1]!.seal);
  } else if (cpText !== undefined) {
    checkpoint = cpText; // verified above against the owner key and the (empty) log
  } else {
    throw new LedgerIntegrityError('empty ledger without a checkpoint file');
  }
  return {
    origin,
    ownerPublicKey: owner,
    ownerKeyPinned: result.ownerKeyPinned,
    size,
    tornTailBytes: result.tornTailBytes,
    entries: records.map((r) => r.entry),
    checkpoint,
    root: (n?: number) => tree.root(n),
    leafHash: (i: number) => tree.leafHash(i),
    inclusionProof: (i: number, n?: number) => tree.inclusionProof(i, n),
    consistencyProof: (m: number, n?: number) => tree.consistencyProof(m, n),
    receipts: () => records.map((r) => decodeReceipt(r.entry)),
  };
}
