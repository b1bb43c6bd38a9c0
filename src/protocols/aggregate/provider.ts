/**
 * A data provider as a sans-I/O state machine: on ANNOUNCE it checks that the public key is for
 * exactly the parameters the query implies, reduces its rows to the query's slot vector (values
 * checked against the declared bounds first) and returns one encrypted CONTRIBUTION.
 * @module
 */
import { InputError, MalformedMessageError, TermsRefusedError, UnexpectedMessageError, VerificationFailedError } from '../../errors.js';
import { encryptBatch } from '../../he/batch.js';
import { readPublicKeyParameters } from '../../he/context.js';
import { chooseHeParameters, heParametersHash } from '../../he/params.js';
import { equalBytes } from '../../utils/bytes.js';
import { computeLocalAggregates } from './local.js';
import { AGGREGATE_QUERY_LIMITS, decodeAggregateQuery, heRequestForQuery, type AggregateQuery } from './query.js';
import { errorForAbort } from './errors.js';
import { verifyQuerySignature } from './signature.js';
import { AbortReason, AggregateMessageType, decodeAggregateMessage, encodeAggregateMessage } from './messages.js';

/**
 * The default and smallest `minQuorum` of a provider: the query format's own floor (a total over
 * one provider would be that provider's vector).
 *
 * @example
 * ```ts
 * createProvider({ rows: () => rows, minQuorum: Math.max(MIN_QUORUM_FLOOR, 3) });
 * ```
 */
export const MIN_QUORUM_FLOOR = 2;

/**
 * Options of {@link createProvider}.
 *
 * @example
 * ```ts
 * const options: ProviderOptions = { rows: () => rows, acceptQuery: (q) => q.minCohort >= 10 };
 * ```
 */
export interface ProviderOptions {
  /** The provider's rows (column → cell text), read once the query is known. */
  rows?: (query: AggregateQuery) => Iterable<Readonly<Record<string, string | undefined>>>;
  /** Alternatively, computes the slot vector itself (e.g. streaming a file through `createLocalAggregator`). */
  localAggregates?: (query: AggregateQuery) => Promise<bigint[]>;
  /**
   * The analyst's Ed25519 identity public key (32 bytes), pinned: the query and HE public key must
   * carry its signature, else `VerificationFailedError` and nothing is encrypted. Without it the
   * provider trusts the aggregator to forward the real analyst's key (SECURITY.md).
   */
  analystPublicKey?: Uint8Array;
  /** Local policy: return false to refuse a query. */
  acceptQuery?: (query: AggregateQuery) => boolean;
  /**
   * The smallest `quorum` this provider contributes under (default and floor 2, what the query
   * format allows): a query whose quorum is lower is refused with `TermsRefusedError` (ABORT `QUORUM_REFUSED` to the aggregator and the analyst).
   * The quorum is the analyst's choice; without this check a provider's vector can end up in a
   * total of as few as `quorum` providers (SECURITY.md §1.2).
   */
  minQuorum?: number;
  /**
   * Called with the query bytes of ANNOUNCE as they arrived, before any check (the session layer
   * records their SHA-256 in the receipt, so it names the query this provider was shown).
   */
  onQuery?: (queryBytes: Uint8Array) => void;
  /** Encrypts the vector (default: inline {@link encryptBatch}; a worker pool may be injected). */
  encrypt?: (publicKey: Uint8Array, values: bigint[]) => Promise<Uint8Array>;
}

/**
 * The result of handling one frame: a frame to send, and/or the end of the round.
 *
 * @example
 * ```ts
 * const step = await provider.receive(frame);
 * if (step.send) await transport.send(step.send);
 * ```
 */
export interface ProviderStep {
  send?: Uint8Array;
  /** Set when the round completed: the number of contributors in the released total. */
  done?: { contributors: number; queryId: string };
}

/**
 * A provider's state machine.
 *
 * @example
 * ```ts
 * const provider = createProvider({ rows: () => rows });
 * ```
 */
export interface ProviderMachine {
  /**
   * Handles one frame from the aggregator. Throws the typed error of an ABORT, `InputError` for
   * unusable local rows (after returning nothing: use {@link ProviderMachine.abortFrame}).
   */
  receive(frame: Uint8Array): Promise<ProviderStep>;
  /** The ABORT frame to send to the aggregator after a local failure. */
  abortFrame(error: unknown): Uint8Array;
}

/**
 * Creates a provider for one round.
 *
 * @example
 * ```ts
 * const provider = createProvider({ rows: () => [{ ward: 'oncology', cost: '10.00' }] });
 * ```
 */
export function createProvider(options: ProviderOptions): ProviderMachine {
  const minQuorum = options.minQuorum ?? MIN_QUORUM_FLOOR;
  if (!Number.isSafeInteger(minQuorum) || minQuorum < MIN_QUORUM_FLOOR || minQuorum > AGGREGATE_QUERY_LIMITS.maxProviders) {
    throw new RangeError(`options.minQuorum must be an integer in [${MIN_QUORUM_FLOOR}, ${AGGREGATE_QUERY_LIMITS.maxProviders}]`);
  }
  let quorumRefusal: Error | undefined;
  let state: 'awaiting-announce' | 'contributed' | 'finished' = 'awaiting-announce';
  let query: AggregateQuery | undefined;
  const encrypt = options.encrypt ?? encryptBatch;
  return {
    async receive(frame) {
      if (state === 'finished') throw new UnexpectedMessageError('the provider round is over');
      const msg = decodeAggregateMessage(frame);
      if (msg.type === AggregateMessageType.ABORT) {
        state = 'finished';
        throw errorForAbort(msg.reason);
      }
      if (state === 'awaiting-announce') {
        if (msg.type !== AggregateMessageType.ANNOUNCE) throw new UnexpectedMessageError();
        options.onQuery?.(msg.query.slice());
        if (options.analystPublicKey !== undefined) verifyQuerySignature(options.analystPublicKey, msg.query, msg.publicKey, msg.signature);
        query = decodeAggregateQuery(msg.query);
        // The quorum bounds how few providers' vectors a released total may cover; the analyst
        // chose it, so the provider checks it against its own minimum.
        if (query.quorum < minQuorum) {
          quorumRefusal = new TermsRefusedError(`query quorum ${query.quorum} is below this provider's minimum of ${minQuorum}`);
          throw quorumRefusal;
        }
        if (options.acceptQuery !== undefined && !options.acceptQuery(query)) throw new TermsRefusedError('query refused by local policy');
        const expected = await chooseHeParameters(heRequestForQuery(query));
        const got = readPublicKeyParameters(msg.publicKey);
        if (!equalBytes(heParametersHash(expected), heParametersHash(got))) {
          throw new MalformedMessageError('public key parameters do not match the query');
        }
        let vector: bigint[];
        if (options.localAggregates !== undefined) vector = await options.localAggregates(query);
        else if (options.rows !== undefined) vector = computeLocalAggregates(query, options.rows(query));
        else throw new TypeError('options.rows or options.localAggregates is required');
        const ciphertext = await encrypt(msg.publicKey, vector);
        state = 'contributed';
        return { send: encodeAggregateMessage({ type: AggregateMessageType.CONTRIBUTION, ciphertext }) };
      }
      if (msg.type !== AggregateMessageType.DONE) throw new UnexpectedMessageError();
      state = 'finished';
      return { done: { contributors: msg.contributors, queryId: query!.id } };
    },
    abortFrame(error) {
      state = 'finished';
      const reason =
        error === quorumRefusal
          ? AbortReason.QUORUM_REFUSED
          : error instanceof InputError
          ? AbortReason.INPUT_ERROR
          : error instanceof TermsRefusedError || error instanceof VerificationFailedError
            ? AbortReason.QUERY_REFUSED
            : AbortReason.PROTOCOL_ERROR;
      return encodeAggregateMessage({ type: AggregateMessageType.ABORT, reason });
    },
  };
}
