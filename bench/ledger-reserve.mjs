// Budget reservations (src/ledger/reservations.ts): what reserving costs per run, against the
// check-only baseline (checkLedgerBudget) measured in the same run, for ledgers of growing size.
// Both read every entry of the ledger; a reservation also takes the ledger lock and rewrites
// reservations.json (temporary file + rename), and its release does that once more.
// Run after `npx tsup`:  node bench/ledger-reserve.mjs [--sizes 0,1000,10000] [--runs 200]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchDir, machine, printTable, writeResult, fmt } from './lib.mjs';
import { receiptSigner } from './ledger-fixtures.mjs';

const dp = await import('../dist/node.js');
const { values } = parseArgs({ options: { sizes: { type: 'string' }, runs: { type: 'string' } } });
const SIZES = (values.sizes ?? '0,1000,10000').split(',').map(Number);
const RUNS = Number(values.runs ?? 200);
const root = path.join(benchDir, '.reserve-tmp');
fs.rmSync(root, { recursive: true, force: true });
fs.mkdirSync(root, { recursive: true });

const { owner, peer, signed } = receiptSigner(dp);

function receipt(n) {
  const body = {
    version: 1,
    sessionId: new Uint8Array(16).map((_, i) => (n >>> ((i % 4) * 8)) & 0xff),
    startedAt: Date.now() - 1000,
    endedAt: Date.now(),
    parties: [
      { role: 'requester', publicKey: peer.publicKey },
      { role: 'responder', publicKey: owner.publicKey },
    ],
    protocol: 'ecdh-psi',
    options: { reveal: 'requester', truncate: '128' },
    purpose: 'programme audit',
    inputSizes: { requester: 1000, responder: 5000 },
    outputSizes: {},
    bytesExchanged: 200_000,
    computeMs: 300,
    guardrails: [],
    outcome: 'completed',
  };
  return signed(body);
}

const results = { machine: machine(), runs: RUNS, cases: [] };
console.log(`budget reservation benchmark — ${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}, ${results.machine.date}\n`);
const policy = { period: 'month', maxQueries: Number.MAX_SAFE_INTEGER };

for (const size of SIZES) {
  const dir = path.join(root, `l${size}`);
  const ledger = await dp.openLedger(dir, { owner });
  const pending = [];
  for (let i = 0; i < size; i++) {
    pending.push(ledger.append(receipt(i)));
    if (pending.length === 256) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const opts = { counterparty: peer.publicKey, policy, records: 6000 };
  // Warm-up, then interleave the two cases so that load changes on the shared machine hit both.
  for (let i = 0; i < 5; i++) {
    await dp.checkLedgerBudget(ledger, opts);
    await dp.releaseLedgerBudget(ledger, (await dp.reserveLedgerBudget(ledger, opts)).id);
  }
  let checkMs = 0;
  let reserveMs = 0;
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    await dp.checkLedgerBudget(ledger, opts);
    checkMs += performance.now() - t;
    t = performance.now();
    const { id } = await dp.reserveLedgerBudget(ledger, opts);
    await dp.releaseLedgerBudget(ledger, id);
    reserveMs += performance.now() - t;
  }
  await ledger.close();
  results.cases.push({ entries: size, checkMsPerRun: checkMs / RUNS, reserveAndReleaseMsPerRun: reserveMs / RUNS, ratio: reserveMs / checkMs });
}
fs.rmSync(root, { recursive: true, force: true });
printTable(
  results.cases.map((c) => ({ entries: c.entries, 'check ms': fmt(c.checkMsPerRun), 'reserve+release ms': fmt(c.reserveAndReleaseMsPerRun), ratio: `${fmt(c.ratio)}x` })),
  ['entries', 'check ms', 'reserve+release ms', 'ratio'],
);
console.log(`\nresults: ${writeResult('ledger-reserve', results)}`);
