/**
 * Wire messages of the session layer (docs/session.md). Each message is one transport frame whose
 * first byte is its type; every decoder returns a whole message or throws `MalformedMessageError`.
 * @module
 */
import { ErrorCode, type ErrorCodeValue, MalformedMessageError, ProtocolVersionError } from '../errors.js';
import { decodePriceSchedule, MAX_PRICE_SCHEDULE_BYTES } from '../ledger/pricing.js';
import { BinaryReader, BinaryWriter, toWellFormedString, type BinaryFaultMessages } from '../utils/binary.js';

/**
 * Version byte of the session handshake.
 *
 * @example
 * ```ts
 * if (frame[1] !== SESSION_VERSION) throw new ProtocolVersionError();
 * ```
 */
export const SESSION_VERSION = 1;

/**
 * First byte of every session frame.
 * @example
 * ```ts
 * if (frame[0] === SessionMessageType.ERROR) console.log('the peer ended the session');
 * ```
 */
export const SessionMessageType = {
  HELLO: 0x01,
  REPLY: 0x02,
  CONFIRM: 0x03,
  DECISION: 0x04,
  DATA: 0x10,
  RECEIPT_VIEW: 0x20,
  RECEIPT_SIGNATURE: 0x21,
  ERROR: 0x7f,
} as const;

/**
 * Size limits of the session messages; encoders throw `RangeError` and decoders
 * `MalformedMessageError` beyond them.
 * @example
 * ```ts
 * if (purpose.length > SESSION_LIMITS.maxPurposeBytes) throw new RangeError('purpose too long');
 * ```
 */
export const SESSION_LIMITS = Object.freeze({
  maxProtocolBytes: 64,
  maxOptions: 32,
  maxOptionBytes: 256,
  maxPurposeBytes: 4096,
  maxReasonBytes: 512,
  maxErrorMessageBytes: 256,
  maxGuardrails: 16,
  maxGuardrailBytes: 256,
  maxOutcomeBytes: 32,
});
const L = SESSION_LIMITS;

/** The two roles of a two-party session. */
export type SessionRole = 'requester' | 'responder';

/**
 * The job's terms, proposed by the requester and signed by both parties as part of the transcript.
 *
 * @example
 * ```ts
 * const terms: SessionTerms = {
 *   protocol: 'ecdh-psi', options: { 'count-only': 'false', truncate: '128' }, purpose: 'audit 2026-11',
 *   recipients: ['requester'], requesterSetSize: 1000, responderSetSize: { min: 0, max: 1e7 }, minIntersection: 10,
 * };
 * ```
 */
export interface SessionTerms {
  /** Protocol name, e.g. `ecdh-psi`. */
  protocol: string;
  /** Protocol options as key/value strings (e.g. `count-only=true`, `truncate=128`). */
  options: Record<string, string>;
  /** Purpose / authorisation reference (may be empty). */
  purpose: string;
  /** Who receives the result: `['requester']` or `['requester', 'responder']`. */
  recipients: readonly SessionRole[];
  /** Distinct keys the requester will contribute (checked against what the protocol observes). */
  requesterSetSize: number;
  /** Bounds the requester accepts on the responder's distinct keys. */
  responderSetSize: { min: number; max: number };
  /** Minimum intersection size below which the result is withheld (0: no minimum). */
  minIntersection: number;
}

/** @internal */
export interface HelloMessage {
  version: number;
  publicKey: Uint8Array;
  nonce: Uint8Array;
  /** Ephemeral X25519 public key of this session. */
  ephemeral: Uint8Array;
  bindingHash: Uint8Array | undefined;
}

/** @internal */
export interface ReplyMessage {
  version: number;
  publicKey: Uint8Array;
  nonce: Uint8Array;
  /** Ephemeral X25519 public key of this session. */
  ephemeral: Uint8Array;
  bindingHash: Uint8Array | undefined;
  signature: Uint8Array;
}

/** @internal */
export interface ConfirmMessage {
  terms: SessionTerms;
  /** The canonical price schedule the requester bills with, if any (announced before the run). */
  priceSchedule?: Uint8Array;
  signature: Uint8Array;
}

/** @internal */
export interface DecisionMessage {
  accepted: boolean;
  reason: string;
  responderSetSize: number;
  /**
   * The canonical price schedule the responder bills this session with, if any (announced before
   * the run so that the requester can refuse the price; the receipt's billing must use exactly it).
   */
  priceSchedule?: Uint8Array;
  signature: Uint8Array;
}

/** One party's own view of a finished run, exchanged before both sign the receipt. @internal */
export interface ReceiptView {
  startedAt: number;
  endedAt: number;
  computeMs: number;
  bytesExchanged: number;
  inputSize: number;
  outputSize: number;
  outcome: string;
  guardrails: { rule: string; outcome: string; detail?: string }[];
  /**
   * The canonical bytes of the price schedule this party bills with (`encodePriceSchedule`), if
   * any; at most `MAX_PRICE_SCHEDULE_BYTES`, and a decoder accepts only a valid canonical one.
   */
  priceSchedule?: Uint8Array;
  /**
   * Facts of the run this party observed and adds to the receipt's options (e.g. an aggregation
   * provider's `query-sha256`); both views must carry the same map. Encoded like the terms' options.
   */
  options?: Record<string, string>;
}

/** @internal */
export interface ErrorMessage {
  code: ErrorCodeValue;
  message: string;
}

const CODES = new Set<string>(Object.values(ErrorCode));

/** Every structural fault of a session message reads "malformed message" (the peer learns no more). */
const SESSION_FAULT: BinaryFaultMessages = () => 'malformed message';

function reader(frame: Uint8Array): BinaryReader {
  return new BinaryReader(frame, SESSION_FAULT);
}

function recipientsMask(r: readonly SessionRole[]): number {
  let m = 0;
  for (const x of r) {
    if (x === 'requester') m |= 1;
    else if (x === 'responder') m |= 2;
    else throw new RangeError('terms.recipients must contain only "requester" / "responder"');
  }
  if (m === 0) throw new RangeError('terms.recipients must name at least one party');
  return m;
}

function maskRecipients(m: number): SessionRole[] {
  if (m < 1 || m > 3) throw new MalformedMessageError();
  const out: SessionRole[] = [];
  if (m & 1) out.push('requester');
  if (m & 2) out.push('responder');
  return out;
}

/** Writes a key/value option map: `u8 count`, then the pairs with keys sorted. */
function writeOptions(w: BinaryWriter, options: Record<string, string>, name: string): void {
  const keys = Object.keys(options).sort();
  if (keys.length > L.maxOptions) throw new RangeError(`${name} must have at most ${L.maxOptions} entries`);
  w.u8(keys.length);
  for (const k of keys) {
    const v = options[k];
    if (typeof v !== 'string') throw new TypeError(`${name}.${k} must be a string`);
    w.string(2, k, L.maxOptionBytes, `${name} key`).string(2, v, L.maxOptionBytes, `${name}.${k}`);
  }
}

/** Reads what {@link writeOptions} wrote (hostile input: count, lengths, canonical key order). */
function readOptions(r: BinaryReader): Record<string, string> {
  const n = r.u8();
  if (n > L.maxOptions) throw new MalformedMessageError();
  const options: Record<string, string> = Object.create(null) as Record<string, string>;
  let prev: string | undefined;
  for (let i = 0; i < n; i++) {
    const k = r.string(2, L.maxOptionBytes);
    // Keys strictly increasing: no duplicates, one canonical encoding.
    if (k.length === 0 || (prev !== undefined && !(prev < k))) throw new MalformedMessageError();
    prev = k;
    options[k] = r.string(2, L.maxOptionBytes);
  }
  return { ...options };
}

function writeTerms(w: BinaryWriter, t: SessionTerms): void {
  if (t === null || typeof t !== 'object') throw new TypeError('terms must be an object');
  if (t.protocol.length === 0) throw new RangeError('terms.protocol must not be empty');
  w.string(2, t.protocol, L.maxProtocolBytes, 'terms.protocol');
  writeOptions(w, t.options, 'terms.options');
  w.string(2, t.purpose, L.maxPurposeBytes, 'terms.purpose');
  w.u8(recipientsMask(t.recipients));
  w.safeU64(t.requesterSetSize, 'terms.requesterSetSize');
  w.safeU64(t.responderSetSize.min, 'terms.responderSetSize.min');
  w.safeU64(t.responderSetSize.max, 'terms.responderSetSize.max');
  if (t.responderSetSize.min > t.responderSetSize.max) throw new RangeError('terms.responderSetSize.min must be <= max');
  w.safeU64(t.minIntersection, 'terms.minIntersection');
}

function readTerms(r: BinaryReader): SessionTerms {
  const protocol = r.string(2, L.maxProtocolBytes);
  if (protocol.length === 0) throw new MalformedMessageError();
  const options = readOptions(r);
  const purpose = r.string(2, L.maxPurposeBytes);
  const recipients = maskRecipients(r.u8());
  const requesterSetSize = r.safeU64();
  const min = r.safeU64();
  const max = r.safeU64();
  if (min > max) throw new MalformedMessageError();
  const minIntersection = r.safeU64();
  return { protocol, options, purpose, recipients, requesterSetSize, responderSetSize: { min, max }, minIntersection };
}

function writeBinding(w: BinaryWriter, h: Uint8Array | undefined): void {
  if (h) w.u8(1).bytes(h);
  else w.u8(0);
}

function readBinding(r: BinaryReader): Uint8Array | undefined {
  const flag = r.u8();
  if (flag === 0) return undefined;
  if (flag !== 1) throw new MalformedMessageError();
  return r.bytes(32);
}

function expectType(r: BinaryReader, type: number): void {
  if (r.u8() !== type) throw new MalformedMessageError();
}

/** @internal */
export function encodeHello(m: HelloMessage): Uint8Array {
  const w = new BinaryWriter().u8(SessionMessageType.HELLO).u8(m.version).bytes(m.publicKey).bytes(m.nonce).bytes(m.ephemeral);
  writeBinding(w, m.bindingHash);
  return w.finish();
}

function checkVersion(r: BinaryReader): number {
  const version = r.u8();
  if (version !== SESSION_VERSION) throw new ProtocolVersionError('unsupported session version');
  return version;
}

/** @internal Throws `ProtocolVersionError` for another version, `MalformedMessageError` otherwise. */
export function decodeHello(frame: Uint8Array): HelloMessage {
  const r = reader(frame);
  expectType(r, SessionMessageType.HELLO);
  const version = checkVersion(r);
  const publicKey = r.bytes(32);
  const nonce = r.bytes(32);
  const ephemeral = r.bytes(32);
  const bindingHash = readBinding(r);
  r.expectEnd();
  return { version, publicKey, nonce, ephemeral, bindingHash };
}

/** Splits a signed message into the signed prefix and the trailing 64-byte signature. */
function splitSigned(frame: Uint8Array): { unsigned: Uint8Array; signature: Uint8Array } {
  if (frame.length < 65) throw new MalformedMessageError();
  return { unsigned: frame.slice(0, frame.length - 64), signature: frame.slice(frame.length - 64) };
}

/** The reply without its trailing signature (what the responder signs). @internal */
export function encodeReplyUnsigned(m: Omit<ReplyMessage, 'signature'>): Uint8Array {
  const w = new BinaryWriter().u8(SessionMessageType.REPLY).u8(m.version).bytes(m.publicKey).bytes(m.nonce).bytes(m.ephemeral);
  writeBinding(w, m.bindingHash);
  return w.finish();
}

/** @internal Also returns the unsigned prefix, which the signature is verified over. */
export function decodeReply(frame: Uint8Array): { message: ReplyMessage; unsigned: Uint8Array } {
  const { unsigned, signature } = splitSigned(frame);
  const r = reader(unsigned);
  expectType(r, SessionMessageType.REPLY);
  const version = checkVersion(r);
  const publicKey = r.bytes(32);
  const nonce = r.bytes(32);
  const ephemeral = r.bytes(32);
  const bindingHash = readBinding(r);
  r.expectEnd();
  return { message: { version, publicKey, nonce, ephemeral, bindingHash, signature }, unsigned };
}

/** @internal */
export function encodeConfirmUnsigned(terms: SessionTerms, priceSchedule?: Uint8Array): Uint8Array {
  const w = new BinaryWriter().u8(SessionMessageType.CONFIRM);
  writeTerms(w, terms);
  writeSchedule(w, priceSchedule);
  return w.finish();
}

/** @internal */
export function decodeConfirm(frame: Uint8Array): { message: ConfirmMessage; unsigned: Uint8Array } {
  const { unsigned, signature } = splitSigned(frame);
  const r = reader(unsigned);
  expectType(r, SessionMessageType.CONFIRM);
  const terms = readTerms(r);
  const priceSchedule = readSchedule(r);
  r.expectEnd();
  return { message: priceSchedule === undefined ? { terms, signature } : { terms, priceSchedule, signature }, unsigned };
}

/** Writes `u8 hasSchedule [u16 length, canonical schedule bytes]`. */
function writeSchedule(w: BinaryWriter, bytes: Uint8Array | undefined): void {
  if (bytes === undefined) {
    w.u8(0);
    return;
  }
  w.u8(1).varBytes(2, bytes, MAX_PRICE_SCHEDULE_BYTES, 'priceSchedule');
}

/** Reads what {@link writeSchedule} wrote; the schedule is hostile input (length, validity, canonical form). */
function readSchedule(r: BinaryReader): Uint8Array | undefined {
  const has = r.u8();
  if (has === 0) return undefined;
  if (has !== 1) throw new MalformedMessageError();
  // Length checked before the copy; content checked as hostile input (valid, canonical).
  const n = r.u16();
  if (n > MAX_PRICE_SCHEDULE_BYTES) throw new MalformedMessageError('price schedule too large');
  const bytes = r.bytes(n);
  decodePriceSchedule(bytes);
  return bytes;
}

/** @internal */
export function encodeDecisionUnsigned(m: Omit<DecisionMessage, 'signature'>): Uint8Array {
  const w = new BinaryWriter()
    .u8(SessionMessageType.DECISION)
    .u8(m.accepted ? 0 : 1)
    .string(2, m.reason, L.maxReasonBytes, 'reason')
    .safeU64(m.responderSetSize, 'responderSetSize');
  writeSchedule(w, m.priceSchedule);
  return w.finish();
}

/** @internal */
export function decodeDecision(frame: Uint8Array): { message: DecisionMessage; unsigned: Uint8Array } {
  const { unsigned, signature } = splitSigned(frame);
  const r = reader(unsigned);
  expectType(r, SessionMessageType.DECISION);
  const status = r.u8();
  if (status > 1) throw new MalformedMessageError();
  const reason = r.string(2, L.maxReasonBytes);
  const responderSetSize = r.safeU64();
  const priceSchedule = readSchedule(r);
  r.expectEnd();
  const accepted = status === 0;
  // An acceptance has no reason and a refusal reveals no set size.
  if ((accepted && reason !== '') || (!accepted && (reason === '' || responderSetSize !== 0))) throw new MalformedMessageError();
  const message: DecisionMessage = { accepted, reason, responderSetSize, signature };
  if (priceSchedule !== undefined) message.priceSchedule = priceSchedule;
  return { message, unsigned };
}

/** @internal */
export function encodeSignatureMessage(type: number, signature: Uint8Array): Uint8Array {
  return new BinaryWriter().u8(type).bytes(signature).finish();
}

/** @internal */
export function decodeSignatureMessage(type: number, frame: Uint8Array): Uint8Array {
  const r = reader(frame);
  expectType(r, type);
  const sig = r.bytes(64);
  r.expectEnd();
  return sig;
}

/** @internal */
export function encodeReceiptView(v: ReceiptView): Uint8Array {
  const w = new BinaryWriter().u8(SessionMessageType.RECEIPT_VIEW);
  w.safeU64(v.startedAt, 'startedAt').safeU64(v.endedAt, 'endedAt').safeU64(v.computeMs, 'computeMs');
  w.safeU64(v.bytesExchanged, 'bytesExchanged').safeU64(v.inputSize, 'inputSize').safeU64(v.outputSize, 'outputSize');
  w.string(2, v.outcome, L.maxOutcomeBytes, 'outcome');
  if (v.guardrails.length > L.maxGuardrails) throw new RangeError('too many guardrail decisions');
  w.u8(v.guardrails.length);
  for (const g of v.guardrails) {
    w.string(2, g.rule, L.maxGuardrailBytes, 'guardrail.rule').string(2, g.outcome, L.maxGuardrailBytes, 'guardrail.outcome');
    if (g.detail === undefined) w.u8(0);
    else w.u8(1).string(2, g.detail, L.maxGuardrailBytes, 'guardrail.detail');
  }
  // Before the schedule, which stays the view's last field.
  writeOptions(w, v.options ?? {}, 'options');
  writeSchedule(w, v.priceSchedule);
  return w.finish();
}

/** @internal */
export function decodeReceiptView(frame: Uint8Array): ReceiptView {
  const r = reader(frame);
  expectType(r, SessionMessageType.RECEIPT_VIEW);
  const startedAt = r.safeU64();
  const endedAt = r.safeU64();
  const computeMs = r.safeU64();
  const bytesExchanged = r.safeU64();
  const inputSize = r.safeU64();
  const outputSize = r.safeU64();
  const outcome = r.string(2, L.maxOutcomeBytes);
  const n = r.u8();
  if (n > L.maxGuardrails) throw new MalformedMessageError();
  const guardrails: ReceiptView['guardrails'] = [];
  for (let i = 0; i < n; i++) {
    const rule = r.string(2, L.maxGuardrailBytes);
    const outcome = r.string(2, L.maxGuardrailBytes);
    const hasDetail = r.u8();
    if (hasDetail > 1) throw new MalformedMessageError();
    guardrails.push(hasDetail ? { rule, outcome, detail: r.string(2, L.maxGuardrailBytes) } : { rule, outcome });
  }
  const options = readOptions(r);
  const priceSchedule = readSchedule(r);
  r.expectEnd();
  if (endedAt < startedAt) throw new MalformedMessageError();
  const view: ReceiptView = { startedAt, endedAt, computeMs, bytesExchanged, inputSize, outputSize, outcome, guardrails };
  if (priceSchedule !== undefined) view.priceSchedule = priceSchedule;
  if (Object.keys(options).length > 0) view.options = options;
  return view;
}

/** Strips control characters and bounds the length of a peer- or user-supplied message. @internal */
export function sanitizeText(s: string, maxChars = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, ' ');
  // Well-formed (a cut may split a surrogate pair): the writer refuses lone surrogates; U+FFFD is
  // what their UTF-8 encoding always was.
  return toWellFormedString(clean.length > maxChars ? `${clean.slice(0, maxChars)}…` : clean);
}

/** @internal */
export function encodeError(m: ErrorMessage): Uint8Array {
  let msg = sanitizeText(m.message, 200);
  while (new TextEncoder().encode(msg).length > L.maxErrorMessageBytes) msg = msg.slice(0, -1);
  msg = toWellFormedString(msg);
  return new BinaryWriter().u8(SessionMessageType.ERROR).string(2, m.code, 64, 'code').string(2, msg, L.maxErrorMessageBytes, 'message').finish();
}

/** @internal */
export function decodeError(frame: Uint8Array): ErrorMessage {
  const r = reader(frame);
  expectType(r, SessionMessageType.ERROR);
  const code = r.string(2, 64);
  const message = sanitizeText(r.string(2, L.maxErrorMessageBytes));
  r.expectEnd();
  if (!CODES.has(code)) throw new MalformedMessageError();
  return { code: code as ErrorCodeValue, message };
}
