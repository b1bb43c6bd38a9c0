// PRC resident identity numbers (公民身份号码), GB 11643-1999, and the noise real files add to them.
//
// Layout of the 18 characters:
//   1-6   administrative division code (GB/T 2260) where the number was first assigned
//   7-14  date of birth YYYYMMDD
//   15-17 sequence number; the parity of the 17th character encodes sex (odd = male, even = female)
//   18    check character, ISO 7064:1983 MOD 11-2 over the first 17 digits
// The check character is 'X' when the MOD 11-2 value is 10, so about one number in eleven ends in X.

/** GB 11643-1999 §5.2 weights W_i = 2^(i-1) mod 11 for positions 1..17 (left to right). */
export const ID_WEIGHTS = Object.freeze([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]);

/** Check character for (sum of weighted digits) mod 11 = 0, 1, ..., 10. */
export const ID_CHECK_CHARS = '10X98765432';

/**
 * The check character of a resident ID from its first 17 digits.
 *
 * @param {string} first17 exactly 17 ASCII digits
 * @example
 * residentIdCheckChar('11010519491231002'); // 'X' (the example number of GB 11643-1999)
 */
export function residentIdCheckChar(first17) {
  if (typeof first17 !== 'string' || !/^[0-9]{17}$/.test(first17)) throw new TypeError('first17 must be 17 ASCII digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (first17.charCodeAt(i) - 48) * ID_WEIGHTS[i];
  return ID_CHECK_CHARS[sum % 11];
}

/**
 * Splits a clean 18-character resident ID (upper-case X) into its parts, or returns null if it is
 * not well formed: wrong length or characters, impossible date, sequence 000, wrong check character.
 * Age is not checked here (see `isValidAdultResidentId`).
 *
 * @param {string} id
 * @example
 * parseResidentId('11010519491231002X'); // { areaCode: '110105', birthDate: '1949-12-31', sequence: '002', sex: 'F', checkChar: 'X' }
 */
export function parseResidentId(id) {
  if (typeof id !== 'string' || !/^[0-9]{17}[0-9X]$/.test(id)) return null;
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  if (y < 1900) return null;
  const t = Date.UTC(y, m - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d) return null;
  const sequence = id.slice(14, 17);
  if (sequence === '000') return null;
  if (residentIdCheckChar(id.slice(0, 17)) !== id[17]) return null;
  return {
    areaCode: id.slice(0, 6),
    birthDate: `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`,
    sequence,
    sex: (id.charCodeAt(16) - 48) % 2 === 1 ? 'M' : 'F',
    checkChar: id[17],
  };
}

/**
 * Age in whole years on `referenceDate` (YYYY-MM-DD) of someone born on `birthDate` (YYYY-MM-DD).
 *
 * @param {string} birthDate
 * @param {string} referenceDate
 * @example
 * ageOn('1949-12-31', '2023-12-31'); // 74
 */
export function ageOn(birthDate, referenceDate) {
  const [by, bm, bd] = birthDate.split('-').map(Number);
  const [ry, rm, rd] = referenceDate.split('-').map(Number);
  let age = ry - by;
  if (rm < bm || (rm === bm && rd < bd)) age -= 1;
  return age;
}

/**
 * True if `id` is a well-formed clean resident ID of a person aged at least `minAge` on
 * `referenceDate`, born no earlier than 1900.
 *
 * @param {string} id
 * @param {string} referenceDate YYYY-MM-DD
 * @param {number} [minAge]
 * @example
 * isValidAdultResidentId('11010519491231002X', '2023-12-31'); // true
 */
export function isValidAdultResidentId(id, referenceDate, minAge = 18) {
  const p = parseResidentId(id);
  return p !== null && ageOn(p.birthDate, referenceDate) >= minAge;
}

/**
 * The key normalisation dataport applies to identifier columns (DESIGN.md §8): Unicode NFKC (maps
 * full-width digits and letters and the ideographic space to ASCII), trim, lower-case.
 *
 * @param {string} s
 * @example
 * normaliseKey(' ３３０３２７１９５４０４２５７５２Ｘ'); // '33032719540425752x'
 */
export function normaliseKey(s) {
  return s.normalize('NFKC').trim().toLowerCase();
}

/**
 * Renders ASCII digits and X/x as the full-width forms a Chinese input method produces in
 * full-width mode (U+FF10..U+FF19, U+FF38 'Ｘ', U+FF58 'ｘ'); other characters are kept.
 *
 * @param {string} s
 * @example
 * toFullWidth('12X'); // '１２Ｘ'
 */
export function toFullWidth(s) {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (c >= 0x30 && c <= 0x39) out += String.fromCharCode(0xff10 + (c - 0x30));
    else if (ch === 'X') out += '\uff38';
    else if (ch === 'x') out += '\uff58';
    else out += ch;
  }
  return out;
}
