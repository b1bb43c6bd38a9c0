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

const whoZh = (d: AlertDetails): string => String(d['counterpartyLabel'] ?? (typeof d['counterpartyShort'] === 'string' ? `对方 ${d['counterpartyShort']}` : '某对方'));

/**
 * The same alert texts in Chinese (the dashboard shows them with `?lang=zh`), rendered from the same
 * details; every key of {@link SUPERVISE_MESSAGES} is here.
 * @example
 * ```ts
 * const text = SUPERVISE_MESSAGES_ZH.rate({ counterpartyLabel: '某医院', runs: 21, maxRunsPerHour: 20 });
 * ```
 */
export const SUPERVISE_MESSAGES_ZH: { readonly [K in keyof typeof SUPERVISE_MESSAGES]: (d: AlertDetails) => string } = {
  differencing: (d) =>
    `与${whoZh(d)}的第 ${d['earlierIndex']} 条和第 ${d['index']} 条记录：本方两次的键集合只相差约 ${d['estimatedDifference']} 个键（少于 ${d['minDifference']}；规模 ${d['setSizes']}）——疑似差分查询`,
  'distinct-keys': (d) => `${whoZh(d)}本${periodZh(d['period'])}探查了 ${d['keys']} 个键（上限 ${d['maxKeys']}）`,
  rate: (d) => `${whoZh(d)}在一小时内运行了 ${d['runs']} 次（上限 ${d['maxRunsPerHour']}）`,
  'off-hours': (d) => `第 ${d['index']} 条记录：与${whoZh(d)}的运行发生在 ${d['localTime']}（UTC${d['utcOffset']}），不在工作时间内`,
  'first-contact': (d) => `第 ${d['index']} 条记录：首次与${whoZh(d)}运行`,
  'budget-80': (d) => `${whoZh(d)}本${periodZh(d['period'])}已用去 ${d['limit']} 预算的 ${pct(d['share'])}（${d['used']} / ${d['max']}）`,
  'budget-100': (d) => `${whoZh(d)}本${periodZh(d['period'])}的 ${d['limit']} 预算已用完（${d['used']} / ${d['max']}）`,
  'aborted-after-data': (d) => `第 ${d['index']} 条记录：与${whoZh(d)}的运行在数据交换后中止（${d['error'] ?? '无错误代码'}）`,
  'ledger-integrity': (d) => `账本校验失败${d['index'] !== undefined ? `（第 ${d['index']} 条记录）` : ''}：${d['problem']}`,
  witness: (d) => `见证副本 ${d['witness']}：${d['problem']}`,
  'trace-hit': (d) =>
    d['outcome'] === 'attributed'
      ? `第 ${d['index']} 条记录：一份泄露文件被追溯到${whoZh(d)}的发布 ${d['releaseId']}（${d['rowsMatched']} 行，误判概率 ${d['falseAccusation']}）`
      : `第 ${d['index']} 条记录：检查了一份泄露文件，无法确定来源`,
  'refused-connections': (d) => `自 ${d['hour']} 起一小时内，来自 ${d['address']} 的连接被拒绝 ${d['count']} 次`,
  'sketch-integrity': (d) =>
    d['problem'] === 'missing'
      ? `第 ${d['index']} 条记录：缺少本次运行的键摘要（sketches/${d['sessionId']}.json），无法检查差分查询`
      : `第 ${d['index']} 条记录：本次运行的键摘要与回执中的承诺不符（${d['problem']}），未使用`,
};

function periodZh(p: unknown): string {
  return p === 'day' ? '日' : p === 'week' ? '周' : p === 'month' ? '月' : p === 'hour' ? '小时' : String(p ?? '');
}

/**
 * An alert's text in `lang` from its rule and details (what `dataport supervise` printed in
 * English), or `undefined` when the rule is not one this version knows.
 * @example
 * ```ts
 * alertText('zh', 'first-contact', { index: 3, counterpartyLabel: '某医院' }); // '第 3 条记录：首次与某医院运行'
 * ```
 */
export function alertText(lang: 'en' | 'zh', rule: string, details: AlertDetails): string | undefined {
  if (!Object.hasOwn(SUPERVISE_MESSAGES, rule)) return undefined;
  const table = lang === 'zh' ? SUPERVISE_MESSAGES_ZH : SUPERVISE_MESSAGES;
  return table[rule as SuperviseMessageKey](details);
}

/** One of {@link SUPERVISE_MESSAGES}' keys. */
export type SuperviseMessageKey = keyof typeof SUPERVISE_MESSAGES;
