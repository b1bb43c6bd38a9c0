/**
 * The analyst as a sans-I/O state machine: it makes the HE key pair for the query, sends QUERY,
 * and decrypts only the TOTAL the aggregator returns (it never receives individual contributions).
 * @module
 */
import { MalformedMessageError, UnexpectedMessageError } from '../../errors.js';
import { createHeContext, type HeContext, type HeKeyPair } from '../../he/context.js';
import { chooseHeParameters } from '../../he/params.js';
import { buildAggregateResult, type AggregateResult } from './result.js';
import { aggregateLayout, encodeAggregateQuery, heRequestForQuery, type AggregateQuery } from './query.js';
import { errorForAbort } from './errors.js';
import { signQuery } from './signature.js';
import { AggregateMessageType, decodeAggregateMessage, encodeAggregateMessage } from './messages.js';

/**
 * The analyst's state machine.
 *
 * @example
 * ```ts
 * const analyst = await createAnalyst(query);
 * await transport.send(analyst.queryFrame);
 * const result = analyst.receive(await transport.receive());
 * analyst.dispose();
 * ```
 */
export interface AnalystMachine {
  /** The QUERY frame to send to the aggregator. */
  readonly queryFrame: Uint8Array;
  /**
   * Handles the aggregator's reply: TOTAL → the released result; ABORT → throws the typed error
   * for its reason; anything else → `UnexpectedMessageError` / `MalformedMessageError`.
   * Releases the secret key afterwards either way.
   */
  receive(frame: Uint8Array): AggregateResult;
  /** Releases the key pair and HE context (idempotent). */
  dispose(): void;
}

/**
 * Options of {@link createAnalyst}.
 *
 * @example
 * ```ts
 * const analyst = await createAnalyst(query, { identitySecretKey: identity.secretKey });
 * ```
 */
export interface AnalystOptions {
  /** Ed25519 identity secret key (32-byte seed): sign (query, HE public key) for providers that pin it. */
  identitySecretKey?: Uint8Array;
}

/**
 * Creates an analyst for one query: chooses the parameters the query implies and a fresh key pair.
 *
 * @example
 * ```ts
 * const analyst = await createAnalyst(parseAggregateQuery(JSON.parse(text)));
 * ```
 */
export async function createAnalyst(query: AggregateQuery, options: AnalystOptions = {}): Promise<AnalystMachine> {
  const params = await chooseHeParameters(heRequestForQuery(query));
  let he: HeContext | undefined = await createHeContext(params);
  let keys: HeKeyPair | undefined = he.generateKeys();
  const queryBytes = encodeAggregateQuery(query);
  const publicKey = he.exportPublicKey(keys.publicKey);
  const queryFrame = encodeAggregateMessage({
    type: AggregateMessageType.QUERY,
    query: queryBytes,
    publicKey,
    ...(options.identitySecretKey !== undefined ? { signature: signQuery(options.identitySecretKey, queryBytes, publicKey) } : {}),
  });
  const dispose = (): void => {
    keys?.publicKey.dispose();
    keys?.secretKey.dispose();
    he?.dispose();
    keys = undefined;
    he = undefined;
  };
  return {
    queryFrame,
    receive(frame) {
      if (he === undefined || keys === undefined) throw new UnexpectedMessageError('the analyst round is over');
      try {
        const msg = decodeAggregateMessage(frame);
        if (msg.type === AggregateMessageType.ABORT) throw errorForAbort(msg.reason);
        if (msg.type !== AggregateMessageType.TOTAL) throw new UnexpectedMessageError();
        if (msg.expected !== query.providers || msg.contributors < query.quorum) throw new MalformedMessageError('total covers fewer providers than the quorum');
        const ct = he.importCiphertext(msg.ciphertext, { length: aggregateLayout(query).slots, finalised: true });
        try {
          const totals = he.decrypt(keys.secretKey, ct);
          return buildAggregateResult(query, totals, msg.contributors, msg.expected, msg.noiseAdded);
        } finally {
          ct.dispose();
        }
      } finally {
        dispose();
      }
    },
    dispose,
  };
}
