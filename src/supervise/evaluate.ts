/**
 * The supervision rules over a verified ledger's receipts (runtime-neutral, no I/O): what
 * `superviseLedger` runs once it has read the ledger, the sketches and the refusal logs. Every
 * rule looks at the entries in ledger order and raises an alert at the entry where its condition
 * is first met, so an alert found once is found again, identically, as the ledger grows.
 * @module
 */
import { budgetPeriodBounds, budgetStatus } from '../ledger/budget.js';
import { estimateKeySetDifference, type KeySketch } from '../ledger/key-sketch.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import { isRunReceipt, TRACE_PROTOCOL } from '../ledger/release-records.js';
import { readSketchRecord } from '../session/sketch-record.js';
import { equalBytes, fromHex, toHex } from '../utils/bytes.js';
import { printable } from '../ledger/report.js';
import { ALERT_RULES, type AlertRule } from './alert.js';
import type { RefusalRecord } from './refusal-log.js';
import type { AlertLevel, SupervisionRules } from './rules.js';

/** An alert before its text and proofs (internal). */
export interface RawAlert {
  level: AlertLevel;
  rule: AlertRule;
  counterparty: Uint8Array | null;
  entries: number[];
  at: number;
  details: Record<string, unknown>;
}

/** A run's own key sketch as read and checked against its receipt (internal). */
export type SketchLookup = (index: number, sessionIdHex: string, commit: string) => { sketch?: KeySketch; problem?: 'missing' | 'mismatch' | 'malformed' };

/** What the rules look at (internal). */
export interface EvaluateInput {
  owner: Uint8Array;
  receipts: readonly UsageReceipt[];
  rules: SupervisionRules;
  sketches: SketchLookup;
  refusals: readonly RefusalRecord[];
  /** Integrity problem (the receipts are then the good prefix). */
  integrity?: { index?: number; message: string };
  witnessProblems: readonly { name: string; message: string }[];
  now: number;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;
/** Earlier sketched runs each run is compared with (the most recent ones in the window). */
const MAX_DIFFERENCING_COMPARISONS = 256;

interface Run {
  index: number;
  r: UsageReceipt;
  myRole: string | undefined;
  peers: { role: string; key: Uint8Array; hex: string }[];
}

function runsOf(receipts: readonly UsageReceipt[], owner: Uint8Array): Run[] {
  const runs: Run[] = [];
  receipts.forEach((r, index) => {
    // Release and trace records (issue 17 part 2) are not runs: never counted as usage.
    if (!isRunReceipt(r)) return;
    const me = r.body.parties.find((p) => equalBytes(p.publicKey, owner));
    const peers = r.body.parties.filter((p) => !equalBytes(p.publicKey, owner)).map((p) => ({ role: p.role, key: p.publicKey, hex: toHex(p.publicKey) }));
    runs.push({ index, r, myRole: me?.role, peers });
  });
  return runs;
}

/** Runs per counterparty (hex), in ledger order. */
function byPeer(runs: readonly Run[]): Map<string, { key: Uint8Array; runs: Run[] }> {
  const m = new Map<string, { key: Uint8Array; runs: Run[] }>();
  for (const run of runs) {
    for (const p of run.peers) {
      let e = m.get(p.hex);
      if (!e) m.set(p.hex, (e = { key: p.key, runs: [] }));
      e.runs.push(run);
    }
  }
  return m;
}

const used = (run: Run): boolean => run.r.body.outcome !== 'refused';

/**
 * All alerts of the rules, in a stable order (by rule, then entry).
 * @internal
 */
export function evaluateRules(input: EvaluateInput): RawAlert[] {
  const { rules, now } = input;
  const out: RawAlert[] = [];
  if (input.integrity) {
    out.push({
      level: 'error',
      rule: ALERT_RULES.ledgerIntegrity,
      counterparty: null,
      entries: [],
      at: now,
      details: { ...(input.integrity.index !== undefined ? { index: input.integrity.index } : {}), problem: input.integrity.message },
    });
  }
  for (const w of input.witnessProblems) {
    out.push({ level: 'error', rule: ALERT_RULES.witness, counterparty: null, entries: [], at: now, details: { witness: w.name, problem: w.message } });
  }
  const runs = runsOf(input.receipts, input.owner);
  const peers = byPeer(runs);
  const peerRun = (run: Run, key: Uint8Array, level: AlertLevel, rule: AlertRule, details: Record<string, unknown>, entries = [run.index]): RawAlert => ({
    level,
    rule,
    counterparty: key,
    entries,
    at: run.r.body.startedAt,
    details,
  });

  if (rules.firstContact.enabled) {
    for (const { key, runs: rs } of peers.values()) {
      out.push(peerRun(rs[0]!, key, rules.firstContact.level, ALERT_RULES.firstContact, { index: rs[0]!.index, protocol: printable(rs[0]!.r.body.protocol) }));
    }
  }

  if (rules.abortedAfterData.enabled) {
    for (const run of runs) {
      if (run.r.kind !== 'one-sided' || run.r.body.outcome !== 'aborted-after-data') continue;
      const key = run.peers[0]?.key ?? null;
      out.push({
        level: rules.abortedAfterData.level,
        rule: ALERT_RULES.abortedAfterData,
        counterparty: key,
        entries: [run.index],
        at: run.r.body.startedAt,
        details: { index: run.index, protocol: printable(run.r.body.protocol), ...(run.r.body.options['error'] ? { error: printable(run.r.body.options['error']) } : {}) },
      });
    }
  }

  if (rules.offHours.enabled) {
    const o = rules.offHours;
    for (const run of runs) {
      if (!used(run)) continue;
      const local = new Date(run.r.body.startedAt + o.utcOffsetMinutes * 60_000);
      const hour = local.getUTCHours() + local.getUTCMinutes() / 60;
      if (o.workDays.includes(local.getUTCDay()) && hour >= o.workStart && hour < o.workEnd) continue;
      const sign = o.utcOffsetMinutes < 0 ? '-' : '+';
      const abs = Math.abs(o.utcOffsetMinutes);
      const utcOffset = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
      for (const p of run.peers.length > 0 ? run.peers : [undefined]) {
        out.push({
          level: o.level,
          rule: ALERT_RULES.offHours,
          counterparty: p?.key ?? null,
          entries: [run.index],
          at: run.r.body.startedAt,
          details: { index: run.index, localTime: local.toISOString().slice(0, 16).replace('T', ' '), utcOffset },
        });
      }
    }
  }

  for (const [hex, { key, runs: rs }] of peers) {
    void hex;
    const usedRuns = rs.filter(used);
    if (rules.rate.enabled) {
      const max = rules.rate.maxRunsPerHour;
      const sorted = [...usedRuns].sort((a, b) => a.r.body.startedAt - b.r.body.startedAt || a.index - b.index);
      let lo = 0;
      let over = false;
      for (let i = 0; i < sorted.length; i++) {
        const t = sorted[i]!.r.body.startedAt;
        while (sorted[lo]!.r.body.startedAt <= t - HOUR) lo++;
        const n = i - lo + 1;
        if (n > max && !over) {
          over = true;
          out.push(peerRun(sorted[i]!, key, rules.rate.level, ALERT_RULES.rate, { index: sorted[i]!.index, runs: n, maxRunsPerHour: max, firstIndex: sorted[lo]!.index }, [sorted[lo]!.index, sorted[i]!.index]));
        } else if (n <= max) over = false;
      }
    }
    if (rules.distinctKeys.enabled) {
      const { period, maxKeys } = rules.distinctKeys;
      const sums = new Map<number, { keys: number; fired: boolean }>();
      for (const run of usedRuns) {
        const { start } = budgetPeriodBounds(period, run.r.body.startedAt);
        let s = sums.get(start);
        if (!s) sums.set(start, (s = { keys: 0, fired: false }));
        for (const p of run.peers) if (equalBytes(p.key, key)) s.keys += run.r.body.inputSizes[p.role] ?? 0;
        if (s.keys > maxKeys && !s.fired) {
          s.fired = true;
          out.push(
            peerRun(run, key, rules.distinctKeys.level, ALERT_RULES.distinctKeys, {
              index: run.index,
              keys: s.keys,
              maxKeys,
              period,
              periodStart: new Date(start).toISOString(),
            }),
          );
        }
      }
    }
    const policy = rules.budget.policy;
    if (policy !== undefined) {
      const periods = new Map<number, { runs: UsageReceipt[]; warned: boolean; spent: boolean }>();
      for (const run of rs) {
        const { start } = budgetPeriodBounds(policy.period, run.r.body.startedAt);
        let p = periods.get(start);
        if (!p) periods.set(start, (p = { runs: [], warned: false, spent: false }));
        p.runs.push(run.r);
        if (p.spent || !used(run)) continue;
        const s = budgetStatus(p.runs, { counterparty: key, policy, now: run.r.body.startedAt });
        const shares: { limit: string; used: number; max: number }[] = [{ limit: 'queries', used: s.queriesUsed, max: s.maxQueries }];
        if (s.maxRecords !== undefined) shares.push({ limit: 'records', used: s.recordsUsed, max: s.maxRecords });
        const worst = shares.reduce((a, b) => (b.used / Math.max(1, b.max) > a.used / Math.max(1, a.max) ? b : a));
        const share = worst.max === 0 ? (worst.used > 0 ? 1 : 0) : worst.used / worst.max;
        const details = { index: run.index, ...worst, share: Math.round(share * 1000) / 1000, period: policy.period, periodStart: new Date(start).toISOString() };
        if (share >= 1) {
          p.spent = p.warned = true;
          out.push(peerRun(run, key, 'error', ALERT_RULES.budget100, details));
        } else if (share >= rules.budget.warnAt && !p.warned) {
          p.warned = true;
          out.push(peerRun(run, key, 'warning', ALERT_RULES.budget80, details));
        }
      }
    }
    if (rules.differencing.enabled) differencing(input, key, usedRuns, out);
  }

  for (const run of runs) {
    if (!run.myRole || (run.myRole !== 'requester' && run.myRole !== 'responder')) continue;
    const rec = readSketchRecord(run.myRole, run.r.body.options);
    if (!rec) continue;
    const got = input.sketches(run.index, toHex(run.r.body.sessionId), rec.commit);
    if (got.problem) {
      out.push({
        level: got.problem === 'missing' ? 'info' : 'warning',
        rule: ALERT_RULES.sketchIntegrity,
        counterparty: run.peers[0]?.key ?? null,
        entries: [run.index],
        at: run.r.body.startedAt,
        details: { index: run.index, sessionId: toHex(run.r.body.sessionId), problem: got.problem },
      });
    }
  }

  for (let index = 0; index < input.receipts.length; index++) {
    const b = input.receipts[index]!.body;
    if (b.protocol !== TRACE_PROTOCOL) continue;
    const recipient = b.options['recipient'];
    const key = recipient !== undefined && /^[0-9a-f]{64}$/.test(recipient) ? fromHex(recipient) : null;
    const attributed = b.outcome === 'attributed';
    out.push({
      level: attributed ? 'error' : 'warning',
      rule: ALERT_RULES.traceHit,
      counterparty: attributed ? key : null,
      entries: [index],
      at: b.startedAt,
      details: {
        index,
        outcome: printable(b.outcome),
        ...(b.options['release-id'] ? { releaseId: printable(b.options['release-id']) } : {}),
        ...(b.options['rows-matched'] ? { rowsMatched: printable(b.options['rows-matched']) } : {}),
        ...(b.options['false-accusation'] ? { falseAccusation: printable(b.options['false-accusation']) } : {}),
        ...(b.options['file-sha256'] ? { fileSha256: printable(b.options['file-sha256']) } : {}),
      },
    });
  }

  if (rules.refusedConnections.enabled) {
    const per = rules.refusedConnections.perHour;
    const byAddr = new Map<string, RefusalRecord[]>();
    for (const r of input.refusals) {
      let l = byAddr.get(r.address);
      if (!l) byAddr.set(r.address, (l = []));
      l.push(r);
    }
    for (const [address, list] of byAddr) {
      list.sort((a, b) => a.at - b.at);
      const hours = new Map<number, RefusalRecord[]>();
      for (const r of list) {
        const h = Math.floor(r.at / HOUR) * HOUR;
        let l = hours.get(h);
        if (!l) hours.set(h, (l = []));
        l.push(r);
      }
      for (const [h, l] of hours) {
        if (l.length < per) continue;
        const reasons = [...new Set(l.slice(0, per).map((r) => r.reason))].slice(0, 5);
        out.push({
          level: rules.refusedConnections.level,
          rule: ALERT_RULES.refusedConnections,
          counterparty: null,
          entries: [],
          at: l[per - 1]!.at,
          details: { address: printable(address), hour: new Date(h).toISOString(), count: per, reasons: reasons.map(printable) },
        });
      }
    }
  }
  return out;
}

/** The differencing rule for one counterparty's runs (see key-sketch.ts for the estimator). */
function differencing(input: EvaluateInput, key: Uint8Array, runs: readonly Run[], out: RawAlert[]): void {
  const { minDifference, windowDays, level } = input.rules.differencing;
  const sketched: { run: Run; sketch: KeySketch }[] = [];
  for (const run of runs) {
    if (run.myRole !== 'requester' && run.myRole !== 'responder') continue;
    const rec = readSketchRecord(run.myRole, run.r.body.options);
    if (!rec) continue;
    const got = input.sketches(run.index, toHex(run.r.body.sessionId), rec.commit);
    if (!got.sketch) continue;
    const t = run.r.body.startedAt;
    let best: { other: Run; est: ReturnType<typeof estimateKeySetDifference>; otherSize: number } | undefined;
    for (let j = sketched.length - 1, n = 0; j >= 0 && n < MAX_DIFFERENCING_COMPARISONS; j--, n++) {
      const o = sketched[j]!;
      if (Math.abs(t - o.run.r.body.startedAt) > windowDays * DAY) continue;
      const est = estimateKeySetDifference(o.sketch, got.sketch);
      if (est.difference < minDifference && (!best || est.difference < best.est.difference)) best = { other: o.run, est, otherSize: o.sketch.setSize };
    }
    if (best) {
      out.push({
        level,
        rule: ALERT_RULES.differencing,
        counterparty: key,
        entries: [best.other.index, run.index],
        at: t,
        details: {
          index: run.index,
          earlierIndex: best.other.index,
          estimatedDifference: best.est.difference,
          minDifference,
          setSizes: `${best.otherSize}/${got.sketch.setSize}`,
          jaccard: Math.round(best.est.jaccard * 1e4) / 1e4,
          exact: best.est.exact,
          resolution: best.est.resolution,
        },
      });
    }
    sketched.push({ run, sketch: got.sketch });
  }
}
