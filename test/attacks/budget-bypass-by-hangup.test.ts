// Issue 16, finding 3: query budgets were bypassed by hanging up before the receipt. A requester
// authenticated, received its output and closed the connection before the receipt exchange: no
// receipt, the reservation given back, no ledger entry — an unlimited number of free probing runs
// under `maxQueries: 1`. Now a run counts once protocol data has flowed: the honest party writes a
// one-sided `aborted-after-data` entry (signed by itself) that settles its reservation.
//
// Every attempt below is the attack as a peer would run it (a modified client: the real session and
// protocol code, with the connection cut where the receipt exchange would start). On the code
// before the fix the second attempt of each scenario is allowed and runs, and the honest ledger
// holds no entry for the first.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli } from '../cli-helpers.js';
import { GuardrailRefusedError, TermsRefusedError, TransportClosedError } from '../../src/errors.js';
import { openLedger, verifyLedgerDir, type Ledger } from '../../src/ledger/file-ledger.js';
import { readBudgetReservations, releaseLedgerBudget, reserveLedgerBudget } from '../../src/ledger/reservations.js';
import type { BudgetPolicy } from '../../src/ledger/budget.js';
import type { UsageReceipt } from '../../src/ledger/receipt-types.js';
import { buildUsageReport } from '../../src/ledger/report.js';
import { csvCell } from '../../src/utils/csv-cell.js';
import { parseAggregateQuery, type AggregateQuery } from '../../src/protocols/aggregate/index.js';
import { createInlineExecutor } from '../../src/protocols/executor.js';
import { runPsiProtocol } from '../../src/protocols/psi/driver.js';
import { normalizeKeysAsync } from '../../src/protocols/psi/normalize.js';
import {
  createAggregateOperator,
  establishSession,
  generateIdentity,
  runAggregateAnalyst,
  runAggregateProvider,
  runPsi,
  formatPublicKeyFile,
  formatSecretKeyFile,
  runPsiSum,
  SessionMessageType,
  type Identity,
  type SessionTerms,
} from '../../src/session/index.js';
import { createMemoryTransportPair } from '../../src/transport/memory.js';
import { connectWebSocket } from '../../src/transport/websocket-node.js';
import type { FrameTransport } from '../../src/transport/types.js';
import { toBase64 } from '../../src/utils/bytes.js';
import { psiTerms } from '../session-fixtures.js';
import { withSecurityModel } from '../../src/session/security-model.js';
import { keySchemaOf, keySchemaTermsOptions } from '../../src/session/key-schema.js';

/** The terms an honest requester of `n` single-column keys proposes (security model and key schema included). */
function probeTerms(n: number) {
  const base = psiTerms({ requesterSetSize: n });
  return withSecurityModel({ ...base, options: { ...base.options, ...keySchemaTermsOptions(keySchemaOf(['x'])) } });
}

const ONE_QUERY: BudgetPolicy = { period: 'month', maxQueries: 1 };
const BUDGET_SPENT = /query budget for counterparty \S+ is spent: 1 of 1 queries used this month/;

const dirs: string[] = [];
const ledgers: Ledger[] = [];
afterEach(async () => {
  killAll();
  for (const l of ledgers.splice(0)) await l.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function ledgerOf(owner: Identity): Promise<Ledger> {
  const dir = mkdtempSync(join(tmpdir(), 'dataport-hangup-'));
  dirs.push(dir);
  const ledger = await openLedger(dir, { owner });
  ledgers.push(ledger);
  return ledger;
}

/**
 * The documented SDK wiring of a budget (docs/ledger.md): reserve once the peer is authenticated,
 * append every receipt the run hands over, release when the run is over.
 */
function budgeted(ledger: Ledger, policy: BudgetPolicy = ONE_QUERY) {
  const ids: string[] = [];
  return {
    beforeRun: async (_t: SessionTerms, peer: Uint8Array, context?: { sessionId: Uint8Array }) => {
      ids.push((await reserveLedgerBudget(ledger, { counterparty: peer, policy, ...(context ? { sessionId: context.sessionId } : {}) })).id);
    },
    onReceipt: async (r: UsageReceipt) => void (await ledger.append(r)),
    release: async () => {
      for (const id of ids.splice(0)) await releaseLedgerBudget(ledger, id);
    },
  };
}

/**
 * A peer's end that, once protocol data has flowed, hangs up instead of sending its receipt view
 * (session frame types are in clear). A refusal's receipt (no data) goes through.
 */
function hangUpAtReceipt(t: FrameTransport): FrameTransport & { hungUp: boolean } {
  let sawData = false;
  const w = {
    hungUp: false,
    get stats() {
      return t.stats;
    },
    async send(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
      if (frame[0] === SessionMessageType.DATA) sawData = true;
      if (frame[0] === SessionMessageType.RECEIPT_VIEW && sawData) {
        w.hungUp = true;
        await t.close('bye');
        throw new TransportClosedError('hung up before the receipt');
      }
      return t.send(frame, signal);
    },
    async receive(signal?: AbortSignal): Promise<Uint8Array> {
      const frame = await t.receive(signal);
      if (frame[0] === SessionMessageType.DATA) sawData = true;
      return frame;
    },
    close: (reason?: string) => t.close(reason),
  };
  return w;
}

async function entries(ledger: Ledger): Promise<UsageReceipt[]> {
  await ledger.refresh();
  return ledger.readReceipts();
}

function expectOneSidedAbort(r: UsageReceipt, signer: Identity, counterparty: Identity, protocol: string): void {
  expect(r.kind).toBe('one-sided');
  expect(r.body.outcome).toBe('aborted-after-data');
  expect(r.body.protocol).toBe(protocol);
  expect(r.signatures.map((s) => toBase64(s.publicKey))).toEqual([toBase64(signer.publicKey)]);
  expect(r.body.parties.map((p) => toBase64(p.publicKey))).toContain(toBase64(counterparty.publicKey));
  expect(r.body.options['error']).toMatch(/^ERR_[A-Z_]+$/);
  expect(r.body.billing).toBeUndefined();
  expect(r.body.bytesExchanged).toBeGreaterThan(0);
}

const HOSPITAL_KEYS = ['110101199003070011', '11010119900307002x', '440101198001010033', '440101198001010041'];
const PHARMA_KEYS = ['11010119900307002X', '440101198001010033', '990000000000000000'];

/**
 * The attacking requester: the real handshake and ECDH-PSI, its output in hand, then it closes the
 * connection instead of exchanging the receipt. Returns what it learned, or the refusal.
 */
async function probingRequester(transport: FrameTransport, me: Identity, responder: Identity) {
  const keys = await normalizeKeysAsync(PHARMA_KEYS);
  const session = await establishSession({
    role: 'requester',
    transport,
    identity: me,
    peerPublicKey: responder.publicKey,
    terms: probeTerms(keys.length),
  });
  if (!session.accepted) {
    await transport.close();
    return { refused: session.refusalReason };
  }
  const executor = await createInlineExecutor();
  try {
    const result = await runPsiProtocol({
      role: 'requester',
      records: keys,
      transport: session.channel,
      ekm: session.ekm,
      options: { output: 'requester', cardinalityOnly: false, truncation: 0, maxPeerSetSize: session.responderSetSize },
      executor,
    });
    return { intersection: result.intersection };
  } finally {
    await executor.close();
    await transport.close(); // before the receipt exchange
  }
}

describe('ECDH-PSI: hanging up before the receipt no longer buys a free run', () => {
  it('a requester that takes its output and hangs up uses the query: the second attempt is refused', async () => {
    const hospital = generateIdentity();
    const pharma = generateIdentity();
    const ledger = await ledgerOf(hospital);
    const attempt = async () => {
      const [a, b] = createMemoryTransportPair();
      const hook = budgeted(ledger);
      const served = runPsi({ role: 'responder', records: HOSPITAL_KEYS, transport: b, identity: hospital, peerPublicKey: pharma.publicKey, ...hook })
        .then(() => undefined, (e: unknown) => e)
        .finally(hook.release);
      const probe = await probingRequester(a, pharma, hospital);
      return { probe, served: await served };
    };

    const first = await attempt();
    expect(first.probe.intersection).toEqual([0, 1]); // the output, before any receipt
    expect(first.served).toBeInstanceOf(TransportClosedError);
    const after1 = await entries(ledger);
    expect(after1).toHaveLength(1);
    expectOneSidedAbort(after1[0]!, hospital, pharma, 'ecdh-psi');
    expect(after1[0]!.body.inputSizes).toEqual({ requester: 3, responder: 4 });

    const second = await attempt();
    expect(second.probe.refused).toMatch(BUDGET_SPENT);
    expect(second.probe.intersection).toBeUndefined();
    // Still one counted run; the refusal could not be co-signed (the prober left), so nothing else.
    expect((await entries(ledger)).map((r) => r.body.outcome)).toEqual(['aborted-after-data']);
    expect((await verifyLedgerDir(ledger.dir)).ok).toBe(true);
    const [row] = buildUsageReport(await entries(ledger), { by: 'counterparty', owner: hospital.publicKey });
    expect(row).toMatchObject({ key: toBase64(pharma.publicKey), runs: 1, outcomes: { 'aborted-after-data': 1 } });
  }, 120_000);

  it('a responder that takes its output and hangs up uses the requester-side budget too', async () => {
    const hospital = generateIdentity();
    const pharma = generateIdentity();
    const ledger = await ledgerOf(pharma);
    const attempt = async () => {
      const [a, b] = createMemoryTransportPair();
      const hook = budgeted(ledger);
      const rogue = hangUpAtReceipt(b);
      const responder = runPsi({ role: 'responder', records: HOSPITAL_KEYS, transport: rogue, identity: hospital, peerPublicKey: pharma.publicKey }).catch(
        (e: unknown) => e,
      );
      const requester = runPsi({
        role: 'requester',
        records: PHARMA_KEYS,
        transport: a,
        identity: pharma,
        peerPublicKey: hospital.publicKey,
        terms: { reveal: 'both' },
        ...hook,
      })
        .then(() => undefined, (e: unknown) => e)
        .finally(hook.release);
      return { requester: await requester, responder: await responder, rogue };
    };

    const first = await attempt();
    expect(first.rogue.hungUp).toBe(true); // it reached the receipt: its output was computed
    expect(first.requester).toBeInstanceOf(TransportClosedError);
    const after1 = await entries(ledger);
    expect(after1).toHaveLength(1);
    expectOneSidedAbort(after1[0]!, pharma, hospital, 'ecdh-psi');

    // The requester's own budget for this responder is spent: it refuses before running.
    const second = await attempt();
    expect(second.rogue.hungUp).toBe(false);
    expect(second.requester).toBeInstanceOf(TermsRefusedError);
    expect(String((second.requester as Error).message)).toMatch(BUDGET_SPENT);
    expect((await entries(ledger)).filter((r) => r.body.outcome !== 'refused').map((r) => r.body.outcome)).toEqual(['aborted-after-data']);
  }, 120_000);

  it('a failure before any protocol data still gives the reservation back and writes nothing', async () => {
    const hospital = generateIdentity();
    const pharma = generateIdentity();
    const ledger = await ledgerOf(hospital);
    const [a, b] = createMemoryTransportPair();
    const hook = budgeted(ledger);
    const served = runPsi({ role: 'responder', records: HOSPITAL_KEYS, transport: b, identity: hospital, peerPublicKey: pharma.publicKey, ...hook })
      .then(() => undefined, (e: unknown) => e)
      .finally(hook.release);
    // Authenticated and accepted, then gone before the first protocol frame.
    const session = await establishSession({ role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms: probeTerms(3) });
    expect(session.accepted).toBe(true);
    await a.close();
    expect(await served).toBeInstanceOf(TransportClosedError);
    expect(await entries(ledger)).toEqual([]);
    expect(await readBudgetReservations(ledger.dir)).toEqual([]);

    // The query was not used: an honest run goes through.
    const [c, d] = createMemoryTransportPair();
    const hook2 = budgeted(ledger);
    const [mine] = await Promise.all([
      runPsi({ role: 'requester', records: PHARMA_KEYS, transport: c, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsi({ role: 'responder', records: HOSPITAL_KEYS, transport: d, identity: hospital, peerPublicKey: pharma.publicKey, ...hook2 }).finally(hook2.release),
    ]);
    expect(mine.intersectionRows).toEqual([0, 1]);
    expect((await entries(ledger)).map((r) => [r.kind ?? 'co-signed', r.body.outcome])).toEqual([['co-signed', 'completed']]);
  }, 120_000);
});

describe('psi-sum: hanging up before the receipt', () => {
  it('an id holder that takes the sums and hangs up uses the query: the second attempt is refused', async () => {
    const hospital = generateIdentity();
    const pharma = generateIdentity();
    const ledger = await ledgerOf(hospital);
    const values = { columns: [{ name: 'cost' }], rows: HOSPITAL_KEYS.map((_, i) => [`${i + 1}0.00`]) };
    const attempt = async () => {
      const [a, b] = createMemoryTransportPair();
      const hook = budgeted(ledger);
      const rogue = hangUpAtReceipt(a);
      const served = runPsiSum({ role: 'responder', records: HOSPITAL_KEYS, values, transport: b, identity: hospital, peerPublicKey: pharma.publicKey, ...hook })
        .then(() => undefined, (e: unknown) => e)
        .finally(hook.release);
      const probe = await runPsiSum({ role: 'requester', records: PHARMA_KEYS, transport: rogue, identity: pharma, peerPublicKey: hospital.publicKey }).catch(
        (e: unknown) => e,
      );
      return { probe, served: await served, rogue };
    };

    const first = await attempt();
    expect(first.rogue.hungUp).toBe(true); // it had the count and sums when it reached the receipt
    expect(first.served).toBeInstanceOf(TransportClosedError);
    const after1 = await entries(ledger);
    expect(after1).toHaveLength(1);
    expectOneSidedAbort(after1[0]!, hospital, pharma, 'psi-sum');

    const second = await attempt();
    expect(second.rogue.hungUp).toBe(false);
    expect(second.probe).toBeInstanceOf(TermsRefusedError);
    expect(String((second.probe as Error).message)).toMatch(BUDGET_SPENT);
    expect((await entries(ledger)).map((r) => r.body.outcome)).toEqual(['aborted-after-data', 'refused']);
    expect((await verifyLedgerDir(ledger.dir)).ok).toBe(true);
  }, 180_000);
});

describe('aggregation: a participant hanging up after the data', () => {
  const query = (): AggregateQuery =>
    parseAggregateQuery({
      version: 1,
      id: 'wards-hangup',
      columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '0.00', max: '100000.00' }],
      groupBy: { column: 'ward', categories: ['oncology', 'surgery'] },
      statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }],
      maxRowsPerProvider: 100,
      providers: 2,
      minCohort: 1,
    });
  const rows = [
    [{ ward: 'oncology', cost: '100.00' }],
    [
      { ward: 'surgery', cost: '7.00' },
      { ward: 'oncology', cost: '1.00' },
    ],
  ];

  it('the operator records one-sided entries for an analyst and a provider that hang up, and their budgets are spent', async () => {
    const operatorId = generateIdentity();
    const analyst = generateIdentity();
    const hospitals = [generateIdentity(), generateIdentity()];
    const ledger = await ledgerOf(operatorId);
    const hook = budgeted(ledger);
    const operator = createAggregateOperator({
      identity: operatorId,
      providers: 2,
      analystKeys: [analyst.publicKey],
      providerKeys: hospitals.map((h) => h.publicKey),
      timeoutMs: 120_000,
      beforeRun: hook.beforeRun,
      onReceipt: (r) => hook.onReceipt(r),
    });
    const connect = (): FrameTransport => {
      const [mine, theirs] = createMemoryTransportPair();
      void operator.handle(theirs);
      return mine;
    };
    const rogueProvider = hangUpAtReceipt(connect());
    const rogueAnalyst = hangUpAtReceipt(connect());
    const honest = runAggregateProvider({ transport: connect(), identity: hospitals[0]!, peerPublicKey: operatorId.publicKey, rows: rows[0]! });
    const rogueP = runAggregateProvider({ transport: rogueProvider, identity: hospitals[1]!, peerPublicKey: operatorId.publicKey, rows: rows[1]! }).catch(
      (e: unknown) => e,
    );
    const rogueA = runAggregateAnalyst({ transport: rogueAnalyst, identity: analyst, peerPublicKey: operatorId.publicKey, query: query() }).catch(
      (e: unknown) => e,
    );
    await honest;
    const op = await operator.result;
    await Promise.all([rogueP, rogueA]);
    await hook.release();
    expect(op.outcome.status).toBe('completed');
    expect(rogueAnalyst.hungUp).toBe(true); // the analyst had decrypted the total
    expect(rogueProvider.hungUp).toBe(true);
    expect(op.linksWithoutReceipt).toBe(2);
    expect(op.oneSidedReceipts).toHaveLength(2);

    const all = await entries(ledger);
    const of = (who: Identity) => all.filter((r) => r.body.parties.some((p) => toBase64(p.publicKey) === toBase64(who.publicKey)));
    expect(of(hospitals[0]!).map((r) => [r.kind ?? 'co-signed', r.body.outcome])).toEqual([['co-signed', 'completed']]);
    expect(of(hospitals[1]!)).toHaveLength(1);
    expectOneSidedAbort(of(hospitals[1]!)[0]!, operatorId, hospitals[1]!, 'aggregate');
    expect(of(hospitals[1]!)[0]!.body.inputSizes).toEqual({ requester: 2, responder: 0 });
    expect(of(analyst)).toHaveLength(1);
    expectOneSidedAbort(of(analyst)[0]!, operatorId, analyst, 'aggregate');
    expect((await verifyLedgerDir(ledger.dir)).ok).toBe(true);

    // Their next link is refused by the same budget check the operator's beforeRun makes.
    for (const who of [analyst, hospitals[1]!]) {
      await expect(reserveLedgerBudget(ledger, { counterparty: who.publicKey, policy: ONE_QUERY })).rejects.toThrow(GuardrailRefusedError);
    }
  }, 240_000);
});

describe('dataport psi --listen --budget (CLI end to end)', () => {
  it('a requester that hangs up after its output spends the query: a one-sided entry, one line, --json outcome; the next run is refused', async () => {
    assertBuilt();
    const root = mkdtempSync(join(tmpdir(), 'dataport-hangup-cli-'));
    dirs.push(root);
    const p = (name: string) => join(root, name);
    const hospital = generateIdentity();
    const pharma = generateIdentity();
    for (const [name, id] of [['hospital', hospital], ['pharma', pharma]] as const) {
      mkdirSync(p(name));
      writeFileSync(p(`${name}/identity.key`), formatSecretKeyFile(id.secretKey));
      chmodSync(p(`${name}/identity.key`), 0o600);
      writeFileSync(p(`${name}/identity.pub`), formatPublicKeyFile(id.publicKey));
    }
    writeFileSync(p('hospital.csv'), `patient_id\n${HOSPITAL_KEYS.join('\n')}\n`);
    writeFileSync(p('pharma.csv'), `resident_id\n${PHARMA_KEYS.join('\n')}\n`);
    writeFileSync(p('budget.json'), JSON.stringify(ONE_QUERY));
    const listen = () =>
      startCli(
        ['psi', '--listen', '127.0.0.1:0', '--identity', p('hospital'), '--peer-key', p('pharma/identity.pub'), '--workers', '0',
          '--input', p('hospital.csv'), '--key', 'patient_id', '--truncate', '0', '--ledger', p('ledger'), '--budget', p('budget.json'), '--json'],
        { watchdogMs: 120_000 },
      );

    const first = listen();
    const probe = await probingRequester(await connectWebSocket(await first.listening()), pharma, hospital);
    expect(probe.intersection).toEqual([0, 1]);
    const l1 = await first.done;
    expect(l1.code).not.toBe(0);
    expectOneLineError(l1.stderr, /connection/);
    expect(l1.stderr).toMatch(/one-sided receipt of the run aborted-after-data \(ERR_TRANSPORT_CLOSED\) appended to \S+ \(entry 0\); it counts against the peer's budget/);
    const j1 = lastJson(l1.stdout);
    expect(j1).toMatchObject({ ok: false, outcome: 'aborted-after-data', ledger: { dir: p('ledger'), index: 0 } });

    const second = listen();
    const url = await second.listening();
    const honest = await runCli(['psi', '--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital/identity.pub'), '--workers', '0',
      '--input', p('pharma.csv'), '--key', 'resident_id', '--truncate', '0']);
    const l2 = await second.done;
    expect(honest.code).not.toBe(0);
    expectOneLineError(honest.stderr, BUDGET_SPENT);
    expectOneLineError(l2.stderr, BUDGET_SPENT);

    const report = await runCli(['ledger', 'report', '--ledger', p('ledger'), '--format', 'csv']);
    expect(report.code, report.stderr).toBe(0);
    const [header, row] = report.stdout.split('\r\n');
    expect(header).toBe('counterparty,runs,completed,withheld,refused,failed,aborted,records_in,records_out,bytes,compute_ms,billed');
    // The key as the CSV cell is written: a key starting with '+' (1 in 64) gets the formula guard's apostrophe.
    expect(row!.startsWith(`${csvCell(toBase64(pharma.publicKey))},2,0,0,1,0,1,`), row).toBe(true);
    const verify = await runCli(['ledger', 'verify', '--ledger', p('ledger'), '--public-key', p('hospital/identity.pub')]);
    expect(verify.code, verify.stderr).toBe(0);
    const exported = JSON.parse((await runCli(['ledger', 'export', '--ledger', p('ledger')])).stdout) as { entries: { entry: { kind: string; body: { outcome: string } } }[] };
    expect(exported.entries.map((e) => [e.entry.kind, e.entry.body.outcome])).toEqual([['one-sided', 'aborted-after-data'], ['co-signed', 'refused']]);
  }, 180_000);
});
