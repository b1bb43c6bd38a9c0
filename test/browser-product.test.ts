/**
 * The data-product browser example (examples/browser/product.html) in a real Chromium: the page
 * fetches the cache of a product that `dataport product serve` (a separate Node process on
 * 127.0.0.1) serves, then queries it; the keys shown as found must be the plain intersection.
 * Needs `npm run build` first and /usr/bin/chromium; on failure a screenshot is kept in test-artifacts/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { CHROMIUM, launchChromium } from './helpers/chromium.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = path.join(root, 'dist/cli/main.js');

function run(args: string[]): Promise<number | null> {
  const child = spawn(process.execPath, [cli, ...args], { stdio: 'ignore' });
  return new Promise((r) => child.once('exit', r));
}

function startServe(args: string[]): Promise<{ child: ChildProcess; url: string; done: Promise<number | null> }> {
  const child = spawn(process.execPath, [cli, 'product', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      err += d;
      const m = /listening on (ws:\/\/[^\s]+)/.exec(err);
      if (m) resolve({ child, url: m[1]!, done });
    });
    child.once('exit', (code) => reject(new Error(`serve exited early (${code}): ${err}`)));
  });
}

if (!CHROMIUM) console.warn('browser-product.test.ts: SKIPPED — /usr/bin/chromium is missing (Debian package chromium)');

describe.skipIf(!CHROMIUM || !existsSync(cli))('data-product browser example in Chromium', () => {
  let browser: Browser;
  let site: { url: string; close(): Promise<void> };
  const dir = mkdtempSync(path.join(tmpdir(), 'dataport-browser-product-'));

  beforeAll(async () => {
    const { startExampleServer } = (await import(path.join(root, 'examples/browser/serve.mjs'))) as {
      startExampleServer(o: { port: number }): Promise<{ url: string; close(): Promise<void> }>;
    };
    site = await startExampleServer({ port: 0 });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches the cache and finds exactly the keys in the index', async () => {
    const index = Array.from({ length: 2000 }, (_, i) => `1101011990${String(i).padStart(8, '0')}`);
    const mine = [index[5]!, 'not-in-index-1', ` ${index[1999]!.toUpperCase()} `, index[700]!, 'not-in-index-2', index[5]!];
    writeFileSync(path.join(dir, 'index.csv'), 'resident_id\n' + index.join('\n') + '\n');
    expect(await run(['keygen', '--out', path.join(dir, 'hospital')])).toBe(0);
    expect(await run(['product', 'publish', '--input', path.join(dir, 'index.csv'), '--key', 'resident_id', '--identity', path.join(dir, 'hospital'), '--out', path.join(dir, 'product'), '--workers', '0'])).toBe(0);
    const peerKey = readFileSync(path.join(dir, 'hospital/identity.pub'), 'utf8').trim();
    const serve = await startServe(['--listen', '127.0.0.1:0', '--product', path.join(dir, 'product'), '--identity', path.join(dir, 'hospital'), '--allow-any-peer', '--ledger', path.join(dir, 'ledger'), '--workers', '0']);
    const page = await browser.newPage();
    try {
      await page.goto(new URL('product.html', site.url).href);
      await page.fill('#url', serve.url);
      await page.fill('#peerKey', peerKey);
      await page.click('#fetch');
      await page.waitForFunction(() => document.body.dataset.state === 'fetched' || document.body.dataset.state === 'error', null, { timeout: 60_000 });
      expect(await page.evaluate(() => document.body.dataset.state), (await page.textContent('#status')) ?? '').toBe('fetched');
      await page.fill('#keys', mine.join('\n'));
      await page.click('#query');
      await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', null, { timeout: 60_000 });
      expect(await page.evaluate(() => document.body.dataset.state), (await page.textContent('#status')) ?? '').toBe('done');
      const inIndex = new Set(index);
      const expected = mine.map((k) => k.trim()).filter((k) => inIndex.has(k.toLowerCase()));
      const shown = await page.$$eval('#rows tr', (trs) => trs.slice(1).map((tr) => tr.children[1]!.textContent ?? ''));
      expect(shown).toEqual(expected);
      expect(Number(await page.textContent('#count'))).toBe(new Set(expected.map((k) => k.toLowerCase())).size);
    } catch (e) {
      mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: path.join(root, 'test-artifacts/browser-product-failure.png'), fullPage: true }).catch(() => {});
      throw e;
    } finally {
      await page.close();
      serve.child.kill('SIGINT');
      expect(await serve.done).toBe(0);
    }
  });
});
