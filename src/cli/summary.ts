/**
 * Output helpers of the CLI: messages for people on stderr (or stdout), the `--json` summary as the
 * last line of stdout, and a JSON-friendly form of byte-carrying values such as receipts.
 * @module
 */
import type { SourceInfo } from '../sources/types.js';
import { parseDatabaseUrl } from '../sources/db-url.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import { SECURITY_MODEL_OPTION, SECURITY_MODELS } from '../session/security-model.js';
import type { ReceiptSource } from '../session/source-commit.js';
import { toBase64 } from '../utils/bytes.js';

/**
 * A JSON-friendly copy of `value`: every `Uint8Array` becomes a base64 string (standard alphabet,
 * padded), everything else is copied as is.
 *
 * @example
 * ```ts
 * JSON.stringify(toJsonFriendly(receipt)); // publicKey, signature and sessionId as base64
 * ```
 */
export function toJsonFriendly(value: unknown): unknown {
  if (value instanceof Uint8Array) return toBase64(value);
  if (Array.isArray(value)) return value.map(toJsonFriendly);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toJsonFriendly(v);
    return out;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * The `security` field of a `--json` summary: the model both parties signed into the receipt's
 * terms and the SECURITY.md anchor that explains it; `null` without a receipt (e.g. interop).
 *
 * @example
 * ```ts
 * reporter.json({ ok: true, security: securitySummary(result.receipt) });
 * ```
 */
export function securitySummary(receipt: UsageReceipt | undefined): { model: string; anchor: string | null } | null {
  const model = receipt?.body.options[SECURITY_MODEL_OPTION];
  if (model === undefined) return null;
  return { model, anchor: Object.values(SECURITY_MODELS).find((m) => m.model === model)?.anchor ?? null };
}

/** Where a command's human-readable lines go, and how it prints its final summary. */
export interface Reporter {
  /** A result line for people (stdout, or stderr when stdout is reserved for `--json`). */
  info(line: string): void;
  /** A warning: always stderr, prefixed `dataport: warning: `. */
  warn(line: string): void;
  /** The one-line JSON summary (only with `--json`; always the last line of stdout). */
  json(summary: Record<string, unknown>): void;
}

/**
 * A reporter; with `json` set, human lines go to stderr so stdout holds only JSON lines.
 * @example
 * ```ts
 * const out = createReporter(false);
 * out.info('intersection: 42');
 * ```
 */
export function createReporter(json: boolean): Reporter {
  return {
    info(line) {
      (json ? process.stderr : process.stdout).write(`${line}\n`);
    },
    warn(line) {
      process.stderr.write(`dataport: warning: ${line}\n`);
    },
    json(summary) {
      if (json) process.stdout.write(`${JSON.stringify(toJsonFriendly(summary))}\n`);
    },
  };
}

/** Extra `--json` fields of a failed run, keyed by its error (see {@link noteFailureSummary}). */
const failureExtras = new WeakMap<object, Record<string, unknown>>();

/**
 * Records fields for the `--json` failure line of `error` (e.g. the outcome and ledger entry of a
 * run that ended with a one-sided receipt).
 * @example
 * ```ts
 * noteFailureSummary(err, { outcome: 'aborted-after-data', ledger: { dir, index } });
 * ```
 */
export function noteFailureSummary(error: unknown, fields: Record<string, unknown>): void {
  if (error !== null && typeof error === 'object') failureExtras.set(error, { ...failureExtras.get(error), ...fields });
}

/**
 * The fields noted for `error` or any error in its `cause` chain (a command may reword an error),
 * JSON-friendly; `{}` if none.
 * @example
 * ```ts
 * process.stdout.write(JSON.stringify({ ok: false, code, error: line, ...failureSummary(err) }));
 * ```
 */
export function failureSummary(error: unknown): Record<string, unknown> {
  for (let e = error, depth = 0; e !== null && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const f = failureExtras.get(e);
    if (f !== undefined) return toJsonFriendly(f) as Record<string, unknown>;
  }
  return {};
}

/**
 * What `--json` says about the input: its kind and, for a query, the SHA-256 of the query text —
 * never the URL (which names hosts and users) nor any credential.
 * @example
 * ```ts
 * sourceSummary({ kind: 'postgres', label: 'postgres://h@db/his', queryHash: 'ab…' }); // { kind: 'postgres', queryHash: 'ab…' }
 * ```
 */
export function sourceSummary(info: SourceInfo): { kind: string; queryHash: string | null } {
  return { kind: info.kind, queryHash: info.queryHash ?? null };
}

/**
 * What the receipt records of the input: its kind (`csv`, `postgres`, `mysql`, `rows`) and, for a
 * query, a commitment to the query text only this party can open (src/session/source-commit.ts) —
 * never the URL nor the text.
 * @example
 * ```ts
 * receiptSource({ kind: 'postgres', label: 'postgres://h@db/his' }, 'SELECT id FROM a'); // { kind: 'postgres', query: 'SELECT id FROM a' }
 * ```
 */
export function receiptSource(info: SourceInfo, query: string | undefined): ReceiptSource {
  const kind = info.kind === 'iterable' ? 'rows' : info.kind;
  return query !== undefined && info.kind !== 'csv' ? { kind, query } : { kind };
}

/**
 * A database URL as messages show it (no password, no parameters).
 * @example
 * ```ts
 * databaseLabel('postgres://port@db:5432/results?sslmode=require'); // 'postgres://port@db:5432/results'
 * ```
 */
export function databaseLabel(url: string): string {
  return parseDatabaseUrl(url, '--output').label;
}
