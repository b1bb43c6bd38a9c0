/**
 * The job sessions of the SDK (src/session/run-job.ts) and the job binding of bucket sessions
 * (runPsi `jobBucket`), over in-memory transports: both sides agree the same fresh bucket key and
 * job terms hash; refusals reach both sides; a bucket session bound to another job, bucket or job
 * terms hash is refused; the closing session's receipt is the job's.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { TermsRefusedError } from '../src/errors.js';
import { bucketIndex, closePsiJob, openPsiJob, type PsiJobSpec } from '../src/session/run-job.js';
import { runPsi } from '../src/session/run-psi.js';
import { generateIdentity } from '../src/session/identity.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';

const pharma = generateIdentity();
const hospital = generateIdentity();
const spec: PsiJobSpec = { jobId: 'city-2026-12', buckets: 16, keyColumns: 1, terms: { reveal: 'requester', purpose: 'audit' } };

async function open(check?: (s: PsiJobSpec) => string | undefined) {
  const [a, b] = createMemoryTransportPair();
  let prepared = false;
  const r = await Promise.allSettled([
    openPsiJob({ role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, spec }),
    openPsiJob({ role: 'responder', transport: b, identity: hospital, peerPublicKey: pharma.publicKey, ...(check ? { check } : {}), prepare: async () => void (prepared = true) }),
  ]);
  return { r, prepared };
}

describe('job sessions', () => {
  it('both sides agree the same fresh bucket key and job terms hash; the responder prepares first', async () => {
    const one = await open();
    const two = await open();
    const [req, res] = one.r.map((x) => (x.status === 'fulfilled' ? x.value : undefined));
    expect(one.prepared).toBe(true);
    expect(req!.bucketKey).toEqual(res!.bucketKey);
    expect(req!.jobTerms).toBe(res!.jobTerms);
    expect(req!.jobTerms).toMatch(/^[0-9a-f]{64}$/);
    expect(res!.spec).toMatchObject({ jobId: 'city-2026-12', buckets: 16, keyColumns: 1 });
    // A new job, a new key (both parties' randomness goes into it).
    const again = two.r[0]!.status === 'fulfilled' ? two.r[0]!.value : undefined;
    expect(again!.bucketKey).not.toEqual(req!.bucketKey);
    expect(again!.jobTerms).not.toBe(req!.jobTerms);
  });

  it('a long prepare keeps the requester waiting with keep-alive frames, not an idle timeout', async () => {
    // The responder's prepare (the partition) ends only after it has sent three keep-alive frames
    // and the requester has accepted them: without them it would never end (the test times out),
    // and a requester that did not accept them would fail on the first.
    const [a, b] = createMemoryTransportPair();
    let sent = 0;
    let onSent: () => void = () => {};
    const send = b.send.bind(b);
    let preparing = false;
    b.send = async (frame, signal) => {
      await send(frame, signal);
      if (preparing) {
        sent += 1;
        onSent();
      }
    };
    const r = await Promise.all([
      openPsiJob({ role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, spec }),
      openPsiJob({
        role: 'responder',
        transport: b,
        identity: hospital,
        peerPublicKey: pharma.publicKey,
        keepaliveMs: 5,
        prepare: async () => {
          preparing = true;
          await new Promise<void>((resolve) => {
            onSent = () => {
              if (sent >= 3) resolve();
            };
          });
          preparing = false;
        },
      }),
    ]);
    expect(sent).toBeGreaterThanOrEqual(3);
    expect(r[0].bucketKey).toEqual(r[1].bucketKey);
  });

  it('both sides prepare at the same time; openPsiJob resolves after both', async () => {
    // Each prepare waits until the other has started: run one after the other, they never end.
    const [a, b] = createMemoryTransportPair();
    let started: { requester?: () => void; responder?: () => void } = {};
    const both = { requester: new Promise<void>((r) => (started.requester = r)), responder: new Promise<void>((r) => (started.responder = r)) };
    const finished: string[] = [];
    const r = await Promise.all([
      openPsiJob({
        role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, spec,
        prepare: async () => {
          started.requester!();
          await both.responder;
          finished.push('requester');
        },
      }),
      openPsiJob({
        role: 'responder', transport: b, identity: hospital, peerPublicKey: pharma.publicKey,
        prepare: async () => {
          started.responder!();
          await both.requester;
          finished.push('responder');
        },
      }),
    ]);
    started = {};
    expect(finished.sort()).toEqual(['requester', 'responder']);
    expect(r[0].bucketKey).toEqual(r[1].bucketKey);
  });

  it("a failed prepare fails the requester; the requester's prepare is aborted when the responder's fails", async () => {
    {
      const [a, b] = createMemoryTransportPair();
      let aborted = false;
      const r = await Promise.allSettled([
        openPsiJob({
          role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, spec,
          prepare: (_job, signal) =>
            new Promise<void>((_resolve, reject) =>
              signal.addEventListener('abort', () => {
                aborted = true;
                reject(signal.reason as Error);
              }),
            ),
        }),
        openPsiJob({
          role: 'responder', transport: b, identity: hospital, peerPublicKey: pharma.publicKey,
          prepare: async () => {
            throw new Error('the input has a bad key on row 7');
          },
        }),
      ]);
      expect(aborted).toBe(true);
      expect(r.map((x) => x.status)).toEqual(['rejected', 'rejected']);
      expect(((r[1] as PromiseRejectedResult).reason as Error).message).toBe('the input has a bad key on row 7');
      // The requester reports the session's failure, not its own abort.
      expect(((r[0] as PromiseRejectedResult).reason as Error).name).not.toBe('AbortError');
    }
    {
      const [a, b] = createMemoryTransportPair();
      const r = await Promise.allSettled([
        openPsiJob({
          role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, spec,
          prepare: async () => {
            throw new Error('the requester input has a bad key');
          },
        }),
        openPsiJob({ role: 'responder', transport: b, identity: hospital, peerPublicKey: pharma.publicKey, prepare: async () => {} }),
      ]);
      // The responder may have answered "ready" first (its job then waits for buckets that never come, as after any requester crash).
      expect(r[0]!.status).toBe('rejected');
      expect(((r[0] as PromiseRejectedResult).reason as Error).message).toBe('the requester input has a bad key');
    }
  });

  it('a refusal reaches both sides and nothing is prepared', async () => {
    const { r, prepared } = await open(() => 'the listener does not run this job');
    expect(prepared).toBe(false);
    for (const x of r) {
      expect(x.status).toBe('rejected');
      expect((x as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
      expect(((x as PromiseRejectedResult).reason as Error).message).toBe('the listener does not run this job');
    }
  });

  it('bucket sessions are bound to their job: another bucket or job terms hash is refused', async () => {
    const { r } = await open();
    const job = r[0]!.status === 'fulfilled' ? r[0]!.value : undefined;
    const run = async (requesterBucket: number, jobTerms: string) => {
      const [a, b] = createMemoryTransportPair();
      return Promise.allSettled([
        runPsi({ role: 'requester', records: ['a', 'b', 'c'], transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: {}, jobBucket: { jobId: spec.jobId, bucket: requesterBucket, jobTerms } }),
        runPsi({ role: 'responder', records: ['b', 'c', 'd'], transport: b, identity: hospital, peerPublicKey: pharma.publicKey, jobBucket: { jobId: spec.jobId, bucket: 3, jobTerms: job!.jobTerms } }),
      ]);
    };
    const ok = await run(3, job!.jobTerms);
    expect(ok[0]!.status).toBe('fulfilled');
    expect((ok[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof runPsi>>>).value.intersectionSize).toBe(2);
    expect((ok[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof runPsi>>>).value.receipt.body.options).toMatchObject({ 'job-id': spec.jobId, 'job-bucket': '3', 'job-terms': job!.jobTerms });
    for (const [bucket, terms] of [
      [4, job!.jobTerms],
      [3, '0'.repeat(64)],
    ] as const) {
      const bad = await run(bucket, terms);
      for (const x of bad) expect((x as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
    }
    // A plain PSI listener refuses a job-bound request.
    const [a, b] = createMemoryTransportPair();
    const plain = await Promise.allSettled([
      runPsi({ role: 'requester', records: ['a'], transport: a, identity: pharma, peerPublicKey: hospital.publicKey, jobBucket: { jobId: 'x', bucket: 0, jobTerms: job!.jobTerms } }),
      runPsi({ role: 'responder', records: ['a'], transport: b, identity: hospital, peerPublicKey: pharma.publicKey }),
    ]);
    expect((plain[1] as PromiseRejectedResult).reason).toBeInstanceOf(TermsRefusedError);
  });

  it('the closing session exchanges one receipt with both totals; an unknown job is refused', async () => {
    const [a, b] = createMemoryTransportPair();
    const [req, res] = await Promise.all([
      closePsiJob({ role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, spec, jobTerms: 'ab'.repeat(32), totals: { distinctKeys: 1000, intersectionSize: 120 } }),
      closePsiJob({ role: 'responder', transport: b, identity: hospital, peerPublicKey: pharma.publicKey, lookup: (s, jt) => (s.jobId === spec.jobId && jt === 'ab'.repeat(32) ? { distinctKeys: 800, intersectionSize: 0 } : 'unknown job') }),
    ]);
    expect(req.body).toEqual(res.body);
    expect(req.body).toMatchObject({ protocol: 'ecdh-psi-job', outcome: 'completed', inputSizes: { requester: 1000, responder: 800 } });
    expect(req.body.options).toMatchObject({ phase: 'close', buckets: '16', 'job-id': spec.jobId, 'job-terms': 'ab'.repeat(32) });
    const [c, d] = createMemoryTransportPair();
    const refused = await Promise.allSettled([
      closePsiJob({ role: 'requester', transport: c, identity: pharma, peerPublicKey: hospital.publicKey, spec, jobTerms: 'cd'.repeat(32), totals: { distinctKeys: 1, intersectionSize: 0 } }),
      closePsiJob({ role: 'responder', transport: d, identity: hospital, peerPublicKey: pharma.publicKey, lookup: () => 'unknown job' }),
    ]);
    for (const x of refused) expect(((x as PromiseRejectedResult).reason as Error).message).toBe('unknown job');
  });

  it('bucketIndex spreads keys evenly and stays below B', () => {
    const key = new Uint8Array(32).fill(7);
    const B = 64;
    const counts = new Array<number>(B).fill(0);
    const n = 64_000;
    for (let i = 0; i < n; i++) {
      const b = bucketIndex(hmac(sha256, key, new TextEncoder().encode(`k${i}`)), B);
      expect(b >= 0 && b < B).toBe(true);
      counts[b]!++;
    }
    // Multinomial with mean 1000: every cell within 6 standard deviations (~32).
    for (const c of counts) expect(Math.abs(c - n / B)).toBeLessThan(6 * Math.sqrt(n / B));
    expect(bucketIndex(new Uint8Array(32).fill(0xff), B)).toBe(B - 1);
    expect(bucketIndex(new Uint8Array(32), B)).toBe(0);
  });
});
