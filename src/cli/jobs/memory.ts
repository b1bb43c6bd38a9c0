/**
 * Memory between bucket sessions. A long-running job process (`job worker`, `job serve`, the
 * lanes of `job submit`) runs one ~2^18-key bucket after another. V8 sizes its next collection
 * from the heap it last saw, so without help the garbage of earlier buckets is collected late
 * and a process's resident size creeps up bucket after bucket (measured: 321 MB after one bucket,
 * ~700 MB after eight). A full collection before each bucket starts — when the previous bucket's
 * keys, points and tables are unreachable — keeps a process's peak at about one bucket's working
 * set, whatever the job's total size. It costs one full collection (tens of milliseconds) per bucket.
 * @module
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined | null = null;

/**
 * Runs a full garbage collection (V8's `gc`, exposed once with `--expose-gc` for new contexts);
 * does nothing where that is not available.
 *
 * @example
 * ```ts
 * collectGarbage(); // before loading the next bucket
 * ```
 */
export function collectGarbage(): void {
  if (gc === null) {
    try {
      setFlagsFromString('--expose-gc');
      const f = runInNewContext('gc') as unknown;
      gc = typeof f === 'function' ? (f as () => void) : undefined;
    } catch {
      gc = undefined;
    }
  }
  gc?.();
}
