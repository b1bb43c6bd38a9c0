/**
 * Exact fixed-point decimals for homomorphic sums: a decimal column with `decimals` declared
 * places (yuan with cents: 2) is carried as the integer `value × 10^decimals`. Parsing never
 * rounds: a value with more decimal places than declared is refused.
 * @module
 */

/**
 * Largest number of decimal places dataport accepts for a column.
 *
 * @example
 * ```ts
 * parseFixedPoint('1.5', MAX_DECIMALS);
 * ```
 */
export const MAX_DECIMALS = 18;

/**
 * `"1 decimal place"`, `"2 decimal places"`: the one wording of a column's precision in messages.
 *
 * @example
 * ```ts
 * decimalPlaces(1); // '1 decimal place'
 * ```
 */
export function decimalPlaces(n: number): string {
  return `${n} decimal place${n === 1 ? '' : 's'}`;
}

const DECIMAL_RE = /^([+-]?)([0-9]+)(?:\.([0-9]+))?$/;

function checkDecimals(decimals: number): void {
  if (!Number.isSafeInteger(decimals) || decimals < 0 || decimals > MAX_DECIMALS) {
    throw new RangeError(`decimals must be an integer in [0, ${MAX_DECIMALS}]`);
  }
}

/**
 * Parses a decimal string into its exact scaled integer (`"-12.5"`, 2 decimals → `-1250n`).
 * Accepts an optional sign, digits, and at most `decimals` fractional digits (trailing zeros beyond
 * that are still refused: the declaration is the contract). Throws `RangeError` otherwise.
 *
 * @example
 * ```ts
 * parseFixedPoint('1234.56', 2); // 123456n
 * parseFixedPoint('0.125', 2);   // throws RangeError (more places than declared; never rounded)
 * ```
 */
export function parseFixedPoint(text: string, decimals: number): bigint {
  checkDecimals(decimals);
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (text.length > 64) throw new RangeError('decimal value too long');
  const m = DECIMAL_RE.exec(text);
  if (m === null) throw new RangeError('not a decimal number');
  const frac = m[3] ?? '';
  if (frac.length > decimals) throw new RangeError(`more than ${decimalPlaces(decimals)}`);
  const digits = BigInt(m[2]! + frac.padEnd(decimals, '0'));
  return m[1] === '-' ? -digits : digits;
}

/**
 * Formats a scaled integer as an exact decimal string (`-1250n`, 2 decimals → `"-12.50"`).
 *
 * @example
 * ```ts
 * formatFixedPoint(123456n, 2); // "1234.56"
 * ```
 */
export function formatFixedPoint(value: bigint, decimals: number): string {
  checkDecimals(decimals);
  if (typeof value !== 'bigint') throw new TypeError('value must be a bigint');
  const neg = value < 0n;
  const abs = (neg ? -value : value).toString().padStart(decimals + 1, '0');
  const body = decimals === 0 ? abs : `${abs.slice(0, abs.length - decimals)}.${abs.slice(abs.length - decimals)}`;
  return neg ? `-${body}` : body;
}

/**
 * Exact quotient `numerator / denominator` of two scaled integers rounded half away from zero to
 * `decimals` places, as a decimal string — for means of fixed-point sums (the rounding happens only
 * here, on the released statistic, never on inputs).
 *
 * @example
 * ```ts
 * divideToDecimal(1000n, 3n, 2); // "333.33"
 * ```
 */
export function divideToDecimal(numerator: bigint, denominator: bigint, decimals: number): string {
  checkDecimals(decimals);
  if (denominator === 0n) throw new RangeError('denominator must not be zero');
  const scale = 10n ** BigInt(decimals);
  const neg = numerator < 0n !== denominator < 0n && numerator !== 0n;
  const n = (numerator < 0n ? -numerator : numerator) * scale;
  const d = denominator < 0n ? -denominator : denominator;
  let q = n / d;
  if ((n % d) * 2n >= d) q += 1n;
  return formatFixedPoint(neg ? -q : q, decimals);
}
