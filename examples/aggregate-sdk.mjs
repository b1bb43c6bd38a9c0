// Multi-party aggregation through the SDK: three hospitals send encrypted per-ward statistics to
// the port operator, who adds them without any key; only the analyst decrypts, and only the total.
// Everyone is in one process here, but every link is a real WebSocket on 127.0.0.1 running the
// session layer: mutual authentication with pinned Ed25519 keys, MAC'd frames, and a receipt that
// the operator and that participant both sign. Run after `npm run build`:
//   node examples/aggregate-sdk.mjs
import {
  createAggregateOperator,
  generateIdentity,
  parseAggregateQuery,
  runAggregateAnalyst,
  runAggregateProvider,
  verifyReceipt,
} from '../dist/index.js';
import { connectWebSocket, listenWebSocket } from '../dist/node.js';

const toBase64 = (bytes) => Buffer.from(bytes).toString('base64');

const operator = generateIdentity();
const analyst = generateIdentity();
const hospitals = ['hospital-1', 'hospital-2', 'hospital-3'].map((name) => ({ name, identity: generateIdentity() }));

// The analyst's question: patients, total and mean cost per ward; wards with fewer than 3 patients
// across all hospitals are withheld.
const query = parseAggregateQuery({
  version: 1,
  id: 'ward-costs-2026-11',
  columns: [{ name: 'cost_yuan', type: 'decimal', decimals: 2, min: '0', max: '300000.00' }],
  groupBy: { column: 'ward', categories: ['cardiology', 'oncology', 'geriatrics'] },
  statistics: [{ type: 'count' }, { type: 'sum', column: 'cost_yuan' }, { type: 'mean', column: 'cost_yuan' }],
  maxRowsPerProvider: 1000,
  providers: 3,
  minCohort: 3,
});

// Each hospital's own rows (they never leave the hospital unencrypted).
const rows = [
  [{ ward: 'cardiology', cost_yuan: '1200.50' }, { ward: 'oncology', cost_yuan: '8800.00' }, { ward: 'cardiology', cost_yuan: '310.25' }],
  [{ ward: 'oncology', cost_yuan: '12040.00' }, { ward: 'cardiology', cost_yuan: '95.10' }],
  [{ ward: 'oncology', cost_yuan: '7300.40' }, { ward: 'geriatrics', cost_yuan: '450.00' }, { ward: 'cardiology', cost_yuan: '2000.00' }],
];

// The operator accepts exactly this analyst and these hospitals.
const round = createAggregateOperator({
  identity: operator,
  providers: hospitals.length,
  analystKeys: [analyst.publicKey],
  providerKeys: hospitals.map((h) => h.identity.publicKey),
  purpose: 'ward cost study 2026-11',
});
const server = await listenWebSocket({ host: '127.0.0.1', port: 0 }, (transport) => round.handle(transport));
const url = server.address().url;
console.log(`operator listening on ${url}`);

const purpose = 'ward cost study 2026-11';
const providerRuns = hospitals.map(async (h, i) =>
  runAggregateProvider({
    transport: await connectWebSocket(url),
    identity: h.identity,
    peerPublicKey: operator.publicKey, // pin the operator
    analystPublicKey: analyst.publicKey, // encrypt only under a query this analyst signed
    rows: rows[i],
    purpose,
  }),
);
const mine = await runAggregateAnalyst({
  transport: await connectWebSocket(url),
  identity: analyst,
  peerPublicKey: operator.publicKey,
  query,
  purpose,
});
const provided = await Promise.all(providerRuns);
const { outcome, receipts } = await round.result;
await server.close();

console.log(`round ${outcome.queryId}: ${outcome.status}, ${outcome.contributors} of ${outcome.expected} hospitals contributed`);
console.log('per-ward totals (decrypted by the analyst only):');
for (const g of mine.result.groups) {
  if (g.withheld) {
    console.log(`  ${g.group.padEnd(11)} withheld (${g.reason})`);
    continue;
  }
  const stat = (type) => g.statistics.find((s) => s.type === type).value;
  console.log(`  ${g.group.padEnd(11)} patients ${stat('count').padStart(2)}  total ${stat('sum').padStart(9)} yuan  mean ${stat('mean')} yuan`);
}

// The plain answer, to show the encrypted round is exact.
const all = rows.flat();
for (const ward of ['cardiology', 'oncology']) {
  const cents = all.filter((r) => r.ward === ward).reduce((s, r) => s + BigInt(r.cost_yuan.replace('.', '')), 0n);
  const total = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
  const got = mine.result.groups.find((g) => g.group === ward).statistics.find((s) => s.type === 'sum').value;
  if (got !== total) throw new Error(`${ward}: got ${got}, expected ${total}`);
}

console.log(`receipts co-signed by the operator (${receipts.length}, one per link):`);
const short = (key) => toBase64(key).slice(0, 10);
for (const r of receipts) {
  verifyReceipt(r); // both parties' signatures
  const participant = r.body.parties.find((p) => p.role === 'requester').publicKey;
  console.log(
    `  ${r.body.options.role.padEnd(8)} ${short(participant)}… outcome ${r.body.outcome.padEnd(9)} rows ${String(r.body.inputSizes.requester).padStart(2)}` +
      `  bytes ${r.body.bytesExchanged}  guardrails ${JSON.stringify(r.body.guardrails)}`,
  );
}
// Each participant holds the same receipt as the operator's for its link.
const same = (a, b) => toBase64(a.body.sessionId) === toBase64(b.body.sessionId) && a.signatures.length === 2 && b.signatures.length === 2;
if (!receipts.some((r) => same(r, mine.receipt))) throw new Error('analyst receipt missing');
for (const p of provided) if (!receipts.some((r) => same(r, p.receipt))) throw new Error('provider receipt missing');
console.log('every participant holds the same co-signed receipt as the operator');
