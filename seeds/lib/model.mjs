// The statistical model behind the synthetic data: where people are registered, how old they are,
// which ward admits them, how long they stay, what it costs and how often something goes wrong.
// All figures are plausible round numbers chosen for a demo, not estimates of any real hospital.

import { expDet } from './prng.mjs';

/** Date on which ages are computed and before which every admission falls (the plan's year end). */
export const REFERENCE_DATE = '2023-12-31';

/**
 * Wenzhou (温州市, Zhejiang) administrative division codes (GB/T 2260) as they appear on the ID
 * numbers of ADULTS. The code on an ID is the one in force when the number was assigned, so:
 * Dongtou appears as 330322 (洞头县; it became 洞头区 330305 only in 2015) and Longgang (龙港市,
 * 330383, split from Cangnan in 2019) is folded into 330327 苍南县. `weight` is a rough resident
 * population in units of 10,000 and is used only as a sampling weight.
 */
export const WENZHOU_AREA_CODES = Object.freeze([
  { code: '330302', name: '鹿城区', pinyin: 'Lucheng', weight: 129 },
  { code: '330303', name: '龙湾区', pinyin: 'Longwan', weight: 74 },
  { code: '330304', name: '瓯海区', pinyin: 'Ouhai', weight: 96 },
  { code: '330322', name: '洞头县', pinyin: 'Dongtou', weight: 15 },
  { code: '330324', name: '永嘉县', pinyin: 'Yongjia', weight: 87 },
  { code: '330326', name: '平阳县', pinyin: 'Pingyang', weight: 86 },
  { code: '330327', name: '苍南县', pinyin: 'Cangnan', weight: 130 },
  { code: '330328', name: '文成县', pinyin: 'Wencheng', weight: 29 },
  { code: '330329', name: '泰顺县', pinyin: 'Taishun', weight: 27 },
  { code: '330381', name: '瑞安市', pinyin: "Rui'an", weight: 152 },
  { code: '330382', name: '乐清市', pinyin: 'Yueqing', weight: 145 },
]);

/**
 * Wards (English, lower case, hyphenated). `weight`: share of admissions; `costMedian`: median cost
 * of one admission in yuan; `losMedian`: median length of stay in days; `adverseRate`: base
 * probability of an adverse-event flag; `ageMean`: mean patient age.
 */
export const WARDS = Object.freeze([
  { ward: 'cardiology', weight: 14, costMedian: 18000, losMedian: 7, adverseRate: 0.04, ageMean: 66 },
  { ward: 'oncology', weight: 12, costMedian: 26000, losMedian: 9, adverseRate: 0.06, ageMean: 61 },
  { ward: 'endocrinology', weight: 8, costMedian: 7000, losMedian: 7, adverseRate: 0.02, ageMean: 58 },
  { ward: 'respiratory', weight: 12, costMedian: 9000, losMedian: 8, adverseRate: 0.03, ageMean: 64 },
  { ward: 'neurology', weight: 10, costMedian: 14000, losMedian: 10, adverseRate: 0.04, ageMean: 65 },
  { ward: 'gastroenterology', weight: 10, costMedian: 8500, losMedian: 6, adverseRate: 0.025, ageMean: 55 },
  { ward: 'nephrology', weight: 6, costMedian: 11000, losMedian: 9, adverseRate: 0.035, ageMean: 60 },
  { ward: 'orthopaedics', weight: 9, costMedian: 32000, losMedian: 8, adverseRate: 0.03, ageMean: 57 },
  { ward: 'general-surgery', weight: 10, costMedian: 21000, losMedian: 7, adverseRate: 0.035, ageMean: 52 },
  { ward: 'geriatrics', weight: 4, costMedian: 12000, losMedian: 12, adverseRate: 0.05, ageMean: 80 },
  { ward: 'haematology', weight: 3, costMedian: 25000, losMedian: 14, adverseRate: 0.06, ageMean: 50 },
  { ward: 'rheumatology', weight: 2, costMedian: 7500, losMedian: 7, adverseRate: 0.02, ageMean: 50 },
]);

/** Wards a smaller (non-tertiary) hospital may lack; each is dropped with this probability. */
export const SPECIALIST_WARDS = Object.freeze(['oncology', 'geriatrics', 'haematology', 'rheumatology']);
export const SPECIALIST_DROP_PROBABILITY = 0.35;

/** Cost bounds in cents: 200.00 to 300000.00 yuan. */
export const MIN_COST_CENTS = 20_000;
export const MAX_COST_CENTS = 30_000_000;

/** Admissions per hospital patient in hospital.csv: 1..5 with these weights (mean 1.425). */
export const ADMISSIONS_PER_PATIENT = Object.freeze({ values: [1, 2, 3, 4, 5], weights: [720, 180, 60, 25, 15] });

/** Declared histogram bins (lower bounds; the last bin is open-ended). */
export const AGE_BINS = Object.freeze([18, 30, 40, 50, 60, 70, 80]);
export const COST_BINS_YUAN = Object.freeze([0, 1000, 5000, 10000, 20000, 50000, 100000]);

const clamp = (x, lo, hi) => (x < lo ? lo : x > hi ? hi : x);

/**
 * One admission in `ward`: length of stay (log-normal around the ward's median, 1..90 days), cost
 * (log-normal around the ward's median, correlated with the stay; clamped to 200.00..300000.00
 * yuan, integer cents) and an adverse-event flag (the ward's base rate, 2.5 times higher for stays
 * longer than twice the median).
 *
 * @param {ReturnType<import('./prng.mjs').createRng>} rng
 * @param {(typeof WARDS)[number]} ward
 * @example
 * generateAdmission(createRng(1, 'x'), WARDS[0]); // { lengthOfStayDays: 6, costCents: 1429699, adverseEvent: 0 }
 */
export function generateAdmission(rng, ward) {
  const zStay = rng.normal();
  const zCost = rng.normal();
  const lengthOfStayDays = clamp(Math.round(ward.losMedian * expDet(0.5 * zStay)), 1, 90);
  const costCents = clamp(Math.round(ward.costMedian * 100 * expDet(0.45 * zStay + 0.6 * zCost)), MIN_COST_CENTS, MAX_COST_CENTS);
  const p = ward.adverseRate * (lengthOfStayDays > 2 * ward.losMedian ? 2.5 : 1);
  const adverseEvent = rng.float() < p ? 1 : 0;
  return { lengthOfStayDays, costCents, adverseEvent };
}

/**
 * An age drawn around `mean` with standard deviation `sd`, rounded and clamped to [min, max].
 *
 * @param {ReturnType<import('./prng.mjs').createRng>} rng
 * @param {number} mean
 * @param {number} sd
 * @param {number} min
 * @param {number} max
 * @example
 * drawAge(createRng(1, 'age'), 60, 12, 18, 95); // 43
 */
export function drawAge(rng, mean, sd, min, max) {
  return clamp(Math.round(mean + sd * rng.normal()), min, max);
}

/**
 * Formats integer cents (number or bigint, non-negative) as a decimal string with exactly two
 * decimals, e.g. 1234567 → "12345.67".
 *
 * @param {number | bigint} cents
 * @example
 * formatCents(20000n); // '200.00'
 */
export function formatCents(cents) {
  const c = BigInt(cents);
  if (c < 0n) throw new RangeError('cents must be non-negative');
  return `${c / 100n}.${String(c % 100n).padStart(2, '0')}`;
}

/**
 * Mean of `sumCents` over `n` items, rounded half up to the cent, as a yuan string; null if n is 0.
 *
 * @param {bigint} sumCents
 * @param {number} n
 * @example
 * meanCents(1001n, 2); // '5.01'
 */
export function meanCents(sumCents, n) {
  if (n === 0) return null;
  const N = BigInt(n);
  return formatCents((2n * sumCents + N) / (2n * N));
}
