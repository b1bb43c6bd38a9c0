// The operator's dashboard (`dataport dashboard`, docs/dashboard.md) over a large ledger: time from
// start to serving (reading and verifying the whole ledger), the latency of each /api endpoint the
// page fetches, and the time to show an entry appended while it runs (the ledger is read and
// verified again when its files change).
// Run after `npx tsup`:  node bench/dashboard.mjs [--entries 100000] [--peers 200]
import fs from 'node:fs';
import path from 'node:path';
import { createPrivateKey, sign } from 'node:crypto';
import { parseArgs } from 'node:util';
import { benchCli, benchDir, machine, printTable, spawnCli, writeResult, fmt } from './lib.mjs';

const dp = await import('../dist/node.js');
const { values } = parseArgs({ options: { entries: { type: 'string' }, peers: { type: 'string' } } });
const N = Number(values.entries ?? 100_000);
const PEERS = Number(values.peers ?? 200);
const root = path.join(benchDir, '.dashboard-tmp');
fs.rmSync(root, { recursive: true, force: true });
fs.mkdirSync(root, { recursive: true });

// The ledger owner (a hospital) and PEERS counterparties, every receipt co-signed natively.
const pkcs8 = (seed) => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seed)]), format: 'der', type: 'pkcs8' });
const owner = dp.generateIdentity();
const ownerKey = pkcs8(owner.secretKey);
const peers = Array.from({ length: PEERS }, () => {
  const id = dp.generateIdentity();
  return { id, key: pkcs8(id.secretKey) };
});
const schedule = dp.parsePriceSchedule({ id: 'port-2026', currency: 'CNY', guideCap: 50_000, protocols: { 'ecdh-psi': { perRun: 1000, per1000Records: 50 }, 'psi-sum': { perRun: 2000, per1000Records: 80 } } });
const start = Date.UTC(2025, 0, 1);
const span = Date.UTC(2026, 11, 1) - start;

function receipt(n) {
  const p = peers[(n * 7919) % PEERS];
  const body = {
    version: 1,
    sessionId: new Uint8Array(16).map((_, i) => (n >>> ((i % 4) * 8)) & 0xff),
    startedAt: start + Math.floor((n / N) * span),
    endedAt: start + Math.floor((n / N) * span) + 5000,
    parties: [
      { role: 'requester', publicKey: p.id.publicKey },
      { role: 'responder', publicKey: owner.publicKey },
    ],
    protocol: n % 3 ? 'ecdh-psi' : 'psi-sum',
    options: { reveal: 'requester', truncate: '128' },
    purpose: 'pharmacovigilance study PV-2026-0042',
    inputSizes: { requester: 10_000 + (n % 1000), responder: 250_000 },
    outputSizes: { requester: 1200 },
    bytesExchanged: 21_000_000,
    computeMs: 5400,
    guardrails: [{ rule: 'min-cohort', outcome: 'passed', detail: 'k=10' }],
    outcome: n % 50 === 0 ? 'refused' : 'completed',
  };
  body.billing = dp.billRun(schedule, body);
  const msg = Buffer.concat([dp.RECEIPT_SIGNATURE_CONTEXT, dp.encodeReceiptBody(body)]);
  return { body, signatures: [[p.id, p.key], [owner, ownerKey]].map(([id, key]) => ({ publicKey: id.publicKey, signature: new Uint8Array(sign(null, msg, key)) })) };
}

const dir = path.join(root, 'ledger');
console.log(`dashboard benchmark — ${N} entries, ${PEERS} counterparties; building the ledger under ${dir} …`);
{
  const ledger = await dp.openLedger(dir, { owner });
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < N) await ledger.append(receipt(next++));
  }));
  await ledger.close();
}
const names = Object.fromEntries(peers.map((p, i) => [Buffer.from(p.id.publicKey).toString('base64'), `counterparty ${i}`]));
fs.writeFileSync(path.join(root, 'names.json'), JSON.stringify(names));
fs.writeFileSync(path.join(root, 'prices.json'), JSON.stringify(schedule));
fs.writeFileSync(path.join(root, 'budget.json'), JSON.stringify({ period: 'month', maxQueries: 1000, maxRecords: 100_000_000 }));
const ledgerBytes = fs.statSync(path.join(dir, 'ledger.log')).size;

const t0 = performance.now();
const server = spawnCli(['dashboard', '--ledger', dir, '--listen', '127.0.0.1:0', '--names', path.join(root, 'names.json'), '--price-schedule', path.join(root, 'prices.json'), '--budget', path.join(root, 'budget.json')], benchCli);
const url = await new Promise((resolve, reject) => {
  server.child.stderr.on('data', () => {
    const m = /listening on (http:\/\/\S+)/.exec(server.stderr());
    if (m) resolve(m[1]);
  });
  server.done.then((r) => reject(new Error(`dashboard exited: ${r.error ?? 'early'}`)));
});
const startupMs = performance.now() - t0;

async function timed(p) {
  const t = performance.now();
  const res = await fetch(new URL(p, url));
  const body = await res.arrayBuffer();
  if (!res.ok) throw new Error(`${p}: HTTP ${res.status}`);
  return { ms: performance.now() - t, bytes: body.byteLength };
}
const endpoints = ['/', '/api/overview', '/api/counterparties', '/api/usage?period=month', '/api/usage?period=day', '/api/budgets', '/api/alerts', '/api/records', `/api/entry?ledger=0&index=${N - 1}`];
const rows = [];
for (const p of endpoints) {
  await timed(p); // warm-up
  const samples = [];
  let bytes = 0;
  for (let i = 0; i < 10; i++) {
    const r = await timed(p);
    samples.push(r.ms);
    bytes = r.bytes;
  }
  samples.sort((a, b) => a - b);
  rows.push({ endpoint: p, medianMs: Number(fmt(samples[5])), minMs: Number(fmt(samples[0])), bytes });
}

// An entry appended while the dashboard runs: the next request reads and verifies the ledger again.
{
  const ledger = await dp.openLedger(dir, { owner });
  await ledger.append(receipt(N));
  await ledger.close();
}
const reload = await timed('/api/overview');
const after = await timed('/api/overview');
server.child.kill('SIGINT');
await server.done;

const results = { machine: machine(), entries: N, counterparties: PEERS, ledgerBytes, startupMs: Math.round(startupMs), reloadAfterAppendMs: Math.round(reload.ms), overviewAfterReloadMs: Number(fmt(after.ms)), endpoints: rows };
console.log(`${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}, ${results.machine.date}`);
console.log(`ledger ${N} entries (${(ledgerBytes / 2 ** 20).toFixed(1)} MiB): start to serving ${results.startupMs} ms; first request after an append ${results.reloadAfterAppendMs} ms (then ${results.overviewAfterReloadMs} ms)\n`);
printTable(rows, ['endpoint', 'medianMs', 'minMs', 'bytes']);
console.log(`\nwritten to ${writeResult('dashboard', results)}`);
fs.rmSync(root, { recursive: true, force: true });
