/**
 * The operator's dashboard server (`dataport dashboard`, docs/dashboard.md): a read-only web page
 * over one or more ledgers, on `node:http`.
 *
 * - GET and HEAD only; anything else is 405. Nothing is ever written: the ledgers are read (and
 *   verified) with `readLedgerSnapshot`, which takes no lock and needs no secret key.
 * - Every response carries a Content-Security-Policy allowing scripts, styles and fetches from the
 *   dashboard itself only, `nosniff`, no framing, no referrer, no caching.
 * - The `Host` header must name the dashboard: an IP literal or `localhost` with its port, or a
 *   name given in `allowedHosts`. A web page the operator visits cannot read the dashboard through
 *   DNS rebinding (its requests carry the attacker's host name).
 * - Errors never reach the page with a stack trace: a failed request gets a one-line JSON error,
 *   and the details go to `onError` (the CLI prints them on stderr).
 * @module
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { UnsupportedError } from '../errors.js';
import type { BudgetPolicy, PriceSchedule, WitnessCheckpoint } from '../ledger/index.js';
import { checkAlerts, type DashboardAlert } from './alerts.js';
import { DASHBOARD_LANGS, DASHBOARD_MESSAGES, type DashboardLang } from './messages.js';
import { createLedgerStore, type DashboardData, type DashboardLedgerSource } from './model.js';
import { CONTENT_SECURITY_POLICY, PAGE_CSS, pageScript, renderPage } from './page.js';
import { alertsView, budgetsView, counterpartiesView, entryView, overviewView, recordsView, usageView, type Labels } from './views.js';

/** Alerts as an alert source gives them (see alerts.ts). */
export interface AlertBatch {
  alerts: readonly DashboardAlert[];
  /** Lines or items that were not understood and are not shown. */
  skipped: number;
}

/** What a {@link DashboardOptions.supervise} run is given. */
export interface SupervisedLedger {
  dir: string;
  publicKey?: Uint8Array;
  /** The `witnesses` whose origin is this ledger's. */
  witnesses: WitnessCheckpoint[];
}

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** The ledgers to show (at least one). */
  ledgers: readonly DashboardLedgerSource[];
  /** Checkpoints saved elsewhere; each is checked against the ledger of its origin. */
  witnesses?: readonly WitnessCheckpoint[];
  /** Operator labels: base64 public key → name. */
  labels?: Labels;
  /** Budget policy: its gauges. */
  budget?: BudgetPolicy;
  /** The price schedule whose guide-price cap the billing chart is drawn against. */
  priceSchedule?: PriceSchedule;
  /** Where alerts come from; called for every `/api/alerts`. */
  loadAlerts?: () => Promise<AlertBatch>;
  /**
   * A supervisor run over each intact ledger when it is (re)loaded — `superviseLedger` of
   * src/supervise, given the ledger's pinned key and the witnesses of its origin. Its alerts go
   * through the same checks as an alerts file's ({@link checkAlerts}) and are shown with them.
   */
  supervise?: (ledger: SupervisedLedger) => Promise<{ alerts: readonly unknown[] }>;
  /** Language of the page when the URL does not ask for one (default `zh`). */
  lang?: DashboardLang;
  /** Address to bind (default `127.0.0.1`). */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /** Host names (besides IP literals and `localhost`) the `Host` header may carry. */
  allowedHosts?: readonly string[];
  /** Told about a request that failed inside the dashboard (never shown on the page). */
  onError?: (error: unknown) => void;
  /** Clock for budget periods (default `Date.now`). */
  now?: () => number;
}

/** A running dashboard. */
export interface RunningDashboard {
  /** `http://HOST:PORT/`. */
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Longest request target accepted. */
const MAX_URL = 2048;

/**
 * chart.js's UMD build from the installed package (beside the file its `require` entry resolves
 * to), so the page never loads a script from elsewhere.
 */
async function readChartJs(): Promise<Uint8Array> {
  let path: string;
  try {
    path = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
    return new Uint8Array(await readFile(path));
  } catch (err) {
    throw new UnsupportedError(`the dashboard needs chart.js 4 (npm package chart.js, file dist/chart.umd.min.js): ${(err as Error).message}`);
  }
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Uint8Array, extra: Record<string, string> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(bytes.length), ...extra });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const sendJson = (req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void => send(req, res, status, JSON_TYPE, JSON.stringify(value));

/** Whether `Host` names this dashboard (see the module documentation). */
function hostAllowed(header: string | undefined, port: number, allowed: ReadonlySet<string>): boolean {
  if (header === undefined) return false;
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::([0-9]{1,5}))?$/.exec(header.trim());
  if (!m) return false;
  if (m[2] !== undefined && Number(m[2]) !== port) return false;
  if (m[2] === undefined && port !== 80) return false;
  const name = m[1]!.toLowerCase();
  const bare = name.startsWith('[') ? name.slice(1, -1) : name;
  return isIP(bare) !== 0 || name === 'localhost' || allowed.has(name);
}

/**
 * Starts the dashboard and resolves once it listens. The ledgers are read (and verified) first:
 * a directory that holds no ledger is an `InputError`; a ledger that fails verification is shown
 * as failed.
 * @example
 * ```ts
 * const d = await startDashboard({ ledgers: [{ dir: './ledger' }], port: 0 });
 * console.log(d.url);
 * await d.close();
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  if (options.ledgers.length === 0) throw new RangeError('options.ledgers must name at least one ledger');
  const lang = options.lang ?? 'zh';
  if (!DASHBOARD_LANGS.includes(lang)) throw new RangeError(`options.lang must be one of ${DASHBOARD_LANGS.join(', ')}`);
  const labels: Labels = options.labels ?? new Map();
  const now = options.now ?? Date.now;
  const allowed = new Set((options.allowedHosts ?? []).map((h) => h.toLowerCase()));
  const store = createLedgerStore(options.ledgers, options.witnesses ?? []);
  await store.current();
  const chartJs = await readChartJs();
  const script = pageScript();
  let port = 0;

  // Views that depend on the ledgers only are computed once per load: a polling page costs nothing more.
  const memo = new WeakMap<DashboardData, Map<string, unknown>>();
  const cachedAsync = <T>(data: DashboardData, key: string, compute: () => Promise<T>): Promise<T> => {
    let m = memo.get(data);
    if (!m) memo.set(data, (m = new Map()));
    if (!m.has(key)) {
      const p = compute();
      m.set(key, p);
      p.catch(() => m!.delete(key)); // a failed run is tried again on the next request
    }
    return m.get(key) as Promise<T>;
  };
  const superviseAll = async (data: DashboardData, supervise: NonNullable<DashboardOptions['supervise']>): Promise<AlertBatch> => {
    const results: unknown[] = [];
    for (const l of data.ledgers) {
      if (l.snapshot === undefined) continue; // shown as failed already; nothing in it is trusted
      const source = options.ledgers[l.index]!;
      const witnesses = data.witnesses.flatMap((w, i) => (w.ledger === l.index ? [options.witnesses![i]!] : []));
      const r = await supervise({ dir: l.dir, ...(source.publicKey ? { publicKey: source.publicKey } : {}), witnesses });
      results.push(...r.alerts);
    }
    return checkAlerts(results);
  };
  const cached = async (key: string, view: (data: DashboardData) => unknown): Promise<unknown> => {
    const data = await store.current();
    let m = memo.get(data);
    if (!m) memo.set(data, (m = new Map()));
    if (!m.has(key)) m.set(key, view(data));
    return m.get(key);
  };
  const api: Record<string, (q: URLSearchParams) => Promise<[number, unknown]>> = {
    '/api/overview': async () => [200, await cached('overview', overviewView)],
    '/api/counterparties': async () => [200, await cached('counterparties', (d) => counterpartiesView(d, labels))],
    '/api/usage': async (q) => {
      const period = q.get('period') ?? 'month';
      if (period !== 'month' && period !== 'day') return [400, { error: 'period must be month or day' }];
      return [200, await cached(`usage-${period}`, (d) => usageView(d, labels, period, options.priceSchedule))];
    },
    // Budgets also depend on the clock (the period) and on the reservations of runs in progress.
    '/api/budgets': async () => [200, await budgetsView(await store.current(), labels, options.budget, now())],
    '/api/records': async () => [200, await cached('records', (d) => recordsView(d, labels))],
    '/api/alerts': async (q) => {
      const data = await store.current();
      const configured = options.loadAlerts !== undefined || options.supervise !== undefined;
      const alerts: DashboardAlert[] = [];
      let skipped = 0;
      const errors: string[] = [];
      const take = (batch: AlertBatch): void => {
        alerts.push(...batch.alerts);
        skipped += batch.skipped;
      };
      const attempt = async (source: () => Promise<AlertBatch>): Promise<void> => {
        try {
          take(await source());
        } catch (err) {
          options.onError?.(err);
          errors.push((err as Error).message);
        }
      };
      if (options.loadAlerts !== undefined) await attempt(options.loadAlerts);
      const supervise = options.supervise;
      // Supervision re-reads a ledger: once per load of the ledgers, not once per request.
      if (supervise !== undefined) await attempt(() => cachedAsync(data, 'supervise', () => superviseAll(data, supervise)));
      const view = alertsView(data, labels, { alerts, skipped, configured }, (q.get('lang') ?? lang) === 'zh' ? 'zh' : 'en');
      return [200, errors.length === 0 ? view : { ...(view as object), error: errors.join('; ') }];
    },
    '/api/entry': async (q) => {
      const ledger = q.get('ledger') ?? '';
      const index = q.get('index') ?? '';
      if (!/^[0-9]{1,6}$/.test(ledger) || !/^[0-9]{1,15}$/.test(index)) return [400, { error: 'ledger and index must be non-negative integers' }];
      const entry = entryView(await store.current(), labels, Number(ledger), Number(index));
      return entry === undefined ? [404, { error: 'no such entry' }] : [200, entry];
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(req, res, 405, 'text/plain; charset=utf-8', 'read-only: GET and HEAD only\n', { allow: 'GET, HEAD' });
    const target = req.url ?? '/';
    if (target.length > MAX_URL || !target.startsWith('/')) return send(req, res, 414, 'text/plain; charset=utf-8', 'request target too long\n');
    if (!hostAllowed(req.headers.host, port, allowed)) return send(req, res, 403, 'text/plain; charset=utf-8', 'Host not allowed (see --allow-host)\n');
    const url = new URL(target, 'http://dashboard.invalid');
    const path = url.pathname;
    if (path === '/' || path === '/index.html') {
      const asked = url.searchParams.get('lang');
      const l = asked !== null && (DASHBOARD_LANGS as readonly string[]).includes(asked) ? (asked as DashboardLang) : lang;
      return send(req, res, 200, 'text/html; charset=utf-8', renderPage(l, DASHBOARD_MESSAGES[l]), { 'content-language': DASHBOARD_MESSAGES[l].htmlLang });
    }
    if (path === '/assets/dashboard.js') return send(req, res, 200, 'text/javascript; charset=utf-8', script);
    if (path === '/assets/dashboard.css') return send(req, res, 200, 'text/css; charset=utf-8', PAGE_CSS);
    if (path === '/assets/chart.umd.min.js') return send(req, res, 200, 'text/javascript; charset=utf-8', chartJs);
    if (path === '/api/messages') {
      const asked = url.searchParams.get('lang') ?? lang;
      if (!(DASHBOARD_LANGS as readonly string[]).includes(asked)) return sendJson(req, res, 400, { error: `lang must be one of ${DASHBOARD_LANGS.join(', ')}` });
      return sendJson(req, res, 200, DASHBOARD_MESSAGES[asked as DashboardLang]);
    }
    const route = Object.prototype.hasOwnProperty.call(api, path) ? api[path] : undefined;
    if (route === undefined) return sendJson(req, res, 404, { error: 'not found' });
    const [status, body] = await route(url.searchParams);
    return sendJson(req, res, status, body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.onError?.(err);
      if (!res.headersSent) sendJson(req, res, 500, { error: 'internal error (see the dashboard process log)' });
      else res.destroy();
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.maxConnections = 64;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as { port: number }).port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}/`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
