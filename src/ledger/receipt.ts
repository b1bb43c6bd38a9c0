/**
 * The canonical binary encoding of a usage receipt (DESIGN.md §7) and its signatures.
 *
 * Body layout (all integers big-endian, `str` = u16 byte length + UTF-8, `u64` = 8 bytes holding a
 * safe non-negative integer ≤ 2^53 − 1):
 *
 * ```
 * u8  version (= 1)
 * 16  sessionId
 * u64 startedAt   u64 endedAt                      (ms since the Unix epoch)
 * u8  partyCount  { str role, 32 publicKey }*      (no two parties with the same key)
 * str protocol
 * u8  optionCount { str key, str value }*          (keys strictly ascending by UTF-8 bytes)
 * str purpose
 * u8  n { str role, u64 size }*                    inputSizes  (keys strictly ascending)
 * u8  n { str role, u64 size }*                    outputSizes (keys strictly ascending)
 * u64 bytesExchanged   u64 computeMs
 * u8  guardrailCount { str rule, str outcome, u8 hasDetail, [str detail] }*
 * u8  hasBilling [str currency, u64 amountMinor, str schedule]
 * str outcome
 * ```
 *
 * Signed receipt: `u8 version (= 1) | u32 bodyLength | body | u8 n | { 32 publicKey, 64 signature }*`
 * with the signatures sorted by public key (so both parties' ledgers hold identical bytes).
 *
 * Each signature is Ed25519 over `"dataport-receipt-v1\0" || body`, the prefix separating receipt
 * signatures from every other thing an identity key signs (handshakes, checkpoints).
 *
 * One-sided receipt (a run only one party signed: see `UsageReceipt.kind`), a distinct entry kind:
 * `u8 kind (= 2) | u32 bodyLength | body | 32 publicKey | 64 signature` — the same body, exactly
 * one signature, Ed25519 over `"dataport-one-sided-receipt-v1\0" || body`. The first byte tells the
 * two kinds apart (a decoder of co-signed receipts only refuses kind 2), and the separate context
 * means no signature of one kind verifies as the other: a party's co-signature cannot be replayed
 * as a one-sided receipt, nor a one-sided one presented as agreed by both.
 *
 * The encoder refuses (with `TypeError` / `RangeError`) anything it could not encode exactly —
 * never truncates, rounds or normalises. The decoder accepts exactly the encoder's output and
 * throws `MalformedMessageError` on anything else.
 * @module
 */
import { MalformedMessageError, VerificationFailedError } from '../errors.js';
import { signMessage, verifyMessage, type Identity } from '../session/identity.js';
import { BinaryReader, BinaryWriter } from '../utils/binary.js';
import { assertBytes, compareBytes, concatBytes, equalBytes, utf8 } from '../utils/bytes.js';
import type { GuardrailDecision, ReceiptParty, UsageReceipt, UsageReceiptBody } from './receipt-types.js';

/**
 * Limits of the receipt encoding; a decoder checks each before it allocates.
 * @example
 * ```ts
 * if (purpose.length > RECEIPT_LIMITS.maxPurposeBytes) throw new Error('purpose too long');
 * ```
 */
export const RECEIPT_LIMITS = {
  /** Bytes of a short string (role, protocol, option key or value, rule, outcome, currency…). */
  maxStringBytes: 256,
  /** Bytes of the purpose / authorisation reference. */
  maxPurposeBytes: 4096,
  maxParties: 32,
  maxOptions: 64,
  /** Entries of `inputSizes` / `outputSizes` each. */
  maxSizes: 32,
  maxGuardrails: 32,
  maxSignatures: 32,
  /** Bytes of an encoded body. */
  maxBodyBytes: 65536,
} as const;

/**
 * The domain-separation prefix of receipt signatures.
 * @example
 * ```ts
 * const signed = concatBytes(RECEIPT_SIGNATURE_CONTEXT, encodeReceiptBody(body));
 * ```
 */
export const RECEIPT_SIGNATURE_CONTEXT: Uint8Array = utf8('dataport-receipt-v1\0');

/**
 * The domain-separation prefix of one-sided receipt signatures (distinct from
 * {@link RECEIPT_SIGNATURE_CONTEXT}).
 * @example
 * ```ts
 * const signed = concatBytes(ONE_SIDED_RECEIPT_SIGNATURE_CONTEXT, encodeReceiptBody(body));
 * ```
 */
export const ONE_SIDED_RECEIPT_SIGNATURE_CONTEXT: Uint8Array = utf8('dataport-one-sided-receipt-v1\0');

const BODY_VERSION = 1;
const RECEIPT_VERSION = 1;
/** First byte of a one-sided receipt (a co-signed receipt starts with its version, 1). */
const ONE_SIDED_KIND = 2;
const SESSION_ID_BYTES = 16;
const KEY_BYTES = 32;
const SIG_BYTES = 64;
const L = RECEIPT_LIMITS;
const te = new TextEncoder();

function checkCount(n: number, max: number, name: string): void {
  if (n > max) throw new RangeError(`${name} must have at most ${max} entries`);
}

/** Keys of a string map, sorted by their UTF-8 bytes (the canonical order). */
function sortedKeys(map: Record<string, unknown>, name: string): string[] {
  if (map === null || typeof map !== 'object' || Array.isArray(map)) throw new TypeError(`${name} must be an object`);
  const keys = Object.keys(map);
  const withBytes = keys.map((k) => ({ k, b: te.encode(k) }));
  withBytes.sort((x, y) => compareBytes(x.b, y.b));
  return withBytes.map((x) => x.k);
}

function writeStringMap(w: BinaryWriter, map: Record<string, string>, max: number, name: string): void {
  const keys = sortedKeys(map, name);
  checkCount(keys.length, max, name);
  w.u8(keys.length);
  for (const k of keys) {
    const v = map[k];
    if (typeof v !== 'string') throw new TypeError(`${name}.${k} must be a string`);
    w.string(2, k, L.maxStringBytes, `${name} key`).string(2, v, L.maxStringBytes, `${name}.${k}`);
  }
}

function writeSizeMap(w: BinaryWriter, map: Record<string, number>, name: string): void {
  const keys = sortedKeys(map, name);
  checkCount(keys.length, L.maxSizes, name);
  w.u8(keys.length);
  for (const k of keys) w.string(2, k, L.maxStringBytes, `${name} key`).safeU64(map[k]!, `${name}.${k}`);
}

/**
 * The canonical encoding of a receipt body (the bytes both parties sign).
 * Throws `TypeError` / `RangeError` on a body it cannot encode exactly.
 * @example
 * ```ts
 * const bytes = encodeReceiptBody(body);
 * ```
 */
export function encodeReceiptBody(body: UsageReceiptBody): Uint8Array {
  if (body === null || typeof body !== 'object') throw new TypeError('body must be an object');
  if (body.version !== BODY_VERSION) throw new RangeError(`body.version must be ${BODY_VERSION}`);
  assertBytes(body.sessionId, 'body.sessionId', SESSION_ID_BYTES);
  const w = new BinaryWriter();
  w.u8(BODY_VERSION).bytes(body.sessionId);
  w.safeU64(body.startedAt, 'body.startedAt').safeU64(body.endedAt, 'body.endedAt');

  if (!Array.isArray(body.parties)) throw new TypeError('body.parties must be an array');
  checkCount(body.parties.length, L.maxParties, 'body.parties');
  w.u8(body.parties.length);
  body.parties.forEach((p, i) => {
    if (p === null || typeof p !== 'object') throw new TypeError(`body.parties[${i}] must be an object`);
    assertBytes(p.publicKey, `body.parties[${i}].publicKey`, KEY_BYTES);
    for (let j = 0; j < i; j++) {
      if (equalBytes(body.parties[j]!.publicKey, p.publicKey)) throw new RangeError('body.parties has a duplicate public key');
    }
    w.string(2, p.role, L.maxStringBytes, `body.parties[${i}].role`).bytes(p.publicKey);
  });

  w.string(2, body.protocol, L.maxStringBytes, 'body.protocol');
  writeStringMap(w, body.options, L.maxOptions, 'body.options');
  w.string(2, body.purpose, L.maxPurposeBytes, 'body.purpose');
  writeSizeMap(w, body.inputSizes, 'body.inputSizes');
  writeSizeMap(w, body.outputSizes, 'body.outputSizes');
  w.safeU64(body.bytesExchanged, 'body.bytesExchanged').safeU64(body.computeMs, 'body.computeMs');

  if (!Array.isArray(body.guardrails)) throw new TypeError('body.guardrails must be an array');
  checkCount(body.guardrails.length, L.maxGuardrails, 'body.guardrails');
  w.u8(body.guardrails.length);
  body.guardrails.forEach((g, i) => {
    if (g === null || typeof g !== 'object') throw new TypeError(`body.guardrails[${i}] must be an object`);
    w.string(2, g.rule, L.maxStringBytes, `body.guardrails[${i}].rule`);
    w.string(2, g.outcome, L.maxStringBytes, `body.guardrails[${i}].outcome`);
    if (g.detail === undefined) w.u8(0);
    else w.u8(1).string(2, g.detail, L.maxStringBytes, `body.guardrails[${i}].detail`);
  });

  if (body.billing === undefined) {
    w.u8(0);
  } else {
    const b = body.billing;
    if (b === null || typeof b !== 'object') throw new TypeError('body.billing must be an object');
    w.u8(1).string(2, b.currency, L.maxStringBytes, 'body.billing.currency');
    w.safeU64(b.amountMinor, 'body.billing.amountMinor').string(2, b.schedule, L.maxStringBytes, 'body.billing.schedule');
  }
  w.string(2, body.outcome, L.maxStringBytes, 'body.outcome');
  const out = w.finish();
  if (out.length > L.maxBodyBytes) throw new RangeError(`encoded body exceeds ${L.maxBodyBytes} bytes`);
  return out;
}

/** Sets an own enumerable property (so a key such as `__proto__` stays plain data). */
function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function readMap<T>(r: BinaryReader, max: number, what: string, readValue: (key: string) => T): Record<string, T> {
  const n = r.u8(`${what} count`);
  if (n > max) throw new MalformedMessageError(`too many ${what}`);
  const out: Record<string, T> = {};
  let prev: Uint8Array | undefined;
  for (let i = 0; i < n; i++) {
    const key = r.string(2, L.maxStringBytes, `${what} key`);
    const kb = te.encode(key);
    // Canonical: strictly ascending keys, hence no duplicates.
    if (prev !== undefined && compareBytes(prev, kb) >= 0) throw new MalformedMessageError(`${what} keys not in canonical order`);
    prev = kb;
    setOwn(out, key, readValue(key));
  }
  return out;
}

function readBody(r: BinaryReader): UsageReceiptBody {
  const version = r.u8('body version');
  if (version !== BODY_VERSION) throw new MalformedMessageError('unsupported receipt body version');
  const sessionId = r.bytes(SESSION_ID_BYTES, 'sessionId');
  const startedAt = r.safeU64('startedAt');
  const endedAt = r.safeU64('endedAt');
  const np = r.u8('party count');
  if (np > L.maxParties) throw new MalformedMessageError('too many parties');
  const parties: ReceiptParty[] = [];
  for (let i = 0; i < np; i++) {
    const role = r.string(2, L.maxStringBytes, 'party role');
    const publicKey = r.bytes(KEY_BYTES, 'party public key');
    if (parties.some((p) => equalBytes(p.publicKey, publicKey))) throw new MalformedMessageError('duplicate party');
    parties.push({ role, publicKey });
  }
  const protocol = r.string(2, L.maxStringBytes, 'protocol');
  const options = readMap(r, L.maxOptions, 'options', () => r.string(2, L.maxStringBytes, 'option value'));
  const purpose = r.string(2, L.maxPurposeBytes, 'purpose');
  const inputSizes = readMap(r, L.maxSizes, 'inputSizes', () => r.safeU64('input size'));
  const outputSizes = readMap(r, L.maxSizes, 'outputSizes', () => r.safeU64('output size'));
  const bytesExchanged = r.safeU64('bytesExchanged');
  const computeMs = r.safeU64('computeMs');
  const ng = r.u8('guardrail count');
  if (ng > L.maxGuardrails) throw new MalformedMessageError('too many guardrails');
  const guardrails: GuardrailDecision[] = [];
  for (let i = 0; i < ng; i++) {
    const rule = r.string(2, L.maxStringBytes, 'guardrail rule');
    const outcome = r.string(2, L.maxStringBytes, 'guardrail outcome');
    const has = r.u8('guardrail detail flag');
    if (has > 1) throw new MalformedMessageError('bad guardrail detail flag');
    guardrails.push(has === 1 ? { rule, outcome, detail: r.string(2, L.maxStringBytes, 'guardrail detail') } : { rule, outcome });
  }
  const hasBilling = r.u8('billing flag');
  if (hasBilling > 1) throw new MalformedMessageError('bad billing flag');
  let billing: UsageReceiptBody['billing'];
  if (hasBilling === 1) {
    const currency = r.string(2, L.maxStringBytes, 'billing currency');
    const amountMinor = r.safeU64('billing amount');
    const schedule = r.string(2, L.maxStringBytes, 'billing schedule');
    billing = { currency, amountMinor, schedule };
  }
  const outcome = r.string(2, L.maxStringBytes, 'outcome');
  const body: UsageReceiptBody = {
    version: 1,
    sessionId,
    startedAt,
    endedAt,
    parties,
    protocol,
    options,
    purpose,
    inputSizes,
    outputSizes,
    bytesExchanged,
    computeMs,
    guardrails,
    outcome,
  };
  if (billing !== undefined) body.billing = billing;
  return body;
}

/**
 * Decodes a canonical receipt body; throws `MalformedMessageError` on anything else.
 * @example
 * ```ts
 * const body = decodeReceiptBody(bytes);
 * ```
 */
export function decodeReceiptBody(bytes: Uint8Array): UsageReceiptBody {
  assertBytes(bytes, 'bytes');
  if (bytes.length > L.maxBodyBytes) throw new MalformedMessageError('receipt body too large');
  const r = new BinaryReader(bytes);
  const body = readBody(r);
  r.expectEnd('receipt body');
  return body;
}

/** The receipt's kind; anything but the two known kinds is misuse. */
function kindOf(receipt: UsageReceipt): 'co-signed' | 'one-sided' {
  const k = receipt.kind ?? 'co-signed';
  if (k !== 'co-signed' && k !== 'one-sided') throw new RangeError("receipt.kind must be 'co-signed' or 'one-sided'");
  return k;
}

/** Signatures sorted by public key; misuse (wrong lengths, duplicate keys) throws. */
function canonicalSignatures(sigs: UsageReceipt['signatures'], oneSided: boolean): UsageReceipt['signatures'] {
  if (!Array.isArray(sigs)) throw new TypeError('receipt.signatures must be an array');
  checkCount(sigs.length, L.maxSignatures, 'receipt.signatures');
  if (oneSided && sigs.length !== 1) throw new RangeError('a one-sided receipt has exactly one signature');
  sigs.forEach((s, i) => {
    assertBytes(s?.publicKey, `receipt.signatures[${i}].publicKey`, KEY_BYTES);
    assertBytes(s.signature, `receipt.signatures[${i}].signature`, SIG_BYTES);
  });
  const sorted = [...sigs].sort((a, b) => compareBytes(a.publicKey, b.publicKey));
  for (let i = 1; i < sorted.length; i++) {
    if (equalBytes(sorted[i - 1]!.publicKey, sorted[i]!.publicKey)) throw new RangeError('receipt.signatures has two signatures by one key');
  }
  return sorted;
}

/**
 * The canonical encoding of a signed receipt (what the ledger stores as an entry). Signatures are
 * written sorted by public key, whatever their order in `receipt.signatures`.
 * @example
 * ```ts
 * const entry = encodeReceipt({ body, signatures: [mine, theirs] });
 * ```
 */
export function encodeReceipt(receipt: UsageReceipt): Uint8Array {
  if (receipt === null || typeof receipt !== 'object') throw new TypeError('receipt must be an object');
  const oneSided = kindOf(receipt) === 'one-sided';
  const body = encodeReceiptBody(receipt.body);
  const sigs = canonicalSignatures(receipt.signatures, oneSided);
  const w = new BinaryWriter();
  if (oneSided) return w.u8(ONE_SIDED_KIND).u32(body.length).bytes(body).bytes(sigs[0]!.publicKey).bytes(sigs[0]!.signature).finish();
  w.u8(RECEIPT_VERSION).u32(body.length).bytes(body).u8(sigs.length);
  for (const s of sigs) w.bytes(s.publicKey).bytes(s.signature);
  return w.finish();
}

/**
 * Decodes a canonical signed receipt; throws `MalformedMessageError` on anything else (including
 * unsorted or duplicate signatures). Does not check the signatures: see {@link verifyReceipt}.
 * @example
 * ```ts
 * const receipt = decodeReceipt(entry);
 * verifyReceipt(receipt);
 * ```
 */
export function decodeReceipt(bytes: Uint8Array): UsageReceipt {
  assertBytes(bytes, 'bytes');
  const r = new BinaryReader(bytes);
  const kind = r.u8('receipt version');
  if (kind !== RECEIPT_VERSION && kind !== ONE_SIDED_KIND) throw new MalformedMessageError('unsupported receipt version');
  const bodyLen = r.u32('body length');
  if (bodyLen > L.maxBodyBytes) throw new MalformedMessageError('receipt body too large');
  const body = decodeReceiptBody(r.bytes(bodyLen, 'receipt body'));
  if (kind === ONE_SIDED_KIND) {
    const publicKey = r.bytes(KEY_BYTES, 'signature public key');
    const signature = r.bytes(SIG_BYTES, 'signature');
    r.expectEnd('one-sided receipt');
    return { kind: 'one-sided', body, signatures: [{ publicKey, signature }] };
  }
  const n = r.u8('signature count');
  if (n > L.maxSignatures) throw new MalformedMessageError('too many signatures');
  const signatures: UsageReceipt['signatures'] = [];
  for (let i = 0; i < n; i++) {
    const publicKey = r.bytes(KEY_BYTES, 'signature public key');
    const signature = r.bytes(SIG_BYTES, 'signature');
    const prev = signatures[i - 1];
    if (prev !== undefined && compareBytes(prev.publicKey, publicKey) >= 0) {
      throw new MalformedMessageError('signatures not in canonical order');
    }
    signatures.push({ publicKey, signature });
  }
  r.expectEnd('receipt');
  return { body, signatures };
}

/** The exact bytes a receipt signature covers: the kind's context prefix and the canonical body. */
function signedBytes(encodedBody: Uint8Array, oneSided = false): Uint8Array {
  return concatBytes(oneSided ? ONE_SIDED_RECEIPT_SIGNATURE_CONTEXT : RECEIPT_SIGNATURE_CONTEXT, encodedBody);
}

/**
 * One party's Ed25519 signature over the receipt body (64 bytes).
 * @example
 * ```ts
 * const signature = signReceiptBody(me.secretKey, body);
 * const receipt = { body, signatures: [{ publicKey: me.publicKey, signature }, peerSig] };
 * ```
 */
export function signReceiptBody(secretKey: Uint8Array, body: UsageReceiptBody): Uint8Array {
  assertBytes(secretKey, 'secretKey', 32);
  return signMessage(secretKey, signedBytes(encodeReceiptBody(body)));
}

/**
 * A one-sided receipt of `body` signed by `identity` alone (see `UsageReceipt.kind`); `identity`
 * must be one of the body's parties.
 * @example
 * ```ts
 * const receipt = signOneSidedReceipt(me, { ...body, outcome: 'aborted-after-data' });
 * await ledger.append(receipt);
 * ```
 */
export function signOneSidedReceipt(identity: Identity, body: UsageReceiptBody): UsageReceipt {
  if (identity === null || typeof identity !== 'object') throw new TypeError('identity must be an object');
  assertBytes(identity.secretKey, 'identity.secretKey', 32);
  assertBytes(identity.publicKey, 'identity.publicKey', KEY_BYTES);
  const encoded = encodeReceiptBody(body);
  if (!body.parties.some((p) => equalBytes(p.publicKey, identity.publicKey))) throw new RangeError('identity must be a party of body');
  const signature = signMessage(identity.secretKey, signedBytes(encoded, true));
  const receipt = decodeReceipt(encodeReceipt({ kind: 'one-sided', body, signatures: [{ publicKey: identity.publicKey.slice(), signature }] }));
  verifyReceipt(receipt); // catches an identity whose public key is not its secret key's
  return receipt;
}

/**
 * An Ed25519 verification function (public key, message, signature) → valid?
 * @example
 * ```ts
 * const verify: Ed25519Verifier = (pk, msg, sig) => verifyMessage(pk, msg, sig);
 * ```
 */
export type Ed25519Verifier = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/**
 * Options of {@link verifyReceipt}.
 * @example
 * ```ts
 * verifyReceipt(receipt, [myKey], { requireAllParties: false });
 * ```
 */
export interface VerifyReceiptOptions {
  /**
   * Require a signature from every party named in the body (default `true`). With `false`, at
   * least one valid signature by a party is still required.
   */
  requireAllParties?: boolean;
  /** Ed25519 verifier to use (default: `@noble/curves`); the Node ledger passes `node:crypto`'s. */
  verify?: Ed25519Verifier;
  /**
   * A one-sided receipt must be signed by this key (the ledger passes its owner's: a ledger holds
   * only its own one-sided receipts). Co-signed receipts are not affected.
   */
  oneSidedSigner?: Uint8Array;
}

/**
 * Checks a receipt's signatures: each is by a party named in the body and verifies over the
 * canonical body; every party has signed (unless `requireAllParties: false`, or the receipt is
 * one-sided: then exactly one party, `oneSidedSigner` if given); and every key of
 * `expectedPublicKeys` is a party that signed. Throws `VerificationFailedError` otherwise, and
 * `MalformedMessageError` / `RangeError` if the receipt cannot be encoded.
 * @example
 * ```ts
 * verifyReceipt(receipt, [myKey, peerKey]);
 * ```
 */
export function verifyReceipt(
  receipt: UsageReceipt,
  expectedPublicKeys?: readonly Uint8Array[],
  options: VerifyReceiptOptions = {},
): void {
  checkSignatures(receipt, encodeReceiptBody(receipt.body), expectedPublicKeys, options);
}

/**
 * Decodes a canonical signed receipt and verifies it as {@link verifyReceipt} does, checking the signatures over
 * the body bytes as they appear in `entry` (canonical, so equal to a re-encoding) rather than
 * encoding the body again. Internal: used by the ledger on every append and entry it verifies.
 */
export function decodeAndVerifyReceipt(entry: Uint8Array, options: VerifyReceiptOptions = {}): UsageReceipt {
  const receipt = decodeReceipt(entry);
  checkSignatures(receipt, encodedBodyOf(entry), undefined, options);
  return receipt;
}

/**
 * The canonical body bytes inside an entry that {@link decodeReceipt} accepted (a view, no copy).
 * Internal: what the signatures cover, and what the ledger's cross-check hashes.
 * @internal
 */
export function encodedBodyOf(entry: Uint8Array): Uint8Array {
  const r = new BinaryReader(entry);
  r.u8('receipt version');
  return r.varBytes(4, L.maxBodyBytes, 'receipt body', { copy: false });
}

function checkSignatures(
  receipt: UsageReceipt,
  encodedBody: Uint8Array,
  expectedPublicKeys: readonly Uint8Array[] | undefined,
  options: VerifyReceiptOptions,
): void {
  const verify = options.verify ?? verifyMessage;
  const oneSided = kindOf(receipt) === 'one-sided';
  const requireAll = !oneSided && (options.requireAllParties ?? true);
  const message = signedBytes(encodedBody, oneSided);
  const sigs = canonicalSignatures(receipt.signatures, oneSided);
  const parties = receipt.body.parties;
  if (sigs.length === 0) throw new VerificationFailedError('receipt has no signature');
  if (oneSided && options.oneSidedSigner !== undefined) {
    assertBytes(options.oneSidedSigner, 'options.oneSidedSigner', KEY_BYTES);
    if (!equalBytes(sigs[0]!.publicKey, options.oneSidedSigner)) throw new VerificationFailedError('one-sided receipt is not signed by the ledger owner');
  }
  for (const s of sigs) {
    if (!parties.some((p) => equalBytes(p.publicKey, s.publicKey))) {
      throw new VerificationFailedError('receipt signed by a key that is not a party');
    }
    if (!verify(s.publicKey, message, s.signature)) throw new VerificationFailedError('receipt signature does not verify');
  }
  const signed = (key: Uint8Array): boolean => sigs.some((s) => equalBytes(s.publicKey, key));
  if (requireAll && !parties.every((p) => signed(p.publicKey))) {
    throw new VerificationFailedError('receipt is not signed by every party');
  }
  for (const key of expectedPublicKeys ?? []) {
    assertBytes(key, 'expectedPublicKeys[]', KEY_BYTES);
    if (!signed(key)) throw new VerificationFailedError('receipt is not signed by an expected key');
  }
}
