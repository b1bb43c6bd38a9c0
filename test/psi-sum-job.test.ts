/**
 * psi-sum jobs at the SDK level (src/session/run-psi-sum-job.ts, runPsiSum's `jobBucket` /
 * `jobShare`), over in-memory transports: the job's totals equal one `runPsiSum` over the same
 * data; what the ID holder decrypts per bucket is masked (never the bucket's sum) and only all
 * buckets together give the total; the minimum cohort applies to the total; when the ID holder is
 * not a recipient even the sum of its bucket values is masked.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { normalizeKey } from '../src/protocols/psi/normalize.js';
import { aggregateValueRows } from '../src/protocols/psi-sum/values.js';
import { choosePlainBits, epsilonEach } from '../src/protocols/psi-sum/protocol.js';
import { discreteLaplaceBound } from '../src/protocols/guardrails.js';
import type { ColumnSpec } from '../src/protocols/psi-sum/codec.js';
import { generateIdentity } from '../src/session/identity.js';
import { bucketIndex, openPsiJob, type PsiJobSpec } from '../src/session/run-job.js';
import { runPsiSum, type RunPsiSumResult } from '../src/session/run-psi-sum.js';
import { closePsiSumJob, drawJobOffsets, jobMaskShares, psiSumJobModulus, psiSumJobTotals, type PsiSumBucketPart, type PsiSumJobOutcome } from '../src/session/run-psi-sum-job.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';

const pharma = generateIdentity();
const hospital = generateIdentity();

// V (hospital): 70 rows over 60 distinct keys (some keys twice), cost with 2 decimals and a flag.
const vIds = Array.from({ length: 70 }, (_, i) => `1101011990${String(i % 60).padStart(8, '0')}`);
const vRows = vIds.map((_, i) => [`${(i * 37) % 1000}.${String((i * 13) % 100).padStart(2, '0')}`, String(i % 3 === 0 ? 1 : 0)]);
// I (pharma): 50 keys, 35 of them V's (keys 25..59), spelled with other case/spaces where possible.
const iIds = Array.from({ length: 50 }, (_, i) => ` 1101011990${String(i + 25).padStart(8, '0')} `);
const COLUMNS = [{ name: 'cost', decimals: 2, bound: '100000' }, { name: 'flag', decimals: 0, bound: '10' }];

type Role = 'requester' | 'responder';

interface JobRun {
  id: PsiSumJobOutcome | Error;
  v: PsiSumJobOutcome | Error;
  parts: PsiSumBucketPart[];
  /** Per bucket, per column: the bucket's true sum (mod t). */
  trueSums: bigint[][];
  t: bigint;
}

async function runJob(o: { values: Role; reveal: 'both' | 'requester'; minCohort?: number; buckets: number; epsilon?: string }): Promise<JobRun> {
  const idRole: Role = o.values === 'requester' ? 'responder' : 'requester';
  const spec: PsiJobSpec = { jobId: 'sum-job', buckets: o.buckets, keyColumns: 1, terms: { reveal: o.reveal }, sum: { values: o.values, minCohort: o.minCohort ?? 0, ...(o.epsilon ? { dpEpsilon: o.epsilon } : {}) } };
  const ident = (role: Role) => (role === 'requester' ? { identity: pharma, peerPublicKey: hospital.publicKey } : { identity: hospital, peerPublicKey: pharma.publicKey });
  const [a, b] = createMemoryTransportPair();
  const [job] = await Promise.all([
    openPsiJob({ role: 'requester', transport: a, ...ident('requester'), spec }),
    openPsiJob({ role: 'responder', transport: b, ...ident('responder') }),
  ]);
  const bucketOf = (id: string) => bucketIndex(hmac(sha256, job.bucketKey, normalizeKey([id])!), o.buckets);
  // V's job columns and plaintext size: planned for the job's total, not a bucket's.
  const all = aggregateValueRows(vIds.map((k) => normalizeKey([k])), vRows, COLUMNS);
  const columns: readonly ColumnSpec[] = all.columns;
  const idReceives = spec.terms.reveal === 'both' || idRole === 'requester';
  const plainBits = choosePlainBits(columns, all.keys.length, o.epsilon);
  const t = await psiSumJobModulus(plainBits);
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const offsets = drawJobOffsets(columns, { idHolderReceives: idReceives, ...(o.epsilon ? { epsilon: o.epsilon } : {}) });

  const parts: PsiSumBucketPart[] = [];
  const trueSums: bigint[][] = [];
  const iSet = new Set(iIds.map((k) => normalizeKey([k])!.join(',')));
  for (let bucket = 0; bucket < o.buckets; bucket++) {
    const vIdx = vIds.map((_, i) => i).filter((i) => bucketOf(vIds[i]!) === bucket);
    const iKeys = iIds.filter((k) => bucketOf(k) === bucket);
    trueSums.push(
      columns.map((c, ci) => {
        let s = 0n;
        for (const i of vIdx) if (iSet.has(normalizeKey([vIds[i]!])!.join(','))) s += BigInt(Math.round(Number(vRows[i]![ci]) * 10 ** c.decimals));
        return ((s % t) + t) % t;
      }),
    );
    const binding = { jobId: spec.jobId, bucket, jobTerms: job.jobTerms };
    const vArgs = {
      records: vIdx.map((i) => vIds[i]!),
      values: { columns: COLUMNS.map((c) => ({ ...c })), rows: vIdx.map((i) => vRows[i]!) },
      jobShare: { plainBits, mask: jobMaskShares({ seed, t, buckets: o.buckets, bucket, offsets }) },
    };
    const iArgs = { records: iKeys, jobShare: { plainBits } };
    const [x, y] = createMemoryTransportPair();
    const mine = (role: Role) => (role === o.values ? vArgs : iArgs);
    const [req, res] = await Promise.all([
      runPsiSum({ role: 'requester', transport: x, ...ident('requester'), ...mine('requester'), jobBucket: binding, terms: { reveal: o.reveal, minCohort: o.minCohort ?? 0, ...(o.epsilon ? { dpEpsilon: o.epsilon } : {}) } }),
      runPsiSum({ role: 'responder', transport: y, ...ident('responder'), ...mine('responder'), jobBucket: binding }),
    ]);
    const idResult: RunPsiSumResult = idRole === 'requester' ? req : res;
    const vResult: RunPsiSumResult = idRole === 'requester' ? res : req;
    // Nothing is released in a bucket: no sums, and V learns no count.
    expect(idResult.sums).toBeUndefined();
    expect(vResult.sums).toBeUndefined();
    expect(vResult.intersectionSize).toBeUndefined();
    parts.push(idResult.jobBucketResult!);
  }

  const [c, d] = createMemoryTransportPair();
  const idTotals = psiSumJobTotals(t, parts);
  const sizes = { values: all.keys.length, ids: iIds.length };
  const side = (role: Role) =>
    role === o.values
      ? { holder: 'values' as const, offsets }
      : { holder: 'ids' as const, idTotals };
  const totalsOf = (role: Role) => ({ distinctKeys: role === o.values ? all.keys.length : iIds.length, intersectionSize: 0 });
  const closed = await Promise.allSettled([
    closePsiSumJob({ role: 'requester', transport: c, ...ident('requester'), spec, jobTerms: job.jobTerms, totals: totalsOf('requester'), columns, plainModulus: t, sizes, ...side('requester') }),
    closePsiSumJob({
      role: 'responder',
      transport: d,
      ...ident('responder'),
      columns,
      plainModulus: t,
      sizes,
      lookup: (s, jt) => (jt === job.jobTerms && s.jobId === spec.jobId ? totalsOf('responder') : 'unknown job'),
      ...side('responder'),
    }),
  ]);
  const val = (r: PromiseSettledResult<PsiSumJobOutcome>) => (r.status === 'fulfilled' ? r.value : (r.reason as Error));
  return { id: val(closed[idRole === 'requester' ? 0 : 1]!), v: val(closed[idRole === 'requester' ? 1 : 0]!), parts, trueSums, t };
}

async function single(values: Role, reveal: 'both' | 'requester'): Promise<{ id: RunPsiSumResult; v: RunPsiSumResult }> {
  const [a, b] = createMemoryTransportPair();
  const vArgs = { records: vIds, values: { columns: COLUMNS.map((c) => ({ ...c })), rows: vRows } };
  const iArgs = { records: iIds };
  const [req, res] = await Promise.all([
    runPsiSum({ role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, ...(values === 'requester' ? vArgs : iArgs), terms: { reveal } }),
    runPsiSum({ role: 'responder', transport: b, identity: hospital, peerPublicKey: pharma.publicKey, ...(values === 'responder' ? vArgs : iArgs) }),
  ]);
  return values === 'requester' ? { v: req, id: res } : { id: req, v: res };
}

const abs = (x: bigint) => (x < 0n ? -x : x);

function ok(x: PsiSumJobOutcome | Error): PsiSumJobOutcome {
  if (x instanceof Error) throw x;
  return x;
}

describe('psi-sum jobs (SDK)', () => {
  it('DP: noise is added once to the released totals (within its bound), and both receipts record it', async () => {
    const [job, one] = await Promise.all([runJob({ values: 'responder', reveal: 'both', buckets: 3, epsilon: '1' }), single('responder', 'both')]);
    const id = ok(job.id);
    const v = ok(job.v);
    expect(id.intersectionSize).toBe(35); // I: exact
    const each = epsilonEach('1', 2);
    const cost = (s: Record<string, string>) => BigInt(s['cost']!.replace('.', ''));
    const bound = 10000000n; // 100000.00 scaled
    // I: the total + V's noise (one draw); V: + I's noise as well.
    expect(abs(cost(id.sums!) - cost(one.id.sums!))).toBeLessThanOrEqual(discreteLaplaceBound(each, bound));
    expect(abs(cost(v.sums!) - cost(one.id.sums!))).toBeLessThanOrEqual(2n * discreteLaplaceBound(each, bound));
    expect(abs(BigInt(v.intersectionSize! - 35))).toBeLessThanOrEqual(discreteLaplaceBound(each, 1n));
    for (const side of [id, v]) expect(side.receipt.body.guardrails).toEqual([{ rule: 'dp-noise', outcome: 'applied', detail: 'epsilon=1' }]);
  }, 120_000);

  it('B = 5, reveal both: totals equal one run; every value I decrypts per bucket is masked; only their sum is the total', async () => {
    const [job, one] = await Promise.all([runJob({ values: 'responder', reveal: 'both', buckets: 5 }), single('responder', 'both')]);
    const id = ok(job.id);
    const v = ok(job.v);
    expect(one.id.intersectionSize).toBe(35);
    expect(id.intersectionSize).toBe(35);
    expect(v.intersectionSize).toBe(35);
    expect(id.sums).toEqual(one.id.sums);
    expect(v.sums).toEqual(one.v.sums);
    expect(id.means).toEqual(one.id.means);
    expect(id.withheld).toBe(false);
    // Per bucket: what I decrypted is not the bucket's sum (a uniform share was added) ...
    let differ = 0;
    job.parts.forEach((p, b) => p.masked.forEach((m, c) => (differ += m !== job.trueSums[b]![c]! ? 1 : 0)));
    expect(differ).toBe(job.parts.length * 2);
    // ... while the sum over the buckets is the total (the shares add up to 0 without DP).
    const total = job.trueSums.reduce((acc, s) => acc.map((x, c) => (x + s[c]!) % job.t), [0n, 0n]);
    expect(job.parts.reduce((acc, p) => acc.map((x, c) => (x + p.masked[c]!) % job.t), [0n, 0n])).toEqual(total);
    // Per-bucket counts add up to the total; none of them was a release.
    expect(job.parts.reduce((n, p) => n + p.count, 0)).toBe(35);
    // One job receipt, co-signed: the count as released, the value scales both saw.
    expect(id.receipt.body.protocol).toBe('psi-sum-job');
    expect(id.receipt.body.outcome).toBe('completed');
    expect(id.receipt.body.options['value-scales']).toBe(one.id.receipt.body.options['value-scales']);
  }, 120_000);

  it('min-cohort applies to the total: per-bucket counts below k but total ≥ k succeeds; total < k is withheld on both sides', async () => {
    const pass = await runJob({ values: 'responder', reveal: 'both', buckets: 7, minCohort: 30 });
    expect(Math.max(...pass.parts.map((p) => p.count))).toBeLessThan(30);
    expect(ok(pass.id).intersectionSize).toBe(35);
    expect(ok(pass.v).sums).toBeDefined();
    expect(ok(pass.id).receipt.body.guardrails).toEqual([{ rule: 'min-cohort', outcome: 'passed', detail: 'k=30' }]);
    const held = await runJob({ values: 'responder', reveal: 'both', buckets: 3, minCohort: 36 });
    for (const side of [ok(held.id), ok(held.v)]) {
      expect(side.withheld).toBe(true);
      expect(side.sums).toBeUndefined();
      expect(side.receipt.body.outcome).toBe('withheld');
    }
    expect(ok(held.v).intersectionSize).toBeUndefined();
  }, 120_000);

  it('reveal requester with the value holder requesting: V gets the totals, I cannot even add up its masked values to them', async () => {
    const [job, one] = await Promise.all([runJob({ values: 'requester', reveal: 'requester', buckets: 4 }), single('requester', 'requester')]);
    const v = ok(job.v);
    const id = ok(job.id);
    expect(v.sums).toEqual(one.v.sums);
    expect(v.intersectionSize).toBe(35);
    expect(id.sums).toBeUndefined();
    const total = job.trueSums.reduce((acc, s) => acc.map((x, c) => (x + s[c]!) % job.t), [0n, 0n]);
    const idSum = job.parts.reduce((acc, p) => acc.map((x, c) => (x + p.masked[c]!) % job.t), [0n, 0n]);
    expect(idSum[0]).not.toBe(total[0]);
    expect(idSum[1]).not.toBe(total[1]);
    // I's receipt does not tell V the count (V is the recipient here, I records nothing).
    expect(id.receipt.body.protocol).toBe('psi-sum-job');
  }, 120_000);
});
