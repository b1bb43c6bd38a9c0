/**
 * The operator's dashboard in a real browser: Debian's Chromium (playwright-core) loads the page
 * the built `dataport dashboard` serves over the fixture ledger (test/dashboard-fixtures.ts) and
 * checks that chart.js drew the charts and gauges (canvases present and sized, `Chart` instances
 * created), that both languages render from their message tables, that a hostile label is shown
 * as text, that an alert's link opens the entry with its verified inclusion proof, and that the
 * page runs under its CSP without an error. On failure a screenshot is kept in test-artifacts/ (its
 * path is printed).
 * Needs `npm run build` first (npm test does it) and /usr/bin/chromium (package chromium).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_MESSAGES } from '../src/dashboard/messages.js';
import { readLedgerSnapshot } from '../src/ledger/node.js';
import { toHex } from '../src/utils/bytes.js';
import { assertBuilt, killAll, startCli, type CliProcess } from './cli-helpers.js';
import { hospitalLedger, HOSTILE_LABEL, T, type DashboardFixture } from './dashboard-fixtures.js';
import { CHROMIUM, launchChromium } from './helpers/chromium.js';

if (!CHROMIUM) console.warn('dashboard-browser.test.ts: SKIPPED — no /usr/bin/chromium (install the Debian package chromium)');

const results = join(import.meta.dirname, '..', 'test-artifacts');

describe.skipIf(!CHROMIUM)('dataport dashboard in Chromium', () => {
  let fx: DashboardFixture;
  let browser: Browser;
  let server: CliProcess;
  let url: string;
  let leaf5: string;

  beforeAll(async () => {
    assertBuilt();
    fx = await hospitalLedger();
    const snap = await readLedgerSnapshot(fx.dir);
    leaf5 = toHex(snap.leafHash(5));
    const alerts = join(fx.root, 'alerts.jsonl');
    writeFileSync(
      alerts,
      JSON.stringify({ level: 'error', rule: 'budget-100', message: 'query budget spent', messageKey: 'budgetSpent', counterparty: toHex(fx.pharmaB.publicKey), entries: [{ index: 5, leafHash: leaf5, proof: [] }], at: T.oct, details: {} }) + '\n',
    );
    server = startCli(['dashboard', '--ledger', fx.dir, '--listen', '127.0.0.1:0', '--names', fx.namesFile, '--price-schedule', fx.scheduleFile, '--budget', fx.budgetFile, '--alerts', alerts]);
    url = await server.listening();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    server?.child.kill('SIGINT');
    await server?.done;
    killAll();
    fx?.cleanup();
  });

  /** Opens the page in `lang`, collecting console errors and uncaught exceptions (CSP violations show there). */
  async function open(path: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text());
    });
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(new URL(path, url).href);
    await page.waitForFunction(() => document.body.dataset.state === 'ready' || document.body.dataset.state === 'error', null, { timeout: 30_000 });
    return { page, errors };
  }

  async function withScreenshot(name: string, page: Page, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      mkdirSync(results, { recursive: true });
      const file = join(results, `dashboard-${name}-failure.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.error(`dashboard-browser.test.ts: screenshot of the failure kept at ${file}`);
      throw e;
    } finally {
      await page.close();
    }
  }

  it('draws the usage and billing charts and the budget gauges with chart.js, in Chinese', async () => {
    const { page, errors } = await open('/?lang=zh');
    await withScreenshot('zh', page, async () => {
      expect(await page.evaluate(() => document.body.dataset.state), await page.textContent('#status') ?? '').toBe('ready');
      expect(await page.getAttribute('html', 'lang')).toBe('zh-CN');
      expect(await page.textContent('#usage h2')).toBe(DASHBOARD_MESSAGES.zh.usageTitle);
      expect(await page.textContent('#budgets h2')).toBe(DASHBOARD_MESSAGES.zh.budgetsTitle);
      const charts = await page.evaluate(() => {
        const C = (window as unknown as { Chart: { instances: Record<string, { canvas: HTMLCanvasElement; config: { type: string } }> } }).Chart;
        return Object.values(C.instances).map((c) => ({ id: c.canvas.id, type: c.config.type, w: c.canvas.width, h: c.canvas.height }));
      });
      const byId = new Map(charts.map((c) => [c.id, c]));
      expect(byId.get('usage-chart')?.type).toBe('bar');
      expect(byId.get('billing-chart')?.type).toBe('bar');
      // Three counterparties, each with a queries and a records gauge.
      expect(charts.filter((c) => c.type === 'doughnut')).toHaveLength(6);
      for (const c of charts) expect(c.w * c.h, c.id).toBeGreaterThan(0);
      expect(await page.locator('canvas').count()).toBe(8);
      // Over the guide-price cap: said in words, in Chinese.
      expect(await page.textContent('#billing-note')).toContain(DASHBOARD_MESSAGES.zh.overCap.replace('{n}', '1'));
      // The hostile label is text on the page, never markup.
      expect(await page.locator(`#budget-list [data-counterparty="${fx.keys.pharmaB}"]`).textContent()).toContain(HOSTILE_LABEL);
      expect(await page.locator('#counterparty-list').textContent()).toContain(HOSTILE_LABEL);
      expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('#release-list').textContent()).toContain('ward,cost');
      expect(await page.locator('#trace-list').textContent()).toContain(DASHBOARD_MESSAGES.zh.outcomes.attributed);
      expect(errors).toEqual([]);
    });
  });

  it('switches to English with the language link, charts drawn again', async () => {
    const { page, errors } = await open('/?lang=zh');
    await withScreenshot('en', page, async () => {
      await page.click('#lang a[data-lang="en"]');
      await page.waitForFunction(() => document.documentElement.lang === 'en' && document.body.dataset.state === 'ready', null, { timeout: 30_000 });
      expect(await page.textContent('#usage h2')).toBe(DASHBOARD_MESSAGES.en.usageTitle);
      expect(await page.textContent('#ledgers .verdict')).toBe(DASHBOARD_MESSAGES.en.intact);
      const n = await page.evaluate(() => Object.keys((window as unknown as { Chart: { instances: object } }).Chart.instances).length);
      expect(n).toBe(8);
      expect(errors).toEqual([]);
    });
  });

  it("opens an alert's ledger entry with its inclusion proof verified", async () => {
    const { page, errors } = await open('/?lang=en');
    await withScreenshot('entry', page, async () => {
      await page.click('#alert-list a.entry-link');
      await page.waitForSelector('dialog#entry[open] #entry-proof-verdict');
      expect(await page.textContent('#entry-proof-verdict')).toBe(DASHBOARD_MESSAGES.en.proofOk);
      expect(await page.textContent('#entry-leaf')).toBe(leaf5);
      expect(await page.textContent('#entry-body')).toContain(HOSTILE_LABEL);
      await page.click('#entry-close');
      expect(await page.locator('dialog#entry[open]').count()).toBe(0);
      expect(errors).toEqual([]);
    });
  });
});
