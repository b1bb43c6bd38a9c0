/**
 * One bucket of a job on one side (an ordinary authenticated `runPsi` session bound to the job),
 * and the final merge of the bucket results into the output file.
 *
 * A bucket's keys are read from its partition file with the same reader as `dataport psi`
 * (`readKeys`); its result lists which of the bucket's rows matched (their ordinals). The merge
 * streams the input once through `writeMatchingRows`, the same writer as `dataport psi`, asking
 * for each row whether it is the next matched ordinal of its bucket: the output is byte for byte
 * what a single run writes, and memory is one read buffer per bucket.
 * @module
 */
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { InputError, throwIfAborted } from '../../errors.js';
import { concatBytes } from '../../utils/bytes.js';
import { openAtomicOutput, type AtomicOutput } from '../files.js';
import type { CryptoExecutor } from '../../protocols/executor.js';
import { DEFAULT_MAX_PEER_SET_SIZE, normalizeKey } from '../../protocols/psi/index.js';
import { preparePsiRecords, runPsi, type JobBucketBinding, type PreparedPsiRecords, type PsiTerms } from '../../session/run-psi.js';
import type { Identity } from '../../session/identity.js';
import type { FrameTransport } from '../../transport/types.js';
import { fromBase64 } from '../../utils/bytes.js';
import { CSV_MESSAGES, FILE_MESSAGES, JOB_MESSAGES } from '../messages.js';
import { keyBytes, keyId, readKeys, writeMatchingRows, type KeyInput } from '../key-input.js';
import { openInput, writeMatchingInputRows, type InputReader } from '../record-input.js';
import { runSumBucket } from './sum-bucket.js';
import { RowIndexReader, bucketFunction, createRecordsDigest, jobPaths, writeBucketResult, type BucketResult, type JobManifest } from './work-dir.js';

/** The PSI terms of a job's manifest (every bucket runs with them). */
export function termsOfManifest(m: JobManifest): PsiTerms {
  return { reveal: m.reveal, countOnly: m.countOnly, truncation: m.truncate === 0 ? 'none' : m.truncate, purpose: m.purpose };
}

/** A bucket's keys (`readKeys`, as `dataport psi` reads its input), or `undefined` for an empty bucket. */
export async function bucketKeys(m: JobManifest, workDir: string, b: number, signal?: AbortSignal): Promise<KeyInput | undefined> {
  if (m.bucketRows[b] === 0) return undefined;
  return readKeys(jobPaths(workDir, m.jobId).bucketCsv(b), m.keyColumns, normalizeKey, {
    maxKeys: DEFAULT_MAX_PEER_SET_SIZE,
    rowKeys: true,
    ...(signal ? { signal } : {}),
  });
}

/** A bucket's keys, read and normalised (before connecting, on the requester). */
export interface LoadedBucket {
  input: KeyInput | undefined;
  records: PreparedPsiRecords;
}

/**
 * Reads and normalises bucket `b`'s keys. The requester does it before it connects, so that its
 * own reading (seconds for 2^18 keys on a loaded machine) is not spent inside the responder's
 * handshake deadline.
 */
export async function loadBucket(m: JobManifest, workDir: string, b: number, signal?: AbortSignal): Promise<LoadedBucket> {
  const input = await bucketKeys(m, workDir, b, signal);
  const records = await preparePsiRecords(input?.fields ?? [], { keySchema: { columns: m.keyColumns }, ...(signal ? { signal } : {}) });
  return { input, records };
}

/** What running one bucket needs besides the manifest. */
export interface BucketRunContext {
  workDir: string;
  identity: Identity;
  executor: CryptoExecutor;
  signal?: AbortSignal;
}

/**
 * Runs bucket `b` of the job over `transport` and writes its result atomically. The responder
 * refuses a session whose terms are not exactly this job's (peer, terms, job id, bucket, job terms hash).
 *
 * @example
 * ```ts
 * const r = await runBucket(ctx, manifest, 7, 'requester', transport);
 * ```
 */
export async function runBucket(
  ctx: BucketRunContext,
  m: JobManifest,
  b: number,
  role: 'requester' | 'responder',
  transport: FrameTransport,
  loaded?: LoadedBucket,
): Promise<BucketResult> {
  if (m.sum) return runSumBucket(ctx, m, b, role, transport);
  const t0 = performance.now();
  const { input, records } = loaded ?? (await loadBucket(m, ctx.workDir, b, ctx.signal));
  const binding: JobBucketBinding = { jobId: m.jobId, bucket: b, jobTerms: m.jobTerms };
  const terms = termsOfManifest(m);
  const common = {
    records,
    suite: m.suite ?? 'curve25519',
    transport,
    identity: ctx.identity,
    peerPublicKey: fromBase64(m.peerKey),
    executor: ctx.executor,
    jobBucket: binding,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
  const r =
    role === 'requester'
      ? await runPsi({ ...common, role, terms })
      : await runPsi({
          ...common,
          role,
          policy: {
            check: (t) => {
              // The bucket runs under the job's terms and nothing else (the job session agreed them).
              const reveal = t.recipients.includes('responder') ? 'both' : 'requester';
              if (reveal !== m.reveal || t.options['count-only'] !== String(m.countOnly) || t.options['truncate'] !== String(terms.truncation) || t.purpose !== m.purpose) {
                return 'bucket terms differ from the job terms';
              }
              return undefined;
            },
          },
        });
  let ordinals = new Float64Array(0);
  if (r.intersectionRows !== undefined && input !== undefined && r.intersectionRows.length > 0) {
    // The bucket's rows whose key matched, from the row → key map taken when it was read.
    const matched = new Uint8Array(input.ids.length);
    for (const i of r.intersectionRows) matched[i] = 1;
    const rowKeys = input.rowKeys!;
    const out: number[] = [];
    for (let k = 0; k < rowKeys.length; k++) {
      const key = rowKeys[k]!;
      if (key >= 0 && matched[key] === 1) out.push(k);
    }
    ordinals = Float64Array.from(out);
  }
  const result: BucketResult = {
    bucket: b,
    distinctKeys: r.distinctKeys,
    peerDistinctKeys: r.peerDistinctKeys,
    intersectionSize: r.intersectionSize ?? null,
    matchedRows: ordinals.length,
    bytesSent: r.bytesSent,
    bytesReceived: r.bytesReceived,
    ms: Math.round(performance.now() - t0),
  };
  await writeBucketResult(ctx.workDir, m.jobId, result, ordinals);
  return result;
}

/** Reads a bucket's matched ordinals in 4 KiB slices. */
class OrdinalCursor {
  private fd: number | undefined;
  private buf = new Float64Array(512);
  private len = 0;
  private pos = 0;
  seen = 0;
  constructor(private readonly path: string) {}
  private next(): number {
    if (this.pos === this.len) {
      this.fd ??= openSync(this.path, 'r');
      const n = readSync(this.fd, new Uint8Array(this.buf.buffer), 0, this.buf.byteLength, null);
      if (n % 8 !== 0) throw new InputError(JOB_MESSAGES.damagedRows(this.path));
      this.len = n / 8;
      this.pos = 0;
      if (this.len === 0) return Number.POSITIVE_INFINITY;
    }
    return this.buf[this.pos++]!;
  }
  private head: number | undefined;
  /** True when the bucket's next row (in input order) matched. */
  take(): boolean {
    this.head ??= this.next();
    const hit = this.head === this.seen++;
    if (hit) this.head = undefined;
    return hit;
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

async function mergeQueryOutput(m: JobManifest, output: string, take: (id: string) => boolean, options: { force?: boolean; signal?: AbortSignal; onBytes?: (n: number) => void }): Promise<number> {
  const reader = await openInput(m.input, m.query, { keepOpen: false });
  const digest = createRecordsDigest();
  // The rows go to the writer as they are read; their digest is checked before it commits.
  const checked: InputReader = {
    info: reader.info,
    kind: reader.kind,
    async forEach(columns, onRow, o = {}) {
      const r = await reader.forEach(
        columns,
        (row) => {
          digest.add(row.cells!);
          return onRow(row);
        },
        {
          ...o,
          full: true,
          onHeader: (names, raw) => {
            digest.add(names);
            o.onHeader?.(names, raw);
          },
        },
      );
      if (digest.hex() !== m.inputSha256) throw new InputError(JOB_MESSAGES.queryChanged(m.input));
      return r;
    },
    close: () => reader.close(),
  };
  try {
    return await writeMatchingInputRows(
      checked,
      m.keyColumns,
      (values) => {
        const key = normalizeKey(values);
        return key !== undefined && take(keyId(key));
      },
      { output, replace: options.force === true, ...(options.signal ? { signal: options.signal } : {}), ...(options.onBytes ? { onBytes: options.onBytes } : {}) },
    );
  } finally {
    await reader.close();
  }
}

/** Reads a file front to back once, hashing every byte, and hands out byte ranges in order. */
class SequentialFile {
  private buf = new Uint8Array(0);
  private base = 0; // file offset of buf[0]
  private readonly hash = createHash('sha256');
  private constructor(private readonly fh: FileHandle) {}
  static async open(path: string): Promise<SequentialFile> {
    return new SequentialFile(await open(path, 'r'));
  }
  private async more(): Promise<boolean> {
    const chunk = new Uint8Array(1 << 20);
    const { bytesRead } = await this.fh.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) return false;
    const got = chunk.subarray(0, bytesRead);
    this.hash.update(got);
    const next = new Uint8Array(this.buf.length + bytesRead);
    next.set(this.buf);
    next.set(got, this.buf.length);
    this.buf = next;
    return true;
  }
  private dropBefore(start: number): void {
    const drop = Math.min(start - this.base, this.buf.length);
    if (drop > 0) {
      this.buf = this.buf.subarray(drop);
      this.base += drop;
    }
  }
  /** Bytes [start, end) of the file (`start` never before an earlier call's); `undefined` past its end. */
  async range(start: number, end: number): Promise<Uint8Array | undefined> {
    this.dropBefore(start);
    while (this.base + this.buf.length < end) {
      if (!(await this.more())) return undefined;
      this.dropBefore(start);
    }
    return this.buf.subarray(start - this.base, end - this.base);
  }
  /** Reads what is left and returns the whole file's SHA-256 (hex). */
  async digest(): Promise<string> {
    this.buf = new Uint8Array(0);
    while (await this.more()) this.buf = new Uint8Array(0);
    return this.hash.digest('hex');
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
}

/**
 * The merge of a CSV input partitioned with a row index (`m.rowIndex`): the input is read once as
 * bytes (no parsing, no keys, no bucket hash): the index says where each row is and which bucket
 * it went to, the bucket's cursor whether it matched. The file's SHA-256, taken on the way, must
 * be the one taken when it was partitioned, or nothing is written.
 */
async function mergeByRowIndex(workDir: string, m: JobManifest, output: string, take: (bucket: number) => boolean, options: { force?: boolean; signal?: AbortSignal; onBytes?: (n: number) => void }): Promise<number> {
  const changed = () => new InputError(CSV_MESSAGES.changedDuringRun(m.input));
  const indexPath = jobPaths(workDir, m.jobId).rowIndex;
  const damaged = () => new InputError(JOB_MESSAGES.damagedIndex(indexPath));
  let file: SequentialFile;
  try {
    file = await SequentialFile.open(m.input);
  } catch (err) {
    throw new InputError(FILE_MESSAGES.cannotRead('--input', m.input, err));
  }
  let index: RowIndexReader | undefined;
  let out: AtomicOutput | undefined;
  try {
    index = await RowIndexReader.open(indexPath).catch(() => {
      throw damaged();
    });
    out = await openAtomicOutput(output, { force: options.force === true });
    let written = 0;
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length > 0) await out!.write(concatBytes(...batch));
      batch = [];
      batchBytes = 0;
    };
    await index.refill();
    const headerOffset = index.varint();
    let prevEnd = headerOffset + index.varint();
    const header = await file.range(headerOffset, prevEnd);
    if (header === undefined) throw changed();
    batch.push(header);
    let rows = 0;
    for (;;) {
      if (index.low) await index.refill();
      if (index.atEnd) break;
      const start = prevEnd + index.varint();
      prevEnd = start + index.varint();
      const code = index.varint();
      if (code > m.buckets) throw damaged();
      if ((++rows & 0xffff) === 0) {
        throwIfAborted(options.signal);
        options.onBytes?.(prevEnd);
      }
      if (code === 0 || !take(code - 1)) continue;
      const bytes = await file.range(start, prevEnd);
      if (bytes === undefined) throw changed();
      batch.push(bytes);
      batchBytes += bytes.length;
      written++;
      if (batchBytes >= 1 << 20) await flush();
    }
    if (rows !== m.inputRecords) throw damaged();
    if ((await file.digest()) !== m.inputSha256) throw changed();
    await flush();
    await out.commit();
    return written;
  } catch (err) {
    await out?.abort();
    throw err;
  } finally {
    await index?.close();
    await file.close();
  }
}

/**
 * Writes the job's output: the input's header and every row whose key matched, in input order,
 * byte for byte (what `dataport psi --output` writes). Fails, writing nothing, if the input
 * changed since it was partitioned. Returns the rows written.
 *
 * A database input is read again (a new snapshot) through the writer `dataport psi` uses for a
 * database input (`writeMatchingInputRows`: every column as CSV text), its records' digest
 * compared with the one taken when it was partitioned before the file is committed.
 *
 * @example
 * ```ts
 * const rows = await mergeOutput(workDir, manifest, 'matched.csv');
 * ```
 */
export async function mergeOutput(workDir: string, m: JobManifest, output: string, options: { force?: boolean; signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<number> {
  const p = jobPaths(workDir, m.jobId);
  const cursors = Array.from({ length: m.buckets }, (_, b) => new OrdinalCursor(p.resultRows(b)));
  const bucketOf = bucketFunction(m);
  try {
    if (m.query !== undefined) return await mergeQueryOutput(m, output, (id) => cursors[bucketOf(keyBytes(id))]!.take(), options);
    if (m.rowIndex === 1) return await mergeByRowIndex(workDir, m, output, (b) => cursors[b]!.take(), options);
    return await writeMatchingRows(
      m.input,
      output,
      m.keyColumns,
      normalizeKey,
      { has: (id: string) => cursors[bucketOf(keyBytes(id))]!.take() },
      Buffer.from(m.inputSha256, 'hex'),
      { ...options, force: options.force === true },
    );
  } finally {
    for (const c of cursors) c.close();
  }
}
