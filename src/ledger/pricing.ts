/**
 * Price schedules: turning a run into billable units for its receipt (DESIGN.md §7, and the
 * source document's "elastic charging under a government guide price").
 *
 * A schedule is JSON, all amounts integers in the currency's minor unit (e.g. fen for CNY):
 *
 * ```json
 * {
 *   "id": "port-2026-01",
 *   "currency": "CNY",
 *   "guideCap": 500000,
 *   "protocols": {
 *     "ecdh-psi":  { "perRun": 1000, "per1000Records": 50, "perGB": 2000, "cap": 200000 },
 *     "psi-sum":   { "perRun": 2000, "per1000Records": 80, "perGB": 2000 },
 *     "aggregate": { "perRun": 500,  "per1000Records": 10 }
 *   },
 *   "default": { "perRun": 1000 }
 * }
 * ```
 *
 * amount = perRun + ⌈records × per1000Records / 1000⌉ + ⌈bytes × perGB / 10^9⌉ + keys × perKey (keys:
 * the requester's input size, the keys a data-product query evaluated), then limited by
 * the protocol's `cap` and the schedule's `guideCap` (the lower wins). `guidePerKey`, the guide
 * price per key, is checked when the schedule is parsed: a `perKey` above it is refused. `records` is the sum of the
 * run's input sizes; a GB is 10^9 bytes. Runs whose outcome is `refused` or `failed` cost 0.
 *
 * Co-signed billing (docs/ledger.md *Billing*): a party that bills announces its schedule in the
 * session handshake and repeats it in its receipt view, as the canonical bytes of
 * {@link encodePriceSchedule} (at most {@link MAX_PRICE_SCHEDULE_BYTES}); both parties price the
 * run with the same schedule and sign the amount as part of the receipt body, whose `billing.schedule` names the schedule by id and the
 * SHA-256 of those bytes ({@link priceScheduleRef}), so an auditor holding the schedule file can
 * recompute every amount.
 * @module
 */
import { InputError, MalformedMessageError } from '../errors.js';
import { isWellFormedString } from '../utils/binary.js';
import { compareBytes, toHex } from '../utils/bytes.js';
import { sha256 } from './hash.js';
import type { UsageReceiptBody } from './receipt-types.js';

/**
 * Prices of one protocol, integers in minor units.
 * @example
 * ```ts
 * const price: ProtocolPrice = { perRun: 1000, per1000Records: 50, perGB: 2000, cap: 200000 };
 * ```
 */
export interface ProtocolPrice {
  /** Flat fee per run. */
  perRun?: number;
  /** Per 1,000 input records (rounded up). */
  per1000Records?: number;
  /** Per 10^9 bytes exchanged (rounded up). */
  perGB?: number;
  /** Maximum charge for one run of this protocol. */
  cap?: number;
  /**
   * Per key queried (the requester's input size): the data-product price the holder sets
   * (自主定价), at most the schedule's `guidePerKey`.
   */
  perKey?: number;
}

/**
 * A price schedule (see the module documentation for the JSON form).
 * @example
 * ```ts
 * const schedule: PriceSchedule = { id: 'port-2026', currency: 'CNY', protocols: { 'ecdh-psi': { perRun: 1000 } } };
 * ```
 */
export interface PriceSchedule {
  /** Identifier recorded in every receipt priced with it. */
  id: string;
  /** ISO 4217 code, e.g. `CNY`. */
  currency: string;
  /** Government guide price: no run costs more than this, whatever the protocol. */
  guideCap?: number;
  /**
   * Government guide price per key queried (政府指导价): a schedule whose `perKey` exceeds it
   * anywhere is refused when it is parsed.
   */
  guidePerKey?: number;
  protocols: Record<string, ProtocolPrice>;
  /** Prices for a protocol not listed; without it such a run is an error. */
  default?: ProtocolPrice;
}

/**
 * The billing part of a receipt body.
 * @example
 * ```ts
 * const billing: ReceiptBilling = priceRun(schedule, body);
 * ```
 */
export type ReceiptBilling = NonNullable<UsageReceiptBody['billing']>;

const PRICE_FIELDS = ['perRun', 'per1000Records', 'perGB', 'cap', 'perKey'] as const;
const MAX_AMOUNT = Number.MAX_SAFE_INTEGER;
/** Bytes of a schedule id: with the hash, `billing.schedule` stays within a receipt's 256-byte strings. */
const MAX_ID_BYTES = 128;
/** As the session terms' protocol name. */
const MAX_PROTOCOL_NAME_BYTES = 64;
const te = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8Length(s: string): number {
  return te.encode(s).length;
}

function amountField(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new InputError(`price schedule: ${where} must be a non-negative integer (minor currency units)`);
  }
  return v;
}

function parsePrice(v: unknown, where: string): ProtocolPrice {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError(`price schedule: ${where} must be an object`);
  const out: ProtocolPrice = {};
  for (const [k, val] of Object.entries(v)) {
    if (!(PRICE_FIELDS as readonly string[]).includes(k)) throw new InputError(`price schedule: unknown field ${where}.${k}`);
    out[k as (typeof PRICE_FIELDS)[number]] = amountField(val, `${where}.${k}`);
  }
  return out;
}

/**
 * Validates a price schedule (JSON text or an already-parsed value); throws `InputError` naming
 * the offending field.
 * @example
 * ```ts
 * const schedule = parsePriceSchedule(await readFile('prices.json', 'utf8'));
 * ```
 */
export function parsePriceSchedule(input: string | unknown): PriceSchedule {
  let v: unknown = input;
  if (typeof input === 'string') {
    try {
      v = JSON.parse(input);
    } catch {
      throw new InputError('price schedule: not valid JSON');
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError('price schedule: must be a JSON object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['id', 'currency', 'guideCap', 'guidePerKey', 'protocols', 'default'].includes(k)) throw new InputError(`price schedule: unknown field ${k}`);
  }
  if (typeof o.id !== 'string' || o.id.length === 0 || utf8Length(o.id) > MAX_ID_BYTES || !isWellFormedString(o.id) || /[\u0000-\u001f\u007f-\u009f]/.test(o.id)) {
    throw new InputError(`price schedule: id must be a string of 1-${MAX_ID_BYTES} UTF-8 bytes without control characters`);
  }
  if (typeof o.currency !== 'string' || !/^[A-Z]{3}$/.test(o.currency)) throw new InputError('price schedule: currency must be an ISO 4217 code such as CNY');
  if (o.protocols === null || typeof o.protocols !== 'object' || Array.isArray(o.protocols)) {
    throw new InputError('price schedule: protocols must be an object');
  }
  const protocols: Record<string, ProtocolPrice> = {};
  for (const [name, p] of Object.entries(o.protocols as Record<string, unknown>)) {
    if (name.length === 0 || utf8Length(name) > MAX_PROTOCOL_NAME_BYTES || !isWellFormedString(name)) {
      throw new InputError(`price schedule: protocol names must be 1-${MAX_PROTOCOL_NAME_BYTES} UTF-8 bytes`);
    }
    Object.defineProperty(protocols, name, { value: parsePrice(p, `protocols.${name}`), enumerable: true, writable: true, configurable: true });
  }
  const out: PriceSchedule = { id: o.id, currency: o.currency, protocols };
  if (o.guideCap !== undefined) out.guideCap = amountField(o.guideCap, 'guideCap');
  if (o.default !== undefined) out.default = parsePrice(o.default, 'default');
  if (o.guidePerKey !== undefined) {
    const guide = amountField(o.guidePerKey, 'guidePerKey');
    out.guidePerKey = guide;
    // The holder's own price (自主定价) must stay under the government guide price (政府指导价).
    for (const [name, p] of [...Object.entries(protocols).map(([n, p]) => [`protocols.${n}`, p] as const), ['default', out.default] as const]) {
      if (p?.perKey !== undefined && p.perKey > guide) {
        throw new InputError(`price schedule: ${name}.perKey ${p.perKey} exceeds the guide price guidePerKey ${guide}`);
      }
    }
  }
  return out;
}

/** ⌈a × b / d⌉ in exact integer arithmetic. */
function mulDivCeil(a: number, b: number, d: bigint): bigint {
  const p = BigInt(a) * BigInt(b);
  return (p + d - 1n) / d;
}

/**
 * What {@link priceRun} needs to know about a run.
 * @example
 * ```ts
 * priceRun(schedule, { protocol: 'ecdh-psi', inputSizes: { requester: 1000 }, bytesExchanged: 0, outcome: 'completed' });
 * ```
 */
export type PricedRun = Pick<UsageReceiptBody, 'protocol' | 'inputSizes' | 'bytesExchanged' | 'outcome'>;

/**
 * The billable amount of a run under `schedule`, ready for the receipt's `billing` field. Throws
 * `InputError` if the schedule has no price for the protocol and no default.
 * @example
 * ```ts
 * body.billing = priceRun(schedule, body);
 * ```
 */
export function priceRun(schedule: PriceSchedule, run: PricedRun): ReceiptBilling {
  const billing = (amountMinor: number): ReceiptBilling => ({ currency: schedule.currency, amountMinor, schedule: schedule.id });
  if (run.outcome === 'refused' || run.outcome === 'failed') return billing(0);
  const price = Object.prototype.hasOwnProperty.call(schedule.protocols, run.protocol) ? schedule.protocols[run.protocol] : schedule.default;
  if (!price) throw new InputError(`price schedule '${schedule.id}' has no price for protocol '${run.protocol}'`);
  let records = 0n;
  for (const n of Object.values(run.inputSizes)) {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError('inputSizes must be non-negative safe integers');
    records += BigInt(n);
  }
  if (!Number.isSafeInteger(run.bytesExchanged) || run.bytesExchanged < 0) throw new RangeError('bytesExchanged must be a non-negative safe integer');
  let amount = BigInt(price.perRun ?? 0);
  amount += (records * BigInt(price.per1000Records ?? 0) + 999n) / 1000n;
  amount += mulDivCeil(run.bytesExchanged, price.perGB ?? 0, 1_000_000_000n);
  amount += BigInt(run.inputSizes['requester'] ?? 0) * BigInt(price.perKey ?? 0);
  if (price.cap !== undefined && amount > BigInt(price.cap)) amount = BigInt(price.cap);
  if (schedule.guideCap !== undefined && amount > BigInt(schedule.guideCap)) amount = BigInt(schedule.guideCap);
  if (amount > BigInt(MAX_AMOUNT)) throw new RangeError('amount exceeds 2^53 - 1 minor units');
  return billing(Number(amount));
}

/**
 * Largest canonical schedule a receipt view may carry (16 KiB); a peer's larger schedule is a
 * malformed message, a local one a `RangeError`.
 * @example
 * ```ts
 * if (encodePriceSchedule(schedule).length > MAX_PRICE_SCHEDULE_BYTES) throw new Error('unreachable: the encoder throws');
 * ```
 */
export const MAX_PRICE_SCHEDULE_BYTES = 16 * 1024;

function priceJson(p: ProtocolPrice): string {
  const parts: string[] = [];
  for (const k of PRICE_FIELDS) if (p[k] !== undefined) parts.push(`"${k}":${p[k]}`);
  return `{${parts.join(',')}}`;
}

/**
 * The canonical bytes of a schedule (what a receipt view carries and what its hash names): UTF-8
 * JSON without whitespace, fields in the fixed order `id, currency, guideCap, guidePerKey, protocols, default`
 * (absent ones left out), protocol names in ascending UTF-8 byte order, price fields in the order
 * `perRun, per1000Records, perGB, cap, perKey`, integers in plain decimal, strings as `JSON.stringify`
 * writes them. Throws `RangeError` for a schedule {@link parsePriceSchedule} would reject or whose
 * encoding exceeds {@link MAX_PRICE_SCHEDULE_BYTES}.
 * @example
 * ```ts
 * const bytes = encodePriceSchedule(await loadPriceSchedule('prices.json', 'ecdh-psi'));
 * ```
 */
export function encodePriceSchedule(schedule: PriceSchedule): Uint8Array {
  let s: PriceSchedule;
  try {
    s = parsePriceSchedule(schedule);
  } catch (e) {
    throw new RangeError(`schedule: ${(e as Error).message}`);
  }
  const names = Object.keys(s.protocols)
    .map((k) => ({ k, b: te.encode(k) }))
    .sort((x, y) => compareBytes(x.b, y.b))
    .map((x) => x.k);
  let json = `{"id":${JSON.stringify(s.id)},"currency":${JSON.stringify(s.currency)}`;
  if (s.guideCap !== undefined) json += `,"guideCap":${s.guideCap}`;
  if (s.guidePerKey !== undefined) json += `,"guidePerKey":${s.guidePerKey}`;
  json += `,"protocols":{${names.map((n) => `${JSON.stringify(n)}:${priceJson(s.protocols[n]!)}`).join(',')}}`;
  if (s.default !== undefined) json += `,"default":${priceJson(s.default)}`;
  json += '}';
  const bytes = te.encode(json);
  if (bytes.length > MAX_PRICE_SCHEDULE_BYTES) throw new RangeError(`schedule: canonical encoding exceeds ${MAX_PRICE_SCHEDULE_BYTES} bytes`);
  return bytes;
}

/**
 * Decodes a schedule received from a peer: accepts exactly the output of
 * {@link encodePriceSchedule} (size-limited, valid, canonical) and throws `MalformedMessageError`
 * on anything else, so one schedule has one encoding and one hash.
 * @example
 * ```ts
 * const schedule = decodePriceSchedule(view.priceSchedule);
 * ```
 */
export function decodePriceSchedule(bytes: Uint8Array): PriceSchedule {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('bytes must be a Uint8Array');
  if (bytes.length > MAX_PRICE_SCHEDULE_BYTES) throw new MalformedMessageError('price schedule too large');
  let schedule: PriceSchedule;
  let canonical: Uint8Array;
  try {
    schedule = parsePriceSchedule(strictUtf8.decode(bytes));
    canonical = encodePriceSchedule(schedule);
  } catch {
    throw new MalformedMessageError('invalid price schedule');
  }
  if (compareBytes(canonical, bytes) !== 0) throw new MalformedMessageError('price schedule not in canonical form');
  return schedule;
}

/**
 * How a receipt names the schedule that priced it: `<id> sha256:<64 hex digits>`, the hash over
 * the canonical bytes ({@link encodePriceSchedule}). At most 128 + 71 bytes.
 * @example
 * ```ts
 * priceScheduleRef(schedule); // 'port-2026-01 sha256:9f86d0…'
 * ```
 */
export function priceScheduleRef(schedule: PriceSchedule): string {
  const bytes = encodePriceSchedule(schedule);
  return `${schedule.id} sha256:${toHex(sha256(bytes))}`;
}

/**
 * Splits a receipt's `billing.schedule` into id and hash; `undefined` for a reference without a
 * hash (receipts billed before billing was co-signed named the schedule by id only).
 * @example
 * ```ts
 * const ref = parsePriceScheduleRef(receipt.body.billing.schedule); // { id, sha256Hex }
 * ```
 */
export function parsePriceScheduleRef(ref: string): { id: string; sha256Hex: string } | undefined {
  const m = / sha256:([0-9a-f]{64})$/.exec(ref);
  if (!m) return undefined;
  return { id: ref.slice(0, m.index), sha256Hex: m[1]! };
}

/**
 * The co-signed `billing` of a receipt body: {@link priceRun} with `schedule`, named by
 * {@link priceScheduleRef}. Both parties of a session compute it from the same body and schedule.
 * @example
 * ```ts
 * body.billing = billRun(schedule, body);
 * ```
 */
export function billRun(schedule: PriceSchedule, run: PricedRun): ReceiptBilling {
  return { ...priceRun(schedule, run), schedule: priceScheduleRef(schedule) };
}
