/**
 * One side's job directory (`--work-dir DIR/<job id>/`, docs/jobs.md): the manifest, the input
 * partitioned into bucket files, and one result per finished bucket. Every file is written to a
 * temporary name and renamed into place, so a crash leaves either the old state or the new one;
 * a bucket counts as finished exactly when its `results/NNNNN.json` exists.
 *
 * The manifest holds the per-job bucket key (a secret: mode 0600, never logged).
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../errors.js';
import { normalizeKey } from '../../protocols/psi/index.js';
import type { PsiSuiteName } from '../../protocols/psi/suite.js';
import { bucketOfWords } from '../../session/run-job.js';
import { createHmacSha256Prefix } from './bucket-hash.js';
import { toBase64, toHex } from '../../utils/bytes.js';
import { scanCsv } from '../../sources/csv-scan.js';
import { fsErrorText } from '../files.js';
import { CSV_MESSAGES, JOB_MESSAGES as M } from '../messages.js';
import { csvLine, openInput } from '../record-input.js';

/** What each side records about a job. */
export interface JobManifest {
  version: 1;
  jobId: string;
  role: 'requester' | 'responder';
  buckets: number;
  /** Hex; secret. */
  bucketKey: string;
  jobTerms: string;
  /** Base64 of the peer's identity key. */
  peerKey: string;
  input: string;
  /** `--query` of a database `--input` (postgres:// or mysql://); absent for a CSV file. */
  query?: string;
  keyColumns: string[];
  /**
   * Hex SHA-256 of the input when it was partitioned: of the file, or for a database input of the
   * records the query returned ({@link createRecordsDigest}). The merge compares it.
   */
  inputSha256: string;
  inputRecords: number;
  skippedRows: number;
  reveal: 'requester' | 'both';
  countOnly: boolean;
  truncate: 0 | 128 | 192;
  /** The PSI group (absent in manifests of earlier builds: curve25519). */
  suite?: PsiSuiteName;
  purpose: string;
  /** Requester: how workers reach the responder(s), and the files they authenticate with. */
  connect?: string[];
  identityDir: string;
  peerKeyFile: string;
  /** Data rows per bucket. */
  bucketRows: number[];
  /**
   * A CSV input's row index was written when it was partitioned (`buckets/rows.idx`: each row's
   * place in the file and its bucket), so the merge copies matched rows without parsing the file
   * again. Absent in manifests of earlier builds (then the merge parses the input).
   */
  rowIndex?: 1;
  /**
   * The records (rows with a key) this side declared when the job opened, and the peer's: the
   * budget was reserved with them, and a side whose total exceeds its declaration is refused at
   * close. Absent in manifests of earlier builds (then unchecked).
   */
  declaredRecords?: number;
  peerDeclaredRecords?: number;
  startedAt: number;
  /** A psi-sum job (docs/jobs.md, "psi-sum jobs"). */
  sum?: SumJobManifest;
}

/** What each side records about a psi-sum job. */
export interface SumJobManifest {
  /** This side: identifiers only (`ids`) or identifiers and values (`values`). */
  holder: 'ids' | 'values';
  /** Which session role holds the values. */
  valuesRole: 'requester' | 'responder';
  minCohort: number;
  dpEpsilon?: string;
  /** Value holder: the columns asked for (`--values`, `--decimals`, `--bound`). */
  valueColumns: string[];
  decimals: Record<string, number>;
  bounds: Record<string, string>;
  /** Value holder, once partitioned: the job's columns (bound in scaled units, decimal string). */
  columns?: { name: string; decimals: number; bound: string }[];
  /** Value holder: the job's plaintext size (planned for the job's total) and distinct keys. */
  plainBits?: number;
  valueKeys?: number;
  /** Value holder, secret: the hex seed of its mask shares and its offsets (decimal strings). */
  maskSeed?: string;
  offsets?: string[];
}

/** What the ID holder keeps of a psi-sum bucket: the masked values it decrypted (never a bucket sum). */
export interface SumBucketPart {
  count: number;
  /** Per column, decimal strings in [0, t). */
  masked: string[];
  valid: boolean;
  plainBits: number;
  columns: { name: string; decimals: number; bound: string }[];
}

/** A finished bucket. */
export interface BucketResult {
  bucket: number;
  distinctKeys: number;
  peerDistinctKeys: number;
  /** Distinct keys in the bucket's intersection (null when this side learns nothing). */
  intersectionSize: number | null;
  /** Rows of the bucket whose key matched; their ordinals in the bucket are in `NNNNN.rows`. */
  matchedRows: number;
  bytesSent: number;
  bytesReceived: number;
  ms: number;
  /** psi-sum, ID holder: what it decrypted (masked). */
  sum?: SumBucketPart;
}

/** What both sides' options share (`JobServeOptions`, `JobSubmitOptions`). */
interface SideOptions {
  input: string;
  query?: string;
  keyColumns: string[];
  reveal: 'requester' | 'both';
  countOnly: boolean;
  truncate: 0 | 128 | 192;
  suite: PsiSuiteName;
  identityDir: string;
  peerKeyFile: string;
}

/**
 * A side's manifest of a job just opened (`openPsiJob`), before partitioning: the agreed bucket key
 * and job terms hash, this side's input and PSI options, and the sizes both sides declared.
 * @example
 * ```ts
 * const m = newJobManifest({ jobId: 'j1', role: 'responder', buckets: 64, job, peerKey, opts, purpose: '', declared, peerDeclared });
 * ```
 */
export function newJobManifest(o: {
  jobId: string;
  role: 'requester' | 'responder';
  buckets: number;
  job: { bucketKey: Uint8Array; jobTerms: string };
  peerKey: Uint8Array;
  opts: SideOptions;
  purpose: string;
  declared: number;
  peerDeclared: number;
}): JobManifest {
  const { opts } = o;
  return {
    version: 1,
    jobId: o.jobId,
    role: o.role,
    buckets: o.buckets,
    bucketKey: Buffer.from(o.job.bucketKey).toString('hex'),
    jobTerms: o.job.jobTerms,
    peerKey: toBase64(o.peerKey),
    input: opts.input,
    ...(opts.query !== undefined ? { query: opts.query } : {}),
    keyColumns: opts.keyColumns,
    inputSha256: '',
    inputRecords: 0,
    skippedRows: 0,
    reveal: opts.reveal,
    countOnly: opts.countOnly,
    truncate: opts.truncate,
    suite: opts.suite,
    purpose: o.purpose,
    identityDir: opts.identityDir,
    peerKeyFile: opts.peerKeyFile,
    bucketRows: [],
    declaredRecords: o.declared,
    peerDeclaredRecords: o.peerDeclared,
    startedAt: Date.now(),
  };
}

/** Paths of one job's directory. */
export function jobPaths(workDir: string, jobId: string) {
  const dir = join(workDir, jobId);
  const name = (b: number) => String(b).padStart(5, '0');
  return {
    dir,
    manifest: join(dir, 'manifest.json'),
    buckets: join(dir, 'buckets'),
    bucketCsv: (b: number) => join(dir, 'buckets', `${name(b)}.csv`),
    result: (b: number) => join(dir, 'results', `${name(b)}.json`),
    resultRows: (b: number) => join(dir, 'results', `${name(b)}.rows`),
    rowIndex: join(dir, 'buckets', 'rows.idx'),
    results: join(dir, 'results'),
  };
}

async function writeAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Reads a job's manifest, or `undefined` when the job has none yet.
 * @example
 * ```ts
 * const m = await readManifest('/srv/jobs', 'city-2026-12');
 * ```
 */
export async function readManifest(workDir: string, jobId: string): Promise<JobManifest | undefined> {
  let text: string;
  try {
    text = await readFile(jobPaths(workDir, jobId).manifest, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(M.manifestUnreadable(workDir, jobId, fsErrorText(err)));
  }
  try {
    const m = JSON.parse(text) as JobManifest;
    if (m.version !== 1 || m.jobId !== jobId || !/^[0-9a-f]{64}$/.test(m.bucketKey) || !Array.isArray(m.bucketRows) || m.bucketRows.length !== m.buckets) throw new Error('bad');
    return m;
  } catch {
    throw new InputError(M.manifestDamaged(workDir, jobId, jobPaths(workDir, jobId).dir));
  }
}

/** Writes the manifest (mode 0600: it holds the bucket key). */
export async function writeManifest(workDir: string, m: JobManifest): Promise<void> {
  await writeAtomic(jobPaths(workDir, m.jobId).manifest, `${JSON.stringify(m, null, 1)}\n`, 0o600);
}

/** The finished bucket's result, or `undefined`. */
export async function readBucketResult(workDir: string, jobId: string, bucket: number): Promise<BucketResult | undefined> {
  try {
    return JSON.parse(await readFile(jobPaths(workDir, jobId).result(bucket), 'utf8')) as BucketResult;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InputError(M.resultUnreadable(jobId, bucket, fsErrorText(err)));
  }
}

/**
 * Writes a bucket's matched rows (their 0-based ordinals among the bucket's rows, float64), then
 * its result (the result's existence = finished).
 */
export async function writeBucketResult(workDir: string, jobId: string, r: BucketResult, rows: Float64Array): Promise<void> {
  const p = jobPaths(workDir, jobId);
  await mkdir(p.results, { recursive: true });
  await writeAtomic(p.resultRows(r.bucket), new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
  await writeAtomic(p.result(r.bucket), `${JSON.stringify(r)}\n`);
}

/** Reads a file of float64 row ordinals (little-endian). */
export async function readRowNumbers(path: string): Promise<Float64Array> {
  const b = await readFile(path);
  if (b.length % 8 !== 0) throw new InputError(M.damagedRows(path));
  const out = new Float64Array(b.length / 8);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/**
 * The bucket function of a job: HMAC-SHA256 under the job's bucket key (bucket-hash.ts, the
 * same bytes as node:crypto's), reduced by `bucketIndex`.
 * @example
 * ```ts
 * const bucketOf = bucketFunction(manifest); bucketOf(normalizeKey(['x'])!);
 * ```
 */
export function bucketFunction(m: Pick<JobManifest, 'bucketKey' | 'buckets'>): (key: Uint8Array) => number {
  const mac = createHmacSha256Prefix(Buffer.from(m.bucketKey, 'hex'));
  return (k) => {
    const [hi, lo] = mac(k);
    return bucketOfWords(hi, lo, m.buckets);
  };
}

/**
 * The digest of a database input's records, in the order the query returned them: SHA-256 over
 * the header's names and every row's cells, each cell length-prefixed and NULL distinct from ''.
 * Taken when the job partitions the input and again when the merge reads it (a new snapshot):
 * a different digest means the rows changed — or came in another order (a query without
 * `ORDER BY`) — and the merge writes nothing.
 * @example
 * ```ts
 * const d = createRecordsDigest(); d.add(['id']); d.add(['110101…', null]); d.hex();
 * ```
 */
export function createRecordsDigest(): { add(cells: readonly (string | null)[]): void; hex(): string } {
  const h = createHash('sha256').update('dataport-job-v1 records\0');
  const len = Buffer.alloc(4);
  return {
    add(cells) {
      len.writeUInt32BE(cells.length);
      h.update(len);
      for (const c of cells) {
        if (c === null) {
          h.update(Uint8Array.of(0));
          continue;
        }
        const b = Buffer.from(c, 'utf8');
        len.writeUInt32BE(b.length);
        h.update(Uint8Array.of(1)).update(len).update(b);
      }
    },
    hex: () => h.digest('hex'),
  };
}

/**
 * Buffered appends to one file: bytes are copied into the appender's own buffer at once (the
 * caller's may be a view of a read buffer), written when it is full.
 */
class Appender {
  private buf: Uint8Array | undefined;
  private n = 0;
  private readonly ws: WriteStream;
  private failure: unknown;
  constructor(
    path: string,
    private readonly size = 1 << 16,
  ) {
    this.ws = createWriteStream(path, { flags: 'w' });
    this.ws.on('error', (e) => (this.failure = e));
  }
  /** Writes go out one after another, in the order they were asked for (a long row's too). */
  private tail: Promise<void> = Promise.resolve();
  add(b: Uint8Array): Promise<void> | undefined {
    let pending: Promise<void> | undefined;
    if (this.buf !== undefined && this.n + b.length > this.buf.length) pending = this.flush();
    // A row longer than the buffer goes out on its own, after what was buffered.
    if (b.length > this.size) return this.enqueue(b.slice());
    this.buf ??= new Uint8Array(this.size);
    this.buf.set(b, this.n);
    this.n += b.length;
    return pending;
  }
  private enqueue(chunk: Uint8Array): Promise<void> {
    this.tail = this.tail.then(async () => {
      if (this.failure) throw this.failure;
      if (!this.ws.write(chunk)) await new Promise<void>((r) => this.ws.once('drain', r));
    });
    return this.tail;
  }
  flush(): Promise<void> {
    if (this.buf === undefined || this.n === 0) return this.tail;
    // The stream keeps the chunk until it is written: the next bytes go to a new buffer.
    const chunk = this.buf.subarray(0, this.n);
    this.buf = undefined;
    this.n = 0;
    return this.enqueue(chunk);
  }
  async end(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => this.ws.end((e?: Error | null) => (e ? reject(e) : resolve())));
    if (this.failure) throw this.failure;
  }
}

/**
 * The row index of a partitioned CSV file (`rows.idx`): LEB128 varints, first the header's offset
 * and length, then per data row, in file order, the bytes skipped since the previous row's end
 * (blank lines), the row's length (line end included) and its bucket + 1 (0: a row without a key).
 * About three bytes per row.
 */
class RowIndexWriter {
  private buf = new Uint8Array(1 << 16);
  private n = 0;
  private prevEnd = 0;
  constructor(private readonly out: Appender) {}
  private varint(v: number): void {
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.n++] = v;
  }
  private flushIfFull(): Promise<void> | undefined {
    if (this.n < this.buf.length - 64) return undefined;
    const chunk = this.buf.slice(0, this.n);
    this.n = 0;
    return this.out.add(chunk);
  }
  header(offset: number, length: number): Promise<void> | undefined {
    this.varint(offset);
    this.varint(length);
    this.prevEnd = offset + length;
    return this.flushIfFull();
  }
  row(offset: number, length: number, bucket: number): Promise<void> | undefined {
    this.varint(offset - this.prevEnd);
    this.varint(length);
    this.varint(bucket + 1);
    this.prevEnd = offset + length;
    return this.flushIfFull();
  }
  async end(): Promise<void> {
    if (this.n > 0) void this.out.add(this.buf.slice(0, this.n));
    this.n = 0;
    await this.out.end();
  }
}

/** Reads a row index ({@link RowIndexWriter}) front to back. */
export class RowIndexReader {
  private buf = new Uint8Array(0);
  private pos = 0;
  private eof = false;
  private constructor(
    private readonly fh: FileHandle,
    private readonly path: string,
  ) {}
  static async open(path: string): Promise<RowIndexReader> {
    return new RowIndexReader(await open(path, 'r'), path);
  }
  /** Reads more when fewer than 32 bytes (two rows' varints at least) are buffered. */
  async refill(): Promise<void> {
    if (this.buf.length - this.pos >= 32 || this.eof) return;
    const rest = this.buf.subarray(this.pos);
    const next = new Uint8Array(rest.length + (1 << 20));
    next.set(rest);
    const { bytesRead } = await this.fh.read(next, rest.length, 1 << 20, null);
    if (bytesRead === 0) this.eof = true;
    this.buf = next.subarray(0, rest.length + bytesRead);
    this.pos = 0;
  }
  /** Whether a refill is due before the next row. */
  get low(): boolean {
    return !this.eof && this.buf.length - this.pos < 32;
  }
  /** After {@link refill}: no bytes left. */
  get atEnd(): boolean {
    return this.pos >= this.buf.length;
  }
  /** The next varint. */
  varint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new InputError(M.damagedIndex(this.path));
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 49) throw new InputError(M.damagedIndex(this.path));
    }
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
}

/**
 * Splits the input into the job's buckets: `buckets/NNNNN.csv`, the header and the bucket's rows
 * byte for byte, in input order (so a bucket's k-th row is the k-th input row in that bucket). Memory
 * is a few buffers per bucket, whatever the input's size. Written under a temporary directory
 * renamed into place; fills `inputSha256`, `inputRecords`, `skippedRows` and `bucketRows`.
 * A database input (`m.query`) is read through the same reader as `dataport psi`; its bucket
 * files hold only the key columns (as CSV, NULL as an empty field), all the merge needs.
 *
 * @example
 * ```ts
 * await partitionInput(workDir, manifest, { onBytes: (n) => progress.update(n) });
 * ```
 */
export async function partitionInput(workDir: string, m: JobManifest, options: { onBytes?: (n: number) => void; signal?: AbortSignal } = {}): Promise<void> {
  const p = jobPaths(workDir, m.jobId);
  const tmp = `${p.buckets}.${process.pid}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const name = (b: number) => String(b).padStart(5, '0');
  // 64 KiB per bucket file, less when there are many (at most ~32 MiB of buffers in all).
  const bufferBytes = Math.max(4096, Math.min(1 << 16, Math.floor((32 << 20) / m.buckets)));
  const csv = Array.from({ length: m.buckets }, (_, b) => new Appender(join(tmp, `${name(b)}.csv`), bufferBytes));
  const counts = new Array<number>(m.buckets).fill(0);
  const bucketOf = bucketFunction(m);
  let skipped = 0;
  const index = m.query === undefined ? new RowIndexWriter(new Appender(join(tmp, 'rows.idx'))) : undefined;
  const place = (values: readonly string[], row: number, raw: () => Uint8Array, offset?: number): Promise<void> | undefined => {
    let key: Uint8Array | undefined;
    try {
      key = normalizeKey(values);
    } catch (err) {
      throw new InputError(`${m.input}: data row ${row}: ${(err as Error).message}`);
    }
    if (key === undefined) {
      skipped++;
      return index?.row(offset!, raw().length, -1);
    }
    const b = bucketOf(key);
    counts[b]!++;
    const bytes = raw();
    const pending = index?.row(offset!, bytes.length, b);
    const added = csv[b]!.add(bytes);
    return pending && added ? Promise.all([pending, added]).then(() => undefined) : (pending ?? added);
  };
  try {
    let digest: string;
    let rows: number;
    if (m.query === undefined) {
      const scan = await scanCsv(
        m.input,
        {
          columns: m.keyColumns,
          raw: true,
          lines: false,
          // The appenders copy each row at once.
          rawView: true,
          ...(options.onBytes ? { onBytes: options.onBytes } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
          onHeader: (_names, headerRaw, headerOffset) => {
            for (const a of csv) void a.add(headerRaw);
            void index!.header(headerOffset, headerRaw.length);
          },
        },
        (row) => place(row.values, row.row, () => row.raw!, row.offset),
      );
      digest = toHex(scan.sha256);
      rows = scan.rows;
    } else {
      const enc = new TextEncoder();
      const header = enc.encode(csvLine(m.keyColumns));
      for (const a of csv) void a.add(header);
      const records = createRecordsDigest();
      const reader = await openInput(m.input, m.query, { keepOpen: false });
      try {
        ({ rows } = await reader.forEach(m.keyColumns, (row) => {
          records.add(row.cells!);
          return place(row.values, row.row, () => enc.encode(csvLine(row.values)));
        }, { full: true, lines: false, onHeader: (names) => records.add(names), ...(options.signal ? { signal: options.signal } : {}) }));
      } finally {
        await reader.close();
      }
      digest = records.hex();
    }
    for (const a of csv) await a.end();
    await index?.end();
    await rm(p.buckets, { recursive: true, force: true });
    await rename(tmp, p.buckets);
    m.inputSha256 = digest;
    m.inputRecords = rows;
    m.skippedRows = skipped;
    m.bucketRows = counts;
    if (index) m.rowIndex = 1;
    else delete m.rowIndex;
  } catch (err) {
    await Promise.allSettled([...csv.map((a) => a.end()), index?.end()]);
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * The records of an input a job declares when it opens: its rows with a non-empty key, counted
 * in one streaming pass (nothing kept in memory) before any key for the buckets exists. An upper
 * bound of the distinct keys the job's receipt will show.
 * @example
 * ```ts
 * const declared = await countRecords('pharma.csv', undefined, ['resident_id']);
 * ```
 */
export async function countRecords(input: string, query: string | undefined, keyColumns: readonly string[], options: { onBytes?: (n: number) => void; signal?: AbortSignal } = {}): Promise<number> {
  const reader = await openInput(input, query, { keepOpen: false });
  let n = 0;
  try {
    await reader.forEach(
      keyColumns,
      (row) => {
        let key: Uint8Array | undefined;
        try {
          key = normalizeKey(row.values);
        } catch (err) {
          throw new InputError(CSV_MESSAGES.badKey(reader.info.label, row.row, (err as Error).message));
        }
        if (key !== undefined) n++;
      },
      { lines: false, ...(options.onBytes ? { onBytes: options.onBytes } : {}), ...(options.signal ? { signal: options.signal } : {}) },
    );
  } finally {
    await reader.close();
  }
  return n;
}

/**
 * After partitioning: the rows with a key must not exceed what this side declared when the job
 * opened (the input grew, or a new snapshot of a query has more rows): `InputError` otherwise.
 */
export function checkDeclared(m: JobManifest): void {
  const partitioned = m.inputRecords - m.skippedRows;
  if (m.declaredRecords !== undefined && partitioned > m.declaredRecords) throw new InputError(M.grewSinceDeclared(m.jobId, m.input, partitioned, m.declaredRecords));
}

/** Creates the job directory (and `--work-dir` if needed). */
export async function makeJobDir(workDir: string, jobId: string): Promise<void> {
  const st = await stat(workDir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new InputError(M.workDirNotDir(workDir));
  try {
    await mkdir(jobPaths(workDir, jobId).dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new InputError(M.cannotCreate(workDir, fsErrorText(err)));
  }
}

