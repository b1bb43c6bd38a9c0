/**
 * `collectGarbage` (src/cli/jobs/memory.ts), which job processes run before each bucket: what is
 * no longer reachable is gone afterwards (a WeakRef to it is cleared).
 */
import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../src/cli/jobs/memory.js';

describe('collectGarbage', () => {
  it('collects an unreachable bucket-sized structure', async () => {
    let bucket: { keys: string[] } | undefined = { keys: Array.from({ length: 1 << 16 }, (_, i) => `key-${i}`) };
    const ref = new WeakRef(bucket);
    bucket = undefined;
    // A WeakRef's target stays alive until the current job ends.
    await new Promise((r) => setImmediate(r));
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });

  it('keeps what is still reachable', async () => {
    const bucket = { keys: ['a'] };
    const ref = new WeakRef(bucket);
    await new Promise((r) => setImmediate(r));
    collectGarbage();
    expect(ref.deref()).toBe(bucket);
  });
});
