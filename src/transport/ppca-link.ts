/**
 * The PPCA link as the reference (yacl `Channel`) speaks it, independent of the RPC carrying it
 * (brief §1): message keys with per-channel counters from 1 and the `\x01\x02{seq}` suffix,
 * duplicate suppression, ACKs and the throttle window, FIN with the message count, MONO and
 * CHUNKED messages reassembled by offset, `connect_{rank}` start-up and the receive timeout.
 *
 * Bytes in, bytes out: {@link PpcaLinkEndpoint.onPush} takes a serialised `PushRequest` (what the
 * own server received) and returns the serialised `PushResponse`; `deliver` sends one to the
 * peer's server. The protobuf work is here, through the generated code, so the gRPC link
 * (`ppca-link-grpc.ts`) and the in-memory link ({@link createMemoryPpcaLinkPair}) carry the
 * same bytes.
 *
 * Everything from the peer is hostile until checked: a malformed request, a wrong `sender_rank`,
 * a key this run does not expect, a reused seq with another key, a chunk past its message, or
 * more stored data than the limits allow fails the link with a typed error, and from then on every
 * push of the peer is answered with a non-zero `error_code` so that the peer stops too.
 * @module
 */
import { create } from '@bufbuild/protobuf';
import { AbortError, DataportError, LimitExceededError, MalformedMessageError, TimeoutError, TransportClosedError, UnexpectedMessageError } from '../errors.js';
import {
  decodeProto,
  encodePushRequest,
  encodePushResponseError,
  encodePushResponseOk,
  peerText,
  PpcaErrorCode,
  PPCA_MAX_MESSAGE_BYTES,
  PushRequestSchema,
  PushResponseSchema,
  TransType,
} from '../protocols/ppca/codec.js';
import type { PpcaChannel, PpcaLink, PpcaLinkStats } from '../protocols/ppca/link.js';

/** The seq separator yacl appends to every key (`channel.cc BuildChannelKey`). */
const SEQ_SEP = '\x01\x02';
const ACK_KEY = 'ACK' + SEQ_SEP;
const FIN_KEY = 'FIN' + SEQ_SEP;

/**
 * Limits and timings of a PPCA link; the defaults are the reference's (brief §6).
 *
 * @example
 * ```ts
 * const options: PpcaLinkOptions = { rank: 0, recvTimeoutMs: 5_000, chunkBytes: 1024 };
 * ```
 */
export interface PpcaLinkOptions {
  /** This party's rank; the peer is the other one. */
  rank: 0 | 1;
  /** Channel id (default `root`, yacl `ContextDesc::kDefaultId`); the dual channel is `{id}-0`. */
  channel?: string;
  /** Longest wait for an expected message, an ACK window slot or the peer's FIN (default 30 000 ms). */
  recvTimeoutMs?: number;
  /** Values longer than this are sent CHUNKED (default 1 044 480, the reference's h2 limit). */
  chunkBytes?: number;
  /** Largest message accepted from the peer, also the bound on a CHUNKED `message_length` (default 64 MiB). */
  maxMessageBytes?: number;
  /** Messages received but not yet taken by the protocol (default 64). */
  maxPendingMessages?: number;
  /** Bytes of those messages, partial CHUNKED buffers included (default 256 MiB). */
  maxPendingBytes?: number;
  /** Own messages the peer may leave unacknowledged before sending waits (default 10). */
  throttleWindow?: number;
  /** Tries of the `connect_{rank}` message (default 10, 1 s apart). */
  connectRetries?: number;
  /** Pause between connect tries (default 1000 ms). */
  connectRetryDelayMs?: number;
  /** Retries of a push that failed in transport (default 3: after 1 s, 3 s, 5 s). */
  sendRetries?: number;
  /** First retry pause (default 1000 ms; +2 s each, at most 10 s). */
  sendRetryDelayMs?: number;
}

/** Sends one serialised `PushRequest` to the peer's server; resolves with its serialised `PushResponse`. */
export type PpcaDeliver = (request: Uint8Array, signal?: AbortSignal) => Promise<Uint8Array>;

/**
 * A link endpoint: the {@link PpcaLink} the protocol uses plus the server side.
 *
 * @example
 * ```ts
 * const endpoint = createPpcaLinkEndpoint({ rank: 0 }, deliver);
 * server.onRequest = (bytes) => endpoint.onPush(bytes);
 * ```
 */
export interface PpcaLinkEndpoint extends PpcaLink {
  /** Handles a serialised `PushRequest` the own server received; returns the serialised answer. */
  onPush(request: Uint8Array): Uint8Array;
  /** The error that failed the link, if any. */
  readonly failure: unknown;
}

interface Stored {
  readonly seq: number;
  readonly value: Uint8Array;
}

interface Partial {
  readonly seq: number;
  readonly buf: Uint8Array;
  readonly chunks: Map<number, number>; // offset -> length
  written: number;
}

interface Waiter {
  readonly test: () => boolean;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** The peer answered a push with a non-zero `error_code` (as opposed to not being reachable). */
class PeerRefusedError extends TransportClosedError {}

const KEY_RE = /^(.{1,128}):P2P-([1-9][0-9]{0,14}):([0-9]{1,3})->([0-9]{1,3})$/s;
const DEC_RE = /^(0|[1-9][0-9]{0,14})$/;

function positive(v: number | undefined, def: number, name: string, min = 1): number {
  const x = v ?? def;
  if (!Number.isSafeInteger(x) || x < min) throw new RangeError(`${name} must be an integer ≥ ${min}`);
  return x;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new AbortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Creates one side of a PPCA link over `deliver` (which reaches the peer's server).
 *
 * @example
 * ```ts
 * const link = createPpcaLinkEndpoint({ rank: 1, recvTimeoutMs: 5000 }, (bytes) => pushToPeer(bytes));
 * ```
 */
export function createPpcaLinkEndpoint(options: PpcaLinkOptions, deliver: PpcaDeliver): PpcaLinkEndpoint {
  const rank = options.rank;
  if (rank !== 0 && rank !== 1) throw new RangeError('rank must be 0 or 1');
  const peer = (1 - rank) as 0 | 1;
  const channelId = options.channel ?? 'root';
  if (typeof channelId !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(channelId)) throw new RangeError('channel must be 1..64 characters of [A-Za-z0-9_.-]');
  const names: Record<PpcaChannel, string> = { main: channelId, dual: `${channelId}-0` };
  const recvTimeoutMs = positive(options.recvTimeoutMs, 30_000, 'recvTimeoutMs');
  const chunkBytes = positive(options.chunkBytes, 1_044_480, 'chunkBytes');
  const maxMessageBytes = positive(options.maxMessageBytes, PPCA_MAX_MESSAGE_BYTES, 'maxMessageBytes');
  const maxPendingMessages = positive(options.maxPendingMessages, 64, 'maxPendingMessages');
  const maxPendingBytes = positive(options.maxPendingBytes, 256 * 1024 * 1024, 'maxPendingBytes');
  const throttleWindow = positive(options.throttleWindow, 10, 'throttleWindow');
  const connectRetries = positive(options.connectRetries, 10, 'connectRetries');
  const connectRetryDelayMs = positive(options.connectRetryDelayMs, 1000, 'connectRetryDelayMs', 0);
  const sendRetries = positive(options.sendRetries, 3, 'sendRetries', 0);
  const sendRetryDelayMs = positive(options.sendRetryDelayMs, 1000, 'sendRetryDelayMs', 0);
  // A request holds one chunk plus a key; anything far larger is refused before decoding.
  const maxRequestBytes = Math.min(maxMessageBytes, Math.max(chunkBytes, 1 << 20)) + 4096;

  const stats: PpcaLinkStats = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0 };
  const sendCounter: Record<PpcaChannel, number> = { main: 0, dual: 0 };
  const recvCounter: Record<PpcaChannel, number> = { main: 0, dual: 0 };
  let seq = 0; // own normal messages sent to the peer, over all channels (brief §1.3)
  const unacked = new Set<number>();
  const mailbox = new Map<string, Stored>();
  const partials = new Map<string, Partial>();
  const seenSeq = new Map<number, string>(); // peer seq -> key it carried
  let pendingBytes = 0;
  let peerConnected = false;
  let peerFin: number | undefined;
  let closing = false;
  let failure: unknown;
  const waiters = new Set<Waiter>();

  const wake = (): void => {
    for (const w of [...waiters]) {
      if (w.test()) {
        waiters.delete(w);
        w.resolve();
      }
    }
  };

  function fail(err: unknown): void {
    if (failure !== undefined) return;
    failure = err;
    if (throttleTimer !== undefined) clearTimeout(throttleTimer);
    for (const m of sendQueue.splice(0)) m.reject(err);
    for (const w of [...waiters]) {
      waiters.delete(w);
      w.reject(err);
    }
    mailbox.clear();
    partials.clear();
    pendingBytes = 0;
  }

  /** Waits until `test()` holds, bounded by the receive timeout. */
  function waitFor(test: () => boolean, what: () => string, signal?: AbortSignal): Promise<void> {
    if (failure !== undefined) return Promise.reject(failure);
    if (test()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new AbortError());
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const w: Waiter = {
        test,
        resolve: () => {
          done();
          resolve();
        },
        reject: (e) => {
          done();
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        done();
        reject(new TimeoutError(`${what()} within ${recvTimeoutMs / 1000} s`));
      }, recvTimeoutMs);
      const onAbort = (): void => {
        waiters.delete(w);
        done();
        reject(new AbortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(w);
    });
  }

  /** One push with the reference's retries on transport failures; a non-zero error_code fails at once. */
  async function push(key: string, value: Uint8Array, chunk?: { length: number; offset: number }, signal?: AbortSignal, retries = sendRetries): Promise<void> {
    const req = create(PushRequestSchema, {
      senderRank: BigInt(rank),
      key,
      value,
      transType: chunk ? TransType.CHUNKED : TransType.MONO,
      ...(chunk ? { chunkInfo: { messageLength: BigInt(chunk.length), chunkOffset: BigInt(chunk.offset) } } : {}),
    });
    const bytes = encodePushRequest(req);
    let delay = sendRetryDelayMs;
    for (let attempt = 0; ; attempt++) {
      if (failure !== undefined) throw failure;
      let answer: Uint8Array;
      try {
        answer = await deliver(bytes, signal);
      } catch (cause) {
        if (cause instanceof DataportError && cause.code === 'ERR_ABORTED') throw cause;
        if (attempt >= retries) throw cause instanceof DataportError ? cause : new TransportClosedError('the peer could not be reached', { cause });
        await sleep(Math.min(delay, 10_000), signal);
        delay += 2000;
        continue;
      }
      stats.bytesSent += bytes.length;
      stats.messagesSent++;
      const res = decodeProto(PushResponseSchema, answer, 'PushResponse', 64 * 1024);
      const code = res.header?.errorCode ?? 0;
      if (code !== 0) {
        const name = PpcaErrorCode[code] ?? 'error';
        throw new PeerRefusedError(`the peer refused a message: ${code} ${name}: ${peerText(res.header?.errorMsg ?? '')}`);
      }
      return;
    }
  }

  // ACKs go out in the background; `finish` waits for them so that closing the client does not cut one off.
  const background = new Set<Promise<void>>();
  const fireAndForget = (p: Promise<void>): void => {
    const q = p.catch((e) => fail(e)).finally(() => background.delete(q));
    background.add(q);
  };

  // ---- server side -------------------------------------------------------------------------

  function refuse(code: PpcaErrorCode, err: DataportError): Uint8Array {
    fail(err);
    return encodePushResponseError(code, err.message);
  }

  function onPush(bytes: Uint8Array): Uint8Array {
    if (failure !== undefined) return encodePushResponseError(PpcaErrorCode.UNEXPECTED_ERROR, 'link closed after an error');
    stats.bytesReceived += bytes.length;
    stats.messagesReceived++;
    if (bytes.length > maxRequestBytes) return refuse(PpcaErrorCode.INVALID_REQUEST, new LimitExceededError(`a PushRequest of ${bytes.length} bytes exceeds the limit of ${maxRequestBytes}`));
    let req;
    try {
      req = decodeProto(PushRequestSchema, bytes, 'PushRequest', maxRequestBytes);
    } catch (e) {
      return refuse(PpcaErrorCode.INVALID_REQUEST, e as DataportError);
    }
    if (req.senderRank !== BigInt(peer)) {
      // brief §1.1: the server dispatches on sender_rank; an unknown rank is a dispatch error.
      return refuse(PpcaErrorCode.UNEXPECTED_ERROR, new UnexpectedMessageError(`dispatch error: a message with sender_rank ${req.senderRank}, the peer is rank ${peer}`));
    }
    if (req.transType !== TransType.MONO && req.transType !== TransType.CHUNKED) {
      return refuse(PpcaErrorCode.INVALID_REQUEST, new MalformedMessageError(`Error: trans type=${req.transType}, from rank=${peer}`));
    }
    const sep = req.key.indexOf(SEQ_SEP);
    const base = sep < 0 ? req.key : req.key.slice(0, sep);
    const seqText = sep < 0 ? '' : req.key.slice(sep + 2);
    try {
      if (req.key === ACK_KEY || req.key === FIN_KEY) {
        if (req.transType !== TransType.MONO || !DEC_RE.test(new TextDecoder().decode(req.value))) throw new MalformedMessageError(`${base} with a malformed value`);
        const n = Number(new TextDecoder().decode(req.value));
        if (req.key === ACK_KEY) {
          // An ACK for a seq never sent is ignored (a retried ACK may come twice).
          if (unacked.delete(n)) pump();
        } else {
          if (peerFin !== undefined && peerFin !== n) throw new UnexpectedMessageError('a second FIN with another count');
          peerFin = n;
        }
        wake();
        return encodePushResponseOk();
      }
      if (sep >= 0 && !DEC_RE.test(seqText)) throw new MalformedMessageError('a message key with a malformed seq suffix');
      const s = sep < 0 ? 0 : Number(seqText);
      if (base === `connect_${peer}`) {
        if (s !== 0 || req.transType !== TransType.MONO) throw new UnexpectedMessageError('a connect message with a seq');
        peerConnected = true;
        wake();
        return encodePushResponseOk();
      }
      const m = KEY_RE.exec(base);
      const channel: PpcaChannel | undefined = m?.[1] === names.main ? 'main' : m?.[1] === names.dual ? 'dual' : undefined;
      if (!m || !channel || m[3] !== String(peer) || m[4] !== String(rank)) {
        throw new UnexpectedMessageError(`a message with an unknown key '${peerText(base)}'`);
      }
      const n = Number(m[2]);
      if (s > 0) {
        const prev = seenSeq.get(s);
        if (prev !== undefined) {
          // A retried push (brief §1.3): same seq and key, dropped. The same seq on another key is not a retry.
          if (prev !== base) throw new UnexpectedMessageError(`seq ${s} used twice, for two different messages`);
          return encodePushResponseOk();
        }
      }
      if (n <= recvCounter[channel] || mailbox.has(base)) {
        throw new UnexpectedMessageError(`message '${peerText(base)}' received twice`);
      }
      if (n > recvCounter[channel] + maxPendingMessages) throw new LimitExceededError(`message '${peerText(base)}' is too far ahead of what this side has read`);
      if (closing) {
        // brief §1.3: once closing, a late message is acknowledged instead of stored.
        if (s > 0) {
          seenSeq.set(s, base);
          fireAndForget(push(ACK_KEY, new TextEncoder().encode(String(s))));
        }
        wake();
        return encodePushResponseOk();
      }
      if (req.transType === TransType.MONO) {
        if (req.chunkInfo) throw new MalformedMessageError('a MONO message with chunk_info');
        if (req.value.length > maxMessageBytes) throw new LimitExceededError(`a message of ${req.value.length} bytes exceeds the limit of ${maxMessageBytes}`);
        store(base, s, req.value);
      } else {
        onChunk(base, s, req.value, req.chunkInfo?.messageLength, req.chunkInfo?.chunkOffset);
      }
      return encodePushResponseOk();
    } catch (e) {
      const err = e instanceof DataportError ? e : new MalformedMessageError('bad message', { cause: e });
      return refuse(err instanceof MalformedMessageError ? PpcaErrorCode.INVALID_REQUEST : PpcaErrorCode.UNEXPECTED_ERROR, err);
    }
  }

  function store(base: string, s: number, value: Uint8Array): void {
    if (mailbox.size + partials.size >= maxPendingMessages) throw new LimitExceededError(`more than ${maxPendingMessages} unread messages from the peer`);
    if (pendingBytes + value.length > maxPendingBytes) throw new LimitExceededError(`more than ${maxPendingBytes} bytes of unread messages from the peer`);
    pendingBytes += value.length;
    if (s > 0) seenSeq.set(s, base);
    // Own copy: the request buffer belongs to the RPC layer.
    mailbox.set(base, { seq: s, value: value.slice() });
    wake();
  }

  function onChunk(base: string, s: number, value: Uint8Array, lengthBig: bigint | undefined, offsetBig: bigint | undefined): void {
    if (lengthBig === undefined || offsetBig === undefined) throw new MalformedMessageError('a CHUNKED message without chunk_info');
    if (lengthBig > BigInt(maxMessageBytes)) throw new LimitExceededError(`a message of ${lengthBig} bytes exceeds the limit of ${maxMessageBytes}`);
    const length = Number(lengthBig);
    if (offsetBig + BigInt(value.length) > lengthBig) throw new MalformedMessageError('a chunk past message_length');
    if (value.length === 0) throw new MalformedMessageError('an empty chunk');
    const offset = Number(offsetBig);
    let p = partials.get(base);
    if (!p) {
      if (mailbox.size + partials.size >= maxPendingMessages) throw new LimitExceededError(`more than ${maxPendingMessages} unread messages from the peer`);
      if (pendingBytes + length > maxPendingBytes) throw new LimitExceededError(`more than ${maxPendingBytes} bytes of unread messages from the peer`);
      pendingBytes += length;
      p = { seq: s, buf: new Uint8Array(length), chunks: new Map(), written: 0 };
      partials.set(base, p);
    } else if (p.buf.length !== length || p.seq !== s) {
      throw new MalformedMessageError('chunks of one message disagree on message_length or seq');
    }
    if (p.chunks.has(offset)) return; // a retried chunk
    p.chunks.set(offset, value.length);
    p.buf.set(value, offset);
    p.written += value.length;
    if (p.written < length) return;
    // The chunks must tile [0, length) exactly: overlapping chunks could otherwise leave holes.
    const offs = [...p.chunks.keys()].sort((a, b) => a - b);
    let end = 0;
    for (const o of offs) {
      if (o !== end) throw new MalformedMessageError('chunks that overlap or leave a gap');
      end += p.chunks.get(o)!;
    }
    if (end !== length) throw new MalformedMessageError('chunks that overlap or leave a gap');
    partials.delete(base);
    pendingBytes -= length;
    store(base, s, p.buf);
  }

  // ---- the send queue (brief §1.3 throttle window) ------------------------------------------
  //
  // As in yacl, the throttle holds back the *sending*, not the caller: `send` queues the message
  // and returns at once with a promise of its delivery. A caller that waited for delivery could
  // deadlock two peers that both stream (each waiting for window slots that only its own, blocked,
  // reading would free). At most `throttleWindow` own messages are unacknowledged; when the queue
  // is held back that long without any ACK arriving, the link fails ("throttle window wait timeout").
  interface Queued {
    readonly key: string;
    readonly seq: number;
    readonly value: Uint8Array;
    readonly signal: AbortSignal | undefined;
    readonly resolve: () => void;
    readonly reject: (e: unknown) => void;
  }
  const sendQueue: Queued[] = [];
  let throttleTimer: ReturnType<typeof setTimeout> | undefined;

  async function deliverMessage(m: Queued): Promise<void> {
    const { key, value, signal } = m;
    if (value.length <= chunkBytes) return push(key, value, undefined, signal);
    // brief §1.5: chunk i starts at i × limit; up to 8 in flight.
    const count = Math.ceil(value.length / chunkBytes);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const off = i * chunkBytes;
        await push(key, value.subarray(off, Math.min(value.length, off + chunkBytes)), { length: value.length, offset: off }, signal);
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, count) }, worker));
  }

  function pump(): void {
    if (failure !== undefined) {
      for (const m of sendQueue.splice(0)) m.reject(failure);
      return;
    }
    while (sendQueue.length > 0 && unacked.size < throttleWindow) {
      const m = sendQueue.shift()!;
      unacked.add(m.seq);
      deliverMessage(m).then(m.resolve, (e: unknown) => {
        fail(e);
        m.reject(e);
      });
    }
    if (throttleTimer !== undefined) clearTimeout(throttleTimer);
    throttleTimer = undefined;
    if (sendQueue.length > 0) {
      throttleTimer = setTimeout(
        () => fail(new TimeoutError(`throttle window wait timeout: the peer acknowledged none of ${throttleWindow} messages within ${recvTimeoutMs / 1000} s`)),
        recvTimeoutMs,
      );
    }
  }

  // ---- the PpcaLink --------------------------------------------------------------------------

  const keyOf = (channel: PpcaChannel, n: number, src: number, dst: number): string => `${names[channel]}:P2P-${n}:${src}->${dst}`;

  const link: PpcaLinkEndpoint = {
    rank,
    get failure() {
      return failure;
    },
    onPush,

    async connect(signal) {
      // brief §1.4: connect_{rank} with seq 0 (no ACK, no count), retried; then wait for the peer's.
      const key = `connect_${rank}${SEQ_SEP}0`;
      let lastErr: unknown;
      let ok = false;
      for (let i = 0; i < connectRetries && !ok; i++) {
        if (failure !== undefined) throw failure;
        try {
          await push(key, new Uint8Array(0), undefined, signal, 0);
          ok = true;
        } catch (e) {
          // Only an unreachable peer is worth another try; a refusal, a malformed answer or an abort is final.
          if (!(e instanceof TransportClosedError) || e instanceof PeerRefusedError) throw e;
          lastErr = e;
          if (i + 1 < connectRetries) await sleep(connectRetryDelayMs, signal);
        }
      }
      if (!ok) throw new TransportClosedError(`the peer could not be reached after ${connectRetries} tries`, { cause: lastErr });
      await waitFor(() => peerConnected, () => `the peer (rank ${peer}) did not connect`, signal);
    },

    send(channel, value, signal) {
      if (failure !== undefined) return Promise.reject(failure);
      if (closing) return Promise.reject(new TransportClosedError('the link is closing'));
      if (signal?.aborted) return Promise.reject(new AbortError());
      // Key and seq are fixed now, in call order; the message then waits in the send queue.
      const key = keyOf(channel, ++sendCounter[channel], rank, peer) + SEQ_SEP + ++seq;
      return new Promise<void>((resolve, reject) => {
        sendQueue.push({ key, seq, value, signal, resolve, reject });
        pump();
      });
    },

    async recv(channel, signal) {
      const n = recvCounter[channel] + 1;
      const key = keyOf(channel, n, peer, rank);
      await waitFor(() => mailbox.has(key), () => `no message '${key}' from the peer`, signal);
      const got = mailbox.get(key)!;
      mailbox.delete(key);
      recvCounter[channel] = n;
      pendingBytes -= got.value.length;
      if (got.seq > 0) fireAndForget(push(ACK_KEY, new TextEncoder().encode(String(got.seq))));
      return got.value;
    },

    async finish(signal) {
      if (failure !== undefined) throw failure;
      closing = true;
      // Acknowledge what was never read, then announce the count (brief §1.3).
      for (const [k, v] of mailbox) {
        mailbox.delete(k);
        pendingBytes -= v.value.length;
        if (v.seq > 0) fireAndForget(push(ACK_KEY, new TextEncoder().encode(String(v.seq))));
      }
      await push(FIN_KEY, new TextEncoder().encode(String(seq)), undefined, signal);
      // Unlike the reference, the wait is bounded: a peer that never sends FIN ends with a TimeoutError.
      await waitFor(
        () => {
          if (peerFin === undefined || unacked.size > 0 || sendQueue.length > 0) return false;
          for (let i = 1; i <= peerFin; i++) if (!seenSeq.has(i)) return false;
          return true;
        },
        () => (peerFin === undefined ? 'the peer did not finish the link (no FIN)' : unacked.size + sendQueue.length > 0 ? `the peer did not acknowledge ${unacked.size + sendQueue.length} messages` : 'the peer announced messages that never arrived'),
        signal,
      );
      await Promise.all([...background]);
      if (failure !== undefined) throw failure;
    },

    abort(reason) {
      fail(reason);
    },

    stats() {
      return { ...stats };
    },
  };
  return link;
}

/**
 * Options of {@link createMemoryPpcaLinkPair}: the link options of both ends, and `tap`.
 *
 * @example
 * ```ts
 * const options: MemoryPpcaLinkOptions = { recvTimeoutMs: 2000, tap: (from, req) => req };
 * ```
 */
export interface MemoryPpcaLinkOptions extends Omit<PpcaLinkOptions, 'rank'> {
  /**
   * Sees every serialised PushRequest of rank `from` before delivery and returns what is
   * delivered instead: the same bytes, other bytes, several requests (in order), or nothing (the
   * request is dropped and the sender told it was accepted). For tests that play a hostile peer.
   */
  tap?: (from: 0 | 1, request: Uint8Array) => Uint8Array | readonly Uint8Array[] | null;
}

/**
 * Two link endpoints wired to each other in memory, through the same serialised PushRequests as
 * the gRPC link (for tests and for running both ranks in one process).
 *
 * @example
 * ```ts
 * const [l0, l1] = createMemoryPpcaLinkPair({ recvTimeoutMs: 2000 });
 * await Promise.all([runPpcaPsi({ rank: 0, records: a, link: l0 }), runPpcaPsi({ rank: 1, records: b, link: l1 })]);
 * ```
 */
export function createMemoryPpcaLinkPair(options: MemoryPpcaLinkOptions = {}): [PpcaLinkEndpoint, PpcaLinkEndpoint] {
  const { tap, ...linkOptions } = options;
  const ends: PpcaLinkEndpoint[] = [];
  // Delivery in a later microtask, as over a socket, so that no send completes inside the peer's call stack.
  const deliverTo = (to: 0 | 1): PpcaDeliver => (bytes) =>
    Promise.resolve().then(() => {
      const target = ends[to]!;
      if (!tap) return target.onPush(bytes);
      const t = tap((1 - to) as 0 | 1, bytes);
      const list = t === null ? [] : t instanceof Uint8Array ? [t] : t;
      let answer = encodePushResponseOk();
      for (const b of list) answer = target.onPush(b);
      return answer;
    });
  ends.push(createPpcaLinkEndpoint({ ...linkOptions, rank: 0 }, deliverTo(1)));
  ends.push(createPpcaLinkEndpoint({ ...linkOptions, rank: 1 }, deliverTo(0)));
  return [ends[0]!, ends[1]!];
}
