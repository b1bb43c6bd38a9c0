/**
 * The one interface every transport implements: an ordered, reliable stream of binary frames.
 * @module
 */

/** Byte counters of one transport. */
export interface TransportStats {
  bytesSent: number;
  bytesReceived: number;
  framesSent: number;
  framesReceived: number;
}

/**
 * An ordered, reliable, message-framed duplex channel (one protocol struct per frame).
 *
 * Implementations enforce their limits (maximum frame size, maximum bytes per session, idle and
 * overall timeouts) and end with a typed error: `TransportClosedError`, `TimeoutError`,
 * `LimitExceededError` or `AbortError`. `send` resolves only once the frame has been accepted
 * without exceeding the configured buffering (backpressure), so a slow peer cannot make the
 * sender buffer without bound.
 */
export interface FrameTransport {
  /** Sends one frame. The bytes may be retained until the promise resolves; do not mutate them. */
  send(frame: Uint8Array, signal?: AbortSignal): Promise<void>;
  /** Resolves with the next frame; rejects with a typed error when the channel ends or a limit trips. */
  receive(signal?: AbortSignal): Promise<Uint8Array>;
  /** Closes the channel; pending and later `receive` calls reject with `TransportClosedError`. */
  close(reason?: string): Promise<void>;
  /** Live counters. */
  readonly stats: TransportStats;
  /**
   * Called by the session layer once the peer has proved an accepted identity (its signature over
   * the handshake verified against a pinned or allowed key). A listener's transport uses it to
   * lift its handshake deadline and count the connection as a session; when the listener already
   * serves all the sessions it may, it closes the connection as busy and throws
   * `TransportClosedError`. Transports without a listener behind them need not implement it.
   */
  peerAuthenticated?(): void;
}
