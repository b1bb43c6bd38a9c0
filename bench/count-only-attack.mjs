// Issue 16, finding 2: the cost of the count-only membership test (SECURITY.md §1.2, model
// `semi-honest`). A requester that masked each of its keys with its own exponent a_i tests key i by
// computing (H(y)^b)^{a_i}, truncated, for every one of the responder's |Y| round-1 points and
// looking the results up in the shuffled round-2 set — |Y| multiplications per key. Measured with
// the executor the protocol uses, against the baseline of the same run: the honest responder's
// round-2 work per value (one multiplication + truncation under its session scalar).
// Run: npm run build && node bench/count-only-attack.mjs [--quick]
import path from 'node:path';
import { compare, fmt, machine, printTable, writeResult } from './lib.mjs';
import { createInlineExecutor } from '../dist/index.js';

const quick = process.argv.includes('--quick');
const opts = quick ? { rounds: 3, ms: 500 } : { rounds: 5, ms: 1500 };
const Y = 1 << 14; // the responder's round-1 points (one default batch)
const ex = await createInlineExecutor();
const enc = new TextEncoder();
const points = await ex.hashToGroup(Array.from({ length: Y }, (_, i) => enc.encode(`y${i}`)), new Uint8Array(32));
const scalar = () => crypto.getRandomValues(new Uint8Array(32));
const b = scalar();

const cases = [
  // Baseline: what an honest party does per peer value anyway.
  { name: 'honest round 2: one value under the session scalar', items: Y, run: () => ex.multiplyAndTruncate(b, points, 16) },
  // The attack: one target key against all |Y| points under that key's own exponent.
  { name: `membership test of one key (|Y| = ${Y})`, items: 1, run: () => ex.multiplyAndTruncate(scalar(), points, 16) },
];
console.log('machine:', JSON.stringify(machine()));
const r = await compare(cases, opts);
const base = r[cases[0].name].usPerItem;
const perKey = r[cases[1].name].usPerItem;
printTable(
  cases.map((c) => ({
    case: c.name,
    'us/item (median)': fmt(r[c.name].usPerItem),
    'min..max': `${fmt(r[c.name].min)}..${fmt(r[c.name].max)}`,
    'x baseline': fmt(r[c.name].usPerItem / base),
  })),
  ['case', 'us/item (median)', 'min..max', 'x baseline'],
);
// base µs per point × 10^6 points = base seconds per key at |Y| = 10^6.
console.log(`per target key: ${fmt(perKey / 1000)} ms at |Y| = ${Y}; ≈ ${fmt(base)} s per key at |Y| = 10^6 (one thread)`);
const file = writeResult('count-only-attack', { machine: machine(), opts, Y, results: r });
console.log(`written ${path.relative(process.cwd(), file)}`);
await ex.close();
