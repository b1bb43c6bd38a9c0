/**
 * The JSON the dashboard's `/api/…` endpoints serve, computed from the loaded ledgers
 * (model.ts). Keys are base64 (as in `ledger report` and `--names`), hashes hex (as in alerts).
 * Every string taken from a ledger or a file goes out as a JSON string; the page puts it into the
 * document as text only.
 * @module
 */
import { budgetPeriodBounds, budgetStatus, buildUsageReport, isRunReceipt, RELEASE_PROTOCOL, verifyInclusionProof } from '../ledger/index.js';
import type { BudgetPolicy, PriceSchedule, UsageReceipt, UsageReportRow } from '../ledger/index.js';
import { liveBudgetReservations } from '../ledger/node.js';
import { fromBase64, fromHex, toBase64, toHex } from '../utils/bytes.js';
import type { DashboardAlert } from './alerts.js';
import { alertText } from '../supervise/messages.js';
import type { DashboardData } from './model.js';

/** Operator labels: base64 public key → name. */
export type Labels = ReadonlyMap<string, string>;

/** Longest option value or purpose shown in a table (the entry view shows them whole). */
const SHORT_TEXT = 200;
const short = (s: string | undefined): string | null => (s === undefined ? null : s.length > SHORT_TEXT ? `${s.slice(0, SHORT_TEXT)}…` : s);

const b64 = (bytes: Uint8Array): string => toBase64(bytes);

/** A hex public key from an entry's options, as base64 (or null when it is not one). */
function hexKey(hex: string | undefined): string | null {
  if (hex === undefined || !/^[0-9a-f]{64}$/i.test(hex)) return null;
  return toBase64(fromHex(hex.toLowerCase()));
}

/** `/api/overview`: each ledger's head and verification, and the witnesses. */
export function overviewView(data: DashboardData): unknown {
  return {
    loadedAt: data.loadedAt,
    ledgers: data.ledgers.map((l) => {
      const s = l.snapshot;
      if (s === undefined) return { index: l.index, dir: l.dir, ok: false, problem: l.problem ?? '' };
      return {
        index: l.index,
        dir: l.dir,
        ok: true,
        origin: s.origin,
        owner: b64(s.ownerPublicKey),
        ownerKeyPinned: s.ownerKeyPinned,
        size: s.size,
        root: toHex(s.root()),
        checkpoint: s.checkpoint,
        tornTailBytes: s.tornTailBytes,
      };
    }),
    witnesses: data.witnesses,
    runs: data.runs.length,
    records: data.records.length,
  };
}

function mergeRow(into: UsageReportRow, row: UsageReportRow): void {
  const add = (map: Record<string, number>, k: string, n: number): void => {
    map[k] = (Object.prototype.hasOwnProperty.call(map, k) ? map[k]! : 0) + n;
  };
  into.runs += row.runs;
  for (const [k, n] of Object.entries(row.outcomes)) add(into.outcomes, k, n);
  into.recordsIn += row.recordsIn;
  into.recordsOut += row.recordsOut;
  into.bytesExchanged += row.bytesExchanged;
  into.computeMs += row.computeMs;
  for (const [k, n] of Object.entries(row.billed)) add(into.billed, k, n);
}

/** `/api/counterparties`: `ledger report --by counterparty` over the runs, labelled, with first and last run. */
export function counterpartiesView(data: DashboardData, labels: Labels): unknown {
  const rows = new Map<string, UsageReportRow & { firstSeen: number; lastSeen: number }>();
  for (const l of data.ledgers) {
    if (l.snapshot === undefined) continue;
    const mine = data.runs.filter((r) => r.ledger === l.index).map((r) => r.receipt);
    for (const row of buildUsageReport(mine, { by: 'counterparty', owner: l.snapshot.ownerPublicKey })) {
      const have = rows.get(row.key);
      if (have) mergeRow(have, row);
      else rows.set(row.key, { ...row, outcomes: { ...row.outcomes }, billed: { ...row.billed }, firstSeen: Infinity, lastSeen: -Infinity });
    }
  }
  for (const ref of data.runs) {
    for (const k of ref.counterparties) {
      const row = rows.get(k);
      if (!row) continue;
      row.firstSeen = Math.min(row.firstSeen, ref.receipt.body.startedAt);
      row.lastSeen = Math.max(row.lastSeen, ref.receipt.body.startedAt);
    }
  }
  return {
    rows: [...rows.values()]
      .sort((a, b) => b.runs - a.runs || (a.key < b.key ? -1 : 1))
      .map((r) => ({ ...r, label: labels.get(r.key) ?? null })),
  };
}

/** Periods of the usage charts. */
export type UsagePeriod = 'month' | 'day';

/** Most points a chart gets (the most recent ones). */
export const MAX_PERIODS = 400;
/** Counterparties drawn separately in the runs chart; the rest are one series. */
export const MAX_SERIES = 8;

function periodKey(t: number, period: UsagePeriod): string | undefined {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return undefined;
  return d.toISOString().slice(0, period === 'month' ? 7 : 10);
}

function nextPeriod(key: string, period: UsagePeriod): string {
  if (period === 'month') {
    const [y, m] = key.split('-').map(Number) as [number, number];
    return new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 7);
  }
  return new Date(Date.parse(`${key}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}

/** A run whose billing counts: billed, and neither refused nor failed (those cost 0). */
function billable(r: UsageReceipt, currency: string): boolean {
  return r.body.billing?.currency === currency && r.body.outcome !== 'refused' && r.body.outcome !== 'failed';
}

/**
 * `/api/usage`: per period (UTC), runs per counterparty (the {@link MAX_SERIES} busiest by name,
 * the rest together), records, and billing in one currency — the price schedule's, else the one
 * most runs were billed in — against the guide-price cap: the cap a period could reach is
 * `guideCap` × its billable runs, and a run billed above `guideCap` is counted as over the cap.
 */
export function usageView(data: DashboardData, labels: Labels, period: UsagePeriod, schedule: PriceSchedule | undefined): unknown {
  const totals = new Map<string, number>();
  const currencies = new Map<string, number>();
  for (const ref of data.runs) {
    for (const k of ref.counterparties) totals.set(k, (totals.get(k) ?? 0) + 1);
    const c = ref.receipt.body.billing?.currency;
    if (c !== undefined) currencies.set(c, (currencies.get(c) ?? 0) + 1);
  }
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, MAX_SERIES).map(([k]) => k);
  const currency = schedule?.currency ?? [...currencies.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? null;
  const guideCap = schedule?.guideCap ?? null;

  interface Bucket { runs: number; byCounterparty: number[]; others: number; recordsIn: number; recordsOut: number; billed: number; billableRuns: number; overCap: number }
  const buckets = new Map<string, Bucket>();
  const bucket = (key: string): Bucket => {
    let b = buckets.get(key);
    if (!b) {
      b = { runs: 0, byCounterparty: top.map(() => 0), others: 0, recordsIn: 0, recordsOut: 0, billed: 0, billableRuns: 0, overCap: 0 };
      buckets.set(key, b);
    }
    return b;
  };
  const otherCurrencies: Record<string, number> = {};
  let overCap = 0;
  for (const ref of data.runs) {
    const body = ref.receipt.body;
    const key = periodKey(body.startedAt, period);
    if (key === undefined) continue;
    const b = bucket(key);
    b.runs++;
    for (const k of ref.counterparties) {
      const i = top.indexOf(k);
      if (i >= 0) b.byCounterparty[i]!++;
      else b.others++;
    }
    for (const n of Object.values(body.inputSizes)) b.recordsIn += n;
    for (const n of Object.values(body.outputSizes)) b.recordsOut += n;
    if (currency !== null && billable(ref.receipt, currency)) {
      b.billed += body.billing!.amountMinor;
      b.billableRuns++;
      if (guideCap !== null && body.billing!.amountMinor > guideCap) {
        b.overCap++;
        overCap++;
      }
    } else if (body.billing !== undefined && body.billing.currency !== currency) {
      otherCurrencies[body.billing.currency] = (otherCurrencies[body.billing.currency] ?? 0) + body.billing.amountMinor;
    }
  }
  // Every period between the first and the last, so that a quiet month shows as zero.
  const keys = [...buckets.keys()].sort();
  const periods: string[] = [];
  if (keys.length > 0) {
    const last = keys[keys.length - 1]!;
    for (let k = keys[0]!; k <= last; k = nextPeriod(k, period)) {
      periods.push(k);
      if (periods.length > MAX_PERIODS) periods.shift();
    }
  }
  const at = (k: string): Bucket => buckets.get(k) ?? { runs: 0, byCounterparty: top.map(() => 0), others: 0, recordsIn: 0, recordsOut: 0, billed: 0, billableRuns: 0, overCap: 0 };
  return {
    period,
    periods,
    counterparties: top.map((k) => ({ key: k, label: labels.get(k) ?? null })),
    runs: periods.map((k) => at(k).runs),
    runsByCounterparty: top.map((_, i) => periods.map((k) => at(k).byCounterparty[i]!)),
    runsOthers: periods.map((k) => at(k).others),
    recordsIn: periods.map((k) => at(k).recordsIn),
    recordsOut: periods.map((k) => at(k).recordsOut),
    billing: {
      currency,
      schedule: schedule === undefined ? null : schedule.id,
      guideCap,
      billed: periods.map((k) => at(k).billed),
      cap: guideCap === null ? null : periods.map((k) => at(k).billableRuns * guideCap),
      billableRuns: periods.map((k) => at(k).billableRuns),
      overCap,
      otherCurrencies,
    },
  };
}

/**
 * `/api/budgets`: with a budget policy, where each counterparty of each ledger stands in the
 * current period — the ledger's runs plus its live reservations (runs in progress), exactly as a
 * new run would be checked — for every counterparty the ledger has run with or the policy names.
 */
export async function budgetsView(data: DashboardData, labels: Labels, policy: BudgetPolicy | undefined, now: number): Promise<unknown> {
  if (policy === undefined) return { policy: null, gauges: [] };
  const gauges: unknown[] = [];
  const { start, end } = budgetPeriodBounds(policy.period, now);
  for (const l of data.ledgers) {
    const s = l.snapshot;
    if (s === undefined) continue;
    // Only the period's runs can count (budgetStatus skips the rest), so they are grouped by
    // counterparty once instead of every counterparty's status walking the whole ledger.
    const inPeriod = new Map<string, UsageReceipt[]>();
    const keys = new Set<string>(Object.keys(policy.counterparties ?? {}));
    keys.delete(b64(s.ownerPublicKey)); // a policy may name the owner too
    for (const [i, r] of l.receipts.entries()) {
      if (!isRunReceipt(r)) continue;
      const inside = r.body.startedAt >= start && r.body.startedAt < end;
      for (const k of l.counterparties[i]!) {
        keys.add(k);
        if (!inside) continue;
        const list = inPeriod.get(k);
        if (list) list.push(r);
        else inPeriod.set(k, [r]);
      }
    }
    // Reservations settled by an entry are dropped here, against the whole ledger.
    const pending = await liveBudgetReservations(l.dir, l.receipts, now);
    for (const key of [...keys].sort()) {
      const st = budgetStatus(inPeriod.get(key) ?? [], { counterparty: fromBase64(key), policy, now, pending });
      gauges.push({
        ledger: l.index,
        counterparty: key,
        label: labels.get(key) ?? null,
        period: st.period,
        periodStart: st.periodStart,
        periodEnd: st.periodEnd,
        queriesUsed: st.queriesUsed,
        queriesReserved: st.queriesReserved,
        maxQueries: st.maxQueries,
        recordsUsed: st.recordsUsed,
        recordsReserved: st.recordsReserved,
        maxRecords: st.maxRecords ?? null,
        allowed: st.allowed,
      });
    }
  }
  return { policy: { period: policy.period, maxQueries: policy.maxQueries, maxRecords: policy.maxRecords ?? null }, periodStart: start, periodEnd: end, gauges };
}

/** `/api/records`: fingerprinted releases and trace hits (issue 17's `release` / `trace` entries). */
export function recordsView(data: DashboardData, labels: Labels): unknown {
  const releases: unknown[] = [];
  const traces: unknown[] = [];
  for (const ref of data.records) {
    const b = ref.receipt.body;
    const o = b.options;
    const recipient = hexKey(o['recipient']);
    const common = {
      ledger: ref.ledger,
      index: ref.index,
      at: b.startedAt,
      releaseId: short(o['release-id']),
      recipient,
      recipientLabel: recipient === null ? null : (labels.get(recipient) ?? null),
      outcome: b.outcome,
    };
    if (b.protocol === RELEASE_PROTOCOL) {
      releases.push({ ...common, columns: short(o['columns']), rows: short(o['rows']), sourceProtocol: short(o['source-protocol']), tolerance: short(o['tolerance']), purpose: short(b.purpose) });
    } else {
      traces.push({ ...common, rowsMatched: short(o['rows-matched']), falseAccusation: short(o['false-accusation']), fileSha256: short(o['file-sha256']) });
    }
  }
  const newestFirst = (a: unknown, b: unknown): number => (b as { at: number }).at - (a as { at: number }).at;
  return { releases: releases.sort(newestFirst), traces: traces.sort(newestFirst) };
}

/**
 * `/api/entry`: one entry whole, with its RFC 9162 inclusion proof in the current tree, checked
 * here against the root before it is served.
 */
export function entryView(data: DashboardData, labels: Labels, ledger: number, index: number): unknown {
  const l = data.ledgers[ledger];
  const s = l?.snapshot;
  if (s === undefined || index >= s.size) return undefined;
  const r = l!.receipts[index]!;
  const leaf = s.leafHash(index);
  const proof = s.inclusionProof(index);
  const root = s.root();
  let proofVerified = true;
  try {
    verifyInclusionProof(leaf, index, s.size, proof, root);
  } catch {
    proofVerified = false;
  }
  const b = r.body;
  return {
    ledger,
    origin: s.origin,
    index,
    treeSize: s.size,
    root: toHex(root),
    leafHash: toHex(leaf),
    proof: proof.map(toHex),
    proofVerified,
    kind: r.kind ?? 'co-signed',
    body: {
      sessionId: toHex(b.sessionId),
      startedAt: b.startedAt,
      endedAt: b.endedAt,
      parties: b.parties.map((p) => ({ role: p.role, key: b64(p.publicKey), label: labels.get(b64(p.publicKey)) ?? null })),
      protocol: b.protocol,
      options: b.options,
      purpose: b.purpose,
      inputSizes: b.inputSizes,
      outputSizes: b.outputSizes,
      bytesExchanged: b.bytesExchanged,
      computeMs: b.computeMs,
      guardrails: b.guardrails,
      billing: b.billing ?? null,
      outcome: b.outcome,
    },
    signatures: r.signatures.map((x) => ({ key: b64(x.publicKey), signature: b64(x.signature) })),
  };
}

/**
 * `/api/alerts`: the alerts, newest first, each linked entry resolved to the ledger whose entry at
 * that index has the alert's leaf hash (or to none: the alert then says so).
 */
export function alertsView(
  data: DashboardData,
  labels: Labels,
  source: { alerts: readonly DashboardAlert[]; skipped: number; configured: boolean },
  lang: 'en' | 'zh' = 'en',
): unknown {
  const resolve = (e: DashboardAlert['entries'][number]): number => {
    for (const l of data.ledgers) {
      const s = l.snapshot;
      if (s !== undefined && e.index < s.size && toHex(s.leafHash(e.index)) === e.leafHash) return l.index;
    }
    return -1;
  };
  return {
    configured: source.configured,
    skipped: source.skipped,
    alerts: [...source.alerts]
      .sort((a, b) => b.at - a.at)
      .map((a) => ({
        ...a,
        message: localAlertMessage(a, labels, lang) ?? a.message,
        counterpartyLabel: a.counterparty === null ? null : (labels.get(a.counterparty) ?? null),
        entries: a.entries.map((e) => ({ index: e.index, leafHash: e.leafHash, ledger: resolve(e) })),
      })),
  };
}

/**
 * A supervisor's alert in the page's language, rendered from its rule and details with the
 * dashboard's label for the counterparty (src/supervise/messages.ts); `undefined` (the alert's own
 * English text is shown) for alerts of another source or an unknown rule.
 */
function localAlertMessage(a: DashboardAlert, labels: Labels, lang: 'en' | 'zh'): string | undefined {
  if (a.messageKey !== `supervise.${a.rule}` || a.details === null || typeof a.details !== 'object' || Array.isArray(a.details)) return undefined;
  const label = a.counterparty === null ? undefined : labels.get(a.counterparty);
  const view = { ...(a.details as Record<string, unknown>), ...(a.counterparty !== null ? { counterpartyShort: a.counterparty.slice(0, 16) } : {}), ...(label !== undefined ? { counterpartyLabel: label } : {}) };
  try {
    return alertText(lang, a.rule, view);
  } catch {
    return undefined;
  }
}
