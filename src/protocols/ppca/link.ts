/**
 * What the PPCA protocol needs from a link (brief §1): ordered, keyed messages per channel to and
 * from the one peer. The gRPC link (`dataport/node`) and the in-memory link implement it; the
 * protocol itself does no I/O.
 * @module
 */

/**
 * The two channels ECDH-PSI uses: `main` is the link's id (`root` by default), `dual` the child
 * the reference's `Context::Spawn()` creates, `{id}-0` (brief §1.3).
 *
 * @example
 * ```ts
 * await link.send('dual', bytes);
 * ```
 */
export type PpcaChannel = 'main' | 'dual';

/**
 * Counters of a link (every PushRequest byte on the wire, acknowledgements and chunks included).
 *
 * @example
 * ```ts
 * const { bytesSent, bytesReceived } = link.stats();
 * ```
 */
export interface PpcaLinkStats {
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
}

/**
 * A link to one PPCA peer.
 *
 * @example
 * ```ts
 * await link.connect();
 * await link.send('main', request);
 * const answer = await link.recv('main');
 * await link.finish();
 * ```
 */
export interface PpcaLink {
  /** This party's rank (0 or 1). */
  readonly rank: 0 | 1;
  /** The start-up exchange of `connect_{rank}` messages (brief §1.4). */
  connect(signal?: AbortSignal): Promise<void>;
  /** Sends the next message of `channel` (key `{channel}:P2P-{n}:{me}->{peer}`); resolves when the peer accepted it. */
  send(channel: PpcaChannel, value: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** The peer's next message on `channel`; rejects with `TimeoutError` after the receive timeout. */
  recv(channel: PpcaChannel, signal?: AbortSignal): Promise<Uint8Array>;
  /** The orderly end (brief §1.3 FIN): waits, bounded, for the peer's FIN, its messages and all ACKs. */
  finish(signal?: AbortSignal): Promise<void>;
  /** Fails the link: pending and later operations reject with `reason`, the peer's pushes are refused. */
  abort(reason: unknown): void;
  /** Byte and message counters. */
  stats(): PpcaLinkStats;
}
