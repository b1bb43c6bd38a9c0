/**
 * The dashboard's one adapter for supervision alerts (issue 17 part 3): the JSON lines
 * `dataport supervise --json` prints, one alert per line:
 *
 * ```json
 * {"level":"warning","rule":"first-contact","message":"…","messageKey":"…","counterparty":"<hex key>|null",
 *  "entries":[{"index":3,"leafHash":"<hex>","proof":["<hex>",…]}],"at":1767225600000,"details":{…}}
 * ```
 *
 * The file is input like any other: each line is checked field by field against explicit limits;
 * a line that does not pass is counted and left out (the page says how many), never shown half.
 * Fields the dashboard does not know are ignored, so newer supervisors stay readable.
 * @module
 */
import { fromHex, toBase64 } from '../utils/bytes.js';

/**
 * One alert as the dashboard shows it.
 * @example
 * ```ts
 * const a: DashboardAlert = parseAlertLines(text).alerts[0]!;
 * ```
 */
export interface DashboardAlert {
  level: 'info' | 'warning' | 'error';
  /** Rule id, e.g. `first-contact`. */
  rule: string;
  /** English text of the supervisor. */
  message: string;
  messageKey: string | null;
  /** The counterparty's Ed25519 public key in base64 (the alert carries hex), or null. */
  counterparty: string | null;
  /** Ledger entries the alert is about (hashes in hex). */
  entries: { index: number; leafHash: string; proof: string[] }[];
  /** When the alert was raised, ms since the epoch. */
  at: number;
  /** The supervisor's details, as JSON (at most {@link ALERT_LIMITS}.detailsBytes of it). */
  details: unknown;
}

/**
 * Limits on what an alerts file may hold.
 * @example
 * ```ts
 * if (text.length > ALERT_LIMITS.fileBytes) throw new Error('too large');
 * ```
 */
export const ALERT_LIMITS = {
  /** Largest alerts file read. */
  fileBytes: 16 << 20,
  /** Longest line considered. */
  lineBytes: 256 << 10,
  /** Alerts kept (the most recent, in file order). */
  alerts: 5000,
  messageChars: 2000,
  ruleChars: 64,
  entriesPerAlert: 256,
  /** Hashes per inclusion proof (a tree of 2^64 entries needs 64). */
  proofHashes: 64,
  /** JSON of `details` larger than this is dropped (the alert is kept). */
  detailsBytes: 8192,
} as const;

const LEVELS = new Set(['info', 'warning', 'error']);
const HASH_HEX = /^[0-9a-f]{64}$/;
// Control characters, line separators and bidi embeddings/overrides/isolates (which would make
// the page show text other than what it is).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function text(v: unknown, max: number, pattern?: RegExp): string | undefined {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || CONTROL.test(v)) return undefined;
  if (pattern !== undefined && !pattern.test(v)) return undefined;
  return v;
}

/**
 * One line's alert; `null` for a summary line (`{"ok": …}` without a level, which a `--json`
 * command prints last); undefined when the line does not pass every check.
 */
function parseAlert(line: string): DashboardAlert | null | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  return checkAlert(v);
}

/** {@link parseAlert} of a value already parsed (or an alert object of a supervisor run in-process). */
function checkAlert(v: unknown): DashboardAlert | null | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (o.level === undefined && typeof o.ok === 'boolean') return null;
  if (typeof o.level !== 'string' || !LEVELS.has(o.level)) return undefined;
  const rule = text(o.rule, ALERT_LIMITS.ruleChars, /^[A-Za-z0-9._-]+$/);
  const message = text(o.message, ALERT_LIMITS.messageChars);
  if (rule === undefined || message === undefined) return undefined;
  const messageKey = o.messageKey === undefined || o.messageKey === null ? null : text(o.messageKey, ALERT_LIMITS.ruleChars * 2, /^[A-Za-z0-9._-]+$/);
  if (messageKey === undefined) return undefined;
  let counterparty: string | null = null;
  if (o.counterparty !== null && o.counterparty !== undefined) {
    if (typeof o.counterparty !== 'string' || !HASH_HEX.test(o.counterparty)) return undefined;
    counterparty = toBase64(fromHex(o.counterparty));
  }
  if (typeof o.at !== 'number' || !Number.isSafeInteger(o.at) || o.at < 0) return undefined;
  const entries: DashboardAlert['entries'] = [];
  if (o.entries !== undefined) {
    if (!Array.isArray(o.entries) || o.entries.length > ALERT_LIMITS.entriesPerAlert) return undefined;
    for (const e of o.entries as unknown[]) {
      if (e === null || typeof e !== 'object') return undefined;
      const { index, leafHash, proof } = e as Record<string, unknown>;
      if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) return undefined;
      if (typeof leafHash !== 'string' || !HASH_HEX.test(leafHash)) return undefined;
      const p = proof === undefined ? [] : proof;
      if (!Array.isArray(p) || p.length > ALERT_LIMITS.proofHashes || !p.every((h) => typeof h === 'string' && HASH_HEX.test(h))) return undefined;
      entries.push({ index, leafHash, proof: p as string[] });
    }
  }
  let details: unknown = null;
  if (o.details !== undefined) {
    const json = JSON.stringify(o.details);
    if (json !== undefined && json.length <= ALERT_LIMITS.detailsBytes) details = o.details;
  }
  return { level: o.level as DashboardAlert['level'], rule, message, messageKey, counterparty, entries, at: o.at, details };
}

/**
 * Parses the JSON lines of `dataport supervise --json` (blank lines ignored). Returns the alerts
 * that pass every check (the most recent {@link ALERT_LIMITS}.alerts of them) and how many
 * non-blank lines did not.
 * @example
 * ```ts
 * const { alerts, skipped } = parseAlertLines(await readFile('alerts.jsonl', 'utf8'));
 * ```
 */
export function parseAlertLines(input: string): { alerts: DashboardAlert[]; skipped: number } {
  if (typeof input !== 'string') throw new TypeError('input must be a string');
  const alerts: DashboardAlert[] = [];
  let skipped = 0;
  for (const raw of input.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const alert = line.length <= ALERT_LIMITS.lineBytes ? parseAlert(line) : undefined;
    if (alert === undefined) skipped++;
    else if (alert !== null) alerts.push(alert);
  }
  return { alerts: alerts.slice(-ALERT_LIMITS.alerts), skipped };
}

/**
 * Alerts given as values (e.g. `superviseLedger()`'s, in-process) through the same checks as the
 * lines of a file: those that fail are counted in `skipped`, never shown half.
 * @example
 * ```ts
 * const { alerts, skipped } = checkAlerts((await superviseLedger({ ledgerDir })).alerts);
 * ```
 */
export function checkAlerts(values: readonly unknown[]): { alerts: DashboardAlert[]; skipped: number } {
  const alerts: DashboardAlert[] = [];
  let skipped = 0;
  for (const v of values) {
    const a = checkAlert(v);
    if (a === undefined) skipped++;
    else if (a !== null) alerts.push(a);
  }
  return { alerts: alerts.slice(-ALERT_LIMITS.alerts), skipped };
}
