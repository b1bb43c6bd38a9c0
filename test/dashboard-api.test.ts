/**
 * The operator's dashboard (src/dashboard, `dataport dashboard`) over real ledgers built with the
 * ledger library: every `/api/…` endpoint against what the fixture was built to hold (usage sums,
 * billing against the guide-price cap, budgets, releases and trace hits, heads and witnesses,
 * entries with inclusion proofs, alerts linked to entries), and what makes it safe to run: read
 * only (no method but GET/HEAD; the ledger files are untouched), a `Host` check, CSP, escaping,
 * both languages complete. The last tests run the built CLI as a separate process.
 */
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkAlerts, parseAlertLines } from '../src/dashboard/alerts.js';
import { DASHBOARD_LANGS, DASHBOARD_MESSAGES } from '../src/dashboard/messages.js';
import { escapeHtml, renderPage } from '../src/dashboard/page.js';
import { startDashboard, type RunningDashboard } from '../src/dashboard/server.js';
import { InputError } from '../src/errors.js';
import { parseBudgetPolicy, verifyInclusionProof } from '../src/ledger/index.js';
import { LEDGER_FILES, openLedger, readLedgerSnapshot } from '../src/ledger/node.js';
import { fromHex, toHex } from '../src/utils/bytes.js';
import { assertBuilt, killAll, startCli } from './cli-helpers.js';
import { expected, hospitalLedger, HOSTILE_LABEL, run, SCHEDULE, T, type DashboardFixture } from './dashboard-fixtures.js';
import { psiRuns, twoParties } from './ledger-fixtures.js';

let fx: DashboardFixture;
let d: RunningDashboard;
const alertsFile = (): string => join(fx.root, 'alerts.jsonl');

async function get(path: string): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const res = await fetch(new URL(path, d.url));
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** A raw request (fetch cannot set Host or send arbitrary methods the same way). */
function raw(method: string, path: string, host?: string): Promise<{ status: number; body: string; allow?: string }> {
  const u = new URL(d.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: host === undefined ? {} : { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, ...(res.headers.allow ? { allow: res.headers.allow } : {}) }));
    });
    req.on('error', reject);
    req.end(method === 'POST' || method === 'PUT' ? '{}' : undefined);
  });
}

const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(async () => {
  fx = await hospitalLedger();
  const snap = await readLedgerSnapshot(fx.dir);
  const leaf = (i: number): string => toHex(snap.leafHash(i));
  writeFileSync(
    alertsFile(),
    [
      JSON.stringify({ level: 'error', rule: 'budget-100', message: 'query budget of pharma B spent', messageKey: 'budgetSpent', counterparty: toHex(fx.pharmaB.publicKey), entries: [{ index: 5, leafHash: leaf(5), proof: [] }], at: T.oct + 2 * 86_400_000, details: { used: 3, max: 2 } }),
      JSON.stringify({ level: 'warning', rule: 'first-contact', message: 'first run with this counterparty', messageKey: 'firstContact', counterparty: toHex(fx.insurer.publicKey), entries: [{ index: 2, leafHash: 'ff'.repeat(32), proof: [] }], at: T.aug, details: {} }),
      '{"level":"fatal","rule":"x"}',
      '',
      JSON.stringify({ ok: false, alerts: 2 }),
    ].join('\n'),
  );
  const labels = new Map([[fx.keys.pharmaA, '医药公司甲 Pharma A'], [fx.keys.pharmaB, HOSTILE_LABEL]]);
  d = await startDashboard({
    ledgers: [{ dir: fx.dir, publicKey: fx.hospital.publicKey }],
    witnesses: [{ name: 'saved.cp', text: snap.checkpoint }],
    labels,
    priceSchedule: SCHEDULE,
    budget: parseBudgetPolicy(readFileSync(fx.budgetFile, 'utf8')),
    loadAlerts: async () => parseAlertLines(readFileSync(alertsFile(), 'utf8')),
    lang: 'zh',
    port: 0,
    now: () => T.now,
  });
});

afterAll(async () => {
  await d?.close();
  fx?.cleanup();
});

describe('dashboard API over a real ledger', () => {
  it('/api/overview: the head (size, root, checkpoint), verified, owner pinned, witness checked', async () => {
    const snap = await readLedgerSnapshot(fx.dir);
    const { status, json } = await get('/api/overview');
    expect(status).toBe(200);
    expect(json.ledgers).toHaveLength(1);
    const l = json.ledgers[0];
    expect(l).toMatchObject({ ok: true, size: 10, root: toHex(snap.root()), owner: fx.keys.hospital, ownerKeyPinned: true, origin: snap.origin });
    expect(l.checkpoint).toBe(snap.checkpoint);
    expect(json.witnesses).toEqual([{ name: 'saved.cp', origin: snap.origin, ledger: 0, ok: true, size: 10 }]);
    expect(json.runs).toBe(8);
    expect(json.records).toBe(2);
  });

  it('/api/counterparties: runs, outcomes and co-signed billing per counterparty, labelled; release/trace records not counted', async () => {
    const { json } = await get('/api/counterparties');
    const byKey = new Map<string, any>(json.rows.map((r: any) => [r.key, r]));
    expect(byKey.size).toBe(3);
    expect(byKey.get(fx.keys.pharmaA)).toMatchObject({ runs: expected.runs.pharmaA, label: '医药公司甲 Pharma A', outcomes: { completed: 2, refused: 1 }, billed: { CNY: 2 * 1110 } });
    expect(byKey.get(fx.keys.pharmaB)).toMatchObject({ runs: expected.runs.pharmaB, label: HOSTILE_LABEL, outcomes: { completed: 2, 'aborted-after-data': 1 }, billed: { CNY: 2 * 1410 } });
    expect(byKey.get(fx.keys.insurer)).toMatchObject({ runs: expected.runs.insurer, label: null, billed: { CNY: 1310 + 9000 } });
    expect(byKey.get(fx.keys.pharmaA).firstSeen).toBe(T.aug);
    expect(byKey.get(fx.keys.hospital)).toBeUndefined();
  });

  it('/api/usage by month: runs per counterparty with the empty month, billing against the guide-price cap', async () => {
    const { json } = await get('/api/usage?period=month');
    expect(json.periods).toEqual(expected.periods);
    expect(json.runs).toEqual(expected.runsPerMonth);
    const series = new Map<string, number[]>(json.counterparties.map((c: any, i: number) => [c.key, json.runsByCounterparty[i]]));
    expect(series.get(fx.keys.pharmaA)).toEqual([2, 0, 1]);
    expect(series.get(fx.keys.pharmaB)).toEqual([0, 0, 3]);
    expect(series.get(fx.keys.insurer)).toEqual([1, 0, 1]);
    expect(json.recordsIn[0]).toBe(expected.recordsInAugust);
    expect(json.billing).toMatchObject({ currency: 'CNY', schedule: SCHEDULE.id, guideCap: 5000, billed: expected.billedPerMonth, overCap: expected.overCap });
    expect(json.billing.billableRuns).toEqual(expected.billableRunsPerMonth);
    expect(json.billing.cap).toEqual(expected.billableRunsPerMonth.map((n) => n * 5000));
  });

  it('/api/usage by day: every day from the first run to the last, the same totals', async () => {
    const { json } = await get('/api/usage?period=day');
    expect(json.periods[0]).toBe('2026-08-10');
    expect(json.periods.at(-1)).toBe('2026-10-24');
    expect(json.periods).toHaveLength(76); // 10 Aug .. 24 Oct inclusive
    expect(json.runs.reduce((a: number, b: number) => a + b, 0)).toBe(8);
    expect(json.billing.billed.reduce((a: number, b: number) => a + b, 0)).toBe(3530 + 11820);
    expect((await get('/api/usage?period=year')).status).toBe(400);
  });

  it('/api/budgets: where each counterparty stands this month, as the budget check counts it', async () => {
    const { json } = await get('/api/budgets');
    expect(json.policy).toEqual({ period: 'month', maxQueries: 3, maxRecords: 100000 });
    const g = new Map<string, any>(json.gauges.map((x: any) => [x.counterparty, x]));
    expect(g.size).toBe(3);
    expect(g.get(fx.keys.pharmaA)).toMatchObject({ queriesUsed: expected.budget.pharmaA, maxQueries: 3, allowed: true });
    expect(g.get(fx.keys.pharmaB)).toMatchObject({ queriesUsed: expected.budget.pharmaB, maxQueries: 2, recordsUsed: 4100 + 4100 + 100, allowed: false, label: HOSTILE_LABEL });
    expect(g.get(fx.keys.insurer)).toMatchObject({ queriesUsed: expected.budget.insurer, maxQueries: 3, allowed: true });
    expect(json.periodStart).toBe(Date.UTC(2026, 9, 1));
    expect(json.periodEnd).toBe(Date.UTC(2026, 10, 1));
  });

  it('/api/records: the release and the trace hit, recipient labelled', async () => {
    const { json } = await get('/api/records');
    expect(json.releases).toHaveLength(expected.releases);
    expect(json.traces).toHaveLength(expected.traces);
    expect(json.releases[0]).toMatchObject({ ledger: 0, index: 8, releaseId: 'a1'.repeat(16), recipient: fx.keys.pharmaA, recipientLabel: '医药公司甲 Pharma A', columns: 'ward,cost', rows: '120', purpose: HOSTILE_LABEL });
    expect(json.traces[0]).toMatchObject({ ledger: 0, index: 9, outcome: 'attributed', rowsMatched: '36', falseAccusation: '1.00e-9', fileSha256: 'ab'.repeat(32), recipientLabel: '医药公司甲 Pharma A' });
  });

  it('/api/entry: the entry with an inclusion proof that verifies against the root', async () => {
    const snap = await readLedgerSnapshot(fx.dir);
    const { json } = await get('/api/entry?ledger=0&index=4');
    expect(json).toMatchObject({ ledger: 0, index: 4, treeSize: 10, proofVerified: true, kind: 'co-signed', leafHash: toHex(snap.leafHash(4)), root: toHex(snap.root()) });
    expect(json.body.parties.map((p: any) => p.label)).toEqual([HOSTILE_LABEL, null]);
    expect(() => verifyInclusionProof(fromHex(json.leafHash), 4, 10, json.proof.map(fromHex), fromHex(json.root))).not.toThrow();
    expect((await get('/api/entry?ledger=0&index=10')).status).toBe(404);
    expect((await get('/api/entry?ledger=1&index=0')).status).toBe(404);
    expect((await get('/api/entry?ledger=0&index=-1')).status).toBe(400);
    expect((await get('/api/entry?ledger=x&index=1')).status).toBe(400);
  });

  it('/api/alerts: checked lines only, newest first, linked to the entry whose leaf hash they name', async () => {
    const { json } = await get('/api/alerts');
    expect(json.configured).toBe(true);
    expect(json.skipped).toBe(1); // the "fatal" line; the summary line is not an alert
    expect(json.alerts.map((a: any) => a.rule)).toEqual(['budget-100', 'first-contact']);
    expect(json.alerts[0]).toMatchObject({ level: 'error', counterparty: fx.keys.pharmaB, counterpartyLabel: HOSTILE_LABEL, entries: [{ index: 5, ledger: 0 }] });
    expect(json.alerts[1].entries).toEqual([{ index: 2, leafHash: 'ff'.repeat(32), ledger: -1 }]);
  });

  it('alerts adapter: a line is shown only if every field passes its check', () => {
    const good = { level: 'info', rule: 'first-contact', message: 'first run', messageKey: 'firstContact', counterparty: 'ab'.repeat(32), entries: [{ index: 1, leafHash: 'cd'.repeat(32), proof: ['ef'.repeat(32)] }], at: 1, details: { n: 1 }, future: 'ignored' };
    const bad: Record<string, unknown>[] = [
      { level: 'critical' },
      { rule: 'has space' },
      { rule: 'x'.repeat(65) },
      { message: 'two\nlines' },
      { message: 'x\u2028y' },
      { message: 'invoice \u202egpj.exe' }, // bidi override: would show reversed text
      { message: 'x'.repeat(2001) },
      { counterparty: 'zz'.repeat(32) },
      { counterparty: 'ab'.repeat(31) },
      { at: -1 },
      { at: 1.5 },
      { entries: [{ index: -1, leafHash: 'cd'.repeat(32) }] },
      { entries: [{ index: 1, leafHash: 'CD' }] },
      { entries: [{ index: 1, leafHash: 'cd'.repeat(32), proof: Array(65).fill('ef'.repeat(32)) }] },
      { entries: Array(257).fill({ index: 1, leafHash: 'cd'.repeat(32) }) },
    ];
    const lines = [JSON.stringify(good), ...bad.map((b) => JSON.stringify({ ...good, ...b })), 'not json', '[1,2]', 'x'.repeat(300_000)];
    const { alerts, skipped } = parseAlertLines(lines.join('\n'));
    expect(alerts).toHaveLength(1);
    expect(skipped).toBe(lines.length - 1);
    expect(alerts[0]).toMatchObject({ counterparty: Buffer.from('ab'.repeat(32), 'hex').toString('base64'), details: { n: 1 } });
    expect(alerts[0]).not.toHaveProperty('future');
    // The same checks for alerts handed over in-process (a supervisor run by the dashboard).
    expect(checkAlerts([good, { ...good, level: 'fatal' }, { ok: true }])).toMatchObject({ alerts: [{ rule: 'first-contact' }], skipped: 1 });
    // details too large are dropped, the alert kept.
    expect(checkAlerts([{ ...good, details: { big: 'x'.repeat(9000) } }]).alerts[0]!.details).toBeNull();
  });

  it('runs a supervisor over each ledger once per load, its alerts checked and shown with the file\'s', async () => {
    const snap = await readLedgerSnapshot(fx.dir);
    const calls: { dir: string; publicKey?: Uint8Array; witnesses: { name?: string }[] }[] = [];
    const own = await startDashboard({
      ledgers: [{ dir: fx.dir, publicKey: fx.hospital.publicKey }],
      witnesses: [{ name: 'mine.cp', text: snap.checkpoint }, { name: 'junk.cp', text: 'not a checkpoint' }],
      loadAlerts: async () => parseAlertLines(readFileSync(alertsFile(), 'utf8')),
      supervise: async (l) => {
        calls.push(l);
        return {
          alerts: [
            { level: 'warning', rule: 'rate', message: 'runs per hour above 20', messageKey: 'supervise.rate', counterparty: null, entries: [{ index: 6, leafHash: toHex(snap.leafHash(6)), proof: snap.inclusionProof(6).map(toHex) }], at: T.now, details: {} },
            { level: 'loud', rule: 'rate' },
          ],
        };
      },
      port: 0,
    });
    try {
      const at = async (path: string): Promise<any> => (await fetch(new URL(path, own.url))).json();
      const a = await at('/api/alerts');
      await at('/api/alerts');
      expect(calls).toHaveLength(1);
      expect(calls[0]!.dir).toBe(fx.dir);
      expect(calls[0]!.publicKey).toEqual(fx.hospital.publicKey);
      expect(calls[0]!.witnesses.map((w) => w.name)).toEqual(['mine.cp']);
      expect(a.configured).toBe(true);
      expect(a.skipped).toBe(2); // the file's bad line and the supervisor's bad alert
      expect(a.alerts.map((x: any) => x.rule)).toEqual(['rate', 'budget-100', 'first-contact']);
      expect(a.alerts[0].entries).toEqual([{ index: 6, leafHash: toHex(snap.leafHash(6)), ledger: 0 }]);
    } finally {
      await own.close();
    }
  });

  it('picks up entries appended while it runs, without a restart', async () => {
    const dir = join(fx.root, 'growing');
    cpSync(fx.dir, dir, { recursive: true });
    const own = await startDashboard({ ledgers: [{ dir }], port: 0 });
    try {
      const at = async (path: string): Promise<any> => (await fetch(new URL(path, own.url))).json();
      expect((await at('/api/overview')).ledgers[0].size).toBe(10);
      const l = await openLedger(dir, { owner: fx.hospital });
      await l.append(run(fx.hospital, fx.insurer, T.oct + 10 * 86_400_000, 50));
      await l.close();
      expect((await at('/api/overview')).ledgers[0].size).toBe(11);
      expect((await at('/api/usage?period=month')).runs).toEqual([3, 0, 6]);
    } finally {
      await own.close();
    }
  });

  it('shows a tampered ledger as NOT intact, naming the entry, and uses none of its entries', async () => {
    const dir = join(fx.root, 'tampered');
    cpSync(fx.dir, dir, { recursive: true });
    const log = join(dir, LEDGER_FILES.log);
    const bytes = readFileSync(log);
    // Flip one byte inside the last entry's receipt (a purpose or option byte).
    bytes[bytes.length - 200]! ^= 0x01;
    writeFileSync(log, bytes);
    const own = await startDashboard({ ledgers: [{ dir }], port: 0 });
    try {
      const at = async (path: string): Promise<any> => (await fetch(new URL(path, own.url))).json();
      const o = await at('/api/overview');
      expect(o.ledgers[0].ok).toBe(false);
      expect(o.ledgers[0].problem).toMatch(/entry 9/);
      expect((await at('/api/counterparties')).rows).toEqual([]);
      expect((await at('/api/usage?period=month')).periods).toEqual([]);
    } finally {
      await own.close();
    }
  });

  it('counts a co-signed run held in two ledgers once (--ledger A,B)', async () => {
    const { hospital, pharma, cleanup } = await twoParties('dataport-dashboard-two-');
    try {
      await psiRuns(pharma, hospital, 2);
      const own = await startDashboard({ ledgers: [{ dir: hospital.dir }, { dir: pharma.dir }], port: 0 });
      try {
        const at = async (path: string): Promise<any> => (await fetch(new URL(path, own.url))).json();
        const o = await at('/api/overview');
        expect(o.ledgers.map((l: any) => [l.ok, l.size])).toEqual([[true, 2], [true, 2]]);
        expect(o.runs).toBe(2);
        const rows = (await at('/api/counterparties')).rows;
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ key: Buffer.from(pharma.identity.publicKey).toString('base64'), runs: 2 });
        expect((await at('/api/usage?period=month')).runs.reduce((a: number, b: number) => a + b, 0)).toBe(2);
      } finally {
        await own.close();
      }
    } finally {
      cleanup();
    }
  });

  it('refuses to start on a directory without a ledger', async () => {
    await expect(startDashboard({ ledgers: [{ dir: join(fx.root, 'nothing-here') }], port: 0 })).rejects.toBeInstanceOf(InputError);
  });
});

describe('dashboard safety', () => {
  it('is read-only: POST, PUT and DELETE are refused with 405, and the ledger files are not touched', async () => {
    const files = [LEDGER_FILES.log, LEDGER_FILES.checkpoint].map((f) => join(fx.dir, f));
    const before = files.map((f) => [digest(f), statSync(f).mtimeMs]);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['/', '/api/overview', '/api/entry?ledger=0&index=1']) {
        const r = await raw(method, path);
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.allow).toBe('GET, HEAD');
      }
    }
    for (const path of ['/', '/api/overview', '/api/counterparties', '/api/usage', '/api/budgets', '/api/alerts', '/api/records', '/api/entry?ledger=0&index=3']) {
      expect((await get(path)).status, path).toBe(200);
    }
    expect(files.map((f) => [digest(f), statSync(f).mtimeMs])).toEqual(before);
  });

  it('answers only to its own host names (no DNS rebinding)', async () => {
    const port = new URL(d.url).port;
    expect((await raw('GET', '/api/overview', `evil.example:${port}`)).status).toBe(403);
    expect((await raw('GET', '/api/overview', `127.0.0.1.evil.example:${port}`)).status).toBe(403);
    expect((await raw('GET', '/api/overview', `127.0.0.1:1`)).status).toBe(403);
    expect((await raw('GET', '/api/overview', `localhost:${port}`)).status).toBe(200);
    expect((await raw('GET', '/api/overview', `127.0.0.1:${port}`)).status).toBe(200);
  });

  it('sends a CSP allowing only its own scripts, styles and API; serves chart.js itself; unknown paths 404', async () => {
    const page = await get('/');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    // Every script is a file of the dashboard's own, or the (inert) JSON message table.
    const scripts = [...page.text.matchAll(/<script[^>]*>/g)].map((m) => m[0]);
    expect(scripts).toEqual(['<script type="application/json" id="messages">', '<script src="/assets/chart.umd.min.js">', '<script src="/assets/dashboard.js">']);
    expect(page.text).not.toMatch(/https?:\/\//);
    const chart = await fetch(new URL('/assets/chart.umd.min.js', d.url));
    expect(chart.status).toBe(200);
    expect(await chart.text()).toMatch(/Chart\.js v4\./);
    expect((await get('/assets/dashboard.js')).text).toContain('/api/overview');
    expect((await get('/../../etc/passwd')).status).toBe(404);
    expect((await get('/api/nothing')).status).toBe(404);
    expect((await get('/api/nothing')).text).not.toMatch(/at .*\.ts/);
  });

  it('never puts a label, purpose or alert text into HTML: the page is built from its own texts, escaped', async () => {
    const page = (await get('/')).text;
    expect(page).not.toContain('onerror');
    expect(page).not.toContain(HOSTILE_LABEL);
    expect(escapeHtml(HOSTILE_LABEL)).not.toMatch(/[<>"]/);
    // Even a message table that were markup could not break out of the page or its JSON.
    const evil = { ...DASHBOARD_MESSAGES.en, title: '</title><script>alert(1)</script>', loading: '</script><script>alert(2)</script>' };
    const html = renderPage('en', evil);
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    const json = /<script type="application\/json" id="messages">(.*)<\/script>/.exec(html)![1]!;
    expect(json).not.toMatch(/[<>]/);
    expect(JSON.parse(json).loading).toBe(evil.loading);
  });

  it('switches language: ?lang=zh|en, default from --lang; both message tables complete', async () => {
    const zh = (await get('/?lang=zh')).text;
    const en = (await get('/?lang=en')).text;
    expect(zh).toContain('<html lang="zh-CN">');
    expect(zh).toContain(`<h2>${DASHBOARD_MESSAGES.zh.usageTitle}</h2>`);
    expect(en).toContain('<html lang="en">');
    expect(en).toContain(`<h2>${DASHBOARD_MESSAGES.en.usageTitle}</h2>`);
    expect((await get('/')).text).toContain('<html lang="zh-CN">'); // started with lang: 'zh'
    expect((await get('/?lang=fr')).text).toContain('<html lang="zh-CN">');
    expect((await get('/api/messages?lang=en')).json.title).toBe(DASHBOARD_MESSAGES.en.title);
    expect((await get('/api/messages?lang=fr')).status).toBe(400);
    const flat = (o: object, prefix = ''): [string, unknown][] =>
      Object.entries(o).flatMap(([k, v]) => (v !== null && typeof v === 'object' ? flat(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]]));
    const keys = DASHBOARD_LANGS.map((l) => flat(DASHBOARD_MESSAGES[l]).map(([k]) => k).sort());
    expect(keys[0]).toEqual(keys[1]);
    for (const l of DASHBOARD_LANGS) for (const [k, v] of flat(DASHBOARD_MESSAGES[l])) expect(typeof v === 'string' && v.length > 0, `${l}.${k}`).toBe(true);
    // The Chinese table is Chinese: every text with letters in English has CJK in Chinese, except names.
    const zhFlat = new Map(flat(DASHBOARD_MESSAGES.zh));
    const untranslated = flat(DASHBOARD_MESSAGES.en).filter(([k, v]) => /[a-z]{3}/i.test(String(v).replace(/\{\w+\}/g, '')) && !/[一-鿿]/.test(String(zhFlat.get(k))));
    expect(untranslated.map(([k]) => k)).toEqual([]);
  });
});

describe('dataport dashboard (the built CLI)', () => {
  beforeAll(() => assertBuilt());
  afterEach(() => killAll());

  it('serves the ledgers with every option, answers the API, and stops with exit 0 on Ctrl-C', async () => {
    const snap = await readLedgerSnapshot(fx.dir);
    const witness = join(fx.root, 'witness.cp');
    writeFileSync(witness, snap.checkpoint);
    const p = startCli([
      'dashboard', '--ledger', fx.dir, '--listen', '127.0.0.1:0', '--witness', witness, '--names', fx.namesFile,
      '--price-schedule', fx.scheduleFile, '--budget', fx.budgetFile, '--alerts', alertsFile(), '--lang', 'en',
    ]);
    const url = await p.listening();
    const o = (await (await fetch(new URL('/api/overview', url))).json()) as any;
    expect(o.ledgers[0]).toMatchObject({ ok: true, size: 10 });
    expect(o.witnesses[0]).toMatchObject({ ok: true, size: 10 });
    const a = (await (await fetch(new URL('/api/alerts', url))).json()) as any;
    expect(a.alerts).toHaveLength(2);
    expect((await (await fetch(new URL('/', url))).text())).toContain('<html lang="en">');
    p.child.kill('SIGINT');
    const r = await p.done;
    expect(r.code).toBe(0);
  });

  it('--supervise: computes the alerts live with superviseLedger, linked to the entries', async () => {
    const p = startCli(['dashboard', '--ledger', fx.dir, '--listen', '127.0.0.1:0', '--supervise', '--names', fx.namesFile]);
    const url = await p.listening();
    const a = (await (await fetch(new URL('/api/alerts', url))).json()) as any;
    const rules = new Set(a.alerts.map((x: any) => x.rule));
    // The fixture's first runs with each counterparty, and its trace hit.
    expect(rules.has('first-contact')).toBe(true);
    expect(rules.has('trace-hit')).toBe(true);
    const hit = a.alerts.find((x: any) => x.rule === 'trace-hit');
    expect(hit.entries).toContainEqual(expect.objectContaining({ index: 9, ledger: 0 }));
    expect(a.skipped).toBe(0);
    // The same alerts in Chinese, rendered from their details with the dashboard's labels.
    const zh = (await (await fetch(new URL('/api/alerts?lang=zh', url))).json()) as any;
    const first = zh.alerts.find((x: any) => x.rule === 'first-contact');
    expect(first.message).toMatch(/^第 \d+ 条记录：首次与.+运行$/);
    expect(zh.alerts.find((x: any) => x.rule === 'trace-hit').message).toContain('泄露文件');
    const en = (await (await fetch(new URL('/api/alerts?lang=en', url))).json()) as any;
    expect(en.alerts.find((x: any) => x.rule === 'first-contact').message).toMatch(/first run with/);
    p.child.kill('SIGINT');
    expect((await p.done).code).toBe(0);
  });

  it('fails in one line on a missing ledger, a wrong --public-key count or a bad --lang', async () => {
    for (const [args, message] of [
      [['--ledger', join(fx.root, 'none')], /no ledger in/],
      [['--ledger', `${fx.dir},${fx.dir}`], /given twice/],
      [['--ledger', fx.dir, '--public-key', 'a.pub,b.pub'], /2 files for 1 ledgers/],
      [['--ledger', fx.dir, '--lang', 'fr'], /--lang must be one of zh, en/],
      [['--listen', '127.0.0.1:0'], /missing required option --ledger/],
      [['--ledger', fx.dir, '--rules', 'r.json'], /--rules applies only with --supervise/],
    ] as const) {
      const r = await startCli(['dashboard', ...args]).done;
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
