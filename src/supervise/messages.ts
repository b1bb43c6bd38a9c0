/**
 * The English texts of supervision alerts, each rendered from the alert's `details` alone (so a
 * Chinese table of the same type can render the same alert). Re-exported by src/cli/messages.ts;
 * an alert's `messageKey` is `supervise.<key>`.
 * @module
 */

/**
 * An alert's `details` as a message function reads them (plus `counterpartyLabel` /
 * `counterpartyShort` for the counterparty's name).
 * @example
 * ```ts
 * const d: AlertDetails = { index: 3, counterpartyLabel: 'hospital-a' };
 * ```
 */
export type AlertDetails = Record<string, unknown>;

const who = (d: AlertDetails): string => String(d['counterpartyLabel'] ?? (typeof d['counterpartyShort'] === 'string' ? `counterparty ${d['counterpartyShort']}` : 'a counterparty'));
const pct = (x: unknown): string => `${Math.round(Number(x) * 100)} %`;

/**
 * Alert texts by rule (docs/supervise.md lists them).
 * @example
 * ```ts
 * const text = SUPERVISE_MESSAGES.rate({ counterpartyLabel: 'hospital-a', runs: 21, maxRunsPerHour: 20 });
 * ```
 */
export const SUPERVISE_MESSAGES = {
  differencing: (d: AlertDetails) =>
    `entries ${d['earlierIndex']} and ${d['index']} with ${who(d)}: this party's key sets differ by about ${d['estimatedDifference']} keys (fewer than ${d['minDifference']}; sizes ${d['setSizes']}) — a differencing pair`,
  'distinct-keys': (d: AlertDetails) => `${who(d)} probed ${d['keys']} keys this ${d['period']} (limit ${d['maxKeys']})`,
  rate: (d: AlertDetails) => `${who(d)} ran ${d['runs']} runs within an hour (limit ${d['maxRunsPerHour']})`,
  'off-hours': (d: AlertDetails) => `entry ${d['index']}: a run with ${who(d)} at ${d['localTime']} (UTC${d['utcOffset']}), outside working hours`,
  'first-contact': (d: AlertDetails) => `entry ${d['index']}: first run with ${who(d)}`,
  'budget-80': (d: AlertDetails) => `${who(d)} has used ${pct(d['share'])} of its ${d['limit']} budget this ${d['period']} (${d['used']} of ${d['max']})`,
  'budget-100': (d: AlertDetails) => `${who(d)} has spent its ${d['limit']} budget this ${d['period']} (${d['used']} of ${d['max']})`,
  'aborted-after-data': (d: AlertDetails) => `entry ${d['index']}: a run with ${who(d)} was aborted after data flowed (${d['error'] ?? 'no error code'})`,
  'ledger-integrity': (d: AlertDetails) => `the ledger fails verification${d['index'] !== undefined ? ` at entry ${d['index']}` : ''}: ${d['problem']}`,
  witness: (d: AlertDetails) => `witness ${d['witness']}: ${d['problem']}`,
  'trace-hit': (d: AlertDetails) =>
    d['outcome'] === 'attributed'
      ? `entry ${d['index']}: a leaked file was traced to release ${d['releaseId']} of ${who(d)} (${d['rowsMatched']} rows, false-accusation probability ${d['falseAccusation']})`
      : `entry ${d['index']}: a leaked file was checked and could not be attributed`,
  'refused-connections': (d: AlertDetails) => `${d['count']} refused connections from ${d['address']} within the hour from ${d['hour']}`,
  'sketch-integrity': (d: AlertDetails) =>
    d['problem'] === 'missing'
      ? `entry ${d['index']}: the key sketch of this run is missing (sketches/${d['sessionId']}.json); differencing cannot be checked for it`
      : `entry ${d['index']}: the key sketch of this run does not match its receipt's commitment (${d['problem']}); it was not used`,
} as const;

/** One of {@link SUPERVISE_MESSAGES}' keys. */
export type SuperviseMessageKey = keyof typeof SUPERVISE_MESSAGES;
