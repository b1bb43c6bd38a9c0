/**
 * The thresholds of `dataport supervise` (docs/supervise.md): a JSON rules file, every field
 * optional, unknown fields refused (a typo must not silently disable a rule).
 * @module
 */
import { InputError } from '../errors.js';
import { parseBudgetPolicy, type BudgetPeriod, type BudgetPolicy } from '../ledger/budget.js';

/** An alert's severity. Any `error` alert makes `dataport supervise` exit 2. */
export type AlertLevel = 'info' | 'warning' | 'error';

/**
 * The rules and their thresholds. Defaults: {@link DEFAULT_SUPERVISION_RULES}.
 * @example
 * ```ts
 * const rules: SupervisionRules = { ...DEFAULT_SUPERVISION_RULES, rate: { maxRunsPerHour: 5, level: 'warning' } };
 * ```
 */
export interface SupervisionRules {
  /** Two runs with one counterparty whose own key sets differ by fewer than `minDifference` keys. */
  differencing: { enabled: boolean; minDifference: number; windowDays: number; level: AlertLevel };
  /** The counterparty's input keys (sum over its runs) per period above `maxKeys`. */
  distinctKeys: { enabled: boolean; maxKeys: number; period: BudgetPeriod; level: AlertLevel };
  /** More than `maxRunsPerHour` runs with one counterparty within any hour. */
  rate: { enabled: boolean; maxRunsPerHour: number; level: AlertLevel };
  /**
   * Runs starting outside working hours: `workStart`..`workEnd` (hours, local time at
   * `utcOffsetMinutes`, default UTC+8) on `workDays` (0 = Sunday).
   */
  offHours: { enabled: boolean; utcOffsetMinutes: number; workStart: number; workEnd: number; workDays: number[]; level: AlertLevel };
  /** The first run with a counterparty. */
  firstContact: { enabled: boolean; level: AlertLevel };
  /**
   * Budgets (the `--budget` file format): a warning when a counterparty's runs or records reach
   * `warnAt` (default 0.8) of the period's limit, an error at 100 %. No policy: rule off.
   */
  budget: { policy?: BudgetPolicy; warnAt: number };
  /** One-sided `aborted-after-data` receipts. */
  abortedAfterData: { enabled: boolean; level: AlertLevel };
  /** Refused connections per address within an hour (from `--refusal-log` files) at or above `perHour`. */
  refusedConnections: { enabled: boolean; perHour: number; level: AlertLevel };
}

/**
 * The documented defaults (docs/supervise.md, "Rules").
 * @example
 * ```ts
 * const k = DEFAULT_SUPERVISION_RULES.differencing.minDifference; // 10
 * ```
 */
export const DEFAULT_SUPERVISION_RULES: SupervisionRules = {
  differencing: { enabled: true, minDifference: 10, windowDays: 30, level: 'warning' },
  distinctKeys: { enabled: true, maxKeys: 10_000_000, period: 'month', level: 'warning' },
  rate: { enabled: true, maxRunsPerHour: 20, level: 'warning' },
  offHours: { enabled: true, utcOffsetMinutes: 480, workStart: 8, workEnd: 20, workDays: [1, 2, 3, 4, 5], level: 'info' },
  firstContact: { enabled: true, level: 'info' },
  budget: { warnAt: 0.8 },
  abortedAfterData: { enabled: true, level: 'warning' },
  refusedConnections: { enabled: true, perHour: 10, level: 'warning' },
};

/** Largest rules file accepted. */
export const MAX_RULES_BYTES = 1 << 20;

type Obj = Record<string, unknown>;

function bad(what: string): never {
  throw new InputError(`rules: ${what}`);
}

function section(o: Obj, name: string, allowed: readonly string[]): Obj | undefined {
  const v = o[name];
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`${name} must be an object`);
  for (const k of Object.keys(v as Obj)) if (!allowed.includes(k)) bad(`unknown field ${name}.${k}`);
  return v as Obj;
}

function num(s: Obj, name: string, field: string, def: number, min: number, max: number, integer = true): number {
  const v = s[field];
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isSafeInteger(v))) {
    bad(`${name}.${field} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
  }
  return v;
}

function bool(s: Obj, name: string, def: boolean): boolean {
  const v = s['enabled'];
  if (v === undefined) return def;
  if (typeof v !== 'boolean') bad(`${name}.enabled must be true or false`);
  return v;
}

function level(s: Obj, name: string, def: AlertLevel): AlertLevel {
  const v = s['level'];
  if (v === undefined) return def;
  if (v !== 'info' && v !== 'warning' && v !== 'error') bad(`${name}.level must be info, warning or error`);
  return v;
}

const COMMON = ['enabled', 'level'] as const;

/**
 * Parses a rules file (JSON text or an already parsed object) over the defaults; `InputError`
 * naming the field on anything it does not understand.
 * @example
 * ```ts
 * const rules = parseSupervisionRules('{"rate":{"maxRunsPerHour":5},"budget":{"policy":{"period":"day","maxQueries":10}}}');
 * ```
 */
export function parseSupervisionRules(input: string | unknown): SupervisionRules {
  let o: unknown = input;
  if (typeof input === 'string') {
    if (input.length > MAX_RULES_BYTES) bad(`file larger than ${MAX_RULES_BYTES} bytes`);
    try {
      o = JSON.parse(input);
    } catch (e) {
      bad(`not JSON (${(e as Error).message})`);
    }
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) bad('must be a JSON object');
  const root = o as Obj;
  const known = ['differencing', 'distinctKeys', 'rate', 'offHours', 'firstContact', 'budget', 'abortedAfterData', 'refusedConnections'];
  for (const k of Object.keys(root)) if (!known.includes(k)) bad(`unknown rule ${k}`);
  const D = DEFAULT_SUPERVISION_RULES;
  const r: SupervisionRules = structuredClone(D);
  const dif = section(root, 'differencing', [...COMMON, 'minDifference', 'windowDays']);
  if (dif) {
    r.differencing = {
      enabled: bool(dif, 'differencing', D.differencing.enabled),
      minDifference: num(dif, 'differencing', 'minDifference', D.differencing.minDifference, 1, 1e9),
      windowDays: num(dif, 'differencing', 'windowDays', D.differencing.windowDays, 1, 3660),
      level: level(dif, 'differencing', D.differencing.level),
    };
  }
  const dk = section(root, 'distinctKeys', [...COMMON, 'maxKeys', 'period']);
  if (dk) {
    const period = dk['period'] ?? D.distinctKeys.period;
    if (period !== 'day' && period !== 'week' && period !== 'month') bad('distinctKeys.period must be day, week or month');
    r.distinctKeys = {
      enabled: bool(dk, 'distinctKeys', D.distinctKeys.enabled),
      maxKeys: num(dk, 'distinctKeys', 'maxKeys', D.distinctKeys.maxKeys, 0, Number.MAX_SAFE_INTEGER),
      period,
      level: level(dk, 'distinctKeys', D.distinctKeys.level),
    };
  }
  const rate = section(root, 'rate', [...COMMON, 'maxRunsPerHour']);
  if (rate) {
    r.rate = {
      enabled: bool(rate, 'rate', D.rate.enabled),
      maxRunsPerHour: num(rate, 'rate', 'maxRunsPerHour', D.rate.maxRunsPerHour, 1, 1e9),
      level: level(rate, 'rate', D.rate.level),
    };
  }
  const oh = section(root, 'offHours', [...COMMON, 'utcOffsetMinutes', 'workStart', 'workEnd', 'workDays']);
  if (oh) {
    const days = oh['workDays'] ?? D.offHours.workDays;
    if (!Array.isArray(days) || days.length > 7 || !days.every((d) => Number.isInteger(d) && d >= 0 && d <= 6)) bad('offHours.workDays must be a list of days 0 (Sunday) to 6');
    const workStart = num(oh, 'offHours', 'workStart', D.offHours.workStart, 0, 24);
    const workEnd = num(oh, 'offHours', 'workEnd', D.offHours.workEnd, 0, 24);
    if (workEnd <= workStart) bad('offHours.workEnd must be after offHours.workStart');
    r.offHours = {
      enabled: bool(oh, 'offHours', D.offHours.enabled),
      utcOffsetMinutes: num(oh, 'offHours', 'utcOffsetMinutes', D.offHours.utcOffsetMinutes, -720, 840),
      workStart,
      workEnd,
      workDays: [...new Set(days as number[])],
      level: level(oh, 'offHours', D.offHours.level),
    };
  }
  const fc = section(root, 'firstContact', [...COMMON]);
  if (fc) r.firstContact = { enabled: bool(fc, 'firstContact', true), level: level(fc, 'firstContact', D.firstContact.level) };
  const b = section(root, 'budget', ['policy', 'warnAt']);
  if (b) {
    r.budget = { warnAt: num(b, 'budget', 'warnAt', D.budget.warnAt, 0.01, 1, false) };
    if (b['policy'] !== undefined) {
      try {
        r.budget.policy = parseBudgetPolicy(b['policy']);
      } catch (e) {
        bad(`budget.policy: ${(e as Error).message}`);
      }
    }
  }
  const ab = section(root, 'abortedAfterData', [...COMMON]);
  if (ab) r.abortedAfterData = { enabled: bool(ab, 'abortedAfterData', true), level: level(ab, 'abortedAfterData', D.abortedAfterData.level) };
  const rc = section(root, 'refusedConnections', [...COMMON, 'perHour']);
  if (rc) {
    r.refusedConnections = {
      enabled: bool(rc, 'refusedConnections', true),
      perHour: num(rc, 'refusedConnections', 'perHour', D.refusedConnections.perHour, 1, 1e9),
      level: level(rc, 'refusedConnections', D.refusedConnections.level),
    };
  }
  return r;
}
