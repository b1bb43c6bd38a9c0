// The security model of a run (src/session/security-model.ts): one mapping from protocol + options
// to a stable string, stated in the signed terms (a different one is refused like any terms
// mismatch), carried by every receipt, shown by the ledger report.
import { describe, expect, it } from 'vitest';
import { TermsRefusedError } from '../src/errors.js';
import { buildUsageReport, formatUsageReport } from '../src/ledger/report.js';
import type { UsageReceipt } from '../src/ledger/receipt-types.js';
import {
  checkSecurityModel,
  establishSession,
  generateIdentity,
  runPsi,
  runPsiSum,
  SECURITY_MODELS,
  securityModelOf,
  withSecurityModel,
  type SessionTerms,
} from '../src/session/index.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';
import { psiTerms } from './session-fixtures.js';

const pharma = generateIdentity();
const hospital = generateIdentity();

describe('securityModelOf', () => {
  // Every protocol and mode this build runs, and what each maps to.
  const table: [string, Record<string, string>, string][] = [
    ['ecdh-psi', { 'count-only': 'false', truncate: '128' }, 'malicious-up-to-input-choice'], // mode 1 (reveal requester)
    ['ecdh-psi', { 'count-only': 'false', truncate: 'none' }, 'malicious-up-to-input-choice'], // mode 0 (reveal both: recipients, not options)
    ['ecdh-psi', { 'count-only': 'true', truncate: '128' }, 'semi-honest'], // mode 2
    ['ecdh-psi', { 'count-only': 'true', truncate: '192' }, 'semi-honest'], // mode 3
    ['psi-sum', { values: 'responder', 'dp-epsilon': 'none' }, 'idholder-malicious/valueholder-semi-honest'],
    ['psi-sum', { values: 'requester', 'dp-epsilon': '1' }, 'idholder-malicious/valueholder-semi-honest'],
    ['aggregate', { role: 'analyst', query: 'q' }, 'aggregator-semi-honest'],
    ['aggregate', { role: 'provider' }, 'aggregator-semi-honest'],
  ];
  it.each(table)('%s %j → %s', (protocol, options, model) => {
    const m = securityModelOf(protocol, options)!;
    expect(m.model).toBe(model);
    expect(m.anchor).toMatch(/^SECURITY\.md#model-/);
  });

  it('names a SECURITY.md anchor that exists for every model, and nothing for what this build does not run', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../SECURITY.md', import.meta.url), 'utf8');
    for (const m of Object.values(SECURITY_MODELS)) expect(text).toContain(`<a id="${m.anchor.split('#')[1]}"></a>`);
    expect(securityModelOf('ecdh-psi', {})).toBeUndefined();
    expect(securityModelOf('ecdh-psi', { 'count-only': 'maybe' })).toBeUndefined();
    expect(securityModelOf('other', {})).toBeUndefined();
    expect(() => withSecurityModel(psiTerms({ protocol: 'other' }))).toThrow(RangeError);
  });

  it('checkSecurityModel: the stated model must be the computed one', () => {
    const t = withSecurityModel(psiTerms());
    expect(t.options['security']).toBe('malicious-up-to-input-choice');
    expect(checkSecurityModel(t)).toBeUndefined();
    expect(checkSecurityModel(psiTerms())).toMatch(/state no security model/);
    // A count-only run claiming the stronger model is refused.
    const claim = psiTerms({ options: { 'count-only': 'true', truncate: 'none', security: 'malicious-up-to-input-choice' } });
    expect(checkSecurityModel(claim)).toMatch(/security model 'malicious-up-to-input-choice', but this run's is 'semi-honest'/);
  });
});

describe('the security model in terms and receipts', () => {
  async function propose(terms: SessionTerms) {
    const [a, b] = createMemoryTransportPair();
    const responder = runPsi({ role: 'responder', records: ['a', 'b'], transport: b, identity: hospital, peerPublicKey: pharma.publicKey }).catch(
      (e: unknown) => e,
    );
    const s = await establishSession({ role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey, terms });
    const receipt = await s.exchangeReceipt({ outcome: s.accepted ? 'failed' : 'refused', inputSize: 0, outputSize: 0, computeMs: 0 }).catch(() => undefined);
    await s.close();
    return { s, receipt, responder: await responder };
  }

  it('a requester stating another model (or none) is refused on both sides, with a refused receipt that records what it stated', async () => {
    const lying = await propose(psiTerms({ options: { 'count-only': 'true', truncate: 'none', security: 'malicious-up-to-input-choice' }, requesterSetSize: 2 }));
    expect(lying.s.accepted).toBe(false);
    expect(lying.s.refusalReason).toMatch(/security model .* but this run's is 'semi-honest'/);
    expect(lying.responder).toBeInstanceOf(TermsRefusedError);
    expect((lying.responder as Error).message).toMatch(/semi-honest/);
    expect(lying.receipt!.body.outcome).toBe('refused');
    expect(lying.receipt!.body.options['security']).toBe('malicious-up-to-input-choice');

    const silent = await propose(psiTerms({ requesterSetSize: 2 }));
    expect(silent.s.accepted).toBe(false);
    expect(silent.s.refusalReason).toMatch(/state no security model/);
    expect(silent.responder).toBeInstanceOf(TermsRefusedError);
  });

  it('psi-sum runs sign idholder-malicious/valueholder-semi-honest; the ledger report groups runs by protocol and model', async () => {
    const [a, b] = createMemoryTransportPair();
    const [ids, values] = await Promise.all([
      runPsiSum({ role: 'requester', records: ['k1', 'k2', 'k3'], transport: a, identity: pharma, peerPublicKey: hospital.publicKey }),
      runPsiSum({
        role: 'responder',
        records: ['k2', 'k3', 'k4'],
        transport: b,
        identity: hospital,
        peerPublicKey: pharma.publicKey,
        values: { columns: [{ name: 'cost' }], rows: [['1.00'], ['2.00'], ['4.00']] },
      }),
    ]);
    expect(ids.sums).toEqual({ cost: '3.00' });
    for (const r of [ids.receipt, values.receipt]) expect(r.body.options['security']).toBe('idholder-malicious/valueholder-semi-honest');

    const psi = async (countOnly: boolean): Promise<UsageReceipt> => {
      const [x, y] = createMemoryTransportPair();
      const [mine] = await Promise.all([
        runPsi({ role: 'requester', records: ['a', 'b'], transport: x, identity: pharma, peerPublicKey: hospital.publicKey, terms: { countOnly } }),
        runPsi({ role: 'responder', records: ['b'], transport: y, identity: hospital, peerPublicKey: pharma.publicKey }),
      ]);
      return mine.receipt;
    };
    const receipts = [await psi(true), await psi(false), await psi(true), ids.receipt];
    const rows = buildUsageReport(receipts, { by: 'security' });
    expect(rows.map((r) => [r.key, r.runs])).toEqual([
      ['ecdh-psi malicious-up-to-input-choice', 1],
      ['ecdh-psi semi-honest', 2],
      ['psi-sum idholder-malicious/valueholder-semi-honest', 1],
    ]);
    // Receipts from before the model was recorded are shown as such, not dropped.
    const old = { ...receipts[0]!, body: { ...receipts[0]!.body, options: { 'count-only': 'true', truncate: '128' } } };
    expect(buildUsageReport([old], { by: 'security' })[0]!.key).toBe('ecdh-psi unrecorded');
    // Same columns as any other grouping, under a `security` key column.
    const header = (by: 'security' | 'protocol') => formatUsageReport(rows, by, 'csv').split('\r\n')[0]!;
    expect(header('security')).toBe(header('protocol').replace(/^protocol,/, 'security,'));
    expect(formatUsageReport(rows, 'security', 'csv')).toContain('\r\necdh-psi semi-honest,2,');
  }, 120_000);
});
