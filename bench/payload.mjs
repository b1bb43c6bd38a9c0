// PSI with payload (docs/psi-payload.md): wire bytes of the payload phase per delivered and per
// undelivered record, against plain PSI in the same run (same sets, same options), and the time.
// The payload is fingerprinted for the requester as `psi --payload-tolerance cost=0.01` does
// (buildPayloadRows, inside the timed run; the marking time is also reported alone).
// In-memory transport, inline executor, one thread runs both parties.
// Usage: npx tsup && node bench/payload.mjs [log2 n = 16] [maxBytes = 256,64] [suite = curve25519]
import { createMemoryTransportPair, createInlineExecutor, runPsiProtocol, dedupeRecords, encodePayloadPlaintexts, buildPayloadRows, generateIdentity } from '../dist/index.js';
import { fingerprintSecretFromIdentity } from '../dist/node.js';
import { machine, writeResult } from './lib.mjs';

const logN = Number(process.argv[2] ?? 16);
const sizes = (process.argv[3] ?? '256,64').split(',').map(Number);
const suite = process.argv[4] ?? 'curve25519';
const n = 2 ** logN;
const enc = new TextEncoder();
const executor = await createInlineExecutor();
const ids = (k, prefix) => Array.from({ length: k }, (_, i) => `${prefix}${String(i).padStart(17, '0')}`);
// Requester: n ids; responder: n ids, half of them the requester's. Two payload columns.
const A = ids(n, 'id').map((s) => enc.encode(s));
const Bids = [...ids(n / 2, 'id'), ...ids(n / 2, 'ot')];
const B = Bids.map((s) => enc.encode(s));
const wards = ['cardiology', 'oncology', 'gastroenterology', 'icu', 'ward 3, east'];
const payloadRows = Bids.map((_, i) => [wards[i % wards.length], (i * 37.13 % 100000).toFixed(2)]);
const options = { output: 'requester', truncation: 1, suite };
const hospital = generateIdentity();
const recipient = generateIdentity().publicKey;
const tolerance = { cost: '0.01' };

async function run(maxBytes) {
  const [a, b] = createMemoryTransportPair({ maxFrameBytes: 1 << 26 });
  const ekm = new Uint8Array(32);
  const deduped = dedupeRecords(B);
  const payload = maxBytes === undefined ? undefined : { columns: 2, maxBytes };
  const t0 = performance.now();
  let markMs = 0;
  let plaintexts;
  if (payload) {
    // The marking the listener does per session, once the requester is authenticated.
    const secret = fingerprintSecretFromIdentity(hospital.secretKey);
    const built = buildPayloadRows(payloadRows, { columns: ['ward', 'cost'], recipient, purpose: 'bench', sessionId: new Uint8Array(16), tolerance, keyColumns: ['id'], keys: B, secret });
    markMs = performance.now() - t0;
    plaintexts = encodePayloadPlaintexts(deduped, built.rows, 2, maxBytes);
  }
  const [r, s] = await Promise.all([
    runPsiProtocol({ role: 'requester', records: A, transport: a, ekm, executor, options, ...(payload ? { payload } : {}) }),
    runPsiProtocol({
      role: 'responder', records: B, deduped, transport: b, ekm, executor, options,
      ...(payload ? { payload: { ...payload, plaintexts } } : {}),
    }),
  ]);
  const ms = performance.now() - t0;
  return { ms, markMs, requesterSent: r.bytesSent, responderSent: s.bytesSent, intersection: r.intersectionSize, delivered: r.payloadRecords };
}

const m = machine();
console.log(`${m.node}, ${m.cpu} x${m.cores}, load ${m.loadavg.join(' ')}, ${m.date}, x25519: ${m.x25519}`);
const rows = [];
let plain;
for (const maxBytes of sizes) {
  // Plain PSI right before each payload run, so that the time ratio compares runs under the same load.
  plain = await run(undefined);
  console.log(`plain PSI 2^${logN} x 2^${logN}: ${(plain.ms / 1000).toFixed(1)} s, requester sent ${plain.requesterSent} B, responder sent ${plain.responderSent} B, |X∩Y| = ${plain.intersection}`);
  const p = await run(maxBytes);
  const extra = p.requesterSent + p.responderSent - plain.requesterSent - plain.responderSent;
  // Every responder record costs the same sealed bytes whether it is delivered or not (padding), and
  // every requester record 32 bytes (its point raised to c); frame headers are spread over both.
  const W = suite === 'curve25519' ? 32 : 33;
  const perResponderRecord = (extra - W * n) / n;
  const row = {
    maxBytes,
    plainSeconds: +(plain.ms / 1000).toFixed(1),
    seconds: +(p.ms / 1000).toFixed(1),
    timeRatio: +(p.ms / plain.ms).toFixed(2),
    markSeconds: +(p.markMs / 1000).toFixed(2),
    tolerance: 'cost=0.01',
    extraBytes: extra,
    extraRequesterSent: p.requesterSent - plain.requesterSent,
    delivered: p.delivered,
    undelivered: n - p.intersection,
    sealedBytesPerRecord: maxBytes + 16,
    perDeliveredRecord: +(perResponderRecord).toFixed(2),
    perUndeliveredRecord: +(perResponderRecord).toFixed(2),
    perRequesterRecord: W,
    extraPerRecordBothSets: +(extra / (2 * n)).toFixed(2),
    plainPerRecordBothSets: +((plain.requesterSent + plain.responderSent) / (2 * n)).toFixed(2),
  };
  rows.push(row);
  console.log(`payload, 2 columns (cost fingerprinted: ${row.markSeconds} s), maxBytes ${maxBytes}: ${row.seconds} s (${row.timeRatio}x plain), +${extra} B in all ` +
    `(requester +${row.extraRequesterSent} B); per responder record (delivered ${p.delivered} or undelivered ${row.undelivered} alike) ` +
    `${row.perDeliveredRecord} B (sealed ${maxBytes}+16), per requester record ${W} B; plain PSI ${row.plainPerRecordBothSets} B per record`);
}
const file = writeResult(`payload-2e${logN}${suite === 'curve25519' ? '' : `-${suite}`}`, { machine: m, suite, command: `node bench/payload.mjs ${process.argv.slice(2).join(' ')}`.trim(), n, plain: { seconds: +(plain.ms / 1000).toFixed(1), requesterSent: plain.requesterSent, responderSent: plain.responderSent, intersection: plain.intersection }, payload: rows });
console.log(`written ${file}`);
