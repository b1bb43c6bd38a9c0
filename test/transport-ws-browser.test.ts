/**
 * The universal session and transport code in a real browser: Debian's Chromium, driven by
 * playwright-core, loads a bundle of `src/session` + `src/transport` built for the browser (the platform module swapped as in tsup.config.ts)
 * and runs `runPsi` as the requester over the native WebSocket client against a Node listener.
 * Skipped, with the reason printed, when no Chromium binary is installed.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { CHROMIUM, launchChromium } from './helpers/chromium.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyReceipt } from '../src/ledger/receipt.js';
import { generateIdentity } from '../src/session/identity.js';
import { runPsi, type RunPsiResult } from '../src/session/run-psi.js';
import { listenWebSocket, type WebSocketServerHandle } from '../src/transport/websocket-node.js';

// The session and transport layers only: the full index also pulls in node-seal, whose browser
// packaging is the HE layer's concern, not this test's.
const srcSession = fileURLToPath(new URL('../src/session/index.ts', import.meta.url));
const srcTransport = fileURLToPath(new URL('../src/transport/index.ts', import.meta.url));
const srcBytes = fileURLToPath(new URL('../src/utils/bytes.ts', import.meta.url));
const browserPlatform = fileURLToPath(new URL('../src/platform/browser.ts', import.meta.url));

const pagePlugin: Plugin = {
  name: 'page',
  setup(b) {
    b.onResolve({ filter: /platform\/node(\.js)?$/ }, () => ({ path: browserPlatform }));
    b.onResolve({ filter: /^dataport-entry$/ }, () => ({ path: 'entry', namespace: 'page' }));
    b.onLoad({ filter: /.*/, namespace: 'page' }, () => ({
      resolveDir: process.cwd(),
      loader: 'ts',
      contents: `
        import { runPsi, generateIdentity } from ${JSON.stringify(srcSession)};
        import { connectNativeWebSocket } from ${JSON.stringify(srcTransport)};
        import { fromHex, toHex } from ${JSON.stringify(srcBytes)};
        (globalThis as any).runRequester = async (url: string, serverKeyHex: string, records: string[]) => {
          const identity = generateIdentity();
          const transport = await connectNativeWebSocket(url);
          const r = await runPsi({ role: 'requester', records, transport, identity,
            peerPublicKey: fromHex(serverKeyHex), terms: { reveal: 'both', purpose: 'browser test' } });
          return { rows: r.intersectionRows, size: r.intersectionSize, key: toHex(identity.publicKey),
                   outcome: r.receipt.body.outcome, sessionId: toHex(r.sessionId) };
        };
      `,
    }));
  },
};

const A = ['110101199003070011', '11010119900307002X', '440101198001010033', 'x-1', 'x-2', 'x-1'];
const B = ['11010119900307002x', '440101198001010033', 'x-1', 'y-9'];

describe.skipIf(!CHROMIUM)('native WebSocket client in Chromium', () => {
  let page: http.Server;
  let pageUrl = '';
  let server: WebSocketServerHandle;
  const hospital = generateIdentity();
  let serverRun: Promise<RunPsiResult> | undefined;

  beforeAll(async () => {
    const out = await build({
      entryPoints: ['dataport-entry'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      conditions: ['browser'],
      // As in the package's browser build (tsup.config.ts): node-seal stays external. The session
      // layer's index re-exports psi-sum, whose HE code loads node-seal lazily; PSI never loads it.
      external: ['node-seal', 'node-seal/*'],
      plugins: [pagePlugin],
      logLevel: 'silent',
    });
    const js = out.outputFiles[0]!.text;
    page = http.createServer((req, res) => {
      if (req.url === '/bundle.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      else res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="/bundle.js"></script>');
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', () => r()));
    pageUrl = `http://127.0.0.1:${(page.address() as AddressInfo).port}/`;
    server = await listenWebSocket({}, (transport) => {
      serverRun = runPsi({ role: 'responder', records: B, transport, identity: hospital, allowAnyPeer: true });
      return serverRun.then(() => undefined);
    });
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    await new Promise<void>((r) => (page ? page.close(() => r()) : r()));
  });

  it('runs runPsi from the page and gets the plain intersection', async () => {
    const browser = await launchChromium();
    try {
      const p = await browser.newPage();
      await p.goto(pageUrl);
      await p.waitForFunction(() => typeof (globalThis as { runRequester?: unknown }).runRequester === 'function');
      const hex = Buffer.from(hospital.publicKey).toString('hex');
      const r = await p.evaluate(
        ([url, key, records]) =>
          (globalThis as unknown as { runRequester: (u: string, k: string, r: string[]) => Promise<unknown> }).runRequester(url, key, records),
        [server.address().url, hex, A] as [string, string, string[]],
      ) as { rows: number[]; size: number; key: string; outcome: string; sessionId: string };
      expect(r.rows).toEqual([1, 2, 3, 5]);
      expect(r.size).toBe(3);
      expect(r.outcome).toBe('completed');
      const theirs = await serverRun!;
      expect(theirs.intersectionRows).toEqual([0, 1, 2]);
      expect(Buffer.from(theirs.sessionId).toString('hex')).toBe(r.sessionId);
      verifyReceipt(theirs.receipt, [hospital.publicKey, Buffer.from(r.key, 'hex')]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});

if (!CHROMIUM) console.warn('skipping the Chromium test: no chromium binary at /usr/bin/chromium');
