/**
 * Every text of the operator's dashboard page (`dataport dashboard`), one table per language.
 * Both tables have exactly the same keys (the Chinese one is typed as the English one, so a
 * missing or extra key fails to compile). Placeholders `{name}` are filled in by the page. The
 * page receives the table of its language as JSON; nothing else on the page is worded elsewhere.
 * What the command prints on the terminal is in src/cli/messages.ts (`DASHBOARD_MESSAGES`).
 * @module
 */

/**
 * The page's languages.
 * @example
 * ```ts
 * const lang: DashboardLang = 'zh';
 * ```
 */
export type DashboardLang = 'zh' | 'en';

/** The languages, the default first. */
export const DASHBOARD_LANGS: readonly DashboardLang[] = ['zh', 'en'];

const en = {
  htmlLang: 'en',
  title: 'dataport — operator dashboard',
  language: 'Language',
  langName: 'English',
  loading: 'Loading…',
  loadFailed: 'Could not load the data: {error}',
  updated: 'Ledgers read {time}',
  refresh: 'Refresh',
  none: '—',
  notLabelled: '(no label)',

  ledgersTitle: 'Ledgers, heads and witnesses',
  ledger: 'Ledger',
  origin: 'Origin',
  owner: 'Owner key',
  ownerPinned: 'pinned by --public-key',
  ownerNotPinned: 'read from the ledger header (not pinned)',
  entries: 'Entries',
  root: 'Root (SHA-256)',
  checkpoint: 'Signed checkpoint',
  intact: 'intact: every entry, seal and the checkpoint verify',
  notIntact: 'NOT intact: {problem}',
  tornTail: '{bytes} bytes of an interrupted append follow the last entry',
  witnesses: 'Witnesses',
  noWitness: 'no witness checkpoint given (--witness): an owner who rewrote the ledger and signed it again would not be noticed',
  witnessOk: '{name}: the ledger extends it ({size} entries)',
  witnessFailed: '{name}: {problem}',
  witnessUnmatched: '{name}: a checkpoint of none of these ledgers ({origin})',

  counterpartiesTitle: 'Counterparties',
  counterparty: 'Counterparty',
  key: 'Public key',
  runs: 'Runs',
  recordsIn: 'Records in',
  recordsOut: 'Records out',
  bytes: 'Bytes exchanged',
  billed: 'Billed',
  firstSeen: 'First run',
  lastSeen: 'Last run',
  noRuns: 'No runs recorded.',

  usageTitle: 'Usage over time',
  period: 'Period',
  byMonth: 'by month (UTC)',
  byDay: 'by day (UTC)',
  runsAxis: 'Runs',
  others: 'Others',

  billingTitle: 'Billing against the guide-price cap',
  billedSeries: 'Billed ({currency}, minor units)',
  capSeries: 'Guide-price cap × billed runs ({currency}, minor units)',
  noSchedule: 'No --price-schedule given: the guide-price cap is not known; billed amounts are shown as recorded.',
  noGuideCap: 'The price schedule {id} sets no guide-price cap (guideCap).',
  overCap: 'Runs billed above the guide-price cap: {n}',
  withinCap: 'Every run is billed within the guide-price cap ({cap} per run).',
  otherCurrencies: 'Also billed in other currencies: {list}',
  noBilling: 'No billed runs.',

  budgetsTitle: 'Query budgets',
  noBudget: 'No --budget policy given.',
  queries: 'Queries',
  records: 'Records',
  used: '{used} of {max} used',
  inProgress: '{n} in progress',
  resets: 'period {period}, resets {date}',
  spent: 'spent: new runs are refused',
  periodDay: 'day',
  periodWeek: 'week',
  periodMonth: 'month',

  alertsTitle: 'Alerts',
  noAlerts: 'No alerts.',
  alertsNotConfigured: 'No alert source: give --alerts FILE (the output of dataport supervise --json).',
  alertsSkipped: '{n} lines of the alerts file were not understood and are not shown.',
  alertsError: 'The alerts could not be read: {error}',
  level: 'Level',
  levelInfo: 'info',
  levelWarning: 'warning',
  levelError: 'error',
  rule: 'Rule',
  message: 'Message',
  time: 'Time',
  linkedEntries: 'Entries',
  entryNotFound: 'entry {index}: not in any ledger shown (leaf hash differs)',

  releasesTitle: 'Releases',
  noReleases: 'No releases recorded.',
  releaseId: 'Release id',
  recipient: 'Recipient',
  columns: 'Columns',
  rows: 'Rows',
  purpose: 'Purpose',
  sourceProtocol: 'Source protocol',
  tolerance: 'Tolerance',
  date: 'Date',

  tracesTitle: 'Trace hits',
  noTraces: 'No trace hits recorded.',
  rowsMatched: 'Rows matched',
  falseAccusation: 'False-accusation probability',
  fileSha256: 'Leaked file (SHA-256)',
  outcome: 'Outcome',

  entryTitle: 'Ledger entry {index} of {ledger}',
  close: 'Close',
  leafHash: 'Leaf hash',
  treeSize: 'Tree size',
  proof: 'Inclusion proof',
  proofOk: 'The inclusion proof verifies against the current root.',
  proofBad: 'The inclusion proof does NOT verify.',
  kind: 'Signed by',
  kindCoSigned: 'every party (co-signed)',
  kindOneSided: 'the recording party only (one-sided)',
  protocol: 'Protocol',
  parties: 'Parties',
  started: 'Started',
  ended: 'Ended',
  options: 'Options',
  guardrails: 'Guardrails',
  inputSizes: 'Input sizes',
  outputSizes: 'Output sizes',
  computeMs: 'Compute (ms)',
  sessionId: 'Session id',
  billing: 'Billing',

  outcomes: {
    completed: 'completed',
    withheld: 'withheld',
    refused: 'refused',
    failed: 'failed',
    'aborted-after-data': 'aborted after data flowed',
    attributed: 'attributed',
    unattributed: 'cannot tell',
  },
  /** Titles of the supervision rules (docs/supervise.md); unknown rules show their id. */
  rules: {
    differencing: 'differencing queries',
    'distinct-keys': 'distinct keys probed',
    rate: 'query rate',
    'off-hours': 'off-hours use',
    'first-contact': 'first contact',
    'budget-80': 'budget 80 % used',
    'budget-100': 'budget spent',
    'aborted-after-data': 'run aborted after data flowed',
    'ledger-integrity': 'ledger integrity',
    witness: 'witness check',
    'trace-hit': 'trace hit',
    'refused-connections': 'refused connections',
    'sketch-integrity': 'key sketch integrity',
  },
};

/**
 * The texts of one language (the English table's shape).
 * @example
 * ```ts
 * const m: DashboardMessages = DASHBOARD_MESSAGES.zh;
 * ```
 */
export type DashboardMessages = typeof en;

const zh: DashboardMessages = {
  htmlLang: 'zh-CN',
  title: 'dataport 数据港运营看板',
  language: '语言',
  langName: '中文',
  loading: '加载中…',
  loadFailed: '无法加载数据：{error}',
  updated: '账本读取于 {time}',
  refresh: '刷新',
  none: '—',
  notLabelled: '（无名称）',

  ledgersTitle: '账本、树头与见证',
  ledger: '账本',
  origin: '来源标识',
  owner: '所有者公钥',
  ownerPinned: '已由 --public-key 固定',
  ownerNotPinned: '取自账本文件头（未固定）',
  entries: '条目数',
  root: '根哈希（SHA-256）',
  checkpoint: '签名检查点',
  intact: '完整：所有条目、封印与检查点均验证通过',
  notIntact: '不完整：{problem}',
  tornTail: '最后一个条目之后有 {bytes} 字节未完成的追加',
  witnesses: '见证',
  noWitness: '未提供见证检查点（--witness）：所有者改写账本并重新签名将无法被发现',
  witnessOk: '{name}：账本延续该见证（{size} 个条目）',
  witnessFailed: '{name}：{problem}',
  witnessUnmatched: '{name}：不属于所示任何账本（{origin}）',

  counterpartiesTitle: '交易对手方',
  counterparty: '对手方',
  key: '公钥',
  runs: '运行次数',
  recordsIn: '输入记录数',
  recordsOut: '输出记录数',
  bytes: '交换字节数',
  billed: '计费',
  firstSeen: '首次运行',
  lastSeen: '最近运行',
  noRuns: '尚无运行记录。',

  usageTitle: '使用量趋势',
  period: '周期',
  byMonth: '按月（UTC）',
  byDay: '按日（UTC）',
  runsAxis: '运行次数',
  others: '其他',

  billingTitle: '计费与政府指导价上限',
  billedSeries: '计费金额（{currency}，最小货币单位）',
  capSeries: '指导价上限 × 计费次数（{currency}，最小货币单位）',
  noSchedule: '未提供 --price-schedule：指导价上限未知，按账本记录显示计费金额。',
  noGuideCap: '价格表 {id} 未设定指导价上限（guideCap）。',
  overCap: '计费超过指导价上限的运行：{n} 次',
  withinCap: '所有运行的计费均未超过指导价上限（每次 {cap}）。',
  otherCurrencies: '其他币种的计费：{list}',
  noBilling: '尚无计费运行。',

  budgetsTitle: '查询预算',
  noBudget: '未提供 --budget 预算策略。',
  queries: '查询次数',
  records: '记录数',
  used: '已用 {used} / {max}',
  inProgress: '进行中 {n}',
  resets: '周期：{period}，{date} 重置',
  spent: '已用尽：新的运行将被拒绝',
  periodDay: '日',
  periodWeek: '周',
  periodMonth: '月',

  alertsTitle: '告警',
  noAlerts: '无告警。',
  alertsNotConfigured: '未配置告警来源：请用 --alerts FILE 指定 dataport supervise --json 的输出。',
  alertsSkipped: '告警文件中有 {n} 行无法识别，未显示。',
  alertsError: '无法读取告警：{error}',
  level: '级别',
  levelInfo: '提示',
  levelWarning: '警告',
  levelError: '错误',
  rule: '规则',
  message: '内容',
  time: '时间',
  linkedEntries: '相关条目',
  entryNotFound: '条目 {index}：不在所示账本中（叶哈希不符）',

  releasesTitle: '数据发布',
  noReleases: '尚无发布记录。',
  releaseId: '发布编号',
  recipient: '接收方',
  columns: '列',
  rows: '行数',
  purpose: '用途',
  sourceProtocol: '来源协议',
  tolerance: '容差',
  date: '日期',

  tracesTitle: '溯源命中',
  noTraces: '尚无溯源命中记录。',
  rowsMatched: '匹配行数',
  falseAccusation: '误判概率',
  fileSha256: '泄露文件（SHA-256）',
  outcome: '结果',

  entryTitle: '账本 {ledger} 的第 {index} 号条目',
  close: '关闭',
  leafHash: '叶哈希',
  treeSize: '树大小',
  proof: '包含证明',
  proofOk: '包含证明已针对当前根哈希验证通过。',
  proofBad: '包含证明验证失败。',
  kind: '签名方',
  kindCoSigned: '全部参与方（共同签名）',
  kindOneSided: '仅记录方（单方签名）',
  protocol: '协议',
  parties: '参与方',
  started: '开始时间',
  ended: '结束时间',
  options: '选项',
  guardrails: '防护规则',
  inputSizes: '输入规模',
  outputSizes: '输出规模',
  computeMs: '计算耗时（毫秒）',
  sessionId: '会话编号',
  billing: '计费',

  outcomes: {
    completed: '完成',
    withheld: '结果未发布',
    refused: '拒绝',
    failed: '失败',
    'aborted-after-data': '数据交换后中止',
    attributed: '已归属',
    unattributed: '无法判定',
  },
  rules: {
    differencing: '差分查询',
    'distinct-keys': '探测的不同键数',
    rate: '查询频率',
    'off-hours': '非工作时间使用',
    'first-contact': '首次接触',
    'budget-80': '预算已用 80%',
    'budget-100': '预算已用尽',
    'aborted-after-data': '数据交换后中止的运行',
    'ledger-integrity': '账本完整性',
    witness: '见证检查',
    'trace-hit': '溯源命中',
    'refused-connections': '被拒绝的连接',
    'sketch-integrity': '键摘要完整性',
  },
};

/**
 * The page's texts per language.
 * @example
 * ```ts
 * document.title = DASHBOARD_MESSAGES.en.title;
 * ```
 */
export const DASHBOARD_MESSAGES: Readonly<Record<DashboardLang, DashboardMessages>> = { en, zh };
