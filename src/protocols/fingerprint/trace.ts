/**
 * Detection: which of a party's releases, if any, a leaked table came from. Rows are matched on
 * their normalised primary key (each distinct key counted once), hashed once under the party's row
 * key whatever the number of releases; then, per release, one batched AES call gives every row's
 * mark position, and the leaked cell's bit is compared with the bit the release would have put
 * there. For a table that does not come from the release, each mark agrees with probability exactly
 * 1/2 independently of the others (the mask bit is a fresh PRF output per key), so the chance of
 * `a` or more agreements among `n` marks is the binomial tail P[Bin(n, 1/2) ≥ a]. That figure is
 * multiplied by the number of releases checked and by the number of column assignments tried
 * (renamed columns) — a union bound — and a release is attributed only when the product is at
 * most `maxFalseAccusation` (10^-6 by default).
 * @module
 */
import { BLOCK_PRF_BYTES, hmacTags } from '../../crypto/block-prf.js';
import { toHex } from '../../utils/bytes.js';
import { normalizeKey } from '../psi/normalize.js';
import { binomialTailHalf } from './binomial.js';
import { fingerprintRowKey, recipientFingerprint, releaseFingerprintKey } from './keys.js';
import { FINGERPRINT_DEFAULTS, markAt, markedColumns, releasePrfOfTags, type ReleaseRecord } from './release.js';
import { readBit, type ColumnTolerance } from './values.js';

/**
 * Options of {@link traceTable}.
 * @example
 * ```ts
 * traceTable({ header, rows, releases, secret, keyColumns: ['patient'] });
 * ```
 */
export interface TraceTableOptions {
  /** The leaked table's header and rows. */
  header: readonly string[];
  rows: readonly (readonly string[])[];
  /** The candidate releases (from the ledger), all made with `secret`. */
  releases: readonly ReleaseRecord[];
  /** The releasing party's fingerprint secret. */
  secret: Uint8Array;
  /** The leaked table's key column(s), when renamed (default: each release's own key columns). */
  keyColumns?: readonly string[];
  /** Attribute only at or below this corrected probability (default 10^-6). */
  maxFalseAccusation?: number;
}

/**
 * What {@link traceTable} found for one release.
 * @example
 * ```ts
 * for (const r of results) if (r.attributed) console.log(toHex(r.releaseId), r.falseAccusationProbability);
 * ```
 */
export interface TraceReleaseResult {
  releaseId: Uint8Array;
  recipient: Uint8Array;
  /** Marks of this release found in readable cells of the leaked table. */
  marksRead: number;
  /** Of those, the marks that carry this release's bit (`rowsMatched` in reports). */
  agreements: number;
  /** P[Bin(marksRead, 1/2) ≥ agreements]. */
  pValue: number;
  /** `pValue` × releases checked × column assignments tried, at most 1. */
  falseAccusationProbability: number;
  attributed: boolean;
  /** Released marked column → the leaked column read for it (`null`: absent). */
  columns: Record<string, string | null>;
  /** Why the release could not be checked (its key column is absent), if so. */
  unchecked?: string;
}

const foldName = (s: string): string => s.normalize('NFKC').trim().toLowerCase();

/** Share of a sample of a column's non-empty values that parse under `tol`. */
function parseShare(rows: readonly (readonly string[])[], col: number, tol: ColumnTolerance): number {
  let seen = 0;
  let ok = 0;
  for (let i = 0; i < rows.length && seen < 200; i++) {
    const v = rows[i]![col]!;
    if (v.trim() === '') continue;
    seen++;
    if (readBit(v, tol) !== undefined) ok++;
  }
  return seen === 0 ? 0 : ok / seen;
}

/**
 * Checks a leaked table against every release and says which it came from (sans-I/O; Node-only).
 * Columns are found by name (exact, then ignoring case and width); a marked column whose name is
 * absent is looked for among the leaked columns no release column claims by name and whose values
 * read as that column's kind: the one whose marks agree best is used, and every candidate tried
 * counts in the union bound. Results are sorted: attributed first, then by probability.
 * @example
 * ```ts
 * const results = traceTable({ header, rows, releases, secret });
 * const hits = results.filter((r) => r.attributed);
 * ```
 */
export function traceTable(options: TraceTableOptions): TraceReleaseResult[] {
  const { header, rows, releases, secret } = options;
  if (!Array.isArray(header)) throw new TypeError('options.header must be an array of strings');
  if (!Array.isArray(rows)) throw new TypeError('options.rows must be an array of rows');
  if (!Array.isArray(releases)) throw new TypeError('options.releases must be an array');
  const threshold = options.maxFalseAccusation ?? FINGERPRINT_DEFAULTS.maxFalseAccusation;
  if (!(threshold > 0 && threshold < 1)) throw new RangeError('options.maxFalseAccusation must be in (0, 1)');
  for (const [i, row] of rows.entries()) {
    if (!Array.isArray(row) || row.length !== header.length) throw new RangeError(`options.rows[${i}] must have ${header.length} strings`);
  }
  const rowKey = fingerprintRowKey(secret);
  const folded = header.map(foldName);
  const findColumn = (name: string): number => {
    const exact = header.indexOf(name);
    return exact !== -1 ? exact : folded.indexOf(foldName(name));
  };

  // Distinct keys per key-column choice: the row PRF is computed once per leaked row for all releases.
  const keyed = new Map<string, { rowOf: number[]; keys: Uint8Array[]; tags: Uint8Array }>();
  const keyedRows = (idx: number[]): { rowOf: number[]; keys: Uint8Array[]; tags: Uint8Array } => {
    const id = idx.join(',');
    let k = keyed.get(id);
    if (!k) {
      const seen = new Set<string>();
      k = { rowOf: [], keys: [], tags: new Uint8Array(0) };
      rows.forEach((row, r) => {
        const key = normalizeKey(idx.map((i) => row[i]!));
        if (key === undefined) return;
        const s = toHex(key);
        if (seen.has(s)) return; // a duplicated row is one mark, not two independent ones
        seen.add(s);
        k!.rowOf.push(r);
        k!.keys.push(key);
      });
      k.tags = hmacTags(rowKey, k.keys); // once per leaked row, whatever the number of releases
      keyed.set(id, k);
    }
    return k;
  };
  const bitCache = new Map<string, Int8Array>();
  const bitsOf = (col: number, tol: ColumnTolerance, rowOf: number[], keyId: string): Int8Array => {
    const id = `${keyId}|${col}|${tol.kind}|${tol.text}`;
    let b = bitCache.get(id);
    if (!b) {
      b = new Int8Array(rowOf.length);
      for (let i = 0; i < rowOf.length; i++) b[i] = readBit(rows[rowOf[i]!]![col]!, tol) ?? -1;
      bitCache.set(id, b);
    }
    return b;
  };

  const checked = releases.length;
  const results: TraceReleaseResult[] = [];
  for (const record of releases) {
    const base = { releaseId: record.releaseId, recipient: record.recipient, marksRead: 0, agreements: 0, pValue: 1, falseAccusationProbability: 1, attributed: false };
    const keyNames = options.keyColumns ?? record.keyColumns;
    const keyIdx = keyNames.map(findColumn);
    const marked = markedColumns(record);
    if (keyIdx.includes(-1)) {
      const missing = keyNames.filter((_: string, i: number) => keyIdx[i] === -1).join(', ');
      results.push({ ...base, columns: Object.fromEntries(marked.map((m) => [m.name, null])), unchecked: `key column ${missing} not in the file` });
      continue;
    }
    const keyId = keyIdx.join(',');
    const { rowOf, keys, tags } = keyedRows(keyIdx);
    // Leaked columns claimed by name by this release (its key or released columns).
    const claimed = new Set<number>(keyIdx);
    for (const c of record.columns) {
      const j = findColumn(c);
      if (j !== -1) claimed.add(j);
    }
    const candidates: number[][] = marked.map((m) => {
      const j = findColumn(m.name);
      if (j !== -1) return [j];
      return header.map((_, j2) => j2).filter((j2) => !claimed.has(j2) && parseShare(rows, j2, m.tol) >= 0.5);
    });
    const releaseKey = releaseFingerprintKey(secret, record.releaseId);
    const fingerprint = recipientFingerprint(releaseKey, record.recipient, record.bits);
    const u = releasePrfOfTags(releaseKey, tags);
    releaseKey.fill(0);
    const bits = candidates.map((cs, m) => cs.map((j) => bitsOf(j, marked[m]!.tol, rowOf, keyId)));
    const agree = candidates.map((cs) => new Array<number>(cs.length).fill(0));
    const read = candidates.map((cs) => new Array<number>(cs.length).fill(0));
    for (let i = 0; i < keys.length; i++) {
      const mark = markAt(u, i * BLOCK_PRF_BYTES, record.gamma, marked.length, fingerprint);
      if (!mark) continue;
      const cs = bits[mark.column]!;
      for (let c = 0; c < cs.length; c++) {
        const b = cs[c]![i]!;
        if (b === -1) continue;
        read[mark.column]![c]!++;
        if (b === mark.bit) agree[mark.column]![c]!++;
      }
    }
    let n = 0;
    let a = 0;
    let assignments = 1;
    const columns: Record<string, string | null> = {};
    // Renamed columns: each leaked column stands for at most one of them (else one leaked column
    // would be counted twice, once as noise), best-agreeing pairs first; used only if it agrees
    // more often than not.
    const pairs: { k: number; c: number; score: number }[] = [];
    marked.forEach((m, k) => {
      const cs = candidates[k]!;
      columns[m.name] = null;
      if (findColumn(m.name) !== -1) {
        columns[m.name] = header[cs[0]!]!;
        n += read[k]![0]!;
        a += agree[k]![0]!;
        return;
      }
      assignments *= cs.length + 1; // each candidate, or none
      cs.forEach((_, c) => {
        const score = 2 * agree[k]![c]! - read[k]![c]!;
        if (score > 0) pairs.push({ k, c, score });
      });
    });
    const usedColumn = new Set<number>();
    const done = new Set<number>();
    for (const { k, c } of pairs.sort((x, y) => y.score - x.score)) {
      const j = candidates[k]![c]!;
      if (done.has(k) || usedColumn.has(j)) continue;
      done.add(k);
      usedColumn.add(j);
      columns[marked[k]!.name] = header[j]!;
      n += read[k]![c]!;
      a += agree[k]![c]!;
    }
    const pValue = binomialTailHalf(n, a);
    const fap = Math.min(1, pValue * checked * assignments);
    results.push({ ...base, marksRead: n, agreements: a, pValue, falseAccusationProbability: fap, attributed: n > 0 && fap <= threshold, columns });
  }
  return results.sort((x, y) => Number(y.attributed) - Number(x.attributed) || x.falseAccusationProbability - y.falseAccusationProbability);
}
