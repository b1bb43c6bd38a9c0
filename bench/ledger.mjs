// Ledger benchmarks (DESIGN.md §7): durable appends per second with group commit against one fsync
// per append, `verify` time for 100,000 entries, and proof generation time.
// Run after `npx tsup`:  node bench/ledger.mjs [--entries 100000] [--dir PATH]
// The ledger is written to a temporary directory on the same file system as the repo (fsync cost
// depends on the disk: the figures mean something only with the machine they were measured on).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchDir, machine, printTable, writeResult, fmt } from './lib.mjs';
import { receiptSigner } from './ledger-fixtures.mjs';

const dp = await import('../dist/node.js');
const { values } = parseArgs({ options: { entries: { type: 'string' }, dir: { type: 'string' } } });
const N_VERIFY = Number(values.entries ?? 100_000);
const root = values.dir ?? path.join(benchDir, '.ledger-tmp');
fs.rmSync(root, { recursive: true, force: true });
fs.mkdirSync(root, { recursive: true });

const { owner, peer, signed } = receiptSigner(dp);

// A realistic receipt (~600 bytes), signed natively so that the benchmark measures the ledger.
function receipt(n) {
  const body = {
    version: 1,
    sessionId: new Uint8Array(16).map((_, i) => (n >>> (i % 4) * 8) & 0xff),
    startedAt: 1_764_000_000_000 + n * 1000,
    endedAt: 1_764_000_000_500 + n * 1000,
    parties: [
      { role: 'requester', publicKey: owner.publicKey },
      { role: 'responder', publicKey: peer.publicKey },
    ],
    protocol: n % 2 ? 'psi-sum' : 'ecdh-psi',
    options: { reveal: 'both', truncate: '128', suite: 'curve25519_XMD_SHA512_ELL2_NU_' },
    purpose: 'pharmacovigilance study PV-2026-0042, authorisation ref. HOSP-DPA-17',
    inputSizes: { requester: 10_000 + n, responder: 250_000 },
    outputSizes: { requester: 1200 },
    bytesExchanged: 21_000_000 + n,
    computeMs: 5400,
    guardrails: [
      { rule: 'min-cohort', outcome: 'passed', detail: 'k=10' },
      { rule: 'budget', outcome: 'passed', detail: '3 of 20 this month' },
    ],
    billing: { currency: 'CNY', amountMinor: 15_000, schedule: 'port-2026-01' },
    outcome: 'completed',
  };
  return signed(body);
}

const results = { machine: machine(), entryBytes: dp.encodeReceipt(receipt(0)).length };
console.log(`ledger benchmark — ${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}, ${results.machine.date}`);
console.log(`entry size ${results.entryBytes} bytes; ledger under ${root}\n`);

// 1. Durable appends: one fsync per append (64 callers, each append its own commit) vs group commit
//    with C appends in flight (C = 1 is sequential: no batching possible).
async function appendRun(name, { groupCommit, concurrency, total }) {
  const dir = path.join(root, name);
  const ledger = await dp.openLedger(dir, { owner, groupCommit });
  const pre = Array.from({ length: total }, (_, i) => receipt(i));
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await ledger.append(pre[next++]);
    }),
  );
  const ms = performance.now() - t0;
  await ledger.close();
  return { case: name, concurrency, appends: total, seconds: ms / 1000, perSecond: (total * 1000) / ms, usPerAppend: (ms * 1000) / total };
}
// Raw cost of the disk: append 646 bytes and fdatasync, the floor under one-fsync-per-append.
{
  const f = path.join(root, 'raw-fsync');
  const fd = fs.openSync(f, 'a');
  const buf = Buffer.alloc(results.entryBytes + 80, 7);
  const n = 200;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    fs.writeSync(fd, buf);
    fs.fdatasyncSync(fd);
  }
  results.rawFdatasyncUs = ((performance.now() - t0) * 1000) / n;
  fs.closeSync(fd);
  console.log(`raw append + fdatasync of one record: ${fmt(results.rawFdatasyncUs)} µs (${fmt(1e6 / results.rawFdatasyncUs)}/s)`);
}
// Warm-up (JIT, key imports) so that the first measured case is not penalised.
await appendRun('warm-up', { groupCommit: true, concurrency: 16, total: 500 });

const appendRows = [];
appendRows.push(await appendRun('fsync-per-append', { groupCommit: false, concurrency: 64, total: 1000 }));
for (const c of [1, 8, 64, 256]) appendRows.push(await appendRun(`group-commit-c${c}`, { groupCommit: true, concurrency: c, total: c === 1 ? 1000 : 4000 }));
const base = appendRows[0].perSecond; // baseline: one fsync per append
printTable(
  appendRows.map((r) => ({ ...r, seconds: fmt(r.seconds), perSecond: fmt(r.perSecond), usPerAppend: fmt(r.usPerAppend), vsBaseline: `${fmt(r.perSecond / base)}x` })),
  ['case', 'concurrency', 'appends', 'seconds', 'perSecond', 'usPerAppend', 'vsBaseline'],
);
results.appends = appendRows;

// 2. Verify N entries (build the ledger with group commit first).
if (N_VERIFY === 0) {
  fs.rmSync(root, { recursive: true, force: true });
  console.log(`\nresults: ${writeResult('ledger-appends', results)}`);
  process.exit(0);
}
console.log(`\nbuilding a ledger of ${N_VERIFY} entries …`);
const bigDir = path.join(root, 'big');
{
  const ledger = await dp.openLedger(bigDir, { owner });
  const t0 = performance.now();
  const chunk = 2000;
  for (let i = 0; i < N_VERIFY; i += chunk) {
    const batch = [];
    for (let j = i; j < Math.min(N_VERIFY, i + chunk); j++) batch.push(ledger.append(receipt(j)));
    await Promise.all(batch);
  }
  results.build = { entries: N_VERIFY, seconds: (performance.now() - t0) / 1000 };
  await ledger.close();
  console.log(`  built in ${fmt(results.build.seconds)} s (${fmt(N_VERIFY / results.build.seconds)} appends/s, batches of ${chunk}); log ${(fs.statSync(path.join(bigDir, 'ledger.log')).size / 2 ** 20).toFixed(1)} MiB`);
}
results.verify = {};
for (const workers of [1, results.machine.cores]) {
  const t0 = performance.now();
  const r = await dp.verifyLedgerDir(bigDir, { publicKey: owner.publicKey, workers });
  const s = (performance.now() - t0) / 1000;
  if (!r.ok || r.size !== N_VERIFY) throw new Error(`verify failed: ${JSON.stringify(r.problem)}`);
  results.verify[`workers${workers}`] = { entries: N_VERIFY, workers, seconds: s, usPerEntry: (s * 1e6) / N_VERIFY, loadavg: machine().loadavg };
  console.log(`verify ${N_VERIFY} entries, ${workers} thread(s) for signatures: ${fmt(s)} s (${fmt((s * 1e6) / N_VERIFY)} µs/entry: checksum, decode, 2 receipt signatures, leaf + root hashes, seal)`);
}
{
  const t0 = performance.now();
  const ledger = await dp.openLedger(bigDir, { owner });
  results.open = { entries: N_VERIFY, seconds: (performance.now() - t0) / 1000 };
  console.log(`open (recover + rebuild the tree, no signature checks) ${N_VERIFY} entries: ${fmt(results.open.seconds)} s`);

  // 3. Proof generation on the open ledger's in-memory tree.
  const reps = 20_000;
  let t = performance.now();
  let sink = 0;
  for (let i = 0; i < reps; i++) sink += ledger.inclusionProof((i * 7919) % N_VERIFY).length;
  const incl = ((performance.now() - t) * 1000) / reps;
  t = performance.now();
  for (let i = 0; i < reps; i++) {
    const m = 1 + ((i * 104729) % (N_VERIFY - 1));
    sink += ledger.consistencyProof(m, N_VERIFY).length;
  }
  const cons = ((performance.now() - t) * 1000) / reps;
  t = performance.now();
  const root = ledger.root();
  for (let i = 0; i < reps; i++) {
    const idx = (i * 7919) % N_VERIFY;
    dp.verifyInclusionProof(ledger.leafHash(idx), idx, N_VERIFY, ledger.inclusionProof(idx), root);
  }
  const verifyIncl = ((performance.now() - t) * 1000) / reps - incl;
  results.proofs = { treeSize: N_VERIFY, inclusionUs: incl, consistencyUs: cons, verifyInclusionUs: verifyIncl, sink };
  console.log(`proofs at size ${N_VERIFY}: inclusion ${fmt(incl)} µs, consistency ${fmt(cons)} µs, verifying an inclusion proof ${fmt(verifyIncl)} µs`);
  await ledger.close();
}
fs.rmSync(root, { recursive: true, force: true });
console.log(`\nresults: ${writeResult('ledger', results)}`);
