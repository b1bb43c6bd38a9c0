/**
 * Issue 16 finding 4: crafted values freeze the ID holder. In psi-sum, the value holder V sends
 * its round-3 values (ID_KEYS_REMASKED) as it likes, and they went straight into `ValueTable`,
 * whose slot was the value's first 4 bytes: n distinct values sharing those bytes made insertion
 * walk one growing cluster, n^2/2 slot reads on the event loop (2^16 values: over a minute), so no
 * timeout could fire. The same table holds PSI's round-2 values. The fix keys the slot choice with
 * HalfSipHash under a per-table CSPRNG key.
 *
 * The attack is counted in slot reads, not timed: with a hash the peer cannot steer, a table at
 * most half full needs about 2.5 reads per insertion on average (linear probing, Knuth), so 8 per
 * value is far above anything a random key gives for 2^11 values, and far below the 2^10 per value
 * the crafted values cost the old table.
 */
import { describe, expect, it } from 'vitest';
import { ValueTable } from '../../src/protocols/psi/values.js';

/** Counts reads of the table's private slot array (the same field before and after the fix). */
function countSlotReads(table: ValueTable): { reads: number } {
  const counter = { reads: 0 };
  const t = table as unknown as { slots: Int32Array };
  const slots = t.slots;
  t.slots = new Proxy(slots, {
    get(target, prop) {
      if (typeof prop === 'string' && /^\d+$/.test(prop)) counter.reads++;
      return Reflect.get(target, prop, target) as unknown;
    },
    set(target, prop, value) {
      return Reflect.set(target, prop, value, target);
    },
  });
  return counter;
}

/** `n` distinct 32-byte values that all share their first 4 bytes (what V sends in the attack). */
function sharedPrefixValues(n: number): Uint8Array {
  const flat = new Uint8Array(n * 32);
  for (let i = 0; i < n; i++) {
    flat.set([0xde, 0xad, 0xbe, 0xef], i * 32);
    flat[i * 32 + 4] = i & 0xff;
    flat[i * 32 + 5] = i >> 8;
  }
  return flat;
}

describe('finding 4: psi-sum value flood', () => {
  it('values sharing their first 4 bytes cost a bounded number of slot reads to insert and look up', () => {
    const n = 2 ** 11;
    const flat = sharedPrefixValues(n);
    const table = new ValueTable(n, 32);
    const counter = countSlotReads(table);
    table.insertAll(flat);
    expect(counter.reads).toBeLessThan(8 * n);
    counter.reads = 0;
    for (let i = 0; i < n; i++) expect(table.find(flat, i * 32)).toBe(i);
    const miss = sharedPrefixValues(n).map((b, j) => (j % 32 === 31 ? 1 : b)); // same prefix, never inserted
    for (let i = 0; i < n; i++) expect(table.find(miss, i * 32)).toBe(-1);
    expect(counter.reads).toBeLessThan(2 * 8 * n);
  });
});
