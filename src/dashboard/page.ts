/**
 * The dashboard's page: the HTML shell (headings and labels of one language, from messages.ts,
 * HTML-escaped), its stylesheet and its script (client.ts). The data comes later from `/api/…`
 * as JSON and is put into the document as text only. Served under a Content-Security-Policy
 * that allows scripts and styles from the dashboard itself only (no inline script, no CDN).
 * @module
 */
import { dashboardClient } from './client.js';
import { DASHBOARD_LANGS, type DashboardLang, type DashboardMessages } from './messages.js';

/**
 * Escapes text for HTML element content and double-quoted attribute values.
 * @example
 * ```ts
 * escapeHtml('<b title="x">'); // '&lt;b title=&quot;x&quot;&gt;'
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * JSON for a `<script type="application/json">` element: `<`, `>`, `&` and the line separators
 * escaped, so no text can close the element or be read as markup.
 */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The Content-Security-Policy of every response. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The page's HTML in `lang`. */
export function renderPage(lang: DashboardLang, m: DashboardMessages): string {
  const t = (s: string): string => escapeHtml(s);
  const section = (id: string, title: string, body: string): string => `<section id="${id}"><h2>${t(title)}</h2>${body}</section>`;
  const langLinks = DASHBOARD_LANGS.map((l) =>
    l === lang ? `<a href="?lang=${l}" aria-current="true" data-lang="${l}">${t(LANG_NAMES[l])}</a>` : `<a href="?lang=${l}" data-lang="${l}">${t(LANG_NAMES[l])}</a>`,
  ).join(' | ');
  return `<!doctype html>
<html lang="${t(m.htmlLang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${t(m.title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/dashboard.css">
</head>
<body data-state="loading" data-lang="${lang}">
<header>
<h1>${t(m.title)}</h1>
<nav id="lang" aria-label="${t(m.language)}">${t(m.language)}: ${langLinks}</nav>
<span id="updated"></span>
<button id="refresh" type="button">${t(m.refresh)}</button>
</header>
<p id="status" role="status">${t(m.loading)}</p>
<main>
${section('ledgers', m.ledgersTitle, '<div id="ledger-list"></div>')}
${section('alerts', m.alertsTitle, '<div id="alert-list"></div>')}
${section('counterparties', m.counterpartiesTitle, '<div id="counterparty-list"></div>')}
${section('usage', m.usageTitle, `<label>${t(m.period)} <select id="period"><option value="month">${t(m.byMonth)}</option><option value="day">${t(m.byDay)}</option></select></label><div class="chart"><canvas id="usage-chart"></canvas></div>`)}
${section('billing', m.billingTitle, '<p id="billing-note"></p><div class="chart"><canvas id="billing-chart"></canvas></div>')}
${section('budgets', m.budgetsTitle, '<div id="budget-list" class="gauges"></div>')}
${section('releases', m.releasesTitle, '<div id="release-list"></div>')}
${section('traces', m.tracesTitle, '<div id="trace-list"></div>')}
</main>
<dialog id="entry"><h2 id="entry-title"></h2><div id="entry-body"></div><button id="entry-close" type="button">${t(m.close)}</button></dialog>
<script type="application/json" id="messages">${jsonForScript(m)}</script>
<script src="/assets/chart.umd.min.js"></script>
<script src="/assets/dashboard.js"></script>
</body>
</html>
`;
}

/** Each language's name in itself (the switch shows them so). */
const LANG_NAMES: Record<DashboardLang, string> = { zh: '中文', en: 'English' };

/** The page's script: {@link dashboardClient}'s source, called at once. */
export function pageScript(): string {
  return `"use strict";\n(${dashboardClient.toString()})();\n`;
}

/** The page's stylesheet. */
export const PAGE_CSS = `
:root { font-family: system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; color: #1d2530; background: #f4f6f8; }
body { margin: 0; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 1rem; padding: .8rem 1.5rem; background: #12324a; color: #fff; }
header h1 { font-size: 1.25rem; margin: 0; flex: 1 1 auto; }
header a { color: #cfe6ff; }
header a[aria-current] { color: #fff; font-weight: 600; text-decoration: none; }
#status { margin: .5rem 1.5rem; color: #555; }
body[data-state="error"] #status { color: #a40000; font-weight: 600; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(30rem, 1fr)); gap: 1rem; padding: 0 1.5rem 1.5rem; }
section { background: #fff; border-radius: 6px; padding: .8rem 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.08); overflow-x: auto; }
section h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { unicode-bidi: isolate; text-align: left; padding: .25rem .4rem; border-bottom: 1px solid #e3e7eb; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.key { font-family: ui-monospace, monospace; font-size: .8rem; word-break: break-all; }
td .key { display: inline-block; min-width: 8rem; }
.ok { color: #0a6b2d; }
.bad { color: #a40000; font-weight: 600; }
.level-error { color: #a40000; font-weight: 600; }
.level-warning { color: #9a5b00; font-weight: 600; }
.level-info { color: #25527a; }
.chart { position: relative; height: 18rem; }
.gauges { display: grid; grid-template-columns: repeat(auto-fill, minmax(13rem, 1fr)); gap: .8rem; }
.gauge { border: 1px solid #e3e7eb; border-radius: 4px; padding: .4rem; font-size: .8rem; }
.gauge .chart { height: 7rem; }
.gauge.spent { border-color: #a40000; }
dialog { max-width: min(60rem, 95vw); }
pre { white-space: pre-wrap; word-break: break-all; font-size: .75rem; margin: 0; }
`;
