/**
 * The CLI's progress mechanism (src/cli/progress.ts) with an injected clock and interval, and the
 * psi-sum protocol's progress events: every phase ends at done = total before the next one starts.
 */
import { describe, expect, it } from 'vitest';
import { createProgress, formatProgressLine, type ProgressRecord } from '../src/cli/progress.js';
import { runPsiSum, type RunPsiSumOptions } from '../src/session/run-psi-sum.js';
import { generateIdentity } from '../src/session/identity.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';
import type { PsiSumProgress } from '../src/protocols/psi-sum/protocol.js';

function harness(mode: 'lines' | 'json') {
  const out: string[] = [];
  let t = 0;
  const ticks: (() => void)[] = [];
  let cancelled = 0;
  const progress = createProgress({
    mode,
    intervalSeconds: 5,
    stream: { write: (s: string) => out.push(s) },
    now: () => t,
    every: (tick, ms) => {
      expect(ms).toBe(5000);
      ticks.push(tick);
      return () => void cancelled++;
    },
  });
  return { out, progress, tick: () => ticks.forEach((f) => f()), advance: (ms: number) => (t += ms), ticks, cancelled: () => cancelled };
}

describe('createProgress (lines/json)', () => {
  it('prints a record at each interval tick and one with done = total at each phase end, in order', () => {
    const h = harness('lines');
    h.progress.phase('round1 send', 1000, 'points');
    h.progress.update(100);
    h.advance(2000);
    h.tick();
    expect(h.out).toEqual(['dataport: progress phase=round1-send done=100 total=1000 rate=50/s elapsed=2.0s unit=points\n']);
    h.progress.update(930); // the protocol's last report before it moves on
    h.advance(2000);
    h.progress.phase('matching', 10);
    // The first phase ended at 100 % before the next one started.
    expect(h.out[1]).toBe('dataport: progress phase=round1-send done=1000 total=1000 rate=250/s elapsed=4.0s unit=points\n');
    h.progress.update(3);
    h.progress.phase('matching', 20); // same phase: only the total changes, no record
    expect(h.out).toHaveLength(2);
    h.advance(1000);
    h.tick();
    expect(h.out[2]).toBe('dataport: progress phase=matching done=3 total=20 rate=3/s elapsed=1.0s\n');
    h.progress.end();
    expect(h.out[3]).toBe('dataport: progress phase=matching done=20 total=20 rate=20/s elapsed=1.0s\n');
    h.progress.end(); // no phase: nothing
    h.tick(); // no phase: nothing
    expect(h.out).toHaveLength(4);
    expect(h.ticks).toHaveLength(1); // one timer for the whole command
    h.progress.stop();
    expect(h.cancelled()).toBe(1);
  });

  it('stop() after a failure does not claim the phase finished', () => {
    const h = harness('lines');
    h.progress.phase('encrypting', 8, 'blocks');
    h.progress.update(3);
    h.progress.stop();
    h.progress.end();
    h.tick();
    expect(h.out).toEqual([]);
  });

  it('json: one object per line with the same fields', () => {
    const h = harness('json');
    h.progress.phase('hashing', 4, 'keys');
    h.advance(500);
    h.progress.end();
    expect(h.out).toHaveLength(1);
    const r = JSON.parse(h.out[0]!) as ProgressRecord;
    expect(r).toEqual({ type: 'progress', phase: 'hashing', done: 4, total: 4, unit: 'keys', rate: 8, elapsed: 0.5, end: true });
    expect(formatProgressLine(r)).toBe('dataport: progress phase=hashing done=4 total=4 rate=8/s elapsed=0.5s unit=keys\n');
  });

  it('none prints nothing; the default is bar on a terminal and lines otherwise', () => {
    const out: string[] = [];
    const none = createProgress({ mode: 'none', stream: { write: (s: string) => out.push(s) } });
    none.phase('x', 1);
    none.end();
    expect(none.enabled).toBe(false);
    const lines = createProgress({ stream: { write: (s: string) => out.push(s), isTTY: false }, every: () => () => {} });
    lines.phase('x', 1);
    lines.end();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^dataport: progress phase=x done=1 total=1 /);
  });
});

describe('psi-sum progress events', () => {
  it('both parties report their phases in order, each ending at done = total before the next', async () => {
    const pharma = generateIdentity();
    const hospital = generateIdentity();
    const [a, b] = createMemoryTransportPair();
    const ev = { ids: [] as PsiSumProgress[], values: [] as PsiSumProgress[] };
    const ids: RunPsiSumOptions = {
      role: 'requester',
      records: Array.from({ length: 40 }, (_, i) => `p${i}`),
      transport: a,
      identity: pharma,
      peerPublicKey: hospital.publicKey,
      terms: {},
      batchSize: 16,
      onProgress: (p) => void ev.ids.push(p),
    };
    const values: RunPsiSumOptions = {
      role: 'responder',
      records: Array.from({ length: 50 }, (_, i) => `p${i + 20}`),
      values: { columns: [{ name: 'v' }], rows: Array.from({ length: 50 }, () => ['1']) },
      transport: b,
      identity: hospital,
      peerPublicKey: pharma.publicKey,
      policy: {},
      onProgress: (p) => void ev.values.push(p),
    };
    const [r] = await Promise.all([runPsiSum(ids), runPsiSum(values)]);
    expect(r.sums).toEqual({ v: '20' });
    const phasesOf = (list: PsiSumProgress[]) => list.map((p) => p.phase).filter((p, i, all) => all[i - 1] !== p);
    expect(phasesOf(ev.ids)).toEqual(['hashing', 'round1-receive', 'remasking', 'round2-send', 'round2-receive', 'selecting', 'encrypting']);
    expect(phasesOf(ev.values)).toEqual(['hashing', 'round1-send', 'round2-receive', 'remasking', 'round2-send', 'multiplying']);
    for (const list of [ev.ids, ev.values]) {
      list.forEach((p, i) => {
        expect(p.done).toBeLessThanOrEqual(p.total);
        const next = list[i + 1];
        // The last event of a phase has done = total.
        if (!next || next.phase !== p.phase) expect(p, JSON.stringify(p)).toMatchObject({ done: p.total });
        else expect(next.done).toBeGreaterThanOrEqual(p.done);
      });
    }
    expect(ev.ids.find((p) => p.phase === 'round1-receive')!.total).toBe(50);
    expect(ev.values.find((p) => p.phase === 'round2-receive')!.total).toBe(40);
  });
});
