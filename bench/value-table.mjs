// Micro-benchmark (issue 16 finding 4): the PSI / psi-sum value table (src/protocols/psi/values.ts
// ValueTable) under random and adversarial values, against the table as it was before the fix
// (slot = the value's first 4 bytes; copied below as LegacyValueTable) in the same run.
//
// Cases, per table size n (values of 32 bytes, as psi-sum's round-3 values; 16 bytes for the PSI
// default truncation):
//   random       — CSPRNG values (the happy path): insertAll of n values, then n lookups that miss;
//   prefix       — n distinct values sharing their first 4 bytes (what defeated the old table);
//   fixed-key    — n values whose HalfSipHash-1-3 under a KNOWN key (0, 0) falls in the first 1/256
//                  of the slots: what defeats any hash the peer can compute. Inserted into a table
//                  whose key is forced to (0, 0) (a stand-in for an unkeyed hash) and into the real
//                  table (fresh CSPRNG key).
// Quadratic cases are measured only up to --max-quadratic (default 2^16) and extrapolated as n^2
// beyond (said so in the output). Run: node bench/value-table.mjs [--quick]
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { benchDir, compare, fmt, machine, printTable, writeResult } from './lib.mjs';

const quick = process.argv.includes('--quick');
const maxQuadratic = quick ? 2 ** 14 : 2 ** 16;
const sizes = quick ? [2 ** 14, 2 ** 16] : [2 ** 16, 2 ** 20];

// The current table, bundled from the source (it is internal: not in dist's exports).
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dataport-value-table-'));
await build({
  entryPoints: [path.join(benchDir, '..', 'src', 'protocols', 'psi', 'values.ts')],
  bundle: true,
  format: 'esm',
  platform: 'node',
  outfile: path.join(tmp, 'values.mjs'),
  logLevel: 'error',
});
const { ValueTable } = await import(path.join(tmp, 'values.mjs'));
const { halfSipHash } = await (async () => {
  await build({ entryPoints: [path.join(benchDir, '..', 'src', 'crypto', 'halfsiphash.ts')], bundle: true, format: 'esm', platform: 'node', outfile: path.join(tmp, 'hsh.mjs'), logLevel: 'error' });
  return import(path.join(tmp, 'hsh.mjs'));
})();
fs.rmSync(tmp, { recursive: true, force: true });

/** The table before issue 16 (commit b917fb3, src/protocols/psi/values.ts): slot = first 4 bytes. */
class LegacyValueTable {
  constructor(capacity, valueBytes) {
    this.capacity = capacity;
    this.valueBytes = valueBytes;
    let size = 16;
    while (size < 2 * capacity) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    this.values = new Uint8Array(capacity * valueBytes);
    this.view = new DataView(this.values.buffer);
    this.count = 0;
  }
  same(entry, src, off) {
    const L = this.valueBytes;
    const base = entry * L;
    for (let i = 0; i < L; i++) if (this.values[base + i] !== src[off + i]) return false;
    return true;
  }
  insertAll(flat) {
    const L = this.valueBytes;
    const k = flat.length / L;
    if (this.count + k > this.capacity) throw new RangeError('ValueTable capacity exceeded');
    for (let t = 0; t < k; t++) {
      const entry = this.count;
      this.values.set(flat.subarray(t * L, t * L + L), entry * L);
      let s = this.view.getUint32(entry * L, true) & this.mask;
      for (;;) {
        const e = this.slots[s];
        if (e === 0) {
          this.slots[s] = entry + 1;
          break;
        }
        if (this.same(e - 1, this.values, entry * L)) throw new Error('duplicated point');
        s = (s + 1) & this.mask;
      }
      this.count++;
    }
  }
  find(src, off) {
    const h = (src[off] | (src[off + 1] << 8) | (src[off + 2] << 16) | (src[off + 3] << 24)) >>> 0;
    let s = h & this.mask;
    for (;;) {
      const e = this.slots[s];
      if (e === 0) return -1;
      if (this.same(e - 1, src, off)) return e - 1;
      s = (s + 1) & this.mask;
    }
  }
}

function fillRandom(out) {
  for (let o = 0; o < out.length; o += 65536) crypto.getRandomValues(out.subarray(o, Math.min(out.length, o + 65536)));
  return out;
}
const randomValues = (n, L) => fillRandom(new Uint8Array(n * L));

function prefixValues(n, L) {
  const out = randomValues(n, L);
  for (let i = 0; i < n; i++) out.fill(0, i * L, i * L + 4);
  return out;
}

/** n values whose HalfSipHash-1-3 under key (0, 0) lands in the first 1/256 of a table for n values. */
function fixedKeyValues(n, L) {
  let size = 16;
  while (size < 2 * n) size *= 2;
  const window = Math.max(1, size >>> 8);
  const key = { k0: 0, k1: 0 };
  const out = new Uint8Array(n * L);
  const buf = new Uint8Array(4096 * L);
  let tries = 0;
  for (let i = 0, j = 4096; i < n; ) {
    if (j === 4096) {
      fillRandom(buf);
      j = 0;
    }
    tries++;
    if ((halfSipHash(key, buf, j * L, L) & (size - 1)) < window) out.set(buf.subarray(j * L, j * L + L), (i++) * L);
    j++;
  }
  return { values: out, tries };
}

function time(fn) {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/** Best of `reps` (fresh table each time) in ms: for the attack cases. */
function bestOf(reps, fn) {
  let best = Infinity;
  for (let r = 0; r < reps; r++) best = Math.min(best, time(fn));
  return best;
}

const rows = [];
const record = (row) => {
  rows.push(row);
  console.error(`${row.case} n=2^${Math.log2(row.n)}: ${row.note ?? ''}${fmt(row.ms)} ms`);
};

for (const n of sizes) {
  for (const L of [32, 16]) {
    const vals = randomValues(n, L);
    const probes = randomValues(n, L);
    const filled = (T) => {
      const t = new T(n, L);
      t.insertAll(vals);
      return t;
    };
    const tables = [['before (4-byte prefix)', LegacyValueTable], ['after (keyed HalfSipHash-1-3)', ValueTable]];
    // Interleaved rounds (lib.mjs compare): background load affects before and after alike.
    const cases = tables.flatMap(([name, T]) => {
      const t = filled(T);
      return [
        { name: `random insert, ${L}-byte values|${name}`, items: n, run: () => filled(T) },
        { name: `random lookup (miss), ${L}-byte values|${name}`, items: n, run: () => { for (let i = 0; i < n; i++) t.find(probes, i * L); } },
      ];
    });
    const res = await compare(cases, n <= 2 ** 16 ? { rounds: 7, ms: 300 } : { rounds: 5, ms: 600 });
    for (const [key, r] of Object.entries(res)) {
      const [c, table] = key.split('|');
      record({ case: c, table, n, ms: (r.usPerItem * n) / 1000 });
    }
  }
  const L = 32;
  const prefix = prefixValues(n, L);
  if (n <= maxQuadratic) {
    record({ case: 'prefix attack insert', table: 'before (4-byte prefix)', n, ms: time(() => new LegacyValueTable(n, L).insertAll(prefix)) });
  }
  record({ case: 'prefix attack insert', table: 'after (keyed HalfSipHash-1-3)', n, ms: bestOf(3, () => new ValueTable(n, L).insertAll(prefix)) });
  const t0 = performance.now();
  const crafted = fixedKeyValues(n, L);
  console.error(`crafted ${n} fixed-key values in ${fmt(performance.now() - t0)} ms (${crafted.tries} hashes)`);
  if (n <= maxQuadratic) {
    record({
      case: 'fixed-key attack insert',
      table: 'HalfSipHash-1-3 with a known key (0,0)',
      n,
      ms: time(() => {
        const t = new ValueTable(n, L);
        t.key = { k0: 0, k1: 0 }; // stand-in for any hash the peer can compute
        t.insertAll(crafted.values);
      }),
    });
  }
  record({ case: 'fixed-key attack insert', table: 'after (keyed HalfSipHash-1-3)', n, ms: bestOf(3, () => new ValueTable(n, L).insertAll(crafted.values)) });
}

// Quadratic cases beyond --max-quadratic: extrapolated from the largest measured size as n^2.
for (const c of ['prefix attack insert', 'fixed-key attack insert']) {
  const measured = rows.filter((r) => r.case === c && !r.table.startsWith('after')).sort((a, b) => b.n - a.n)[0];
  if (!measured) continue;
  for (const n of sizes) {
    if (n <= measured.n) continue;
    rows.push({ case: c, table: measured.table, n, ms: measured.ms * (n / measured.n) ** 2, note: `extrapolated as n^2 from 2^${Math.log2(measured.n)}` });
  }
}

const out = rows.map((r) => ({ case: r.case, table: r.table, n: `2^${Math.log2(r.n)}`, ms: fmt(r.ms), 'ns/value': fmt((r.ms * 1e6) / r.n), note: r.note ?? '' }));
printTable(out, ['case', 'table', 'n', 'ms', 'ns/value', 'note']);
const file = writeResult(quick ? 'value-table-quick' : 'value-table', { machine: machine(), rows: out });
console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
