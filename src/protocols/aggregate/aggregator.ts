/**
 * The aggregator (port operator) as a sans-I/O state machine. It receives the analyst's query and
 * public key, forwards them to the providers, sums their ciphertexts, optionally adds DP noise,
 * re-randomises, switches to the last modulus level and sends ONLY the total to the analyst. It
 * never holds a secret key and never forwards an individual provider's ciphertext.
 * @module
 */
import { UnexpectedMessageError } from '../../errors.js';
import { createHeContext, readPublicKeyParameters, type HeCiphertext, type HeContext, type HePublicKey } from '../../he/context.js';
import { chooseHeParameters, heParametersHash } from '../../he/params.js';
import { equalBytes } from '../../utils/bytes.js';
import { sampleBoundedDiscreteLaplace } from '../guardrails.js';
import { aggregateLayout, decodeAggregateQuery, dpPlan, heRequestForQuery, type AggregateQuery } from './query.js';
import { AbortReason, AggregateMessageType, decodeAggregateMessage, encodeAggregateMessage, type AggregateMessage } from './messages.js';

/**
 * Where a frame goes: the analyst, or a provider by index.
 *
 * @example
 * ```ts
 * for (const { to, frame } of step.send) await (to === 'analyst' ? analyst : providers[to]).send(frame);
 * ```
 */
export interface AggregatorSend {
  to: 'analyst' | number;
  frame: Uint8Array;
}

/**
 * How a round ended.
 *
 * @example
 * ```ts
 * if (outcome.status === 'aborted') console.error(outcome.reason);
 * ```
 */
export interface AggregatorOutcome {
  status: 'completed' | 'aborted';
  /** Providers whose contributions are in the total. */
  contributors: number;
  expected: number;
  /** Set when aborted: one of `AbortReason`. */
  reason?: number;
  queryId?: string;
  /** Indexes of providers that contributed. */
  included: number[];
  /**
   * Providers that refused the query or their own input (their ABORT reason: `QUERY_REFUSED`,
   * `QUORUM_REFUSED` or `INPUT_ERROR`), when any did: the round may still complete without them.
   */
  refusals?: { provider: number; reason: number }[];
}

/**
 * What the driver must do after an event: send these frames, and stop if `outcome` is set.
 *
 * @example
 * ```ts
 * const step = await machine.receiveFromAnalyst(frame);
 * ```
 */
export interface AggregatorStep {
  send: AggregatorSend[];
  outcome?: AggregatorOutcome;
}

/**
 * Options of {@link createAggregator}.
 *
 * @example
 * ```ts
 * const options: AggregatorOptions = { providers: 3, acceptQuery: (q) => q.minCohort >= 5 };
 * ```
 */
export interface AggregatorOptions {
  /** Number of connected providers (must equal the query's `providers`). */
  providers: number;
  /** Operator policy: return false to refuse a query (QUERY_REFUSED). */
  acceptQuery?: (query: AggregateQuery) => boolean;
}

/**
 * The aggregator's state machine.
 *
 * @example
 * ```ts
 * const agg = createAggregator({ providers: 2 });
 * let step = await agg.receiveFromAnalyst(queryFrame);   // ANNOUNCE to each provider
 * step = agg.receiveFromProvider(0, contributionFrame);   // nothing yet
 * step = agg.receiveFromProvider(1, contributionFrame2);  // TOTAL to the analyst, DONE to providers
 * ```
 */
export interface AggregatorMachine {
  receiveFromAnalyst(frame: Uint8Array): Promise<AggregatorStep>;
  receiveFromProvider(index: number, frame: Uint8Array): AggregatorStep;
  /** A provider's connection ended (closed, failed, or sent garbage). */
  providerLost(index: number): AggregatorStep;
  /** The analyst's connection ended. */
  analystLost(): AggregatorStep;
  /** The collection deadline passed. */
  deadline(): AggregatorStep;
  /** Releases HE resources (idempotent; called automatically when the round ends). */
  dispose(): void;
}

/**
 * Creates an aggregator for one round.
 *
 * @example
 * ```ts
 * const agg = createAggregator({ providers: 3 });
 * ```
 */
export function createAggregator(options: AggregatorOptions): AggregatorMachine {
  if (!Number.isSafeInteger(options.providers) || options.providers < 2) throw new RangeError('providers must be an integer ≥ 2');
  const n = options.providers;
  type State = 'awaiting-query' | 'starting' | 'collecting' | 'finished';
  let state: State = 'awaiting-query';
  let query: AggregateQuery | undefined;
  let he: HeContext | undefined;
  let publicKey: HePublicKey | undefined;
  let acc: HeCiphertext | undefined;
  // Provider positions 0..n-1 fixed by this side's own configuration, never numbers a peer picks.
  const lost = new Set<number>();
  const joined = new Set<number>();
  const contributed = new Set<number>();
  let queryId: string | undefined;
  const refusals: { provider: number; reason: number }[] = [];
  const withRefusals = (o: AggregatorOutcome): AggregatorOutcome => (refusals.length > 0 ? { ...o, refusals: refusals.slice() } : o);

  const release = (): void => {
    acc?.dispose();
    publicKey?.dispose();
    he?.dispose();
    acc = undefined;
    publicKey = undefined;
    he = undefined;
  };
  const abortFrame = (reason: number) => encodeAggregateMessage({ type: AggregateMessageType.ABORT, reason });
  const abort = (reason: number): AggregatorStep => {
    state = 'finished';
    release();
    const send: AggregatorSend[] = [{ to: 'analyst', frame: abortFrame(reason) }];
    for (let i = 0; i < n; i++) if (!lost.has(i)) send.push({ to: i, frame: abortFrame(reason) });
    return { send, outcome: withRefusals({ status: 'aborted', reason, contributors: 0, expected: n, queryId, included: [] }) };
  };
  const quorum = (): number => query?.quorum ?? n;

  const finish = (): AggregatorStep => {
    state = 'finished';
    const q = query!;
    const h = he!;
    const total = acc!;
    const send: AggregatorSend[] = [];
    try {
      const plan = dpPlan(q);
      if (plan !== null) {
        // The releasing side adds the noise, under encryption: the analyst never sees exact values.
        const layout = aggregateLayout(q);
        const noise = Array.from({ length: layout.slots }, (_, slot) => {
          const s = plan.perSlot[slot % layout.perGroup]!;
          return sampleBoundedDiscreteLaplace(s.epsilon, s.sensitivity).noise;
        });
        h.addPlain(total, noise);
      }
      h.rerandomise(total, publicKey!);
      h.finalise(total);
      const ciphertext = h.exportCiphertext(total);
      send.push({
        to: 'analyst',
        frame: encodeAggregateMessage({ type: AggregateMessageType.TOTAL, contributors: contributed.size, expected: n, noiseAdded: plan !== null, ciphertext }),
      });
    } finally {
      release();
    }
    const done = encodeAggregateMessage({ type: AggregateMessageType.DONE, contributors: contributed.size });
    const excluded = abortFrame(AbortReason.TIMEOUT);
    for (let i = 0; i < n; i++) {
      if (contributed.has(i)) send.push({ to: i, frame: done });
      else if (!lost.has(i)) send.push({ to: i, frame: excluded });
    }
    const included = [...contributed].sort((a, b) => a - b);
    return { send, outcome: withRefusals({ status: 'completed', contributors: contributed.size, expected: n, queryId, included }) };
  };

  // After any change: finish if every provider still present has contributed and a quorum did;
  // abort if a quorum can no longer be reached.
  const settle = (lossReason: number): AggregatorStep => {
    if (state !== 'collecting') return { send: [] };
    if (n - lost.size < quorum()) return abort(lossReason);
    if (contributed.size + lost.size === n) return finish();
    return { send: [] };
  };

  const checkIndex = (index: number): void => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= n) throw new RangeError(`index must be in [0, ${n})`);
  };

  return {
    async receiveFromAnalyst(frame) {
      if (state !== 'awaiting-query') {
        if (state === 'finished') return { send: [] };
        return abort(AbortReason.PROTOCOL_ERROR);
      }
      state = 'starting';
      let msg: AggregateMessage;
      try {
        msg = decodeAggregateMessage(frame);
        if (msg.type !== AggregateMessageType.QUERY) throw new UnexpectedMessageError();
        query = decodeAggregateQuery(msg.query);
        queryId = query.id;
      } catch {
        return abort(AbortReason.PROTOCOL_ERROR);
      }
      if (query.providers !== n || (options.acceptQuery !== undefined && !options.acceptQuery(query))) return abort(AbortReason.QUERY_REFUSED);
      try {
        // The key must be for exactly the parameters the query implies: the analyst cannot choose a
        // smaller plaintext modulus (wrapping sums) or weaker parameters.
        const expected = await chooseHeParameters(heRequestForQuery(query));
        const got = readPublicKeyParameters(msg.publicKey);
        if (!equalBytes(heParametersHash(expected), heParametersHash(got))) return abort(AbortReason.QUERY_REFUSED);
        he = await createHeContext(expected);
        if (state !== 'starting') {
          release();
          return { send: [] };
        }
        publicKey = he.importPublicKey(msg.publicKey);
      } catch {
        return abort(AbortReason.PROTOCOL_ERROR);
      }
      state = 'collecting';
      const announce = encodeAggregateMessage({
        type: AggregateMessageType.ANNOUNCE,
        query: msg.query,
        publicKey: msg.publicKey,
        ...(msg.signature !== undefined ? { signature: msg.signature } : {}),
      });
      const send: AggregatorSend[] = [];
      for (let i = 0; i < n; i++) if (!lost.has(i)) send.push({ to: i, frame: announce });
      return merge(send, settle(AbortReason.PROVIDER_LOST));
    },

    receiveFromProvider(index, frame) {
      checkIndex(index);
      if (state === 'finished' || lost.has(index)) return { send: [] };
      // One optional JOIN per provider, before anything else it sends.
      if (frame.length === 2 && frame[0] === AggregateMessageType.JOIN && !joined.has(index) && !contributed.has(index)) {
        try {
          decodeAggregateMessage(frame);
          joined.add(index);
          return { send: [] };
        } catch {
          /* falls through to the protocol-error path below */
        }
      }
      joined.add(index);
      if (state !== 'collecting' || contributed.has(index)) {
        lost.add(index);
        return merge([{ to: index, frame: abortFrame(AbortReason.PROTOCOL_ERROR) }], settle(AbortReason.PROVIDER_LOST));
      }
      let ct: HeCiphertext;
      try {
        const msg = decodeAggregateMessage(frame);
        if (msg.type === AggregateMessageType.ABORT) {
          lost.add(index);
          // A provider's own refusal (bad input, query against its policy) is reported as such.
          const own: number[] = [AbortReason.INPUT_ERROR, AbortReason.QUERY_REFUSED, AbortReason.QUORUM_REFUSED];
          const why = own.includes(msg.reason) ? msg.reason : AbortReason.PROVIDER_LOST;
          if (why !== AbortReason.PROVIDER_LOST) refusals.push({ provider: index, reason: why });
          return settle(why);
        }
        if (msg.type !== AggregateMessageType.CONTRIBUTION) throw new UnexpectedMessageError();
        ct = he!.importCiphertext(msg.ciphertext, { length: aggregateLayout(query!).slots, finalised: false, maxAddends: 1 });
      } catch {
        lost.add(index);
        return merge([{ to: index, frame: abortFrame(AbortReason.PROTOCOL_ERROR) }], settle(AbortReason.PROVIDER_LOST));
      }
      if (acc === undefined) acc = ct;
      else {
        try {
          he!.addInPlace(acc, ct);
        } finally {
          ct.dispose();
        }
      }
      contributed.add(index);
      return settle(AbortReason.PROVIDER_LOST);
    },

    providerLost(index) {
      checkIndex(index);
      if (state === 'finished' || lost.has(index) || contributed.has(index)) return { send: [] };
      lost.add(index);
      return settle(AbortReason.PROVIDER_LOST);
    },

    analystLost() {
      if (state === 'finished') return { send: [] };
      const step = abort(AbortReason.ANALYST_LOST);
      return merge([], { ...step, send: step.send.filter((s) => s.to !== 'analyst') });
    },

    deadline() {
      if (state === 'finished') return { send: [] };
      if (state === 'collecting' && contributed.size >= quorum()) return finish();
      return abort(AbortReason.TIMEOUT);
    },

    dispose() {
      state = 'finished';
      release();
    },
  };
}

function merge(first: AggregatorSend[], step: AggregatorStep): AggregatorStep {
  const out: AggregatorStep = { send: [...first, ...step.send] };
  if (step.outcome !== undefined) out.outcome = step.outcome;
  return out;
}
