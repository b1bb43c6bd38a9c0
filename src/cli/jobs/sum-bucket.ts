/**
 * psi-sum jobs on one side (docs/jobs.md, "psi-sum jobs"): the value holder's job columns and
 * mask secrets (computed once the input is partitioned), one bucket as a `runPsiSum` session that
 * releases nothing, and what each side brings to the closing session.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { HeParameterMismatchError, InputError } from '../../errors.js';
import { formatFixedPoint, parseFixedPoint } from '../../he/fixed-point.js';
import type { CryptoExecutor } from '../../protocols/executor.js';
import { normalizeKey } from '../../protocols/psi/index.js';
import type { ColumnSpec } from '../../protocols/psi-sum/codec.js';
import { choosePlainBits } from '../../protocols/psi-sum/protocol.js';
import { aggregateValueRows, type ValueColumnRequest } from '../../protocols/psi-sum/values.js';
import type { Identity } from '../../session/identity.js';
import type { PsiSumJobTerms } from '../../session/run-job.js';
import { drawJobOffsets, jobMaskShares, psiSumJobModulus, psiSumJobTotals, type ClosePsiSumJobOptions } from '../../session/run-psi-sum-job.js';
import { runPsiSum, type RunPsiSumOptions } from '../../session/run-psi-sum.js';
import type { FrameTransport } from '../../transport/types.js';
import { fromBase64, fromHex } from '../../utils/bytes.js';
import { scanCsv } from '../../sources/csv-scan.js';
import { JOB_MESSAGES as M } from '../messages.js';
import type { ValueOptions } from '../value-options.js';
import { bucketKeys } from './run-bucket.js';
import { jobPaths, writeBucketResult, type BucketResult, type JobManifest, type SumJobManifest } from './work-dir.js';

/** A bucket's rows: key fields and value cells (rows with an empty key are skipped, as in `psi-sum`). */
async function readValueBucket(path: string, m: JobManifest, valueColumns: readonly string[], signal?: AbortSignal): Promise<{ keys: string[][]; values: string[][] }> {
  const keys: string[][] = [];
  const values: string[][] = [];
  const nk = m.keyColumns.length;
  await scanCsv(path, { columns: [...m.keyColumns, ...valueColumns], lines: false, ...(signal ? { signal } : {}) }, (row) => {
    const k = row.values.slice(0, nk);
    if (normalizeKey(k) === undefined) return;
    keys.push(k);
    values.push(row.values.slice(nk));
  });
  return { keys, values };
}

function requests(s: SumJobManifest): ValueColumnRequest[] {
  return s.valueColumns.map((name) => ({
    name,
    ...(s.decimals[name] !== undefined ? { decimals: s.decimals[name] } : {}),
    ...(s.bounds[name] !== undefined ? { bound: s.bounds[name] } : {}),
  }));
}

/**
 * The manifest record of a psi-sum job's options on this side (`role`: this side's session role).
 * @example
 * ```ts
 * const sum = sumManifestOf(opts.sum, 'requester');
 * ```
 */
export function sumManifestOf(v: ValueOptions, role: 'requester' | 'responder'): SumJobManifest {
  const holder = v.valueColumns.length > 0 ? 'values' : 'ids';
  const other = role === 'requester' ? 'responder' : 'requester';
  return {
    holder,
    valuesRole: holder === 'values' ? role : other,
    minCohort: v.minCohort,
    ...(v.dpEpsilon !== undefined ? { dpEpsilon: v.dpEpsilon } : {}),
    valueColumns: v.valueColumns,
    decimals: Object.fromEntries(v.decimals),
    bounds: Object.fromEntries(v.bounds),
  };
}

/** The job's terms as the manifest records them. */
export function sumTermsOf(s: SumJobManifest): PsiSumJobTerms {
  return { values: s.valuesRole, minCohort: s.minCohort, ...(s.dpEpsilon !== undefined ? { dpEpsilon: s.dpEpsilon } : {}) };
}

/**
 * Value holder, once its input is partitioned: the job's columns — decimals = the most any bucket
 * has (or `--decimals`), bound = the smallest power of ten above the largest key total over all
 * buckets (or `--bound`), exactly what one `psi-sum` run over the whole input declares —, the
 * plaintext size planned for the job's total, the seed of its mask shares and its offsets. One pass
 * over the buckets, one bucket in memory at a time. Fills `m.sum`.
 *
 * @example
 * ```ts
 * await prepareSumColumns(workDir, manifest);
 * ```
 */
export async function prepareSumColumns(workDir: string, m: JobManifest, signal?: AbortSignal): Promise<void> {
  const s = m.sum!;
  const req = requests(s);
  const decimals = req.map((r) => r.decimals ?? 0);
  const maxTotal = req.map(() => 0n);
  let valueKeys = 0;
  for (let b = 0; b < m.buckets; b++) {
    if (m.bucketRows[b] === 0) continue;
    const rows = await readValueBucket(jobPaths(workDir, m.jobId).bucketCsv(b), m, s.valueColumns, signal);
    const agg = aggregateValueRows(rows.keys.map((k) => normalizeKey(k)), rows.values, req, {
      rowMessage: (r, column, problem) => `${m.input}: column ${column}: ${problem} (bucket ${b}, data row ${r + 1})`,
    });
    valueKeys += agg.keys.length;
    agg.columns.forEach((c, i) => {
      if (c.decimals > decimals[i]!) decimals[i] = c.decimals;
      let max = 0n;
      for (const v of agg.totals[i]!) max = v > max ? v : -v > max ? -v : max;
      // In units of 10^-decimals of this bucket; compared below at the job's decimals.
      maxTotal[i] = maxTotal[i]! > max * 10n ** BigInt(18 - c.decimals) ? maxTotal[i]! : max * 10n ** BigInt(18 - c.decimals);
    });
  }
  const columns: ColumnSpec[] = req.map((r, i) => {
    const d = decimals[i]!;
    const max = maxTotal[i]! / 10n ** BigInt(18 - d);
    let bound: bigint;
    if (r.bound !== undefined) {
      bound = parseFixedPoint(r.bound.trim(), d);
      if (max > bound) throw new InputError(`column ${r.name}: a key's total exceeds the declared bound ${r.bound}; refused before encryption`);
    } else {
      bound = 1n;
      while (bound < max) bound *= 10n;
    }
    return { name: r.name, decimals: d, bound };
  });
  const idReceives = m.reveal === 'both' || s.valuesRole === 'responder';
  s.columns = columns.map((c) => ({ name: c.name, decimals: c.decimals, bound: c.bound.toString() }));
  s.plainBits = choosePlainBits(columns, valueKeys, s.dpEpsilon);
  s.valueKeys = valueKeys;
  s.maskSeed = randomBytes(32).toString('hex');
  s.offsets = drawJobOffsets(columns, { idHolderReceives: idReceives, ...(s.dpEpsilon !== undefined ? { epsilon: s.dpEpsilon } : {}) }).map(String);
}

function columnsOf(list: readonly { name: string; decimals: number; bound: string }[]): ColumnSpec[] {
  return list.map((c) => ({ name: c.name, decimals: c.decimals, bound: BigInt(c.bound) }));
}

/** What one bucket needs besides the manifest. */
export interface SumBucketContext {
  workDir: string;
  identity: Identity;
  executor: CryptoExecutor;
  signal?: AbortSignal;
}

/** A psi-sum bucket's rows, read (and the value holder's share computed) before connecting. */
export interface LoadedSumBucket {
  records: string[][];
  side: Pick<RunPsiSumOptions, 'values' | 'jobShare'>;
}

/**
 * Reads bucket `b` for a psi-sum session: the keys (and, for the value holder, its values with the
 * job's columns and its mask share). The requester does it before it connects, as for PSI buckets.
 *
 * @example
 * ```ts
 * const loaded = await loadSumBucket(manifest, workDir, 7);
 * ```
 */
export async function loadSumBucket(m: JobManifest, workDir: string, b: number, signal?: AbortSignal): Promise<LoadedSumBucket> {
  const s = m.sum!;
  if (s.holder === 'ids') return { records: (await bucketKeys(m, workDir, b, signal))?.fields ?? [], side: { jobShare: {} } };
  const rows = m.bucketRows[b] === 0 ? { keys: [], values: [] } : await readValueBucket(jobPaths(workDir, m.jobId).bucketCsv(b), m, s.valueColumns, signal);
  const columns = columnsOf(s.columns!);
  const t = await psiSumJobModulus(s.plainBits!);
  const mask = jobMaskShares({ seed: fromHex(s.maskSeed!), t, buckets: m.buckets, bucket: b, offsets: s.offsets!.map(BigInt) });
  return {
    records: rows.keys,
    side: {
      values: { columns: columns.map((c) => ({ name: c.name, decimals: c.decimals, bound: formatFixedPoint(c.bound, c.decimals) })), rows: rows.values },
      jobShare: { plainBits: s.plainBits!, mask },
    },
  };
}

/**
 * Runs bucket `b` of a psi-sum job: a full `runPsiSum` session bound to the job, in which nobody
 * receives a result (the value holder masks with its share; the ID holder keeps the masked
 * values). The responder refuses terms other than the job's. Writes the result atomically.
 *
 * @example
 * ```ts
 * const r = await runSumBucket(ctx, manifest, 7, 'requester', transport);
 * ```
 */
export async function runSumBucket(
  ctx: SumBucketContext,
  m: JobManifest,
  b: number,
  role: 'requester' | 'responder',
  transport: FrameTransport,
  loaded?: LoadedSumBucket,
): Promise<BucketResult> {
  const t0 = performance.now();
  const s = m.sum!;
  const { records, side } = loaded ?? (await loadSumBucket(m, ctx.workDir, b, ctx.signal));
  const common = {
    records,
    keySchema: { columns: m.keyColumns },
    transport,
    identity: ctx.identity,
    peerPublicKey: fromBase64(m.peerKey),
    executor: ctx.executor,
    jobBucket: { jobId: m.jobId, bucket: b, jobTerms: m.jobTerms },
    ...side,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  };
  const r =
    role === 'requester'
      ? await runPsiSum({ ...common, role, terms: { reveal: m.reveal, minCohort: s.minCohort, purpose: m.purpose, ...(s.dpEpsilon !== undefined ? { dpEpsilon: s.dpEpsilon } : {}) } })
      : await runPsiSum({
          ...common,
          role,
          policy: {
            check: (t) => {
              // The bucket runs under the job's terms and nothing else (the job session agreed them).
              const reveal = t.recipients.includes('responder') ? 'both' : 'requester';
              if (reveal !== m.reveal || t.purpose !== m.purpose || t.minIntersection !== s.minCohort || t.options['dp-epsilon'] !== (s.dpEpsilon ?? 'none')) {
                return 'bucket terms differ from the job terms';
              }
              return undefined;
            },
          },
        });
  const part = r.jobBucketResult;
  const result: BucketResult = {
    bucket: b,
    distinctKeys: r.stats.distinctKeys,
    peerDistinctKeys: r.stats.peerDistinctKeys,
    intersectionSize: null,
    matchedRows: 0,
    bytesSent: r.stats.bytesSent,
    bytesReceived: r.stats.bytesReceived,
    ms: Math.round(performance.now() - t0),
    ...(part
      ? {
          sum: {
            count: part.count,
            masked: part.masked.map(String),
            valid: part.valid,
            plainBits: r.stats.plainModulusBits,
            columns: r.columns.map((c) => ({ name: c.name, decimals: c.decimals, bound: c.bound.toString() })),
          },
        }
      : {}),
  };
  await writeBucketResult(ctx.workDir, m.jobId, result, new Float64Array(0));
  return result;
}

/**
 * What this side brings to the closing session of a psi-sum job, from its manifest and bucket
 * results: the job's columns and t, and the ID holder's totals (after checking that every bucket
 * announced the same columns and plaintext size, and that t holds the job's total) or the value
 * holder's offsets.
 *
 * @example
 * ```ts
 * const side = await sumCloseSide(manifest, results);
 * ```
 */
export async function sumCloseSide(m: JobManifest, results: readonly BucketResult[]): Promise<Pick<ClosePsiSumJobOptions, 'holder' | 'columns' | 'plainModulus' | 'sizes' | 'idTotals' | 'offsets'>> {
  const s = m.sum!;
  const mine = results.reduce((n, r) => n + r.distinctKeys, 0);
  const peer = results.reduce((n, r) => n + r.peerDistinctKeys, 0);
  if (s.holder === 'values') {
    return {
      holder: 'values',
      columns: columnsOf(s.columns!),
      plainModulus: await psiSumJobModulus(s.plainBits!),
      sizes: { values: mine, ids: peer },
      offsets: s.offsets!.map(BigInt),
    };
  }
  const parts = results.map((r) => r.sum);
  const first = parts[0];
  const same = (p: typeof first) => p !== undefined && p.plainBits === first!.plainBits && JSON.stringify(p.columns) === JSON.stringify(first!.columns);
  if (!first || !parts.every(same)) throw new InputError(M.sumColumnsDiffer(m.jobId));
  const columns = columnsOf(first.columns);
  // t was planned by the value holder for the job's total: check it can hold it (no silent wrap).
  let need: number;
  try {
    need = choosePlainBits(columns, peer, s.dpEpsilon);
  } catch {
    throw new HeParameterMismatchError(M.sumModulusTooSmall(m.jobId));
  }
  if (need > first.plainBits) throw new HeParameterMismatchError(M.sumModulusTooSmall(m.jobId));
  const t = await psiSumJobModulus(first.plainBits);
  const idTotals = psiSumJobTotals(
    t,
    parts.map((p) => ({ count: p!.count, masked: p!.masked.map(BigInt), valid: p!.valid })),
  );
  return { holder: 'ids', columns, plainModulus: t, sizes: { values: peer, ids: mine }, idTotals };
}
