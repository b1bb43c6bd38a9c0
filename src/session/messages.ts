/**
 * Wire messages of the session layer (docs/session.md). Each message is one transport frame whose
 * first byte is its type; every decoder returns a whole message or throws `MalformedMessageError`.
 * @module
 */
import { ErrorCode, type ErrorCodeValue, MalformedMessageError, ProtocolVersionError } from '../errors.js';
import { decodePriceSchedule, MAX_PRICE_SCHEDULE_BYTES } from '../ledger/pricing.js';
import { Reader, Writer } from './codec.js';

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
function writeOptions(w: Writer, options: Record<string, string>, name: string): void {
  const keys = Object.keys(options).sort();
  if (keys.length > L.maxOptions) throw new RangeError(`${name} must have at most ${L.maxOptions} entries`);
  w.u8(keys.length);
  for (const k of keys) {
    const v = options[k];
    if (typeof v !== 'string') throw new TypeError(`${name}.${k} must be a string`);
    w.str(k, L.maxOptionBytes, `${name} key`).str(v, L.maxOptionBytes, `${name}.${k}`);
  }
}

/** Reads what {@link writeOptions} wrote (hostile input: count, lengths, canonical key order). */
function readOptions(r: Reader): Record<string, string> {
  const n = r.u8();
  if (n > L.maxOptions) throw new MalformedMessageError();
  const options: Record<string, string> = Object.create(null) as Record<string, string>;
  let prev: string | undefined;
  for (let i = 0; i < n; i++) {
    const k = r.str(L.maxOptionBytes);
    // Keys strictly increasing: no duplicates, one canonical encoding.
    if (k.length === 0 || (prev !== undefined && !(prev < k))) throw new MalformedMessageError();
    prev = k;
    options[k] = r.str(L.maxOptionBytes);
  }
  return { ...options };
}

function writeTerms(w: Writer, t: SessionTerms): void {
  if (t === null || typeof t !== 'object') throw new TypeError('terms must be an object');
  if (t.protocol.length === 0) throw new RangeError('terms.protocol must not be empty');
  w.str(t.protocol, L.maxProtocolBytes, 'terms.protocol');
  writeOptions(w, t.options, 'terms.options');
  w.str(t.purpose, L.maxPurposeBytes, 'terms.purpose');
  w.u8(recipientsMask(t.recipients));
  w.u64(t.requesterSetSize, 'terms.requesterSetSize');
  w.u64(t.responderSetSize.min, 'terms.responderSetSize.min');
  w.u64(t.responderSetSize.max, 'terms.responderSetSize.max');
  if (t.responderSetSize.min > t.responderSetSize.max) throw new RangeError('terms.responderSetSize.min must be <= max');
  w.u64(t.minIntersection, 'terms.minIntersection');
}

function readTerms(r: Reader): SessionTerms {
  const protocol = r.str(L.maxProtocolBytes);
  if (protocol.length === 0) throw new MalformedMessageError();
  const options = readOptions(r);
  const purpose = r.str(L.maxPurposeBytes);
  const recipients = maskRecipients(r.u8());
  const requesterSetSize = r.u64();
  const min = r.u64();
  const max = r.u64();
  if (min > max) throw new MalformedMessageError();
  const minIntersection = r.u64();
  return { protocol, options, purpose, recipients, requesterSetSize, responderSetSize: { min, max }, minIntersection };
}

function writeBinding(w: Writer, h: Uint8Array | undefined): void {
  if (h) w.u8(1).raw(h);
  else w.u8(0);
}

function readBinding(r: Reader): Uint8Array | undefined {
  const flag = r.u8();
  if (flag === 0) return undefined;
  if (flag !== 1) throw new MalformedMessageError();
  return r.bytes(32);
}

function expectType(r: Reader, type: number): void {
  if (r.u8() !== type) throw new MalformedMessageError();
}

/** @internal */
export function encodeHello(m: HelloMessage): Uint8Array {
  const w = new Writer().u8(SessionMessageType.HELLO).u8(m.version).raw(m.publicKey).raw(m.nonce).raw(m.ephemeral);
  writeBinding(w, m.bindingHash);
  return w.finish();
}

function checkVersion(r: Reader): number {
  const version = r.u8();
  if (version !== SESSION_VERSION) throw new ProtocolVersionError('unsupported session version');
  return version;
}

/** @internal Throws `ProtocolVersionError` for another version, `MalformedMessageError` otherwise. */
export function decodeHello(frame: Uint8Array): HelloMessage {
  const r = new Reader(frame);
  expectType(r, SessionMessageType.HELLO);
  const version = checkVersion(r);
  const publicKey = r.bytes(32);
  const nonce = r.bytes(32);
  const ephemeral = r.bytes(32);
  const bindingHash = readBinding(r);
  r.end();
  return { version, publicKey, nonce, ephemeral, bindingHash };
}

/** Splits a signed message into the signed prefix and the trailing 64-byte signature. */
function splitSigned(frame: Uint8Array): { unsigned: Uint8Array; signature: Uint8Array } {
  if (frame.length < 65) throw new MalformedMessageError();
  return { unsigned: frame.slice(0, frame.length - 64), signature: frame.slice(frame.length - 64) };
}

/** The reply without its trailing signature (what the responder signs). @internal */
export function encodeReplyUnsigned(m: Omit<ReplyMessage, 'signature'>): Uint8Array {
  const w = new Writer().u8(SessionMessageType.REPLY).u8(m.version).raw(m.publicKey).raw(m.nonce).raw(m.ephemeral);
  writeBinding(w, m.bindingHash);
  return w.finish();
}

/** @internal Also returns the unsigned prefix, which the signature is verified over. */
export function decodeReply(frame: Uint8Array): { message: ReplyMessage; unsigned: Uint8Array } {
  const { unsigned, signature } = splitSigned(frame);
  const r = new Reader(unsigned);
  expectType(r, SessionMessageType.REPLY);
  const version = checkVersion(r);
  const publicKey = r.bytes(32);
  const nonce = r.bytes(32);
  const ephemeral = r.bytes(32);
  const bindingHash = readBinding(r);
  r.end();
  return { message: { version, publicKey, nonce, ephemeral, bindingHash, signature }, unsigned };
}

/** @internal */
export function encodeConfirmUnsigned(terms: SessionTerms, priceSchedule?: Uint8Array): Uint8Array {
  const w = new Writer().u8(SessionMessageType.CONFIRM);
  writeTerms(w, terms);
  writeSchedule(w, priceSchedule);
  return w.finish();
}

/** @internal */
export function decodeConfirm(frame: Uint8Array): { message: ConfirmMessage; unsigned: Uint8Array } {
  const { unsigned, signature } = splitSigned(frame);
  const r = new Reader(unsigned);
  expectType(r, SessionMessageType.CONFIRM);
  const terms = readTerms(r);
  const priceSchedule = readSchedule(r);
  r.end();
  return { message: priceSchedule === undefined ? { terms, signature } : { terms, priceSchedule, signature }, unsigned };
}

/** Writes `u8 hasSchedule [u16 length, canonical schedule bytes]`. */
function writeSchedule(w: Writer, bytes: Uint8Array | undefined): void {
  if (bytes === undefined) {
    w.u8(0);
    return;
  }
  if (bytes.length > MAX_PRICE_SCHEDULE_BYTES) throw new RangeError(`priceSchedule must be at most ${MAX_PRICE_SCHEDULE_BYTES} bytes`);
  w.u8(1).u16(bytes.length).raw(bytes);
}

/** Reads what {@link writeSchedule} wrote; the schedule is hostile input (length, validity, canonical form). */
function readSchedule(r: Reader): Uint8Array | undefined {
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
  const w = new Writer()
    .u8(SessionMessageType.DECISION)
    .u8(m.accepted ? 0 : 1)
    .str(m.reason, L.maxReasonBytes, 'reason')
    .u64(m.responderSetSize, 'responderSetSize');
  writeSchedule(w, m.priceSchedule);
  return w.finish();
}

/** @internal */
export function decodeDecision(frame: Uint8Array): { message: DecisionMessage; unsigned: Uint8Array } {
  const { unsigned, signature } = splitSigned(frame);
  const r = new Reader(unsigned);
  expectType(r, SessionMessageType.DECISION);
  const status = r.u8();
  if (status > 1) throw new MalformedMessageError();
  const reason = r.str(L.maxReasonBytes);
  const responderSetSize = r.u64();
  const priceSchedule = readSchedule(r);
  r.end();
  const accepted = status === 0;
  // An acceptance has no reason and a refusal reveals no set size.
  if ((accepted && reason !== '') || (!accepted && (reason === '' || responderSetSize !== 0))) throw new MalformedMessageError();
  const message: DecisionMessage = { accepted, reason, responderSetSize, signature };
  if (priceSchedule !== undefined) message.priceSchedule = priceSchedule;
  return { message, unsigned };
}

/** @internal */
export function encodeSignatureMessage(type: number, signature: Uint8Array): Uint8Array {
  return new Writer().u8(type).raw(signature).finish();
}

/** @internal */
export function decodeSignatureMessage(type: number, frame: Uint8Array): Uint8Array {
  const r = new Reader(frame);
  expectType(r, type);
  const sig = r.bytes(64);
  r.end();
  return sig;
}

/** @internal */
export function encodeReceiptView(v: ReceiptView): Uint8Array {
  const w = new Writer().u8(SessionMessageType.RECEIPT_VIEW);
  w.u64(v.startedAt, 'startedAt').u64(v.endedAt, 'endedAt').u64(v.computeMs, 'computeMs');
  w.u64(v.bytesExchanged, 'bytesExchanged').u64(v.inputSize, 'inputSize').u64(v.outputSize, 'outputSize');
  w.str(v.outcome, L.maxOutcomeBytes, 'outcome');
  if (v.guardrails.length > L.maxGuardrails) throw new RangeError('too many guardrail decisions');
  w.u8(v.guardrails.length);
  for (const g of v.guardrails) {
    w.str(g.rule, L.maxGuardrailBytes, 'guardrail.rule').str(g.outcome, L.maxGuardrailBytes, 'guardrail.outcome');
    if (g.detail === undefined) w.u8(0);
    else w.u8(1).str(g.detail, L.maxGuardrailBytes, 'guardrail.detail');
  }
  // Before the schedule, which stays the view's last field.
  writeOptions(w, v.options ?? {}, 'options');
  writeSchedule(w, v.priceSchedule);
  return w.finish();
}

/** @internal */
export function decodeReceiptView(frame: Uint8Array): ReceiptView {
  const r = new Reader(frame);
  expectType(r, SessionMessageType.RECEIPT_VIEW);
  const startedAt = r.u64();
  const endedAt = r.u64();
  const computeMs = r.u64();
  const bytesExchanged = r.u64();
  const inputSize = r.u64();
  const outputSize = r.u64();
  const outcome = r.str(L.maxOutcomeBytes);
  const n = r.u8();
  if (n > L.maxGuardrails) throw new MalformedMessageError();
  const guardrails: ReceiptView['guardrails'] = [];
  for (let i = 0; i < n; i++) {
    const rule = r.str(L.maxGuardrailBytes);
    const outcome = r.str(L.maxGuardrailBytes);
    const hasDetail = r.u8();
    if (hasDetail > 1) throw new MalformedMessageError();
    guardrails.push(hasDetail ? { rule, outcome, detail: r.str(L.maxGuardrailBytes) } : { rule, outcome });
  }
  const options = readOptions(r);
  const priceSchedule = readSchedule(r);
  r.end();
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
  return clean.length > maxChars ? `${clean.slice(0, maxChars)}…` : clean;
}

/** @internal */
export function encodeError(m: ErrorMessage): Uint8Array {
  let msg = sanitizeText(m.message, 200);
  while (new TextEncoder().encode(msg).length > L.maxErrorMessageBytes) msg = msg.slice(0, -1);
  return new Writer().u8(SessionMessageType.ERROR).str(m.code, 64, 'code').str(msg, L.maxErrorMessageBytes, 'message').finish();
}

/** @internal */
export function decodeError(frame: Uint8Array): ErrorMessage {
  const r = new Reader(frame);
  expectType(r, SessionMessageType.ERROR);
  const code = r.str(64);
  const message = sanitizeText(r.str(L.maxErrorMessageBytes));
  r.end();
  if (!CODES.has(code)) throw new MalformedMessageError();
  return { code: code as ErrorCodeValue, message };
}
