/**
 * The session layer (DESIGN.md §6; wire format and rationale in docs/session.md): a mutual
 * authentication handshake over the transcript, agreement on the job's terms, the session binding
 * value used as the PSI draft's `ekm`, a framed data channel for the protocol, typed error
 * propagation, and the co-signed usage receipt.
 *
 * Handshake (four frames; X* is X without its trailing signature):
 *   requester → responder  HELLO    (version, key, nonce, channel-binding hash)
 *   responder → requester  REPLY    (version, key, nonce, channel-binding hash, sig over H(HELLO, REPLY*))
 *   requester → responder  CONFIRM  (terms, sig over H(HELLO, REPLY, CONFIRM*))
 *   responder → requester  DECISION (accept | refuse + reason, set size, sig over H(…, DECISION*))
 * Both nonces are fresh, so each side's signatures prove liveness to the other and no handshake
 * message can be replayed into another session. Terms go out only once the responder is
 * authenticated, and the decision only once the requester is.
 * @module
 */
import { x25519 } from '@noble/curves/ed25519.js';
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import {
  DataportError,
  GuardrailRefusedError,
  MalformedMessageError,
  TermsRefusedError,
  TransportClosedError,
  UnexpectedMessageError,
  VerificationFailedError,
} from '../errors.js';
import { billRun, decodePriceSchedule, encodePriceSchedule, priceScheduleRef, type PriceSchedule } from '../ledger/pricing.js';
import { decodeReceipt, encodeReceipt, signOneSidedReceipt, signReceiptBody, verifyReceipt } from '../ledger/receipt.js';
import type { GuardrailDecision, UsageReceipt, UsageReceiptBody } from '../ledger/receipt-types.js';
import type { FrameTransport, TransportStats } from '../transport/types.js';
import { assertBytes, concatBytes, equalBytes, utf8 } from '../utils/bytes.js';
import { FrameMac } from './frame-mac.js';
import { errorFromPeer, localError, sendErrorAndClose, wireError } from './peer-errors.js';
import { checkTerms, publicOutputBound, type SessionPolicy } from './policy.js';

// Re-exported here too: other layers import them from this module.
export { checkTerms, type SessionPolicy } from './policy.js';
export { isPeerError } from './peer-errors.js';
import { type Identity, isValidIdentityKey, signMessage, verifyMessage } from './identity.js';
import { isSourceRecord, sourceOptionKeys, sourceOptions, type ReceiptSource } from './source-commit.js';
import { isSketchRecord, sketchOptionKeys, sketchOptions, type ReceiptKeySketch } from './sketch-record.js';
import {
  decodeConfirm,
  decodeDecision,
  decodeError,
  decodeHello,
  decodeReceiptView,
  decodeReply,
  decodeSignatureMessage,
  encodeConfirmUnsigned,
  encodeDecisionUnsigned,
  encodeError,
  encodeHello,
  encodeReceiptView,
  encodeReplyUnsigned,
  encodeSignatureMessage,
  type ReceiptView,
  sanitizeText,
  SESSION_VERSION,
  SessionMessageType,
  type SessionRole,
  type SessionTerms,
} from './messages.js';

/**
 * What a `beforeRun` hook knows besides the terms and the peer.
 * @example
 * ```ts
 * const beforeRun = async (terms: SessionTerms, peer: Uint8Array, { sessionId }: BeforeRunContext) => reserve(peer, sessionId);
 * ```
 */
export interface BeforeRunContext {
  /** The session id (16 bytes) that the run's receipt will carry. */
  sessionId: Uint8Array;
}

/** Options shared by both roles of {@link establishSession}. */
export interface SessionOptionsBase {
  /** The connection to run over (one session per transport). */
  transport: FrameTransport;
  /** This party's Ed25519 identity. */
  identity: Identity;
  /** The one peer key accepted (pinning). */
  peerPublicKey?: Uint8Array;
  /** Peer keys accepted (pinning to a set). */
  allowedPeers?: readonly Uint8Array[];
  /** Accept any peer key (it is still authenticated and recorded in the receipt). Default false. */
  allowAnyPeer?: boolean;
  /**
   * Called once the peer is authenticated and the terms are within policy, before anything runs
   * (ledger budgets, authorisation look-ups). Throw `TermsRefusedError` / `GuardrailRefusedError`
   * to refuse; its message is sent to the peer, so keep secrets out of it. `context.sessionId` is
   * the id the session's receipt will carry (a budget reservation is settled by it).
   */
  beforeRun?: (terms: SessionTerms, peerPublicKey: Uint8Array, context: BeforeRunContext) => void | Promise<void>;
  /**
   * The price schedule this party bills with, announced in the handshake before the run (the
   * requester's in its signed CONFIRM, the responder's in its signed DECISION). The receipt is
   * billed with the responder's if it has one, else with the requester's. It must price the
   * session's protocol: a requester's that does not is a `RangeError`; a responder's that does not
   * refuses the terms with that reason. A refused run's receipt is priced too, at 0.
   */
  priceSchedule?: PriceSchedule;
  /**
   * Called with the peer's announced schedule (and its receipt reference, `<id> sha256:<hex>`)
   * when that schedule is the one the receipt will be billed with — on the requester once the
   * responder has accepted the terms, on the responder (which then has no schedule of its own)
   * before it answers them — in both cases before anything runs. Throw `TermsRefusedError` /
   * `GuardrailRefusedError` to refuse the price: the session ends on both sides with that reason
   * (a responder's refusal gets a co-signed `refused` receipt like any refusal; a requester's
   * none). Without it, any announced schedule is accepted.
   */
  acceptPriceSchedule?: (schedule: PriceSchedule, ref: string) => void | Promise<void>;
  /** Cancels the handshake. */
  signal?: AbortSignal;
}

/**
 * The {@link SessionOptionsBase} fields of a run wrapper's options (`runPsi`, `runPsiSum`), copied
 * without the absent ones, so that each wrapper passes peer pinning, hooks and signal through alike.
 *
 * @example
 * ```ts
 * const session = await establishSession({ ...sessionBaseOptions(options), role: 'requester', terms });
 * ```
 */
export function sessionBaseOptions(o: SessionOptionsBase): SessionOptionsBase {
  return {
    transport: o.transport,
    identity: o.identity,
    ...(o.peerPublicKey !== undefined ? { peerPublicKey: o.peerPublicKey } : {}),
    ...(o.allowedPeers !== undefined ? { allowedPeers: o.allowedPeers } : {}),
    ...(o.allowAnyPeer !== undefined ? { allowAnyPeer: o.allowAnyPeer } : {}),
    ...(o.beforeRun ? { beforeRun: o.beforeRun } : {}),
    ...(o.priceSchedule !== undefined ? { priceSchedule: o.priceSchedule } : {}),
    ...(o.acceptPriceSchedule ? { acceptPriceSchedule: o.acceptPriceSchedule } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  };
}

/** Options of {@link establishSession} for the requester (the party that connects and proposes terms). */
export interface RequesterSessionOptions extends SessionOptionsBase {
  role: 'requester';
  terms: SessionTerms;
}

/** Options of {@link establishSession} for the responder (the listener). */
export interface ResponderSessionOptions extends SessionOptionsBase {
  role: 'responder';
  policy: SessionPolicy;
  /** Distinct keys the responder will contribute (declared in the reply). */
  localSetSize: number;
  /**
   * A listener whose input depends on the request (a job's totals, see run-job.ts): called with
   * the authenticated requester's terms before they are checked; returns the set size to declare
   * instead of `localSetSize`, or a refusal reason (a string, sent to the peer).
   */
  localSetSizeFor?: (terms: SessionTerms, peerPublicKey: Uint8Array) => number | string;
}

/**
 * What a party contributes to the receipt at the end of a run.
 *
 * @example
 * ```ts
 * const receipt = await session.exchangeReceipt({ outcome: 'completed', inputSize: 1000, outputSize: 120, computeMs: 850 });
 * ```
 */
export interface ReceiptContribution {
  /** `completed`, `withheld`, `refused` or `failed`. */
  outcome: 'completed' | 'withheld' | 'refused' | 'failed';
  /** This party's distinct input keys. */
  inputSize: number;
  /** Result size released to this party (0 if it receives none). */
  outputSize: number;
  /** Wall-clock compute time of this party, ms. */
  computeMs: number;
  /** Guardrail decisions this party took. */
  guardrails?: GuardrailDecision[];
  /** If given, the peer's declared input size must equal it (what the protocol observed). */
  expectedPeerInputSize?: number;
  /**
   * Optional repeat of the schedule this party announced in the handshake (the session's
   * `priceSchedule`); any other is a `RangeError`, because the peer accepted the announced one.
   * The receipt's co-signed `billing` is the run priced with the responder's schedule if it
   * announced one, else the requester's; both parties compute it from the same body and sign it
   * (see docs/session.md *Receipt exchange*).
   */
  priceSchedule?: PriceSchedule;
  /**
   * Facts of the run that were not known when the terms were signed and that both parties
   * observed, added to the receipt's options (e.g. an aggregation provider link's `query-sha256`:
   * the provider joins before the query exists). The peer's view must carry exactly the same map,
   * else `VerificationFailedError` and no receipt; keys must not repeat a terms option.
   */
  options?: Record<string, string>;
  /**
   * Where this party's input came from: recorded as `requester-source` / `responder-source` (the
   * kind) and, for a query, `…-source-commit` (a commitment to the query text that only this
   * party can open; see `sourceCommitmentKey`). Each side adds its own; the peer's view must carry
   * only its own role's keys. Never a URL or the query text.
   */
  source?: ReceiptSource;
  /**
   * This party's key sketch record (src/ledger/key-sketch.ts): recorded as `<role>-set-size` and
   * `<role>-sketch-commit`; the sketch itself stays with the party. Like `source`, each side adds
   * its own and the peer's view may carry only its own role's record.
   */
  sketch?: ReceiptKeySketch;
}

/**
 * What a party knows of a run that ends without a co-signed receipt (see
 * {@link Session.abortedRunReceipt}): the part of {@link ReceiptContribution} that is its own.
 *
 * @example
 * ```ts
 * const soFar: AbortedRunContribution = { inputSize: 1000, outputSize: 0, computeMs: 120 };
 * ```
 */
export interface AbortedRunContribution {
  /** This party's distinct input keys (or rows). */
  inputSize: number;
  /** Result size released to this party so far (0 if none yet). */
  outputSize: number;
  /** Wall-clock compute time of this party so far, ms. */
  computeMs: number;
  /** Guardrail decisions this party took so far. */
  guardrails?: GuardrailDecision[];
  /** Where this party's input came from: recorded as in {@link ReceiptContribution.source}. */
  source?: ReceiptSource;
  /** This party's key sketch record, as in {@link ReceiptContribution.sketch}. */
  sketch?: ReceiptKeySketch;
}

/**
 * The outcome of a one-sided receipt of a run that failed, or whose peer hung up, after protocol
 * data flowed and before a co-signed receipt existed.
 *
 * @example
 * ```ts
 * if (receipt.body.outcome === ABORTED_AFTER_DATA) console.log('the peer left after the data');
 * ```
 */
export const ABORTED_AFTER_DATA = 'aborted-after-data';

/**
 * A mutually authenticated session; see {@link establishSession}.
 *
 * @example
 * ```ts
 * const session = await establishSession({ role: 'responder', transport, identity, allowAnyPeer: true, policy, localSetSize: 5000 });
 * if (!session.accepted) console.log(session.refusalReason);
 * ```
 */
export interface Session {
  readonly role: SessionRole;
  /** 16 bytes, fresh per session (from both nonces). */
  readonly sessionId: Uint8Array;
  /** 32-byte session binding value, used as the PSI draft's `ekm`. */
  readonly ekm: Uint8Array;
  /** SHA-256 of the whole handshake transcript. */
  readonly transcriptHash: Uint8Array;
  readonly localPublicKey: Uint8Array;
  readonly peerPublicKey: Uint8Array;
  readonly terms: SessionTerms;
  /** The responder's declared distinct keys (from the reply). */
  readonly responderSetSize: number;
  /** False when the responder refused the terms; see `refusalReason`. */
  readonly accepted: boolean;
  /**
   * The schedule the receipt will be billed with, as announced in the handshake: the responder's
   * if it announced one, else the requester's; `undefined` if neither did.
   */
  readonly announcedPriceSchedule: PriceSchedule | undefined;
  readonly refusalReason: string | undefined;
  /** True when both ends had a TLS exporter and it was mixed into `ekm`. */
  readonly channelBound: boolean;
  /** When the handshake started (ms since the epoch, local clock). */
  readonly startedAt: number;
  /** The protocol's data channel (frames are wrapped; a peer's error frame rejects `receive`). */
  readonly channel: FrameTransport;
  /** Exchanges views and signatures and returns the co-signed receipt (both sides call it). */
  exchangeReceipt(contribution: ReceiptContribution, signal?: AbortSignal): Promise<UsageReceipt>;
  /**
   * True once protocol data flowed on `channel`: a data frame sent (or about to be) or received
   * after the authenticated handshake and the agreement on the terms. From then on the run counts
   * (query budgets), whether or not a co-signed receipt follows.
   */
  readonly dataFlowed: boolean;
  /**
   * The one-sided receipt of a run that ended with `error` after protocol data flowed and before
   * a co-signed receipt existed (the peer hung up, a frame was bad, the run was aborted): the
   * receipt body as far as this party knows it — the peer's input size as declared in the signed
   * handshake, no peer output size, no billing — with outcome {@link ABORTED_AFTER_DATA} and the
   * option `error` = the error's stable code (a typed error's own, else the one the peer is told;
   * never a message or a stack),
   * signed by this party alone (`kind: 'one-sided'`). `undefined` when the rule does not apply: a
   * refused session, no protocol data yet, a co-signed receipt exists, or one was already made.
   * A budget reservation is settled by appending it (same session id), like a completed run's.
   */
  abortedRunReceipt(contribution: AbortedRunContribution, error: unknown): UsageReceipt | undefined;
  /** Tells the peer the session failed (code + fixed message, never a stack trace) and closes. */
  fail(error: unknown): Promise<void>;
  /** Closes the transport. */
  close(): Promise<void>;
}

const CTX_REPLY = utf8('dataport-session-v1 responder signature\0');
const CTX_CONFIRM = utf8('dataport-session-v1 requester signature\0');
const CTX_DECISION = utf8('dataport-session-v1 responder decision\0');
const CTX_SESSION_ID = utf8('dataport-session-v1 session id\0');
const CTX_BINDING = utf8('dataport-session-v1 channel binding\0');
const INFO_EKM = utf8('dataport-session-v1 ekm');
const INFO_MAC_REQUESTER = utf8('dataport-session-v1 mac requester');
const INFO_MAC_RESPONDER = utf8('dataport-session-v1 mac responder');
const OUTCOMES = ['completed', 'withheld', 'refused', 'failed'] as const;
/** Largest clock difference between the parties accepted in a receipt view (10 minutes). */
const MAX_CLOCK_SKEW_MS = 10 * 60 * 1000;

function lp(bytes: Uint8Array): Uint8Array {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, bytes.length);
  return concatBytes(len, bytes);
}

function transcriptHash(...messages: Uint8Array[]): Uint8Array {
  return sha256(concatBytes(...messages.map(lp)));
}

/** X25519 shared secret with the peer's ephemeral key; a low-order key (all-zero output) is refused. */
function ephemeralShared(secretKey: Uint8Array, peerEphemeral: Uint8Array): Uint8Array {
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(secretKey, peerEphemeral);
  } catch {
    throw localError(new VerificationFailedError('invalid ephemeral key'), 'verification failed');
  }
  if (shared.every((b) => b === 0)) throw localError(new VerificationFailedError('invalid ephemeral key'), 'verification failed');
  return shared;
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

function bindingHashOf(transport: FrameTransport): { exporter: Uint8Array | undefined; hash: Uint8Array | undefined } {
  const exporter = (transport as { channelBinding?: unknown }).channelBinding;
  if (!(exporter instanceof Uint8Array) || exporter.length === 0) return { exporter: undefined, hash: undefined };
  return { exporter, hash: sha256(concatBytes(CTX_BINDING, exporter)) };
}

/** Checks the peer's binding hash; returns whether both ends are bound to the same TLS channel. */
function checkBinding(mine: Uint8Array | undefined, theirs: Uint8Array | undefined): boolean {
  if (!mine || !theirs) return false;
  // Both ends terminate the same TLS connection only if the exporters agree; otherwise something
  // in the middle terminated TLS and re-encrypted (a relay), which the session refuses.
  if (!equalBytes(mine, theirs)) {
    throw localError(new VerificationFailedError('TLS channel binding mismatch'), 'channel binding mismatch');
  }
  return true;
}

function assertIdentityKey(key: Uint8Array, name: string): void {
  if (!isValidIdentityKey(key)) throw new RangeError(`${name} is not a valid Ed25519 identity key (small-order, mixed-order or non-canonical)`);
}

function allowedKeys(o: SessionOptionsBase): readonly Uint8Array[] | 'any' {
  if (o.peerPublicKey !== undefined) {
    assertBytes(o.peerPublicKey, 'peerPublicKey', 32);
    assertIdentityKey(o.peerPublicKey, 'peerPublicKey');
    for (const k of o.allowedPeers ?? []) assertIdentityKey(k, 'allowedPeers[]');
    return [o.peerPublicKey, ...(o.allowedPeers ?? [])];
  }
  if (o.allowedPeers !== undefined) {
    if (!Array.isArray(o.allowedPeers)) throw new TypeError('allowedPeers must be an array');
    for (const k of o.allowedPeers) {
      assertBytes(k, 'allowedPeers[]', 32);
      assertIdentityKey(k, 'allowedPeers[]');
    }
    if (o.allowedPeers.length > 0 || !o.allowAnyPeer) return o.allowedPeers;
  }
  if (o.allowAnyPeer === true) return 'any';
  throw new TypeError('pin the peer: give peerPublicKey or allowedPeers, or set allowAnyPeer: true');
}

/**
 * Whether the peer's handshake key is acceptable: pinned (pinned keys are checked when given), or,
 * with `allowAnyPeer`, at least a canonical prime-order Ed25519 key (issue 16 finding 5: a
 * small-order key would let anyone sign as it).
 */
function keyAllowed(allowed: readonly Uint8Array[] | 'any', key: Uint8Array): boolean {
  return allowed === 'any' ? isValidIdentityKey(key) : allowed.some((k) => equalBytes(k, key));
}

function refusalFrom(e: unknown): string | undefined {
  if (e instanceof TermsRefusedError || e instanceof GuardrailRefusedError) return sanitizeText(e.message);
  return undefined;
}

interface Established {
  mac: FrameMac;
  sessionId: Uint8Array;
  ekm: Uint8Array;
  th: Uint8Array;
  peerKey: Uint8Array;
  terms: SessionTerms;
  responderSetSize: number;
  accepted: boolean;
  reason: string | undefined;
  bound: boolean;
  /** Canonical bytes of the schedules announced in the handshake (CONFIRM, DECISION). */
  schedules: { requester: Uint8Array | undefined; responder: Uint8Array | undefined };
}

/**
 * Runs the mutual-authentication handshake and returns the session. The requester proposes
 * `terms`; the responder checks them against its `policy` and either accepts or refuses (a
 * refused session is still authenticated, so both parties can sign a `refused` receipt).
 *
 * Throws `VerificationFailedError` (wrong or unpinned peer key, bad signature, replay),
 * `MalformedMessageError`, `ProtocolVersionError`, or a transport error; the peer is told with an
 * error frame and sees the same class.
 *
 * @example
 * ```ts
 * const session = await establishSession({
 *   role: 'requester', transport, identity: me, peerPublicKey: hospitalKey,
 *   terms: { protocol: 'ecdh-psi', options: { 'count-only': 'false', truncate: 'none' },
 *            purpose: 'programme audit 2026-11', recipients: ['requester'],
 *            requesterSetSize: 1000, responderSetSize: { min: 0, max: 1e7 }, minIntersection: 0 },
 * });
 * // session.ekm binds the protocol to this session; session.channel carries it.
 * ```
 */
export async function establishSession(options: RequesterSessionOptions | ResponderSessionOptions): Promise<Session> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const { transport, identity, signal } = options;
  if (!transport || typeof transport.send !== 'function') throw new TypeError('transport must be a FrameTransport');
  assertBytes(identity?.secretKey, 'identity.secretKey', 32);
  assertBytes(identity.publicKey, 'identity.publicKey', 32);
  const allowed = allowedKeys(options);
  if (options.priceSchedule !== undefined) {
    encodePriceSchedule(options.priceSchedule); // misuse: RangeError
    if (options.role === 'requester' && !pricesProtocol(options.priceSchedule, options.terms.protocol)) {
      throw new RangeError(`priceSchedule has no price for protocol '${options.terms.protocol}' and no default`);
    }
  }
  // Misuse is reported before anything touches the transport.
  if (options.role === 'requester') encodeConfirmUnsigned(options.terms);
  else if (!Number.isSafeInteger(options.localSetSize) || options.localSetSize < 0) {
    throw new RangeError('localSetSize must be a non-negative integer');
  }
  const startedAt = Date.now();
  const binding = bindingHashOf(transport);

  const recv = async (): Promise<Uint8Array> => {
    const frame = await transport.receive(signal);
    if (frame.length > 0 && frame[0] === SessionMessageType.ERROR) {
      const { code, message } = decodeError(frame);
      throw errorFromPeer(code, message);
    }
    return frame;
  };
  const failAndThrow = async (e: unknown): Promise<never> => {
    await sendErrorAndClose(transport, e);
    throw e;
  };

  let est: Established;
  try {
    est = options.role === 'requester' ? await requesterHandshake(options, allowed, binding, recv) : await responderHandshake(options, allowed, binding, recv);
  } catch (e) {
    return failAndThrow(e);
  }
  return new SessionImpl(options.role, identity, est, startedAt, transport, signal);
}

async function requesterHandshake(
  o: RequesterSessionOptions,
  allowed: readonly Uint8Array[] | 'any',
  binding: { exporter: Uint8Array | undefined; hash: Uint8Array | undefined },
  recv: () => Promise<Uint8Array>,
): Promise<Established> {
  // Canonical terms first (what the responder will decode: sorted keys, well-formed strings), so
  // both sides sign receipts over identical values. Misuse surfaces here, before anything is sent.
  const ownSchedule = o.priceSchedule === undefined ? undefined : encodePriceSchedule(o.priceSchedule);
  const confirmUnsigned = encodeConfirmUnsigned(o.terms, ownSchedule);
  const terms = decodeConfirm(concatBytes(confirmUnsigned, new Uint8Array(64))).message.terms;
  const nonce = randomBytes(32);
  const eph = x25519.utils.randomSecretKey();
  const hello = encodeHello({
    version: SESSION_VERSION,
    publicKey: o.identity.publicKey,
    nonce,
    ephemeral: x25519.getPublicKey(eph),
    bindingHash: binding.hash,
  });
  await o.transport.send(hello, o.signal);

  const replyFrame = await recv();
  if (replyFrame[0] !== SessionMessageType.REPLY) throw new UnexpectedMessageError();
  const { message: reply, unsigned: replyUnsigned } = decodeReply(replyFrame);
  // Pinning first: an unexpected key ends the session before anything else is believed.
  if (!keyAllowed(allowed, reply.publicKey)) {
    throw localError(new VerificationFailedError('peer key does not match the pinned key'), 'verification failed');
  }
  if (!verifyMessage(reply.publicKey, concatBytes(CTX_REPLY, transcriptHash(hello, replyUnsigned)), reply.signature)) {
    throw new VerificationFailedError();
  }
  // The responder proved a pinned key: a listener behind this transport admits (or refuses) it.
  o.transport.peerAuthenticated?.();
  const bound = checkBinding(binding.hash, reply.bindingHash);
  const shared = ephemeralShared(eph, reply.ephemeral);
  // The responder is authenticated: only now do the terms (purpose, set size) leave this party.
  if (o.beforeRun) {
    try {
      await o.beforeRun(terms, reply.publicKey, { sessionId: sessionIdOf(nonce, reply.nonce) });
    } catch (e) {
      const reason = refusalFrom(e);
      throw reason !== undefined ? new TermsRefusedError(reason) : e;
    }
  }
  const confirmSig = signMessage(o.identity.secretKey, concatBytes(CTX_CONFIRM, transcriptHash(hello, replyFrame, confirmUnsigned)));
  const confirm = concatBytes(confirmUnsigned, confirmSig);
  await o.transport.send(confirm, o.signal);

  const decisionFrame = await recv();
  if (decisionFrame[0] !== SessionMessageType.DECISION) throw new UnexpectedMessageError();
  const { message: decision, unsigned: decisionUnsigned } = decodeDecision(decisionFrame);
  if (!verifyMessage(reply.publicKey, concatBytes(CTX_DECISION, transcriptHash(hello, replyFrame, confirm, decisionUnsigned)), decision.signature)) {
    throw new VerificationFailedError();
  }
  if (decision.accepted && (decision.responderSetSize < terms.responderSetSize.min || decision.responderSetSize > terms.responderSetSize.max)) {
    throw new TermsRefusedError('responder set size is outside the requested bounds');
  }
  if (decision.priceSchedule !== undefined) {
    // Checked as hostile input by the decoder (size, validity, canonical form).
    const schedule = decodePriceSchedule(decision.priceSchedule);
    if (!pricesProtocol(schedule, terms.protocol)) {
      throw localError(new VerificationFailedError('announced price schedule has no price for the protocol'), 'price schedule has no price for the protocol');
    }
    if (decision.accepted && o.acceptPriceSchedule) {
      try {
        await o.acceptPriceSchedule(schedule, priceScheduleRef(schedule));
      } catch (e) {
        const reason = refusalFrom(e);
        throw reason !== undefined ? new TermsRefusedError(reason) : e;
      }
    }
  }
  const schedules = { responder: decision.priceSchedule, requester: ownSchedule };
  return finishHandshake('requester', [hello, replyFrame, confirm, decisionFrame], nonce, reply.nonce, shared, reply.publicKey, terms, decision, bound, binding.exporter, schedules);
}

async function responderHandshake(
  o: ResponderSessionOptions,
  allowed: readonly Uint8Array[] | 'any',
  binding: { exporter: Uint8Array | undefined; hash: Uint8Array | undefined },
  recv: () => Promise<Uint8Array>,
): Promise<Established> {
  const hello = await recv();
  if (hello[0] !== SessionMessageType.HELLO) throw new UnexpectedMessageError();
  const h = decodeHello(hello);
  if (!keyAllowed(allowed, h.publicKey)) {
    throw localError(new VerificationFailedError('peer key not allowed'), 'key not allowed by the peer');
  }
  const bound = checkBinding(binding.hash, h.bindingHash);
  const nonce = randomBytes(32);
  const eph = x25519.utils.randomSecretKey();
  const shared = ephemeralShared(eph, h.ephemeral);
  const replyUnsigned = encodeReplyUnsigned({
    version: SESSION_VERSION,
    publicKey: o.identity.publicKey,
    nonce,
    ephemeral: x25519.getPublicKey(eph),
    bindingHash: binding.hash,
  });
  const replySig = signMessage(o.identity.secretKey, concatBytes(CTX_REPLY, transcriptHash(hello, replyUnsigned)));
  const replyFrame = concatBytes(replyUnsigned, replySig);
  await o.transport.send(replyFrame, o.signal);

  const confirm = await recv();
  if (confirm[0] !== SessionMessageType.CONFIRM) throw new UnexpectedMessageError();
  const { message: c, unsigned: confirmUnsigned } = decodeConfirm(confirm);
  if (!verifyMessage(h.publicKey, concatBytes(CTX_CONFIRM, transcriptHash(hello, replyFrame, confirmUnsigned)), c.signature)) {
    throw new VerificationFailedError();
  }
  // The requester proved an accepted key: only now does the listener count this connection as a
  // session (lifting its handshake deadline), or close it as busy — before any policy or hook runs.
  o.transport.peerAuthenticated?.();
  // The requester is authenticated: policy checks, hooks and the answer happen only now, so an
  // impostor who merely knows an allowed public key learns neither the policy nor the set size.
  const sized = o.localSetSizeFor ? o.localSetSizeFor(c.terms, h.publicKey) : o.localSetSize;
  if (typeof sized === 'number' && (!Number.isSafeInteger(sized) || sized < 0)) throw new RangeError('localSetSizeFor must return a non-negative integer');
  const localSetSize = typeof sized === 'number' ? sized : 0;
  let reason = typeof sized === 'string' ? sanitizeText(sized) : checkTerms(c.terms, o.policy, h.publicKey, localSetSize);
  // The schedule the receipt will be billed with is announced now, before the run. One that
  // cannot price the requested protocol is a refusal the requester can act on.
  const priced = o.priceSchedule !== undefined && pricesProtocol(o.priceSchedule, c.terms.protocol);
  if (reason === undefined && o.priceSchedule !== undefined && !priced) reason = 'the listener has no price for this protocol';
  if (reason === undefined && o.priceSchedule === undefined && c.priceSchedule !== undefined) {
    // No schedule here: the requester's bills the run. It was checked by the decoder (size,
    // validity, canonical form); it must price the protocol, and this side may refuse it.
    const theirs = decodePriceSchedule(c.priceSchedule);
    if (!pricesProtocol(theirs, c.terms.protocol)) reason = "the requester's price schedule has no price for this protocol";
    else if (o.acceptPriceSchedule) {
      try {
        await o.acceptPriceSchedule(theirs, priceScheduleRef(theirs));
      } catch (e) {
        reason = refusalFrom(e);
        if (reason === undefined) throw e;
      }
    }
  }
  if (reason === undefined && o.beforeRun) {
    try {
      await o.beforeRun(c.terms, h.publicKey, { sessionId: sessionIdOf(h.nonce, nonce) });
    } catch (e) {
      reason = refusalFrom(e);
      if (reason === undefined) throw e;
    }
  }
  const accepted = reason === undefined;
  const decision = {
    accepted,
    reason: reason ?? '',
    responderSetSize: accepted ? localSetSize : 0,
    ...(priced ? { priceSchedule: encodePriceSchedule(o.priceSchedule!) } : {}),
  };
  const decisionUnsigned = encodeDecisionUnsigned(decision);
  const decisionSig = signMessage(o.identity.secretKey, concatBytes(CTX_DECISION, transcriptHash(hello, replyFrame, confirm, decisionUnsigned)));
  const decisionFrame = concatBytes(decisionUnsigned, decisionSig);
  await o.transport.send(decisionFrame, o.signal);
  const schedules = { responder: decision.priceSchedule, requester: c.priceSchedule };
  return finishHandshake('responder', [hello, replyFrame, confirm, decisionFrame], h.nonce, nonce, shared, h.publicKey, c.terms, decision, bound, binding.exporter, schedules);
}

/** Whether `schedule` has a price for `protocol` (its own or the default). */
function pricesProtocol(schedule: PriceSchedule, protocol: string): boolean {
  return Object.prototype.hasOwnProperty.call(schedule.protocols, protocol) || schedule.default !== undefined;
}

/** Both absent, or both present with equal bytes. */
/** Equal option maps (`undefined` is the empty map). */
function sameOptions(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const x = a ?? {};
  const y = b ?? {};
  const kx = Object.keys(x);
  return kx.length === Object.keys(y).length && kx.every((k) => Object.prototype.hasOwnProperty.call(y, k) && x[k] === y[k]);
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : equalBytes(a, b);
}

/** The session id: both nonces hashed (known to each side once it has the other's nonce). */
function sessionIdOf(requesterNonce: Uint8Array, responderNonce: Uint8Array): Uint8Array {
  return sha256(concatBytes(CTX_SESSION_ID, requesterNonce, responderNonce)).slice(0, 16);
}

function finishHandshake(
  role: SessionRole,
  transcript: Uint8Array[],
  requesterNonce: Uint8Array,
  responderNonce: Uint8Array,
  shared: Uint8Array,
  peerKey: Uint8Array,
  terms: SessionTerms,
  r: { accepted: boolean; reason: string; responderSetSize: number },
  bound: boolean,
  exporter: Uint8Array | undefined,
  schedules: { requester: Uint8Array | undefined; responder: Uint8Array | undefined },
): Established {
  const th = transcriptHash(...transcript);
  const sessionId = sessionIdOf(requesterNonce, responderNonce);
  // PRK = HKDF-Extract(salt = transcript hash, ikm = X25519 shared secret || TLS exporter when both
  // ends share it); ekm and the two MAC keys are expansions of it (RFC 5869).
  const prk = extract(sha256, bound && exporter ? concatBytes(shared, exporter) : shared, th);
  const ekm = expand(sha256, prk, INFO_EKM, 32);
  const kReq = expand(sha256, prk, INFO_MAC_REQUESTER, 32);
  const kRes = expand(sha256, prk, INFO_MAC_RESPONDER, 32);
  return {
    mac: role === 'requester' ? new FrameMac(kReq, kRes) : new FrameMac(kRes, kReq),
    sessionId,
    ekm,
    th,
    peerKey,
    terms,
    responderSetSize: r.responderSetSize,
    accepted: r.accepted,
    reason: r.accepted ? undefined : r.reason,
    bound,
    schedules,
  };
}

/** The protocol's view of the transport: DATA frames only; a peer's error frame becomes a typed error. */
class SessionChannel implements FrameTransport {
  readonly stats: TransportStats = { bytesSent: 0, bytesReceived: 0, framesSent: 0, framesReceived: 0 };
  readonly #t: FrameTransport;
  readonly #mac: FrameMac;
  #closed = false;
  /** Set before the first data frame goes out or once one came in (see `Session.dataFlowed`). */
  dataFlowed = false;

  constructor(t: FrameTransport, mac: FrameMac) {
    this.#t = t;
    this.#mac = mac;
  }

  async send(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (!(frame instanceof Uint8Array)) throw new TypeError('frame must be a Uint8Array');
    if (this.#closed) throw new TransportClosedError('transport closed');
    const wrapped = new Uint8Array(frame.length + 1);
    wrapped[0] = SessionMessageType.DATA;
    wrapped.set(frame, 1);
    // Before the send: a frame whose send call fails may still have reached the peer.
    this.dataFlowed = true;
    await this.#t.send(this.#mac.seal(wrapped), signal);
    this.stats.bytesSent += frame.length;
    this.stats.framesSent++;
  }

  async receive(signal?: AbortSignal): Promise<Uint8Array> {
    if (this.#closed) throw new TransportClosedError('transport closed');
    const raw = await this.#t.receive(signal);
    if (raw[0] === SessionMessageType.ERROR) {
      const { code, message } = decodeError(raw);
      throw errorFromPeer(code, message);
    }
    const frame = this.#mac.open(raw);
    if (frame[0] !== SessionMessageType.DATA) throw new UnexpectedMessageError();
    this.dataFlowed = true;
    this.stats.bytesReceived += frame.length - 1;
    this.stats.framesReceived++;
    return frame.subarray(1);
  }

  /**
   * Ends the protocol's use of the channel. The underlying transport stays open so that the
   * session can still tell the peer why (error frame) or exchange the receipt; the session closes it.
   */
  async close(): Promise<void> {
    this.#closed = true;
  }
}

class SessionImpl implements Session {
  readonly role: SessionRole;
  readonly sessionId: Uint8Array;
  readonly ekm: Uint8Array;
  readonly transcriptHash: Uint8Array;
  readonly localPublicKey: Uint8Array;
  readonly peerPublicKey: Uint8Array;
  readonly terms: SessionTerms;
  readonly responderSetSize: number;
  readonly accepted: boolean;
  readonly refusalReason: string | undefined;
  readonly channelBound: boolean;
  readonly startedAt: number;
  readonly channel: SessionChannel;
  readonly #identity: Identity;
  #receiptStarted = false;
  /** A co-signed receipt was returned, or a one-sided one made: no (other) one-sided receipt. */
  #recorded = false;
  readonly #mac: FrameMac;
  readonly #transport: FrameTransport;
  readonly #signal: AbortSignal | undefined;
  readonly #schedules: { requester: Uint8Array | undefined; responder: Uint8Array | undefined };
  readonly announcedPriceSchedule: PriceSchedule | undefined;

  constructor(
    role: SessionRole,
    identity: Identity,
    e: Established,
    startedAt: number,
    transport: FrameTransport,
    signal?: AbortSignal,
  ) {
    this.role = role;
    this.sessionId = e.sessionId;
    this.ekm = e.ekm;
    this.transcriptHash = e.th;
    this.localPublicKey = identity.publicKey;
    this.peerPublicKey = e.peerKey;
    this.terms = e.terms;
    this.responderSetSize = e.responderSetSize;
    this.accepted = e.accepted;
    this.refusalReason = e.reason;
    this.channelBound = e.bound;
    this.startedAt = startedAt;
    this.channel = new SessionChannel(transport, e.mac);
    // A refused session carries no protocol data, only the receipt of the refusal.
    if (!e.accepted) void this.channel.close();
    this.#mac = e.mac;
    this.#identity = identity;
    this.#transport = transport;
    this.#signal = signal;
    this.#schedules = e.schedules;
    const billing = e.schedules.responder ?? e.schedules.requester;
    this.announcedPriceSchedule = billing === undefined ? undefined : decodePriceSchedule(billing);
  }

  async #recv(type: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const raw = await this.#transport.receive(signal);
    if (raw[0] === SessionMessageType.ERROR) {
      const { code, message } = decodeError(raw);
      throw errorFromPeer(code, message);
    }
    const frame = this.#mac.open(raw);
    if (frame[0] !== type) throw new UnexpectedMessageError();
    return frame;
  }

  async exchangeReceipt(c: ReceiptContribution, signal: AbortSignal | undefined = this.#signal): Promise<UsageReceipt> {
    if (this.#receiptStarted) throw new TypeError('exchangeReceipt may be called once per session');
    this.#receiptStarted = true;
    void this.channel.close(); // no protocol data after the views
    try {
      if (!OUTCOMES.includes(c.outcome)) throw new RangeError('outcome must be completed, withheld, refused or failed');
      const scheduleBytes = this.#viewSchedule(c);
      const runOptions = this.#runOptions(c);
      const ownSource = {
        ...(c.source === undefined ? {} : sourceOptions(this.role, c.source, this.#identity.secretKey, this.sessionId)),
        ...sketchOptions(this.role, c.sketch),
      };
      const viewOptions = runOptions || Object.keys(ownSource).length > 0 ? { ...runOptions, ...ownSource } : undefined;
      const stats = this.channel.stats;
      const mine: ReceiptView = {
        startedAt: this.startedAt,
        endedAt: Math.max(Date.now(), this.startedAt),
        computeMs: Math.max(0, Math.round(c.computeMs)),
        bytesExchanged: stats.bytesSent + stats.bytesReceived,
        inputSize: c.inputSize,
        // When this party is the only recipient, the size of its result is its own output: putting
        // it in the view (and so in the co-signed body) would tell the peer the intersection size
        // that the terms withhold from it. The receipt then omits that role's output size — unless
        // the signed terms say `output-size=public` (the size is public to the peer anyway).
        outputSize: this.#omitsOutputSize(this.role) ? 0 : c.outputSize,
        outcome: c.outcome,
        guardrails: (c.guardrails ?? []).map((g) => (g.detail === undefined ? { rule: g.rule, outcome: g.outcome } : { ...g })),
        ...(scheduleBytes ? { priceSchedule: scheduleBytes } : {}),
        ...(viewOptions ? { options: viewOptions } : {}),
      };
      await this.#transport.send(this.#mac.seal(encodeReceiptView(mine)), signal);
      const theirs = decodeReceiptView(await this.#recv(SessionMessageType.RECEIPT_VIEW, signal));
      this.#checkPeerView(mine, theirs, c);
      // Facts of the run both sides observed (e.g. which aggregation query): they must agree.
      // …apart from the peer's own source record (its kind and query commitment), each side's own.
      const peerRole: SessionRole = this.role === 'requester' ? 'responder' : 'requester';
      const peerKeys = sourceOptionKeys(peerRole);
      const sketchKeys = sketchOptionKeys(peerRole);
      const theirShared: Record<string, string> = {};
      const theirSource: Record<string, string> = {};
      const theirSketch: Record<string, string> = {};
      for (const [k, v] of Object.entries(theirs.options ?? {})) {
        (k === peerKeys.kind || k === peerKeys.commit ? theirSource : k === sketchKeys.size || k === sketchKeys.commit ? theirSketch : theirShared)[k] = v;
      }
      if (!isSourceRecord(peerRole, theirSource) || !isSketchRecord(peerRole, theirSketch)) {
        throw localError(new VerificationFailedError('peer receipt view records a malformed input source'), 'receipt view inconsistent');
      }
      if (!sameOptions(runOptions, theirShared)) {
        throw localError(new VerificationFailedError('peer receipt view records other facts of the run (e.g. another query)'), 'receipt view inconsistent');
      }
      // Each side bills only with what it announced before the run.
      if (!sameBytes(theirs.priceSchedule, this.role === 'requester' ? this.#schedules.responder : this.#schedules.requester)) {
        throw localError(new VerificationFailedError('peer receipt view bills with a schedule it did not announce'), 'receipt view inconsistent');
      }
      const [req, res] = this.role === 'requester' ? [mine, theirs] : [theirs, mine];
      const body = this.#body(req, res);
      // Billing: the responder's schedule if it announced one, else the requester's (a fixed rule,
      // so both build the same body). Each side prices the run itself, so neither signs an amount
      // it did not compute. The schedule billed was checked in the handshake (it prices the
      // protocol, the other side could refuse it) and each view carries exactly the announced one.
      const billedBy = res.priceSchedule ?? req.priceSchedule;
      if (billedBy !== undefined) body.billing = billRun(decodePriceSchedule(billedBy), body);
      const signature = signReceiptBody(this.#identity.secretKey, body);
      await this.#transport.send(this.#mac.seal(encodeSignatureMessage(SessionMessageType.RECEIPT_SIGNATURE, signature)), signal);
      const peerSig = decodeSignatureMessage(SessionMessageType.RECEIPT_SIGNATURE, await this.#recv(SessionMessageType.RECEIPT_SIGNATURE, signal));
      const receipt: UsageReceipt = {
        body,
        signatures: [
          { publicKey: this.localPublicKey, signature },
          { publicKey: this.peerPublicKey, signature: peerSig },
        ],
      };
      verifyReceipt(receipt, [this.peerPublicKey]);
      this.#recorded = true;
      // The ledger's canonical form (signatures ordered by key), identical on both sides and equal
      // to what a ledger returns for this entry.
      return decodeReceipt(encodeReceipt(receipt));
    } catch (e) {
      await sendErrorAndClose(this.#transport, e);
      throw e;
    }
  }

  get dataFlowed(): boolean {
    return this.channel.dataFlowed;
  }

  abortedRunReceipt(c: AbortedRunContribution, error: unknown): UsageReceipt | undefined {
    if (c === null || typeof c !== 'object') throw new TypeError('contribution must be an object');
    if (!this.accepted || !this.channel.dataFlowed || this.#recorded) return undefined;
    this.#recorded = true;
    const stats = this.channel.stats;
    const now = Math.max(Date.now(), this.startedAt);
    const view = (inputSize: number, outputSize: number, computeMs: number, guardrails: GuardrailDecision[]): ReceiptView => ({
      startedAt: this.startedAt,
      endedAt: now,
      computeMs,
      bytesExchanged: stats.bytesSent + stats.bytesReceived,
      inputSize,
      outputSize,
      outcome: 'failed',
      guardrails,
    });
    const mine = view(c.inputSize, this.#omitsOutputSize(this.role) ? 0 : c.outputSize, Math.max(0, Math.round(c.computeMs)), c.guardrails ?? []);
    // The peer's input size is the one it declared in the signed handshake; its output is unknown.
    const peerRole: SessionRole = this.role === 'requester' ? 'responder' : 'requester';
    const theirs = view(peerRole === 'requester' ? this.terms.requesterSetSize : this.responderSetSize, 0, 0, []);
    const body = this.role === 'requester' ? this.#body(mine, theirs) : this.#body(theirs, mine);
    delete body.outputSizes[peerRole];
    body.outcome = ABORTED_AFTER_DATA;
    // The stable code only (a typed error's own, else what the peer was told): never a message.
    const ownSource = c.source === undefined ? {} : sourceOptions(this.role, c.source, this.#identity.secretKey, this.sessionId);
    body.options = { ...body.options, ...ownSource, ...sketchOptions(this.role, c.sketch), error: error instanceof DataportError ? error.code : wireError(error).code };
    return signOneSidedReceipt(this.#identity, body);
  }

  #checkPeerView(mine: ReceiptView, theirs: ReceiptView, c: ReceiptContribution): void {
    const bad = (): never => {
      throw localError(new VerificationFailedError('peer receipt view is inconsistent with the run'), 'receipt view inconsistent');
    };
    if (!(OUTCOMES as readonly string[]).includes(theirs.outcome)) bad();
    if (c.expectedPeerInputSize !== undefined && theirs.inputSize !== c.expectedPeerInputSize) bad();
    // Default bound: no output larger than either input (true of PSI). Under `output-size=public`
    // the signed terms carry the bound instead (`output-max`: e.g. the cells a query can release).
    const bound = publicOutputBound(this.terms);
    if (bound === null) bad();
    if (theirs.outputSize > (bound ?? Math.min(theirs.inputSize, mine.inputSize))) bad();
    // A refusal is part of the signed handshake, so both sides must agree on it.
    if ((mine.outcome === 'refused') !== (theirs.outcome === 'refused')) bad();
    if (!this.terms.recipients.includes(this.role === 'requester' ? 'responder' : 'requester') && theirs.outputSize !== 0) bad();
    // Both count the same data frames, so a peer cannot inflate (or hide) the bytes billed.
    if (theirs.bytesExchanged !== mine.bytesExchanged) bad();
    // Clocks may differ, but not by more than MAX_CLOCK_SKEW_MS; times far off are refused rather
    // than signed.
    if (Math.abs(theirs.startedAt - mine.startedAt) > MAX_CLOCK_SKEW_MS) bad();
    if (Math.abs(theirs.endedAt - mine.endedAt) > MAX_CLOCK_SKEW_MS) bad();
    if (theirs.computeMs > theirs.endedAt - theirs.startedAt + 1000) bad();
    // The only guardrail a peer may report is the agreed minimum-intersection rule, and a withheld
    // outcome must come with it.
    const k = this.terms.minIntersection;
    // psi-sum: the agreed DP noise may be recorded too (detail = the signed terms' epsilon).
    const dp = this.terms.options['dp-epsilon'];
    for (const g of theirs.guardrails) {
      if (g.rule === 'dp-noise' && dp !== undefined && dp !== 'none' && g.outcome === 'applied' && g.detail === `epsilon=${dp}`) continue;
      if (k === 0 || g.rule !== 'min-cohort' || g.detail !== `k=${k}` || (g.outcome !== 'passed' && g.outcome !== 'withheld')) bad();
    }
    const withheld = theirs.guardrails.some((g) => g.outcome === 'withheld');
    if ((theirs.outcome === 'withheld') !== withheld) bad();
    // A withheld run releases nothing — except, under `output-size=public`, the part not withheld
    // (aggregation withholds groups below the minimum cohort and releases the others).
    if (withheld && theirs.outputSize !== 0 && bound === undefined) bad();
    // When both learn the size, they must agree on it.
    if (mine.outcome === 'completed' && theirs.outcome === 'completed' && mine.outputSize > 0 && theirs.outputSize > 0 && mine.outputSize !== theirs.outputSize) bad();
  }

  /**
   * The schedule bytes this party's view carries: exactly the one it announced in the handshake
   * (a contribution may only repeat it: `RangeError` otherwise).
   */
  #viewSchedule(c: ReceiptContribution): Uint8Array | undefined {
    const announced = this.role === 'responder' ? this.#schedules.responder : this.#schedules.requester;
    if (c.priceSchedule !== undefined && !sameBytes(encodePriceSchedule(c.priceSchedule), announced)) {
      throw new RangeError('priceSchedule must be the one announced in the handshake (the session option)');
    }
    return announced;
  }

  /** The contribution's run options, checked (strings, no terms option repeated), or `undefined`. */
  #runOptions(c: ReceiptContribution): Record<string, string> | undefined {
    if (c.options === undefined) return undefined;
    if (c.options === null || typeof c.options !== 'object') throw new TypeError('contribution.options must be an object');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.options)) {
      if (typeof v !== 'string') throw new TypeError(`contribution.options.${k} must be a string`);
      if (k === 'recipients' || Object.prototype.hasOwnProperty.call(this.terms.options, k)) {
        throw new RangeError(`contribution.options.${k} repeats a terms option`);
      }
      if (/^(requester|responder)-source(-commit)?$/.test(k)) throw new RangeError(`contribution.options.${k} is recorded from contribution.source`);
      if (/^(requester|responder)-(set-size|sketch-commit)$/.test(k)) throw new RangeError(`contribution.options.${k} is recorded from contribution.sketch`);
      out[k] = v;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  /** True when `role` is the only party the terms release the result to (see exchangeReceipt). */
  #soleRecipient(role: SessionRole): boolean {
    return this.terms.recipients.length === 1 && this.terms.recipients[0] === role;
  }

  /** True when the receipt omits `role`'s output size: a sole recipient, unless `output-size=public`. */
  #omitsOutputSize(role: SessionRole): boolean {
    return this.#soleRecipient(role) && publicOutputBound(this.terms) === undefined;
  }

  #body(req: ReceiptView, res: ReceiptView): UsageReceiptBody {
    // Deterministic from the two views and the signed terms: both sides build identical bytes.
    const rank = (o: string): number => ['completed', 'withheld', 'failed', 'refused'].indexOf(o);
    const outcome = rank(req.outcome) >= rank(res.outcome) ? req.outcome : res.outcome;
    const guardrails: GuardrailDecision[] = [];
    const seen = new Set<string>();
    for (const g of [...req.guardrails, ...res.guardrails]) {
      const k = JSON.stringify([g.rule, g.outcome, g.detail ?? null]);
      if (seen.has(k)) continue;
      seen.add(k);
      guardrails.push(g.detail === undefined ? { rule: g.rule, outcome: g.outcome } : { rule: g.rule, outcome: g.outcome, detail: g.detail });
    }
    const [reqKey, resKey] = this.role === 'requester' ? [this.localPublicKey, this.peerPublicKey] : [this.peerPublicKey, this.localPublicKey];
    return {
      version: 1,
      sessionId: this.sessionId,
      startedAt: Math.min(req.startedAt, res.startedAt),
      endedAt: Math.max(req.endedAt, res.endedAt),
      parties: [
        { role: 'requester', publicKey: reqKey },
        { role: 'responder', publicKey: resKey },
      ],
      protocol: this.terms.protocol,
      // The shared run options (equal in both views) and each party's own source record.
      options: { ...this.terms.options, ...req.options, ...res.options, recipients: this.terms.recipients.join('+') },
      purpose: this.terms.purpose,
      inputSizes: { requester: req.inputSize, responder: res.inputSize },
      outputSizes: Object.fromEntries(
        (
          [
            ['requester', req.outputSize],
            ['responder', res.outputSize],
          ] as const
        ).filter(([role]) => !this.#omitsOutputSize(role)),
      ),
      bytesExchanged: Math.max(req.bytesExchanged, res.bytesExchanged),
      computeMs: Math.max(req.computeMs, res.computeMs),
      guardrails,
      outcome,
    };
  }

  fail(error: unknown): Promise<void> {
    return sendErrorAndClose(this.#transport, error);
  }

  close(): Promise<void> {
    return this.#transport.close('session finished');
  }
}

/**
 * The shared rule of every run wrapper, called once a run failed with `error` (after the session
 * told the peer): when protocol data flowed and no co-signed receipt exists, the party's one-sided
 * `aborted-after-data` receipt goes to `onReceipt` (the ledger), so the run counts against the
 * peer's budget like a completed one instead of its reservation being given back. A failure
 * before any protocol data (handshake, terms, budget refused) records nothing.
 * @internal
 */
export async function recordAbortedRun(
  session: Session,
  soFar: AbortedRunContribution,
  error: unknown,
  onReceipt: ((receipt: UsageReceipt) => void | Promise<void>) | undefined,
): Promise<UsageReceipt | undefined> {
  const receipt = session.abortedRunReceipt(soFar, error);
  if (receipt !== undefined) await onReceipt?.(receipt);
  return receipt;
}

/**
 * The failure branch of a two-party run wrapper (`runPsi`, `runPsiSum`), before it rethrows
 * `error`: an error raised after the receipt was exchanged (`afterReceipt`, e.g. a withheld
 * result) only closes the session; any other is told to the peer, the compute time so far is taken
 * from `computeStartedAt` when the run had not recorded it, and {@link recordAbortedRun} applies.
 * @internal
 */
export async function endFailedRun(
  session: Session,
  error: unknown,
  afterReceipt: unknown,
  soFar: AbortedRunContribution,
  computeStartedAt: number | undefined,
  onReceipt: ((receipt: UsageReceipt) => void | Promise<void>) | undefined,
): Promise<void> {
  if (error === afterReceipt) {
    await session.close().catch(() => {});
    return;
  }
  await session.fail(error);
  if (computeStartedAt !== undefined && soFar.computeMs === 0) soFar.computeMs = Date.now() - computeStartedAt;
  await recordAbortedRun(session, soFar, error, onReceipt);
}
