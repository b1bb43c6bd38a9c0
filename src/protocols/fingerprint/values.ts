/**
 * How one fingerprint bit lives in one cell: quantisation index modulation (QIM) on a grid whose
 * step is the column's declared tolerance. A numeric value v with tolerance `tol` is delivered as
 * n·tol where the parity of n is the bit; reading it back is `round(v / tol) mod 2`. So:
 * - the delivered value is within `tol` of the original (the nearest grid point of the right parity
 *   is at most one step away), and every other value of the column is snapped to the same grid
 *   (within tol/2), so marked cells do not stand out by their digits;
 * - re-formatting (`12.3` → `12.30`, `1,234.5`, full-width digits, a currency sign) and rounding to
 *   the tolerance (or any finer grid) leave the bit intact, and so does any perturbation below
 *   tol/2; coarser rounding destroys it (that is beyond what the terms allow).
 * Dates are the same on day numbers (days since 1970-01-01, UTC), with a step of N days; they are
 * delivered as ISO dates (any time of day kept) and read back from many formats.
 * @module
 */

/** A column's declared tolerance: numbers (`0.01`) or whole days (`1d`). */
export type ColumnTolerance =
  | { readonly kind: 'number'; readonly text: string; /** step as an integer mantissa … */ readonly mantissa: number; /** … times 10^-decimals */ readonly decimals: number }
  | { readonly kind: 'date'; readonly text: string; readonly days: number };

/** Largest grid index handled exactly (|value / step| below 2^50). */
const MAX_GRID = 2 ** 50;
/** Longest date tolerance, in days (ten years). */
const MAX_DAYS = 3660;

/**
 * Parses one declared tolerance: a positive decimal number (`0.01`, `5`, `0.5`) or a whole number of
 * days (`1d`, `7d`); `RangeError` otherwise.
 * @example
 * ```ts
 * parseTolerance('0.01'); // { kind: 'number', text: '0.01', mantissa: 1, decimals: 2 }
 * parseTolerance('1d');   // { kind: 'date', text: '1d', days: 1 }
 * ```
 */
export function parseTolerance(text: string): ColumnTolerance {
  if (typeof text !== 'string') throw new TypeError('tolerance must be a string');
  const days = /^([0-9]{1,4})d$/.exec(text);
  if (days) {
    const n = Number(days[1]);
    if (n < 1 || n > MAX_DAYS) throw new RangeError(`tolerance '${text}': days must be 1..${MAX_DAYS}`);
    return { kind: 'date', text, days: n };
  }
  const num = /^([0-9]{1,15})(?:\.([0-9]{1,12}))?$/.exec(text);
  if (!num) throw new RangeError(`tolerance '${text}' is not a positive decimal number (0.01, 5) or a number of days (1d)`);
  const frac = num[2] ?? '';
  const mantissa = Number(num[1]! + frac);
  if (!Number.isSafeInteger(mantissa) || mantissa === 0) throw new RangeError(`tolerance '${text}' must be positive`);
  // 0.010 and 0.01 are the same step: drop trailing zeros of the mantissa while there are decimals.
  let m = mantissa;
  let d = frac.length;
  while (d > 0 && m % 10 === 0) {
    m /= 10;
    d--;
  }
  return { kind: 'number', text, mantissa: m, decimals: d };
}

const THOUSANDS = /[,\s_'’]/g;
const CURRENCY = /^[¥$€£₩]|^(?:CNY|RMB|USD|EUR)\s*/i;

/**
 * A number written by a person or a spreadsheet: NFKC (full-width digits), blanks, thousands
 * separators (`,` space `_` `'`), a leading currency sign or code and a spreadsheet's leading `'`
 * are ignored; `undefined` when what is left is not a finite decimal number. A decimal comma is
 * not guessed (`1,5` reads as 15): such a cell simply carries no mark.
 * @example
 * ```ts
 * parseNumber('¥1,234.50'); // 1234.5
 * ```
 */
export function parseNumber(text: string): number | undefined {
  let s = text.normalize('NFKC').trim();
  if (s.startsWith("'")) s = s.slice(1);
  let sign = '';
  if (s.startsWith('-') || s.startsWith('+')) {
    sign = s[0] === '-' ? '-' : '';
    s = s.slice(1).trim();
  }
  s = s.replace(CURRENCY, '').replace(THOUSANDS, '');
  if (!/^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?$/i.test(s)) return undefined;
  const v = Number(sign + s);
  return Number.isFinite(v) ? v : undefined;
}

/** The grid index of `v` (round half away from zero is not needed: ties carry no mark anyway). */
function gridIndex(v: number, tol: Extract<ColumnTolerance, { kind: 'number' }>): number | undefined {
  const x = (v * 10 ** tol.decimals) / tol.mantissa;
  if (!Number.isFinite(x) || Math.abs(x) >= MAX_GRID) return undefined;
  return x;
}

const parity = (n: number): 0 | 1 => ((((n % 2) + 2) % 2) as 0 | 1);

/** The grid point nearest to `x` whose parity is `bit` (at most one step from `x`). */
function nearestWithParity(x: number, bit: 0 | 1): number {
  const n0 = Math.round(x);
  if (parity(n0) === bit) return n0;
  return x >= n0 ? n0 + 1 : n0 - 1;
}

/** `n · mantissa · 10^-decimals` as an exact decimal string (no binary floating point). */
function formatGrid(n: number, tol: Extract<ColumnTolerance, { kind: 'number' }>): string {
  const units = BigInt(n) * BigInt(tol.mantissa);
  const neg = units < 0n;
  let digits = (neg ? -units : units).toString();
  if (tol.decimals > 0) {
    digits = digits.padStart(tol.decimals + 1, '0');
    digits = `${digits.slice(0, -tol.decimals)}.${digits.slice(-tol.decimals)}`;
  }
  return neg && /[1-9]/.test(digits) ? `-${digits}` : digits;
}

const MONTHS: Readonly<Record<string, number>> = {
  jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, sept: 9, oct: 10, nov: 11, dec: 12,
  january: 1, february: 2, march: 3, april: 4, june: 6, july: 7, august: 8, september: 9, october: 10, november: 11, december: 12,
};

const DAY_MS = 86_400_000;

function dayNumber(y: number, m: number, d: number): number | undefined {
  if (y < 1000 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31) return undefined;
  const t = Date.UTC(y, m - 1, d);
  const back = new Date(t);
  if (back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d) return undefined; // 31 April
  return Math.round(t / DAY_MS);
}

/**
 * A calendar date in one of the usual layouts: `2024-03-05`, `2024/3/5`, `2024.03.05`,
 * `20240305`, `2024年3月5日`, `5 Mar 2024`, `March 5, 2024`, `05/03/2024` when unambiguous (a part
 * above 12), any of them followed by a time (`T10:00`, ` 10:00:00`). Returns the day number and
 * what followed the date, or `undefined` (also for an ambiguous `03/05/2024`: such a cell carries
 * no mark rather than a wrong one).
 * @example
 * ```ts
 * parseDate('2024年3月5日'); // { day: 19787, rest: '' }
 * ```
 */
export function parseDate(text: string): { day: number; rest: string } | undefined {
  const s = text.normalize('NFKC').trim();
  let m = /^([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})((?:[T ]|$).*)$/.exec(s);
  if (m) return withDay(dayNumber(+m[1]!, +m[3]!, +m[4]!), m[5]!);
  m = /^([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日?(.*)$/.exec(s);
  if (m) return withDay(dayNumber(+m[1]!, +m[2]!, +m[3]!), m[4]!);
  m = /^([0-9]{4})([0-9]{2})([0-9]{2})$/.exec(s);
  if (m) return withDay(dayNumber(+m[1]!, +m[2]!, +m[3]!), '');
  m = /^([0-9]{1,2})[ -]([A-Za-z]{3,9})\.?[ -,]+([0-9]{4})(.*)$/.exec(s);
  if (m) return withDay(monthDay(+m[3]!, m[2]!, +m[1]!), m[4]!);
  m = /^([A-Za-z]{3,9})\.? ([0-9]{1,2}),? ([0-9]{4})(.*)$/.exec(s);
  if (m) return withDay(monthDay(+m[3]!, m[1]!, +m[2]!), m[4]!);
  m = /^([0-9]{1,2})([-/.])([0-9]{1,2})\2([0-9]{4})((?:[T ]|$).*)$/.exec(s);
  if (m) {
    const a = +m[1]!;
    const b = +m[3]!;
    if (a > 12 && b <= 12) return withDay(dayNumber(+m[4]!, b, a), m[5]!);
    if (b > 12 && a <= 12) return withDay(dayNumber(+m[4]!, a, b), m[5]!);
    return undefined; // 03/05/2024: 3 May or 5 March?
  }
  return undefined;
}

function monthDay(y: number, month: string, d: number): number | undefined {
  const mo = MONTHS[month.toLowerCase()];
  return mo === undefined ? undefined : dayNumber(y, mo, d);
}

function withDay(day: number | undefined, rest: string): { day: number; rest: string } | undefined {
  return day === undefined ? undefined : { day, rest };
}

function isoDate(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/**
 * The fingerprint bit a cell carries under `tol`, or `undefined` when the cell is empty, does not
 * parse, or sits exactly between two grid points.
 * @example
 * ```ts
 * readBit('12.31', parseTolerance('0.01')); // 1
 * ```
 */
export function readBit(text: string, tol: ColumnTolerance): 0 | 1 | undefined {
  let x: number | undefined;
  if (tol.kind === 'number') {
    const v = parseNumber(text);
    if (v === undefined) return undefined;
    x = gridIndex(v, tol);
  } else {
    const d = parseDate(text);
    if (d === undefined) return undefined;
    x = d.day / tol.days;
  }
  if (x === undefined) return undefined;
  const n = Math.round(x);
  if (Math.abs(x - n) > 0.499_999) return undefined; // a tie: neither side is meant
  return parity(n);
}

/**
 * The cell as delivered: snapped to the tolerance grid (`bit` undefined: within tol/2) or moved to
 * the nearest grid point of parity `bit` (within tol). A cell that does not parse is returned
 * unchanged (it carries no mark).
 * @example
 * ```ts
 * writeBit('12.345', parseTolerance('0.01'), 0); // '12.34'
 * ```
 */
export function writeBit(text: string, tol: ColumnTolerance, bit: 0 | 1 | undefined): string {
  if (tol.kind === 'number') {
    const v = parseNumber(text);
    if (v === undefined) return text;
    const x = gridIndex(v, tol);
    if (x === undefined) return text;
    return formatGrid(bit === undefined ? Math.round(x) : nearestWithParity(x, bit), tol);
  }
  const d = parseDate(text);
  if (d === undefined) return text;
  const x = d.day / tol.days;
  const n = bit === undefined ? Math.round(x) : nearestWithParity(x, bit);
  return isoDate(n * tol.days) + d.rest;
}
