/**
 * Ledger entries that are records, not runs (issue 17): a fingerprinted release (`protocol:
 * 'release'`) and a trace (`protocol: 'trace'`). Both are one-sided receipts signed by the
 * recording party, options as strings (docs/trace.md lists them). They never hold a value, a key
 * or the fingerprint key — only a commitment to it. Usage reports and budgets count runs only
 * ({@link isRunReceipt}).
 * @module
 */
import { FINGERPRINT_SCHEME, MAX_GAMMA, type ReleaseRecord } from '../protocols/fingerprint/release.js';
import { parseTolerance } from '../protocols/fingerprint/values.js';
import { MAX_RESULT_VALUES, VALUE_TAG_BYTES, type ResultReleaseRecord } from '../protocols/fingerprint/result-values.js';
import { equalBytes, fromHex, toHex } from '../utils/bytes.js';
import type { UsageReceipt, UsageReceiptBody } from './receipt-types.js';

/** `protocol` of a release entry. */
export const RELEASE_PROTOCOL = 'release';
/** `protocol` of a trace entry. */
export const TRACE_PROTOCOL = 'trace';

/**
 * Whether an entry records a joint run (counted by usage reports, billing and budgets) rather than
 * a release or a trace.
 * @example
 * ```ts
 * const runs = receipts.filter(isRunReceipt);
 * ```
 */
export function isRunReceipt(receipt: UsageReceipt): boolean {
  const p = receipt.body.protocol;
  return p !== RELEASE_PROTOCOL && p !== TRACE_PROTOCOL;
}

/**
 * The body of the release entry of `record` (sign it with `signOneSidedReceipt` and append it).
 * @example
 * ```ts
 * await ledger.append(signOneSidedReceipt(me, releaseReceiptBody(record, { owner: me.publicKey, sourceProtocol: 'ecdh-psi', purpose })));
 * ```
 */
export function releaseReceiptBody(
  record: ReleaseRecord,
  options: {
    owner: Uint8Array;
    sourceProtocol: string;
    purpose?: string;
    at?: number;
    /** The session id of the run that delivered the release (option `session-id`: links it to the run's receipt). */
    runSessionId?: Uint8Array;
  },
): UsageReceiptBody {
  return releaseBody(record, options, record.rows, {
    columns: record.columns.join(','),
    'key-columns': record.keyColumns.join(','),
    tolerance: record.columns.filter((c) => Object.hasOwn(record.tolerance, c)).map((c) => `${c}=${record.tolerance[c]}`).join(','),
    fingerprint: `${FINGERPRINT_SCHEME} gamma=${record.gamma} bits=${record.bits}`,
    'fingerprint-key-commit': toHex(record.keyCommit),
    rows: String(record.rows),
  });
}

/** What every release entry shares: one instant, releaser → recipient, the run it came from. */
function releaseBody(
  record: { releaseId: Uint8Array; recipient: Uint8Array },
  options: { owner: Uint8Array; sourceProtocol: string; purpose?: string; at?: number; runSessionId?: Uint8Array },
  rows: number,
  entryOptions: Record<string, string>,
): UsageReceiptBody {
  const at = options.at ?? Date.now();
  return {
    version: 1,
    sessionId: record.releaseId.slice(),
    startedAt: at,
    endedAt: at,
    parties: releaseParties(options.owner, record.recipient),
    protocol: RELEASE_PROTOCOL,
    options: {
      'release-id': toHex(record.releaseId),
      recipient: toHex(record.recipient),
      ...entryOptions,
      'source-protocol': options.sourceProtocol,
      ...(options.runSessionId !== undefined ? { 'session-id': toHex(options.runSessionId) } : {}),
    },
    purpose: options.purpose ?? '',
    inputSizes: {},
    outputSizes: { recipient: rows },
    bytesExchanged: 0,
    computeMs: 0,
    guardrails: [],
    outcome: 'completed',
  };
}

/**
 * The parties of a release entry: the releaser and the recipient, or the releaser alone when it
 * holds the released file itself (an analyst's own result; the `recipient` option still names it).
 */
function releaseParties(owner: Uint8Array, recipient: Uint8Array): { role: string; publicKey: Uint8Array }[] {
  const releaser = { role: 'releaser', publicKey: owner.slice() };
  return equalBytes(owner, recipient) ? [releaser] : [releaser, { role: 'recipient', publicKey: recipient.slice() }];
}

const HEX16 = /^[0-9a-f]{32}$/;
const HEX32 = /^[0-9a-f]{64}$/;

/**
 * The fingerprinted release an entry records, or `undefined` when the entry is not one this
 * version can trace (another protocol, another scheme, or options that do not parse).
 * @example
 * ```ts
 * const releases = receipts.map(releaseRecordOf).filter((r) => r !== undefined);
 * ```
 */
export function releaseRecordOf(receipt: UsageReceipt): ReleaseRecord | undefined {
  const b = receipt.body;
  if (b.protocol !== RELEASE_PROTOCOL) return undefined;
  const o = b.options;
  const id = o['release-id'];
  const recipient = o['recipient'];
  const commit = o['fingerprint-key-commit'];
  const fp = /^([a-z0-9-]+) gamma=([0-9]{1,4}) bits=([0-9]{1,3})$/.exec(o['fingerprint'] ?? '');
  if (!id || !HEX16.test(id) || !recipient || !HEX32.test(recipient) || !commit || !HEX32.test(commit) || !fp || fp[1] !== FINGERPRINT_SCHEME) return undefined;
  const gamma = Number(fp[2]);
  const bits = Number(fp[3]);
  const rows = Number(o['rows']);
  if (gamma < 1 || gamma > MAX_GAMMA || bits < 1 || bits > 256 || !Number.isSafeInteger(rows) || rows < 0) return undefined;
  const columns = (o['columns'] ?? '').split(',').filter((c) => c !== '');
  const keyColumns = (o['key-columns'] ?? '').split(',').filter((c) => c !== '');
  const tolerance: Record<string, string> = {};
  for (const item of (o['tolerance'] ?? '').split(',')) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) return undefined;
    const col = item.slice(0, eq);
    const tol = item.slice(eq + 1);
    if (!columns.includes(col)) return undefined;
    try {
      parseTolerance(tol);
    } catch {
      return undefined;
    }
    tolerance[col] = tol;
  }
  if (columns.length === 0 || keyColumns.length === 0) return undefined;
  return { releaseId: fromHex(id), recipient: fromHex(recipient), keyColumns, columns, tolerance, gamma, bits, rows, keyCommit: fromHex(commit) };
}

/**
 * The body of the release entry of an aggregate result file (traced by its values: docs/trace.md).
 * Options as for a table release, with `columns: value`, `tolerance: none`, the values' keyed tags
 * `value-tags` and the file's `file-sha256`.
 * @example
 * ```ts
 * await ledger.append(signOneSidedReceipt(me, resultReleaseReceiptBody(record, { owner: me.publicKey, sourceProtocol: 'aggregate' })));
 * ```
 */
export function resultReleaseReceiptBody(
  record: ResultReleaseRecord,
  options: {
    owner: Uint8Array;
    sourceProtocol: string;
    purpose?: string;
    at?: number;
    /** The session id of the run that produced the result (option `session-id`). */
    runSessionId?: Uint8Array;
  },
): UsageReceiptBody {
  const values = record.valueTags.length / VALUE_TAG_BYTES;
  return releaseBody(record, options, values, {
    columns: 'value',
    tolerance: 'none',
    'fingerprint-key-commit': toHex(record.keyCommit),
    rows: String(values),
    'value-tags': toHex(record.valueTags),
    'file-sha256': toHex(record.fileSha256),
  });
}

/**
 * The result release an entry records, or `undefined` when it is not one.
 * @example
 * ```ts
 * const results = receipts.map(resultReleaseRecordOf).filter((r) => r !== undefined);
 * ```
 */
export function resultReleaseRecordOf(receipt: UsageReceipt): ResultReleaseRecord | undefined {
  const b = receipt.body;
  if (b.protocol !== RELEASE_PROTOCOL) return undefined;
  const o = b.options;
  const id = o['release-id'];
  const recipient = o['recipient'];
  const commit = o['fingerprint-key-commit'];
  const tags = o['value-tags'];
  const file = o['file-sha256'];
  if (!id || !HEX16.test(id) || !recipient || !HEX32.test(recipient) || !commit || !HEX32.test(commit) || !file || !HEX32.test(file)) return undefined;
  if (!tags || !/^(?:[0-9a-f]{8})+$/.test(tags) || tags.length / 8 > MAX_RESULT_VALUES) return undefined;
  return { releaseId: fromHex(id), recipient: fromHex(recipient), valueTags: fromHex(tags), fileSha256: fromHex(file), keyCommit: fromHex(commit) };
}

/**
 * The body of a trace entry: one per attributed release (`attributed`), or one `unattributed`
 * entry when the file could not be attributed.
 * @example
 * ```ts
 * const body = traceReceiptBody({ owner: me.publicKey, fileSha256, hit: { releaseId, recipient, rowsMatched: 97, falseAccusation: 3e-20 } });
 * ```
 */
export function traceReceiptBody(options: {
  owner: Uint8Array;
  fileSha256: Uint8Array;
  rows: number;
  /** `falseAccusation: null` for a result release matched by its values (no probability: docs/trace.md). */
  hit?: { releaseId: Uint8Array; recipient: Uint8Array; rowsMatched: number; falseAccusation: number | null };
  at?: number;
  sessionId?: Uint8Array;
}): UsageReceiptBody {
  const at = options.at ?? Date.now();
  const hit = options.hit;
  return {
    version: 1,
    sessionId: options.sessionId ?? globalThis.crypto.getRandomValues(new Uint8Array(16)),
    startedAt: at,
    endedAt: at,
    parties: [
      { role: 'tracer', publicKey: options.owner.slice() },
      // Not when the tracer traces a file it received itself (an analyst's own result).
      ...(hit && !equalBytes(hit.recipient, options.owner) ? [{ role: 'recipient', publicKey: hit.recipient.slice() }] : []),
    ],
    protocol: TRACE_PROTOCOL,
    options: {
      'file-sha256': toHex(options.fileSha256),
      ...(hit
        ? {
            'release-id': toHex(hit.releaseId),
            recipient: toHex(hit.recipient),
            'rows-matched': String(hit.rowsMatched),
            'false-accusation': hit.falseAccusation === null ? 'not-computed' : hit.falseAccusation.toPrecision(3),
          }
        : {}),
    },
    purpose: '',
    inputSizes: { file: options.rows },
    outputSizes: {},
    bytesExchanged: 0,
    computeMs: 0,
    guardrails: [],
    outcome: hit ? 'attributed' : 'unattributed',
  };
}
