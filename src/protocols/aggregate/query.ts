/**
 * The aggregation query: its JSON format (docs/aggregate.md), strict validation, canonical bytes,
 * the slot layout every provider's vector follows, and the HE parameter request it implies.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { MalformedMessageError } from '../../errors.js';
import { parseFixedPoint } from '../../he/fixed-point.js';
import type { HeParameterRequest } from '../../he/params.js';
import { toHex } from '../../utils/bytes.js';
import { discreteLaplaceBound, parseEpsilon, splitEpsilon } from '../guardrails.js';

/** Limits on a query, checked before anything else is done with it. */
export const AGGREGATE_QUERY_LIMITS = Object.freeze({
  maxBytes: 64 * 1024,
  maxColumns: 64,
  maxStatistics: 64,
  maxCategories: 1024,
  maxBins: 256,
  maxNameLength: 64,
  maxProviders: 1000,
  maxRowsPerProvider: 100_000_000,
  maxSlots: 1 << 16,
});

/**
 * A numeric column: an integer, or a decimal with `decimals` places carried as exact fixed point.
 *
 * @example
 * ```ts
 * const cost: AggregateColumn = { name: 'cost', type: 'decimal', decimals: 2, min: '0', max: '1000000' };
 * ```
 */
export interface AggregateColumn {
  name: string;
  type: 'integer' | 'decimal';
  /** Decimal places (0 for integers). */
  decimals: number;
  /** Smallest allowed value, decimal string. */
  min: string;
  /** Largest allowed value, decimal string. */
  max: string;
}

/**
 * One requested statistic. `mean` is released as sum / count of the same group.
 *
 * @example
 * ```ts
 * const stats: AggregateStatistic[] = [{ type: 'count' }, { type: 'mean', column: 'cost' }];
 * ```
 */
export type AggregateStatistic =
  | { type: 'count' }
  | { type: 'sum'; column: string }
  | { type: 'mean'; column: string }
  | { type: 'histogram'; column: string; bins: string[] };

/**
 * A validated, normalised aggregation query (see docs/aggregate.md for the JSON format).
 *
 * @example
 * ```ts
 * const query: AggregateQuery = parseAggregateQuery(JSON.parse(text));
 * ```
 */
export interface AggregateQuery {
  version: 1;
  id: string;
  columns: AggregateColumn[];
  groupBy: { column: string; categories: string[] } | null;
  statistics: AggregateStatistic[];
  maxRowsPerProvider: number;
  /** Providers expected. */
  providers: number;
  /** Fewest providers whose contributions make a valid total (2 ≤ quorum ≤ providers). */
  quorum: number;
  /** Groups with fewer rows than this are withheld (0: no withholding). */
  minCohort: number;
  /** Optional differential privacy: total ε over all released statistics. */
  dp: { epsilon: string } | null;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

function fail(message: string): never {
  throw new MalformedMessageError(`invalid aggregation query: ${message}`);
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function onlyKeys(o: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`unknown field ${JSON.stringify(k).slice(0, 40)} in ${where}`);
}
function intField(v: unknown, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) fail(`${name} must be an integer in [${min}, ${max}]`);
  return v;
}
function nameField(v: unknown, name: string): string {
  if (typeof v !== 'string' || v.length > AGGREGATE_QUERY_LIMITS.maxNameLength || !NAME_RE.test(v)) fail(`${name} must be a simple name`);
  return v;
}
function fixed(text: unknown, decimals: number, name: string): bigint {
  if (typeof text !== 'string') fail(`${name} must be a decimal string`);
  try {
    return parseFixedPoint(text, decimals);
  } catch {
    return fail(`${name} is not a decimal with at most ${decimals} places`);
  }
}

/**
 * Validates a parsed query JSON value and returns its normalised form. Throws
 * `MalformedMessageError` naming the first problem (queries arrive from peers and files).
 *
 * @example
 * ```ts
 * const query = parseAggregateQuery({
 *   version: 1, id: 'demo', columns: [{ name: 'cost', type: 'decimal', decimals: 2, min: '0', max: '9999.99' }],
 *   statistics: [{ type: 'count' }, { type: 'sum', column: 'cost' }],
 *   maxRowsPerProvider: 1000, providers: 3,
 * });
 * ```
 */
export function parseAggregateQuery(value: unknown): AggregateQuery {
  const L = AGGREGATE_QUERY_LIMITS;
  if (!isObject(value)) fail('not an object');
  onlyKeys(value, ['version', 'id', 'columns', 'groupBy', 'statistics', 'maxRowsPerProvider', 'providers', 'quorum', 'minCohort', 'dp'], 'query');
  if (value.version !== 1) fail('version must be 1');
  if (typeof value.id !== 'string' || !ID_RE.test(value.id)) fail('id must be 1-128 characters of [A-Za-z0-9_.:-]');
  if (!Array.isArray(value.columns) || value.columns.length > L.maxColumns) fail(`columns must be an array of at most ${L.maxColumns}`);
  const columns: AggregateColumn[] = [];
  for (const c of value.columns as unknown[]) {
    if (!isObject(c)) fail('column must be an object');
    onlyKeys(c, ['name', 'type', 'decimals', 'min', 'max'], 'column');
    const name = nameField(c.name, 'column name');
    if (columns.some((x) => x.name === name)) fail(`duplicate column ${name}`);
    if (c.type !== 'integer' && c.type !== 'decimal') fail(`column ${name}: type must be "integer" or "decimal"`);
    const decimals = c.type === 'integer' ? (c.decimals === undefined ? 0 : intField(c.decimals, `column ${name} decimals`, 0, 0)) : intField(c.decimals, `column ${name} decimals`, 0, 9);
    const min = fixed(c.min, decimals, `column ${name} min`);
    const max = fixed(c.max, decimals, `column ${name} max`);
    if (min > max) fail(`column ${name}: min > max`);
    const abs = (x: bigint) => (x < 0n ? -x : x);
    if (abs(min) >= 10n ** 18n || abs(max) >= 10n ** 18n) fail(`column ${name}: bounds too large`);
    columns.push({ name, type: c.type, decimals, min: c.min as string, max: c.max as string });
  }
  let groupBy: AggregateQuery['groupBy'] = null;
  if (value.groupBy !== undefined && value.groupBy !== null) {
    const g = value.groupBy;
    if (!isObject(g)) fail('groupBy must be an object');
    onlyKeys(g, ['column', 'categories'], 'groupBy');
    const column = nameField(g.column, 'groupBy column');
    if (columns.some((x) => x.name === column)) fail('groupBy column must not also be a numeric column');
    if (!Array.isArray(g.categories) || g.categories.length < 1 || g.categories.length > L.maxCategories) fail(`groupBy categories must be 1..${L.maxCategories} strings`);
    const categories: string[] = [];
    for (const cat of g.categories as unknown[]) {
      if (typeof cat !== 'string' || cat.length < 1 || cat.length > 256) fail('category must be a string of 1..256 characters');
      if (categories.includes(cat)) fail('duplicate category');
      categories.push(cat);
    }
    groupBy = { column, categories };
  }
  if (!Array.isArray(value.statistics) || value.statistics.length < 1 || value.statistics.length > L.maxStatistics) fail(`statistics must be 1..${L.maxStatistics} entries`);
  const statistics: AggregateStatistic[] = [];
  const col = (name: unknown): AggregateColumn => {
    const n = nameField(name, 'statistic column');
    const c = columns.find((x) => x.name === n);
    if (c === undefined) fail(`statistic refers to undeclared column ${n}`);
    return c;
  };
  for (const s of value.statistics as unknown[]) {
    if (!isObject(s)) fail('statistic must be an object');
    let st: AggregateStatistic;
    if (s.type === 'count') {
      onlyKeys(s, ['type'], 'statistic');
      st = { type: 'count' };
    } else if (s.type === 'sum' || s.type === 'mean') {
      onlyKeys(s, ['type', 'column'], 'statistic');
      st = { type: s.type, column: col(s.column).name };
    } else if (s.type === 'histogram') {
      onlyKeys(s, ['type', 'column', 'bins'], 'statistic');
      const c = col(s.column);
      if (!Array.isArray(s.bins) || s.bins.length < 2 || s.bins.length > L.maxBins + 1) fail(`histogram bins must be 2..${L.maxBins + 1} edges`);
      const edges = (s.bins as unknown[]).map((b, i) => fixed(b, c.decimals, `histogram edge ${i}`));
      for (let i = 1; i < edges.length; i++) if (edges[i]! <= edges[i - 1]!) fail('histogram edges must increase');
      if (edges[0]! > parseFixedPoint(c.min, c.decimals) || edges[edges.length - 1]! < parseFixedPoint(c.max, c.decimals)) {
        fail(`histogram edges must cover the column's [min, max]`);
      }
      st = { type: 'histogram', column: c.name, bins: s.bins as string[] };
    } else {
      fail('statistic type must be count, sum, mean or histogram');
    }
    if (statistics.some((x) => JSON.stringify(x) === JSON.stringify(st))) fail('duplicate statistic');
    statistics.push(st);
  }
  const maxRowsPerProvider = intField(value.maxRowsPerProvider, 'maxRowsPerProvider', 1, L.maxRowsPerProvider);
  const providers = intField(value.providers, 'providers', 2, L.maxProviders);
  const quorum = value.quorum === undefined ? providers : intField(value.quorum, 'quorum', 2, providers);
  const minCohort = value.minCohort === undefined ? 0 : intField(value.minCohort, 'minCohort', 0, 1_000_000_000);
  let dp: AggregateQuery['dp'] = null;
  if (value.dp !== undefined && value.dp !== null) {
    if (!isObject(value.dp)) fail('dp must be an object');
    onlyKeys(value.dp, ['epsilon'], 'dp');
    if (typeof value.dp.epsilon !== 'string') fail('dp.epsilon must be a decimal string');
    try {
      parseEpsilon(value.dp.epsilon);
    } catch {
      fail('dp.epsilon must be a decimal in (0, 100] with at most 6 places');
    }
    dp = { epsilon: value.dp.epsilon };
  }
  const query: AggregateQuery = { version: 1, id: value.id, columns, groupBy, statistics, maxRowsPerProvider, providers, quorum, minCohort, dp };
  if (aggregateLayout(query).slots > L.maxSlots) fail(`the query needs more than ${L.maxSlots} slots`);
  return query;
}

/**
 * Canonical bytes of a query (fixed key order, no whitespace): what the analyst sends and what every
 * party hashes and records.
 *
 * @example
 * ```ts
 * const bytes = encodeAggregateQuery(query);
 * ```
 */
export function encodeAggregateQuery(q: AggregateQuery): Uint8Array {
  const canonical = {
    version: q.version,
    id: q.id,
    columns: q.columns.map((c) => ({ name: c.name, type: c.type, decimals: c.decimals, min: c.min, max: c.max })),
    groupBy: q.groupBy === null ? null : { column: q.groupBy.column, categories: q.groupBy.categories },
    statistics: q.statistics.map((s) =>
      s.type === 'count' ? { type: s.type } : s.type === 'histogram' ? { type: s.type, column: s.column, bins: s.bins } : { type: s.type, column: s.column },
    ),
    maxRowsPerProvider: q.maxRowsPerProvider,
    providers: q.providers,
    quorum: q.quorum,
    minCohort: q.minCohort,
    dp: q.dp === null ? null : { epsilon: q.dp.epsilon },
  };
  return new TextEncoder().encode(JSON.stringify(canonical));
}

/**
 * SHA-256 (lower-case hex) of a query's canonical bytes ({@link encodeAggregateQuery}), or of the
 * query bytes as they arrived (a valid query's bytes are canonical, so both give the same hash):
 * the `query-sha256` every aggregation receipt records, so that each names the exact query.
 *
 * @example
 * ```ts
 * aggregateQueryHash(query) === aggregateQueryHash(encodeAggregateQuery(query)); // true
 * ```
 */
export function aggregateQueryHash(query: AggregateQuery | Uint8Array): string {
  return toHex(sha256(query instanceof Uint8Array ? query : encodeAggregateQuery(query)));
}

/**
 * Decodes query bytes from a peer; they must be exactly the canonical encoding.
 *
 * @example
 * ```ts
 * const query = decodeAggregateQuery(bytes);
 * ```
 */
export function decodeAggregateQuery(bytes: Uint8Array): AggregateQuery {
  if (bytes.length > AGGREGATE_QUERY_LIMITS.maxBytes) throw new MalformedMessageError('aggregation query too large');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new MalformedMessageError('aggregation query is not JSON');
  }
  const query = parseAggregateQuery(value);
  const again = encodeAggregateQuery(query);
  if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i])) throw new MalformedMessageError('aggregation query is not canonical');
  return query;
}

/** What one slot holds. */
export type SlotMeaning =
  | { kind: 'count'; group: number }
  | { kind: 'sum'; group: number; column: string }
  | { kind: 'bin'; group: number; column: string; statistic: number; bin: number };

/**
 * The vector layout a query implies: per group (one group if not grouped), a count slot, one sum
 * slot per column summed or averaged, then one slot per histogram bin.
 *
 * @example
 * ```ts
 * const { slots, perGroup } = aggregateLayout(query);
 * ```
 */
export interface AggregateLayout {
  groups: number;
  perGroup: number;
  slots: number;
  /** Columns with a sum slot, in slot order. */
  sumColumns: string[];
  /** For each histogram statistic index: offset of its first bin within a group block. */
  histogramOffsets: Map<number, number>;
  meaning(slot: number): SlotMeaning;
}

/**
 * Computes the slot layout of a query.
 *
 * @example
 * ```ts
 * aggregateLayout(query).slots; // vector length every provider encrypts
 * ```
 */
export function aggregateLayout(q: AggregateQuery): AggregateLayout {
  const groups = q.groupBy === null ? 1 : q.groupBy.categories.length;
  const sumColumns: string[] = [];
  for (const s of q.statistics) if ((s.type === 'sum' || s.type === 'mean') && !sumColumns.includes(s.column)) sumColumns.push(s.column);
  const histogramOffsets = new Map<number, number>();
  let perGroup = 1 + sumColumns.length;
  q.statistics.forEach((s, i) => {
    if (s.type === 'histogram') {
      histogramOffsets.set(i, perGroup);
      perGroup += s.bins.length - 1;
    }
  });
  const slots = groups * perGroup;
  return {
    groups,
    perGroup,
    slots,
    sumColumns,
    histogramOffsets,
    meaning(slot: number): SlotMeaning {
      const group = Math.floor(slot / perGroup);
      const off = slot % perGroup;
      if (off === 0) return { kind: 'count', group };
      if (off <= sumColumns.length) return { kind: 'sum', group, column: sumColumns[off - 1]! };
      for (const [statistic, start] of histogramOffsets) {
        const s = q.statistics[statistic] as { column: string; bins: string[] };
        if (off >= start && off < start + s.bins.length - 1) return { kind: 'bin', group, column: s.column, statistic, bin: off - start };
      }
      throw new RangeError('slot out of range');
    },
  };
}

/** Largest |value| of a column in fixed-point units. */
export function columnMaxAbs(c: AggregateColumn): bigint {
  const a = parseFixedPoint(c.min, c.decimals);
  const b = parseFixedPoint(c.max, c.decimals);
  const abs = (x: bigint) => (x < 0n ? -x : x);
  return abs(a) > abs(b) ? abs(a) : abs(b);
}

/**
 * Differential-privacy plan: ε split evenly over the noised statistic blocks (count, each summed
 * column, each histogram); a row is in one group only, so groups compose in parallel. Sensitivities
 * for add/remove-one-row neighbours: count 1, sum max|value|, histogram 1.
 */
export interface DpPlan {
  /** ε and Δ for each slot (by slot offset within a group block). */
  perSlot: { epsilon: string; sensitivity: bigint }[];
  /** Largest noise magnitude (tail bound) over all slots. */
  maxNoise: bigint;
}

/**
 * The DP plan of a query, or null without DP.
 *
 * @example
 * ```ts
 * const plan = dpPlan(query); // plan?.perSlot[0].epsilon
 * ```
 */
export function dpPlan(q: AggregateQuery): DpPlan | null {
  if (q.dp === null) return null;
  const layout = aggregateLayout(q);
  const blocks = 1 + layout.sumColumns.length + layout.histogramOffsets.size;
  const eps = splitEpsilon(q.dp.epsilon, blocks);
  const perSlot: DpPlan['perSlot'] = [];
  for (let off = 0; off < layout.perGroup; off++) {
    const m = layout.meaning(off);
    const sensitivity = m.kind === 'sum' ? columnMaxAbs(q.columns.find((c) => c.name === m.column)!) || 1n : 1n;
    perSlot.push({ epsilon: eps, sensitivity });
  }
  let maxNoise = 0n;
  for (const s of perSlot) {
    const b = discreteLaplaceBound(s.epsilon, s.sensitivity);
    if (b > maxNoise) maxNoise = b;
  }
  return { perSlot, maxNoise };
}

/**
 * The HE parameter request a query implies: slots of the layout; per-provider slot bound
 * `maxRowsPerProvider × max(1, max|column|)`; one addend per provider; DP noise as the one
 * plaintext addend; noise flooding at `finalise`.
 *
 * @example
 * ```ts
 * const params = await chooseHeParameters(heRequestForQuery(query));
 * ```
 */
export function heRequestForQuery(q: AggregateQuery): HeParameterRequest {
  const layout = aggregateLayout(q);
  let maxAbs = 1n;
  for (const name of layout.sumColumns) {
    const a = columnMaxAbs(q.columns.find((c) => c.name === name)!);
    if (a > maxAbs) maxAbs = a;
  }
  const plan = dpPlan(q);
  return {
    slots: layout.slots,
    maxAbsValue: maxAbs * BigInt(q.maxRowsPerProvider),
    maxAddends: q.providers,
    maxAbsPlainAddend: plan === null ? 0n : plan.maxNoise,
    // The analyst holds the key and sees the total's noise: flood it (circuit privacy).
    noiseFlooding: 1,
  };
}
