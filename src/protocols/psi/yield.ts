/**
 * Cooperative yielding for long synchronous work on the caller's thread (normalising, de-duplicating
 * and validating 10^5–10^6 records, pumping frames that arrive faster than they are processed): the
 * work is cut into slices and, once a slice has run for longer than a budget, control goes back to
 * the event loop's macrotask queue (timers, I/O, other sessions) before the next slice.
 *
 * An awaited resolved promise is not enough: it continues in a microtask, which runs before any
 * timer or I/O callback, so a chain of them blocks the loop as surely as one long function.
 * @module
 */

/** Default slice budget, ms: long enough to amortise a yield, short enough to keep the loop responsive. */
export const DEFAULT_YIELD_BUDGET_MS = 8;

type Scheduler = (resume: () => void) => void;

function pickScheduler(): Scheduler {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown; MessageChannel?: typeof MessageChannel };
  // Node: setImmediate runs after pending I/O callbacks, before timers of the next loop turn.
  if (typeof g.setImmediate === 'function') {
    const si = g.setImmediate;
    return (resume) => void si(resume);
  }
  // Browsers: a MessageChannel message is a macrotask without setTimeout's 4 ms clamping.
  if (typeof g.MessageChannel === 'function') {
    const channel = new g.MessageChannel();
    const queue: (() => void)[] = [];
    channel.port1.onmessage = () => queue.shift()?.();
    return (resume) => {
      queue.push(resume);
      channel.port2.postMessage(0);
    };
  }
  return (resume) => void setTimeout(resume, 0);
}

let scheduler: Scheduler | undefined;

/**
 * Resolves from a fresh macrotask, after the event loop has had a chance to run timers and I/O.
 *
 * @example
 * ```ts
 * for (let i = 0; i < rows.length; i++) {
 *   work(rows[i]);
 *   if (i % 10_000 === 0) await yieldToEventLoop();
 * }
 * ```
 */
export function yieldToEventLoop(): Promise<void> {
  scheduler ??= pickScheduler();
  const s = scheduler;
  return new Promise<void>((resolve) => s(resolve));
}

/**
 * A time-sliced yielder: each call returns `undefined` while less than `budgetMs` has passed since
 * the last yield, otherwise a promise from {@link yieldToEventLoop}. `await maybeYield()` in a loop
 * thus costs one clock read per call and yields every `budgetMs` ms of work.
 *
 * @example
 * ```ts
 * const maybeYield = createYielder();
 * for (const row of rows) {
 *   work(row);
 *   await maybeYield();
 * }
 * ```
 */
export function createYielder(budgetMs: number = DEFAULT_YIELD_BUDGET_MS): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    const now = performance.now();
    if (now - last < budgetMs) return undefined;
    return yieldToEventLoop().then(() => {
      last = performance.now();
    });
  };
}
