/**
 * What a receipt records of a party's key sketch (src/ledger/key-sketch.ts): its distinct-key
 * count and the commitment to the sketch it keeps, as `<role>-set-size` and `<role>-sketch-commit`.
 * The receipt body is shared by both parties, so each party's record carries its role, as the
 * source record does (`<role>-source-commit`). The peer only co-signs it: it can check the form,
 * not the content (the sketch never leaves its party).
 * @module
 */

/**
 * A party's sketch record for one receipt.
 * @example
 * ```ts
 * const sketch: ReceiptKeySketch = { setSize: 1000, commit: keySketchCommitment(bytes, salt) };
 * ```
 */
export interface ReceiptKeySketch {
  /** Distinct normalised keys sketched. */
  setSize: number;
  /** The commitment, 64 lower-case hex digits (`keySketchCommitment`). */
  commit: string;
}

/** The option names of `role`'s sketch record. */
export function sketchOptionKeys(role: 'requester' | 'responder'): { size: string; commit: string } {
  return { size: `${role}-set-size`, commit: `${role}-sketch-commit` };
}

/** The receipt options recording `sketch` for `role` (`RangeError` on a malformed record). */
export function sketchOptions(role: 'requester' | 'responder', sketch: ReceiptKeySketch | undefined): Record<string, string> {
  if (sketch === undefined) return {};
  if (sketch === null || typeof sketch !== 'object') throw new TypeError('sketch must be an object');
  if (!Number.isSafeInteger(sketch.setSize) || sketch.setSize < 0) throw new RangeError('sketch.setSize must be a non-negative safe integer');
  if (typeof sketch.commit !== 'string' || !/^[0-9a-f]{64}$/.test(sketch.commit)) throw new RangeError('sketch.commit must be 64 lower-case hex digits');
  const keys = sketchOptionKeys(role);
  return { [keys.size]: String(sketch.setSize), [keys.commit]: sketch.commit };
}

/** True when `options` (a peer view's own options) is empty or a well-formed sketch record of `role`. */
export function isSketchRecord(role: 'requester' | 'responder', options: Record<string, string>): boolean {
  const keys = sketchOptionKeys(role);
  const names = Object.keys(options);
  if (names.length === 0) return true;
  return (
    names.length === 2 &&
    /^(0|[1-9][0-9]{0,15})$/.test(options[keys.size] ?? '') &&
    Number.isSafeInteger(Number(options[keys.size])) &&
    /^[0-9a-f]{64}$/.test(options[keys.commit] ?? '')
  );
}

/** The sketch record of `role` in receipt options, if any. */
export function readSketchRecord(role: 'requester' | 'responder', options: Record<string, string>): ReceiptKeySketch | undefined {
  const keys = sketchOptionKeys(role);
  const rec: Record<string, string> = {};
  for (const k of [keys.size, keys.commit]) if (Object.hasOwn(options, k)) rec[k] = options[k]!;
  if (Object.keys(rec).length === 0 || !isSketchRecord(role, rec)) return undefined;
  return { setSize: Number(rec[keys.size]), commit: rec[keys.commit]! };
}

