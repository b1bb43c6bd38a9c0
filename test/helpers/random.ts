/**
 * Deterministic randomness for test scenarios (the same leak, the same shuffle on every run), and
 * the plain CSV text the fingerprinting tests build their tables with.
 */

/** mulberry32: a small deterministic PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Fisher–Yates shuffled copy of `rows`. */
export function shuffle<T>(rows: readonly T[], rand: () => number): T[] {
  const copy = [...rows];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** CSV text of a header and rows (cells without commas or quotes). */
export const csv = (header: readonly string[], rows: readonly (readonly string[])[]): string => [header, ...rows].map((r) => r.join(',')).join('\n') + '\n';
