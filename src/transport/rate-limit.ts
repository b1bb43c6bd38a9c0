/**
 * A per-address token bucket for listeners: each remote address may open `burst` connections at
 * once and then `perSecond` more per second. The table of addresses is bounded (`maxAddresses`),
 * so many addresses cannot make it grow without limit.
 *
 * No `node:*` import: pure bookkeeping with an injectable clock (tests drive it without sleeps).
 * @module
 */

/**
 * Limits of {@link createRateLimiter}. Defaults in {@link DEFAULT_RATE_LIMIT}.
 * @example
 * ```ts
 * const limits: RateLimitOptions = { burst: 8, perSecond: 0.5 };
 * ```
 */
export interface RateLimitOptions {
  /** Connections one address may open at once (the bucket's size). */
  burst?: number;
  /** Tokens added back per second, per address. */
  perSecond?: number;
  /** Addresses tracked at most; see {@link RateLimiter}. */
  maxAddresses?: number;
}

/**
 * Defaults of {@link RateLimitOptions}: a burst of 16 connections per address, then one per second;
 * 4096 addresses tracked.
 * @example
 * ```ts
 * const limiter = createRateLimiter({ ...DEFAULT_RATE_LIMIT, burst: 4 });
 * ```
 */
export const DEFAULT_RATE_LIMIT: Readonly<Required<RateLimitOptions>> = Object.freeze({
  burst: 16,
  perSecond: 1,
  maxAddresses: 4096,
});

/**
 * The bookkeeping of {@link createRateLimiter}.
 *
 * When the table is full, buckets that have refilled completely are dropped first (forgetting
 * them changes nothing); if none has, the least recently used address is forgotten, so a new
 * address is never refused merely because the table is full. An attacker who controls more than
 * `maxAddresses` addresses can thus reset its own buckets — but it can open that many connections
 * anyway; the listener's bound on pending connections is what holds then.
 * @example
 * ```ts
 * if (!limiter.take(req.socket.remoteAddress ?? '')) refuse(429);
 * ```
 */
export interface RateLimiter {
  /** Takes one token for `address`; false (and nothing taken) when its bucket is empty. */
  take(address: string): boolean;
  /**
   * Gives back the token a connection from `address` took, once that connection proved an accepted
   * identity: the limit throttles strangers, never the pinned partner (a job's many bucket sessions).
   * Nothing happens when the address is no longer tracked or its bucket is full.
   */
  refund(address: string): void;
  /** Addresses tracked right now (never more than `maxAddresses`). */
  readonly size: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

function positive(name: string, v: number, integer: boolean): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new RangeError(`${name} must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return v;
}

/**
 * Creates a per-address token bucket. `now` returns milliseconds (default `Date.now`).
 * @example
 * ```ts
 * const limiter = createRateLimiter({ burst: 2, perSecond: 1 });
 * limiter.take('198.51.100.7'); // true
 * limiter.take('198.51.100.7'); // true
 * limiter.take('198.51.100.7'); // false until a second has passed
 * ```
 */
export function createRateLimiter(options: RateLimitOptions = {}, now: () => number = Date.now): RateLimiter {
  const burst = positive('rateLimit.burst', options.burst ?? DEFAULT_RATE_LIMIT.burst, true);
  const perMs = positive('rateLimit.perSecond', options.perSecond ?? DEFAULT_RATE_LIMIT.perSecond, false) / 1000;
  const maxAddresses = positive('rateLimit.maxAddresses', options.maxAddresses ?? DEFAULT_RATE_LIMIT.maxAddresses, true);
  // Insertion order is use order: an entry is deleted and re-inserted on every take.
  const buckets = new Map<string, Bucket>();
  const level = (b: Bucket, t: number): number => Math.min(burst, b.tokens + Math.max(0, t - b.at) * perMs);
  const makeRoom = (t: number): void => {
    for (const [k, b] of buckets) if (level(b, t) >= burst) buckets.delete(k);
    while (buckets.size >= maxAddresses) buckets.delete(buckets.keys().next().value!);
  };
  return {
    take(address) {
      const t = now();
      const b = buckets.get(address);
      let tokens: number;
      if (b) {
        tokens = level(b, t);
        buckets.delete(address);
      } else {
        if (buckets.size >= maxAddresses) makeRoom(t);
        tokens = burst;
      }
      const ok = tokens >= 1;
      buckets.set(address, { tokens: ok ? tokens - 1 : tokens, at: t });
      return ok;
    },
    refund(address) {
      const b = buckets.get(address);
      if (!b) return;
      const t = now();
      b.tokens = Math.min(burst, level(b, t) + 1);
      b.at = t;
    },
    get size() {
      return buckets.size;
    },
  };
}
