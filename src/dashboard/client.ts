/**
 * The dashboard page's script, run in the browser. It is written here, type-checked with the rest
 * of the code, and served as the source text of {@link dashboardClient} (page.ts `pageScript`):
 * that keeps it inside the build without a bundler step or a file to locate at run time. So the
 * function must be self-contained: it may use only its own locals, the DOM and the `Chart` global
 * of chart.js's UMD build (served beside it), never an import.
 *
 * Everything that comes from `/api/…` (labels, purposes, options, alert texts: ledger entries and
 * files are hostile input) is put into the document with `textContent` or as an attribute value
 * through the DOM, never as markup.
 * @module
 */
import type { DashboardMessages } from './messages.js';

/** The part of chart.js's API the page uses (the UMD build's global `Chart`). */
interface ChartApi {
  new (canvas: HTMLCanvasElement, config: unknown): { destroy(): void };
  getChart(canvas: HTMLCanvasElement): { destroy(): void } | undefined;
}

/** The page's script (see the module documentation: it runs from its source text, alone). */
export function dashboardClient(): void {
  const ChartJs = (globalThis as unknown as { Chart: ChartApi }).Chart;
  const m = JSON.parse(document.getElementById('messages')!.textContent!) as DashboardMessages;
  const outcomeNames: Record<string, string | undefined> = m.outcomes;
  const ruleNames: Record<string, string | undefined> = m.rules;
  const fmt = (template: string, values: Record<string, string | number>): string =>
    template.replace(/\{(\w+)\}/g, (whole, k: string) => (Object.prototype.hasOwnProperty.call(values, k) ? String(values[k]) : whole));
  const num = new Intl.NumberFormat(m.htmlLang);
  const n = (x: number | null | undefined): string => (x === null || x === undefined ? m.none : num.format(x));
  const when = (t: number | null | undefined): string => (typeof t === 'number' && Number.isFinite(t) ? `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC` : m.none);

  type Child = Node | string | null | undefined | false;
  function el(tag: string, attrs: Record<string, string> | null, ...children: Child[]): HTMLElement {
    const e = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }
  function fill(id: string, ...children: Child[]): void {
    const target = document.getElementById(id)!;
    target.replaceChildren();
    for (const c of children) if (c !== null && c !== undefined && c !== false) target.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  function table(headers: string[], rows: Child[][], numeric: number[] = []): HTMLElement {
    return el(
      'table',
      null,
      el('thead', null, el('tr', null, ...headers.map((h) => el('th', null, h)))),
      el('tbody', null, ...rows.map((r) => el('tr', null, ...r.map((c, i) => el('td', numeric.includes(i) ? { class: 'num' } : null, c))))),
    );
  }
  /** A counterparty: its label, or the start of its key; the whole key as a tooltip. */
  function who(key: string | null, label: string | null): HTMLElement | string {
    if (key === null) return m.none;
    const shortKey = key.length > 16 ? `${key.slice(0, 16)}…` : key;
    return label !== null ? el('span', { title: key }, label) : el('span', { class: 'key', title: key }, shortKey, ` ${m.notLabelled}`);
  }
  const outcome = (o: string): string => outcomeNames[o] ?? o;
  const entryLink = (ledger: number, index: number, text?: string): HTMLElement =>
    el('a', { href: `#entry-${ledger}-${index}`, class: 'entry-link' }, text ?? `#${index}`);

  async function api<T>(path: string): Promise<T> {
    const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  const charts = new Map<string, { destroy(): void }>();
  function chart(canvas: HTMLCanvasElement, config: unknown): void {
    ChartJs.getChart(canvas)?.destroy();
    charts.set(canvas.id || String(charts.size), new ChartJs(canvas, config));
  }
  const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];

  // ---- sections -------------------------------------------------------------------------------

  interface LedgerInfo { index: number; dir: string; ok: boolean; problem?: string; origin?: string; owner?: string; ownerKeyPinned?: boolean; size?: number; root?: string; checkpoint?: string; tornTailBytes?: number }
  interface Witness { name: string; origin: string; ledger: number; ok: boolean; size?: number; problem?: string }
  function renderLedgers(o: { ledgers: LedgerInfo[]; witnesses: Witness[] }): void {
    fill(
      'ledger-list',
      ...o.ledgers.map((l) => {
        const ws = o.witnesses.filter((w) => w.ledger === l.index);
        const rows: Child[][] = l.ok
          ? [
              [m.origin, l.origin!],
              [m.owner, el('span', null, el('span', { class: 'key' }, l.owner!), ` (${l.ownerKeyPinned ? m.ownerPinned : m.ownerNotPinned})`)],
              [m.entries, n(l.size)],
              [m.root, el('span', { class: 'key' }, l.root!)],
              [m.checkpoint, el('pre', null, l.checkpoint!)],
              [
                m.witnesses,
                ws.length === 0
                  ? el('span', { class: 'bad' }, m.noWitness)
                  : el('ul', null, ...ws.map((w) => el('li', { class: w.ok ? 'ok witness' : 'bad witness' }, w.ok ? fmt(m.witnessOk, { name: w.name, size: n(w.size) }) : fmt(m.witnessFailed, { name: w.name, problem: w.problem ?? '' })))),
              ],
            ]
          : [];
        return el(
          'div',
          { class: 'ledger', 'data-ledger': String(l.index) },
          el('h3', null, `${m.ledger} ${l.index + 1}: `, el('span', { class: 'key' }, l.dir)),
          el('p', { class: l.ok ? 'ok verdict' : 'bad verdict' }, l.ok ? m.intact : fmt(m.notIntact, { problem: l.problem ?? '' })),
          l.ok && (l.tornTailBytes ?? 0) > 0 ? el('p', { class: 'bad' }, fmt(m.tornTail, { bytes: n(l.tornTailBytes) })) : null,
          rows.length > 0 ? table(['', ''], rows) : null,
        );
      }),
      ...o.witnesses.filter((w) => w.ledger < 0).map((w) => el('p', { class: 'bad witness' }, fmt(m.witnessUnmatched, { name: w.name, origin: w.origin }))),
    );
  }

  interface CounterpartyRow { key: string; label: string | null; runs: number; outcomes: Record<string, number>; recordsIn: number; recordsOut: number; bytesExchanged: number; billed: Record<string, number>; firstSeen: number; lastSeen: number }
  function renderCounterparties(c: { rows: CounterpartyRow[] }): void {
    if (c.rows.length === 0) return fill('counterparty-list', el('p', null, m.noRuns));
    const billed = (b: Record<string, number>): string => Object.keys(b).sort().map((k) => `${n(b[k])} ${k}`).join('; ') || m.none;
    const outcomes = (o: Record<string, number>): string => Object.keys(o).sort().map((k) => `${outcome(k)} ${n(o[k])}`).join(', ');
    fill(
      'counterparty-list',
      table(
        [m.counterparty, m.runs, m.outcome, m.recordsIn, m.recordsOut, m.bytes, m.billed, m.firstSeen, m.lastSeen],
        c.rows.map((r) => [who(r.key, r.label), n(r.runs), outcomes(r.outcomes), n(r.recordsIn), n(r.recordsOut), n(r.bytesExchanged), billed(r.billed), when(r.firstSeen), when(r.lastSeen)]),
        [1, 3, 4, 5],
      ),
    );
  }

  interface Usage {
    periods: string[];
    counterparties: { key: string; label: string | null }[];
    runsByCounterparty: number[][];
    runsOthers: number[];
    billing: { currency: string | null; schedule: string | null; guideCap: number | null; billed: number[]; cap: number[] | null; overCap: number; otherCurrencies: Record<string, number> };
  }
  function renderUsage(u: Usage): void {
    const series = u.counterparties.map((c, i) => ({
      label: c.label ?? `${c.key.slice(0, 12)}…`,
      data: u.runsByCounterparty[i],
      backgroundColor: PALETTE[i % PALETTE.length],
      stack: 'runs',
    }));
    if (u.runsOthers.some((x) => x > 0)) series.push({ label: m.others, data: u.runsOthers, backgroundColor: PALETTE[PALETTE.length - 1], stack: 'runs' });
    chart(document.getElementById('usage-chart') as HTMLCanvasElement, {
      type: 'bar',
      data: { labels: u.periods, datasets: series },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: m.runsAxis }, ticks: { precision: 0 } } },
      },
    });
    const b = u.billing;
    const notes: string[] = [];
    if (b.schedule === null) notes.push(m.noSchedule);
    else if (b.guideCap === null) notes.push(fmt(m.noGuideCap, { id: b.schedule }));
    else notes.push(b.overCap > 0 ? fmt(m.overCap, { n: n(b.overCap) }) : fmt(m.withinCap, { cap: `${n(b.guideCap)} ${b.currency ?? ''}` }));
    const others = Object.keys(b.otherCurrencies).sort();
    if (others.length > 0) notes.push(fmt(m.otherCurrencies, { list: others.map((k) => `${n(b.otherCurrencies[k])} ${k}`).join('; ') }));
    if (b.currency === null) notes.push(m.noBilling);
    fill('billing-note', ...notes.map((t) => el('span', { class: b.overCap > 0 && t === notes[0] ? 'bad' : '' }, t, ' ')));
    const currency = b.currency ?? '';
    const datasets: unknown[] = [{ type: 'bar', label: fmt(m.billedSeries, { currency }), data: b.billed, backgroundColor: '#1f77b4', order: 2 }];
    if (b.cap !== null) datasets.push({ type: 'line', label: fmt(m.capSeries, { currency }), data: b.cap, borderColor: '#d62728', backgroundColor: '#d62728', borderDash: [6, 4], pointRadius: 2, order: 1 });
    chart(document.getElementById('billing-chart') as HTMLCanvasElement, {
      type: 'bar',
      data: { labels: u.periods, datasets },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
    });
  }

  interface Gauge { ledger: number; counterparty: string; label: string | null; period: string; periodEnd: number; queriesUsed: number; queriesReserved: number; maxQueries: number; recordsUsed: number; recordsReserved: number; maxRecords: number | null; allowed: boolean }
  function gaugeChart(canvas: HTMLCanvasElement, used: number, max: number): void {
    const shown = Math.min(used, max);
    chart(canvas, {
      type: 'doughnut',
      data: { labels: [m.used, ''], datasets: [{ data: max === 0 ? [1, 0] : [shown, max - shown], backgroundColor: [used >= max ? '#d62728' : used >= 0.8 * max ? '#ff7f0e' : '#2ca02c', '#e3e7eb'], borderWidth: 0 }] },
      options: { animation: false, responsive: true, maintainAspectRatio: false, rotation: -90, circumference: 180, cutout: '65%', plugins: { legend: { display: false }, tooltip: { enabled: false } } },
    });
  }
  function renderBudgets(b: { policy: unknown; gauges: Gauge[] }): void {
    if (b.policy === null) return fill('budget-list', el('p', null, m.noBudget));
    const periods: Record<string, string> = { day: m.periodDay, week: m.periodWeek, month: m.periodMonth };
    const canvases: [HTMLCanvasElement, number, number][] = [];
    fill(
      'budget-list',
      ...b.gauges.map((g, i) => {
        const qUsed = g.queriesUsed + g.queriesReserved;
        const qCanvas = el('canvas', { id: `budget-q-${i}`, class: 'gauge-canvas' }) as HTMLCanvasElement;
        canvases.push([qCanvas, qUsed, g.maxQueries]);
        let records: HTMLElement | null = null;
        if (g.maxRecords !== null) {
          const rCanvas = el('canvas', { id: `budget-r-${i}`, class: 'gauge-canvas' }) as HTMLCanvasElement;
          canvases.push([rCanvas, g.recordsUsed + g.recordsReserved, g.maxRecords]);
          records = el('div', null, el('strong', null, m.records), ' ', fmt(m.used, { used: n(g.recordsUsed + g.recordsReserved), max: n(g.maxRecords) }), el('div', { class: 'chart' }, rCanvas));
        }
        return el(
          'div',
          { class: g.allowed ? 'gauge' : 'gauge spent', 'data-counterparty': g.counterparty },
          el('div', null, who(g.counterparty, g.label), ` (${m.ledger} ${g.ledger + 1})`),
          el('div', null, el('strong', null, m.queries), ' ', fmt(m.used, { used: n(qUsed), max: n(g.maxQueries) }), g.queriesReserved > 0 ? ` (${fmt(m.inProgress, { n: n(g.queriesReserved) })})` : ''),
          el('div', { class: 'chart' }, qCanvas),
          records,
          el('div', null, fmt(m.resets, { period: periods[g.period] ?? g.period, date: when(g.periodEnd) })),
          g.allowed ? null : el('div', { class: 'bad' }, m.spent),
        );
      }),
    );
    for (const [canvas, used, max] of canvases) gaugeChart(canvas, used, max);
  }

  interface Alert { level: string; rule: string; message: string; counterparty: string | null; counterpartyLabel: string | null; at: number; entries: { index: number; leafHash: string; ledger: number }[] }
  function renderAlerts(a: { configured: boolean; skipped: number; alerts: Alert[]; error?: string }): void {
    const levels: Record<string, string> = { info: m.levelInfo, warning: m.levelWarning, error: m.levelError };
    fill(
      'alert-list',
      !a.configured ? el('p', null, m.alertsNotConfigured) : a.alerts.length === 0 && a.error === undefined ? el('p', { class: 'ok' }, m.noAlerts) : null,
      a.error !== undefined ? el('p', { class: 'bad' }, fmt(m.alertsError, { error: a.error })) : null,
      a.skipped > 0 ? el('p', { class: 'bad' }, fmt(m.alertsSkipped, { n: n(a.skipped) })) : null,
      a.alerts.length > 0
        ? table(
            [m.level, m.time, m.rule, m.counterparty, m.message, m.linkedEntries],
            a.alerts.map((x) => [
              el('span', { class: `level-${x.level}` }, levels[x.level] ?? x.level),
              when(x.at),
              ruleNames[x.rule] ?? x.rule,
              x.counterparty === null ? m.none : who(x.counterparty, x.counterpartyLabel),
              x.message,
              el('span', null, ...x.entries.map((e) => (e.ledger >= 0 ? el('span', null, entryLink(e.ledger, e.index), ' ') : el('span', { class: 'bad' }, fmt(m.entryNotFound, { index: e.index }), ' ')))),
            ]),
          )
        : null,
    );
  }

  interface RecordRow { ledger: number; index: number; at: number; releaseId: string | null; recipient: string | null; recipientLabel: string | null; outcome: string; columns?: string | null; rows?: string | null; sourceProtocol?: string | null; tolerance?: string | null; purpose?: string | null; rowsMatched?: string | null; falseAccusation?: string | null; fileSha256?: string | null }
  function renderRecords(r: { releases: RecordRow[]; traces: RecordRow[] }): void {
    const s = (x: string | null | undefined): string => x ?? m.none;
    fill(
      'release-list',
      r.releases.length === 0
        ? el('p', null, m.noReleases)
        : table(
            [m.date, m.releaseId, m.recipient, m.columns, m.rows, m.purpose, m.sourceProtocol, m.tolerance, ''],
            r.releases.map((x) => [when(x.at), el('span', { class: 'key' }, s(x.releaseId)), who(x.recipient, x.recipientLabel), s(x.columns), s(x.rows), s(x.purpose), s(x.sourceProtocol), s(x.tolerance), entryLink(x.ledger, x.index)]),
          ),
    );
    fill(
      'trace-list',
      r.traces.length === 0
        ? el('p', null, m.noTraces)
        : table(
            [m.date, m.outcome, m.releaseId, m.recipient, m.rowsMatched, m.falseAccusation, m.fileSha256, ''],
            r.traces.map((x) => [when(x.at), el('span', { class: x.outcome === 'attributed' ? 'bad' : '' }, outcome(x.outcome)), el('span', { class: 'key' }, s(x.releaseId)), who(x.recipient, x.recipientLabel), s(x.rowsMatched), s(x.falseAccusation), el('span', { class: 'key' }, s(x.fileSha256)), entryLink(x.ledger, x.index)]),
          ),
    );
  }

  // ---- the entry view (#entry-L-I) -----------------------------------------------------------

  interface Entry {
    ledger: number; origin: string; index: number; treeSize: number; root: string; leafHash: string; proof: string[]; proofVerified: boolean; kind: string;
    body: { sessionId: string; startedAt: number; endedAt: number; parties: { role: string; key: string; label: string | null }[]; protocol: string; options: Record<string, string>; purpose: string; inputSizes: Record<string, number>; outputSizes: Record<string, number>; bytesExchanged: number; computeMs: number; guardrails: unknown[]; billing: unknown; outcome: string };
    signatures: { key: string }[];
  }
  const dialog = document.getElementById('entry') as HTMLDialogElement;
  async function showEntry(): Promise<void> {
    const match = /^#entry-(\d{1,6})-(\d{1,16})$/.exec(location.hash);
    if (!match) {
      if (dialog.open) dialog.close();
      return;
    }
    const e = await api<Entry>(`/api/entry?ledger=${match[1]}&index=${match[2]}`);
    const b = e.body;
    const kv = (o: Record<string, unknown>): string => Object.keys(o).sort().map((k) => `${k}=${typeof o[k] === 'string' ? o[k] : JSON.stringify(o[k])}`).join('\n') || m.none;
    fill('entry-title', fmt(m.entryTitle, { index: e.index, ledger: e.origin }));
    fill(
      'entry-body',
      el('p', { class: e.proofVerified ? 'ok' : 'bad', id: 'entry-proof-verdict' }, e.proofVerified ? m.proofOk : m.proofBad),
      table(['', ''], [
        [m.protocol, b.protocol],
        [m.outcome, outcome(b.outcome)],
        [m.kind, e.kind === 'one-sided' ? m.kindOneSided : m.kindCoSigned],
        [m.parties, el('ul', null, ...b.parties.map((p) => el('li', null, `${p.role}: `, who(p.key, p.label))))],
        [m.purpose, b.purpose || m.none],
        [m.started, when(b.startedAt)],
        [m.ended, when(b.endedAt)],
        [m.options, el('pre', null, kv(b.options))],
        [m.inputSizes, el('pre', null, kv(b.inputSizes))],
        [m.outputSizes, el('pre', null, kv(b.outputSizes))],
        [m.bytes, n(b.bytesExchanged)],
        [m.computeMs, n(b.computeMs)],
        [m.guardrails, el('pre', null, b.guardrails.length === 0 ? m.none : JSON.stringify(b.guardrails, null, 1))],
        [m.billing, b.billing === null ? m.none : el('pre', null, JSON.stringify(b.billing))],
        [m.sessionId, el('span', { class: 'key' }, b.sessionId)],
        [m.leafHash, el('span', { class: 'key', id: 'entry-leaf' }, e.leafHash)],
        [m.treeSize, n(e.treeSize)],
        [m.root, el('span', { class: 'key' }, e.root)],
        [m.proof, el('pre', { class: 'key' }, e.proof.join('\n') || m.none)],
      ]),
    );
    if (!dialog.open) dialog.showModal();
  }
  document.getElementById('entry-close')!.addEventListener('click', () => {
    history.replaceState(null, '', location.pathname + location.search);
    dialog.close();
  });
  window.addEventListener('hashchange', () => {
    showEntry().catch((err: unknown) => fail(err));
  });

  // ---- loading ---------------------------------------------------------------------------------

  function fail(err: unknown): void {
    document.body.dataset.state = 'error';
    fill('status', fmt(m.loadFailed, { error: err instanceof Error ? err.message : String(err) }));
  }
  const period = document.getElementById('period') as HTMLSelectElement;
  async function load(): Promise<void> {
    document.body.dataset.state = 'loading';
    const [overview, counterparties, usage, budgets, alerts, records] = await Promise.all([
      api<{ ledgers: LedgerInfo[]; witnesses: Witness[]; loadedAt: number }>('/api/overview'),
      api<{ rows: CounterpartyRow[] }>('/api/counterparties'),
      api<Usage>(`/api/usage?period=${period.value === 'day' ? 'day' : 'month'}`),
      api<{ policy: unknown; gauges: Gauge[] }>('/api/budgets'),
      api<{ configured: boolean; skipped: number; alerts: Alert[]; error?: string }>(`/api/alerts?lang=${m.htmlLang.startsWith('zh') ? 'zh' : 'en'}`),
      api<{ releases: RecordRow[]; traces: RecordRow[] }>('/api/records'),
    ]);
    renderLedgers(overview);
    renderAlerts(alerts);
    renderCounterparties(counterparties);
    renderUsage(usage);
    renderBudgets(budgets);
    renderRecords(records);
    fill('updated', fmt(m.updated, { time: when(overview.loadedAt) }));
    fill('status');
    document.body.dataset.state = 'ready';
    await showEntry();
  }
  const reload = (): void => {
    load().catch((err: unknown) => fail(err));
  };
  period.addEventListener('change', reload);
  document.getElementById('refresh')!.addEventListener('click', reload);
  // The ledgers grow while the page is open; the server re-reads them only when their files change.
  setInterval(() => {
    if (document.visibilityState === 'visible' && !dialog.open) reload();
  }, 60_000);
  reload();
}
