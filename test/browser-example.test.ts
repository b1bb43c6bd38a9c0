/**
 * The browser example end to end in a real browser: Debian's Chromium (driven by playwright-core)
 * loads examples/browser/ served from the built dist/browser, a user picks a CSV file and a column
 * and presses Run; the PSI runs in a Web Worker against `dataport psi --listen` started here as a
 * separate Node process on 127.0.0.1. The intersection shown on the page must equal the plain
 * intersection. On failure a screenshot is kept in test-artifacts/.
 * Needs `npm run build` first (npm test does it) and /usr/bin/chromium (.ci/run installs it).
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

function normalise(s: string): string {
  return s.normalize('NFKC').trim().toLowerCase();
}

/** Starts the listener and resolves with its ws:// URL once it prints it. */
function startListener(args: string[]): Promise<{ child: ChildProcess; url: string; done: Promise<number | null> }> {
  const child = spawn(process.execPath, [cli, 'psi', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const done = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      err += d;
      const m = /listening on (ws:\/\/[^\s]+)/.exec(err);
      if (m) resolve({ child, url: m[1]!, done });
    });
    child.once('exit', (code) => reject(new Error(`listener exited early (${code}): ${err}`)));
  });
}

describe.skipIf(!CHROMIUM || !existsSync(cli))('browser example (examples/browser) in Chromium', () => {
  let browser: Browser;
  let site: { url: string; close(): Promise<void> };
  const dir = mkdtempSync(path.join(tmpdir(), 'dataport-browser-'));

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
    // The folder holds the listener's secret identity.key: never leave it behind.
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows the plain intersection computed in a Web Worker against a Node peer', async () => {
    // The page's user (requester) holds a programme list with the usual noise; the Node peer a
    // hospital table.
    const mine = ['110101199003070011', ' 11010119900307002x ', '４４０１０１１９８００１０１００３３', 'only-mine-1', 'only-mine-2', '110101199003070011'];
    const theirs = ['11010119900307002X', '440101198001010033', '110101199003070011', 'only-theirs'];
    writeFileSync(path.join(dir, 'mine.csv'), 'name,resident_id\n' + mine.map((k, i) => `p${i},"${k}"`).join('\n') + '\n');
    writeFileSync(path.join(dir, 'theirs.csv'), 'patient_id,ward\n' + theirs.map((k) => `${k},cardiology`).join('\n') + '\n');
    const keygen = spawn(process.execPath, [cli, 'keygen', '--out', path.join(dir, 'hospital')], { stdio: 'ignore' });
    expect(await new Promise((r) => keygen.once('exit', r))).toBe(0);
    const peerKey = readFileSync(path.join(dir, 'hospital/identity.pub'), 'utf8').trim();

    const listener = await startListener([
      '--listen', '127.0.0.1:0', '--input', path.join(dir, 'theirs.csv'), '--key', 'patient_id',
      '--identity', path.join(dir, 'hospital'), '--allow-any-peer', '--reveal', 'both',
    ]);
    const page = await browser.newPage();
    try {
      await page.goto(new URL('index.html', site.url).href);
      await page.setInputFiles('#file', path.join(dir, 'mine.csv'));
      await page.selectOption('#column', { label: 'resident_id' });
      await page.fill('#url', listener.url);
      await page.fill('#peerKey', peerKey);
      await page.selectOption('#reveal', 'both');
      await page.click('#run');
      await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', null, { timeout: 60_000 });
      const status = await page.textContent('#status');
      expect(await page.evaluate(() => document.body.dataset.state), status ?? '').toBe('done');

      const theirSet = new Set(theirs.map(normalise));
      const expectedRows = mine.filter((k) => theirSet.has(normalise(k)));
      const expectedSize = new Set(expectedRows.map(normalise)).size;
      expect(Number(await page.textContent('#count'))).toBe(expectedSize);
      const shown = await page.$$eval('#rows tr', (trs) => trs.slice(1).map((tr) => tr.children[1]!.textContent ?? ''));
      expect(shown).toEqual(expectedRows);
      expect(await listener.done).toBe(0);
    } catch (e) {
      mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
      await page.screenshot({ path: path.join(root, 'test-artifacts/browser-example-failure.png'), fullPage: true }).catch(() => {});
      listener.child.kill();
      throw e;
    } finally {
      await page.close();
    }
  });
});
