/**
 * A hospital's ledger for the dashboard tests, built with the ledger library: co-signed runs with
 * three counterparties over three months at fixed times, billed with a price schedule that has a
 * guide-price cap (one run billed above it, as a wrong co-signed amount would be), a refused run,
 * a one-sided aborted run, and issue 17's `release` and `trace` records. `expected` is what the
 * fixture was built to contain, written out by hand.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLedger } from '../src/ledger/node.js';
import { billRun, parsePriceSchedule, type PriceSchedule } from '../src/ledger/pricing.js';
import { signOneSidedReceipt, signReceiptBody } from '../src/ledger/receipt.js';
import { releaseReceiptBody, traceReceiptBody } from '../src/ledger/release-records.js';
import type { UsageReceipt, UsageReceiptBody } from '../src/ledger/receipt-types.js';
import { generateIdentity, type Identity } from '../src/session/identity.js';
import { toBase64 } from '../src/utils/bytes.js';

export const SCHEDULE: PriceSchedule = parsePriceSchedule({
  id: 'port-2026-10',
  currency: 'CNY',
  guideCap: 5000,
  protocols: { 'ecdh-psi': { perRun: 1000, per1000Records: 100 }, 'psi-sum': { perRun: 2000 } },
});

/** A label that is markup: the page must show it as text. */
export const HOSTILE_LABEL = '<img src=x onerror=window.__pwned=1><script>__pwned=2</script>';

export interface DashboardFixture {
  root: string;
  dir: string;
  hospital: Identity;
  pharmaA: Identity;
  pharmaB: Identity;
  insurer: Identity;
  namesFile: string;
  scheduleFile: string;
  budgetFile: string;
  /** Base64 keys. */
  keys: { hospital: string; pharmaA: string; pharmaB: string; insurer: string };
  cleanup(): void;
}

let seq = 0;
function body(parties: [Identity, string][], over: Partial<UsageReceiptBody>): UsageReceiptBody {
  const sessionId = new Uint8Array(16);
  sessionId[0] = 0xd0;
  sessionId[15] = ++seq & 0xff;
  sessionId[14] = (seq >> 8) & 0xff;
  return {
    version: 1,
    sessionId,
    startedAt: 0,
    endedAt: 0,
    parties: parties.map(([id, role]) => ({ role, publicKey: id.publicKey })),
    protocol: 'ecdh-psi',
    options: {},
    purpose: 'programme patients treated here',
    inputSizes: {},
    outputSizes: {},
    bytesExchanged: 1000,
    computeMs: 5,
    guardrails: [],
    outcome: 'completed',
    ...over,
  };
}

function coSigned(b: UsageReceiptBody, signers: Identity[]): UsageReceipt {
  return { body: b, signatures: signers.map((s) => ({ publicKey: s.publicKey, signature: signReceiptBody(s.secretKey, b) })) };
}

/** A run between `peer` (requester) and the hospital (responder) at `at`, billed with {@link SCHEDULE}. */
export function run(hospital: Identity, peer: Identity, at: number, records: number, over: Partial<UsageReceiptBody> = {}): UsageReceipt {
  const b = body([[peer, 'requester'], [hospital, 'responder']], {
    startedAt: at,
    endedAt: at + 1000,
    inputSizes: { requester: records, responder: 100 },
    outputSizes: { requester: 10 },
    ...over,
  });
  b.billing = billRun(SCHEDULE, b);
  return coSigned(b, [peer, hospital]);
}

export const T = {
  aug: Date.UTC(2026, 7, 10, 9),
  sep: Date.UTC(2026, 8, 15, 9),
  oct: Date.UTC(2026, 9, 20, 9),
  /** "Now" for budgets: inside October 2026. */
  now: Date.UTC(2026, 9, 25, 12),
};

/**
 * What the fixture holds. Runs (not counting release/trace records):
 * - August: pharmaA ×2 (records 1000 each + 100), insurer ×1 (records 3000 + 100)
 * - September: none (a gap the chart must show as zero)
 * - October: pharmaA ×1 (refused), pharmaB ×2 (4000 + 100 each), pharmaB one-sided aborted-after-data ×1,
 *   insurer ×1 billed 9000 (above the 5000 guide cap)
 */
export const expected = {
  periods: ['2026-08', '2026-09', '2026-10'],
  runsPerMonth: [3, 0, 5],
  runs: { pharmaA: 3, pharmaB: 3, insurer: 2 },
  // ecdh-psi: 1000 + ceil(records × 100 / 1000); refused costs 0; the one-sided run is not billed.
  // Aug: 2 × (1000 + 110) + (1000 + 310) = 3530. Oct: 2 × (1000 + 410) + 9000 = 11820.
  billedPerMonth: [3530, 0, 11820],
  billableRunsPerMonth: [3, 0, 3],
  overCap: 1,
  recordsInAugust: 2 * 1100 + 3100,
  /** Budget policy: month, 3 queries; pharmaB at most 2. In October: pharmaA 1 (refused runs do not count → 0), pharmaB 3, insurer 1. */
  budget: { pharmaA: 0, pharmaB: 3, insurer: 1 },
  releases: 1,
  traces: 1,
};

/** Builds the fixture in a fresh temporary directory. */
export async function hospitalLedger(): Promise<DashboardFixture> {
  const root = mkdtempSync(join(tmpdir(), 'dataport-dashboard-'));
  const dir = join(root, 'hospital-ledger');
  const hospital = generateIdentity();
  const pharmaA = generateIdentity();
  const pharmaB = generateIdentity();
  const insurer = generateIdentity();
  const ledger = await openLedger(dir, { owner: hospital });
  const day = 86_400_000;
  const entries: UsageReceipt[] = [
    run(hospital, pharmaA, T.aug, 1000),
    run(hospital, pharmaA, T.aug + day, 1000),
    run(hospital, insurer, T.aug + 2 * day, 3000),
    run(hospital, pharmaA, T.oct, 500, { outcome: 'refused', inputSizes: { requester: 500 }, outputSizes: {} }),
    run(hospital, pharmaB, T.oct + day, 4000),
    run(hospital, pharmaB, T.oct + 2 * day, 4000),
    signOneSidedReceipt(hospital, body([[pharmaB, 'requester'], [hospital, 'responder']], { startedAt: T.oct + 3 * day, endedAt: T.oct + 3 * day + 10, outcome: 'aborted-after-data', inputSizes: { responder: 100 } })),
  ];
  // A co-signed amount above the guide cap (both signed it: the dashboard must show it as over the cap).
  const over = body([[insurer, 'requester'], [hospital, 'responder']], { startedAt: T.oct + 4 * day, endedAt: T.oct + 4 * day + 5, inputSizes: { requester: 10, responder: 100 } });
  over.billing = { ...billRun(SCHEDULE, over), amountMinor: 9000 };
  entries.push(coSigned(over, [insurer, hospital]));
  // Issue 17 records, as `dataport release` and `dataport trace` write them: a fingerprinted
  // release to pharmaA, and a trace hit naming it.
  const releaseId = new Uint8Array(16).fill(0xa1);
  const release = releaseReceiptBody(
    { releaseId, recipient: pharmaA.publicKey, keyColumns: ['resident_id'], columns: ['ward', 'cost'], tolerance: { cost: '0.01' }, gamma: 4, bits: 64, rows: 120, keyCommit: new Uint8Array(32).fill(0xcc) },
    { owner: hospital.publicKey, sourceProtocol: 'ecdh-psi', purpose: HOSTILE_LABEL, at: T.oct + 5 * day },
  );
  const trace = traceReceiptBody({ owner: hospital.publicKey, fileSha256: new Uint8Array(32).fill(0xab), rows: 40, hit: { releaseId, recipient: pharmaA.publicKey, rowsMatched: 36, falseAccusation: 1e-9 }, at: T.oct + 6 * day });
  entries.push(signOneSidedReceipt(hospital, release), signOneSidedReceipt(hospital, trace));
  for (const e of entries) await ledger.append(e);
  await ledger.close();

  const keys = { hospital: toBase64(hospital.publicKey), pharmaA: toBase64(pharmaA.publicKey), pharmaB: toBase64(pharmaB.publicKey), insurer: toBase64(insurer.publicKey) };
  const namesFile = join(root, 'names.json');
  writeFileSync(namesFile, JSON.stringify({ [keys.pharmaA]: '医药公司甲 Pharma A', [keys.pharmaB]: HOSTILE_LABEL }));
  const scheduleFile = join(root, 'prices.json');
  writeFileSync(scheduleFile, JSON.stringify(SCHEDULE));
  const budgetFile = join(root, 'budget.json');
  writeFileSync(budgetFile, JSON.stringify({ period: 'month', maxQueries: 3, maxRecords: 100000, counterparties: { [keys.pharmaB]: { maxQueries: 2 } } }));
  return { root, dir, hospital, pharmaA, pharmaB, insurer, namesFile, scheduleFile, budgetFile, keys, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}
