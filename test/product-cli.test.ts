import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, expectOneLineError, killAll, lastJson, runCli, startCli, tempDir, type CliProcess } from './cli-helpers.js';

const ids = (prefix: string, n: number, from = 0): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(from + i).padStart(8, '0')}`);
const csv = (rows: string[]): string => `resident_id,ward\n${rows.map((r, i) => `${r},w${i % 7}`).join('\n')}\n`;

describe('dataport product (CLI end to end)', () => {
  const tmp = tempDir('dp-product-cli-');
  const p = (...parts: string[]) => join(tmp.dir, ...parts);
  const index = ids('11010119', 1500);
  let serve: CliProcess | undefined;

  beforeAll(async () => {
    assertBuilt();
    for (const who of ['hospital', 'pharma', 'insurer']) expect((await runCli(['keygen', '--out', p(who)])).code).toBe(0);
    writeFileSync(p('index.csv'), csv(index));
    writeFileSync(p('mine.csv'), csv([...index.slice(10, 40), ...ids('44010119', 30)]));
    writeFileSync(p('add.csv'), csv(ids('32010119', 50)));
    writeFileSync(p('remove.csv'), csv(index.slice(10, 20)));
    writeFileSync(p('budget.json'), JSON.stringify({ period: 'day', maxQueries: 1000, maxKeys: 150 }));
    writeFileSync(p('prices.json'), JSON.stringify({ id: 'idx-2026', currency: 'CNY', guidePerKey: 10, protocols: { 'product-query': { perRun: 100, perKey: 5 }, 'product-fetch': { perRun: 0 } } }));
    writeFileSync(p('too-dear.json'), JSON.stringify({ id: 'x', currency: 'CNY', guidePerKey: 4, protocols: { 'product-query': { perKey: 5 } } }));
  });
  afterEach(() => {
    if (serve && serve.child.exitCode === null) serve.child.kill('SIGINT');
  });
  afterAll(() => {
    killAll();
    tmp.cleanup();
  });

  const startServe = async (): Promise<string> => {
    serve = startCli(['product', 'serve', '--listen', '127.0.0.1:0', '--product', p('product'), '--identity', p('hospital'), '--allow-any-peer',
      '--ledger', p('hospital-ledger'), '--budget', p('budget.json'), '--price-schedule', p('prices.json'), '--workers', '0']);
    return serve.listening();
  };
  const querier = (url: string, who: string, extra: string[] = []) =>
    ['--connect', url, '--identity', p(who), '--peer-key', p('hospital', 'identity.pub'), '--cache', p(`${who}-cache`), '--ledger', p(`${who}-ledger`), ...extra];

  it('publish, fetch, query (JSON summary), update by delta, budget refusal on both sides, rotation → stale cache', async () => {
    const pub = await runCli(['product', 'publish', '--input', p('index.csv'), '--key', 'resident_id', '--identity', p('hospital'), '--out', p('product'), '--version-note', '2026-12 index', '--workers', '0', '--json']);
    expect(pub.code, pub.stderr).toBe(0);
    const pj = lastJson(pub.stdout);
    expect(pj).toMatchObject({ ok: true, action: 'publish', keys: 1500 });
    expect((pj.cacheBytes as number) / 1500).toBeLessThanOrEqual(12);

    const dear = await runCli(['product', 'serve', '--listen', '127.0.0.1:0', '--product', p('product'), '--identity', p('hospital'), '--allow-any-peer', '--ledger', p('x-ledger'), '--price-schedule', p('too-dear.json')]);
    expect(dear.code).toBe(1);
    expectOneLineError(dear.stderr, /perKey 5 exceeds the guide price guidePerKey 4/);

    const url = await startServe();
    const f = await runCli(['product', 'fetch', ...querier(url, 'pharma'), '--json']);
    expect(f.code, f.stderr).toBe(0);
    expect(lastJson(f.stdout)).toMatchObject({ ok: true, mode: 'full', keys: 1500 });

    const q = await runCli(['product', 'query', ...querier(url, 'pharma', ['--input', p('mine.csv'), '--key', 'resident_id', '--output', p('found.csv'), '--json'])]);
    expect(q.code, q.stderr).toBe(0);
    const qj = lastJson(q.stdout);
    expect(Object.keys(qj).slice(0, 7)).toEqual(['ok', 'productVersion', 'queried', 'matched', 'bytesSent', 'bytesReceived', 'ms']);
    expect(qj).toMatchObject({ ok: true, queried: 60, matched: 30 });
    const found = readFileSync(p('found.csv'), 'utf8').trim().split('\n');
    expect(found.slice(1).map((l) => l.split(',')[0])).toEqual(index.slice(10, 40));

    // Update: +50 −10 travels as one delta.
    const up = await runCli(['product', 'update', '--product', p('product'), '--identity', p('hospital'), '--add', p('add.csv'), '--remove', p('remove.csv'), '--key', 'resident_id', '--workers', '0', '--json']);
    expect(up.code, up.stderr).toBe(0);
    expect(lastJson(up.stdout)).toMatchObject({ added: 50, removed: 10, keys: 1540 });
    const f2 = await runCli(['product', 'fetch', ...querier(url, 'pharma'), '--json']);
    expect(lastJson(f2.stdout)).toMatchObject({ mode: 'delta', filesFetched: 1, keys: 1540 });
    const q2 = await runCli(['product', 'query', ...querier(url, 'pharma', ['--input', p('mine.csv'), '--key', 'resident_id', '--json'])]);
    expect(lastJson(q2.stdout)).toMatchObject({ queried: 60, matched: 20 });

    // Budget: 150 keys per day; 120 used, the next 60-key query is refused before evaluation.
    const q3 = await runCli(['product', 'query', ...querier(url, 'pharma', ['--input', p('mine.csv'), '--key', 'resident_id'])]);
    expect(q3.code).toBe(1);
    expectOneLineError(q3.stderr, /refused by the holder: query budget .* 120 of 150 keys of product [0-9a-f]{32} evaluated this day/);
    // Another querier has its own budget.
    const fi = await runCli(['product', 'fetch', ...querier(url, 'insurer')]);
    expect(fi.code, fi.stderr).toBe(0);

    // Rotation: the cache becomes stale, with a clear message; fetching again fixes it.
    const rot = await runCli(['product', 'publish', '--input', p('index.csv'), '--key', 'resident_id', '--identity', p('hospital'), '--out', p('product'), '--workers', '0']);
    expect(rot.code, rot.stderr).toBe(0);
    const stale = await runCli(['product', 'query', ...querier(url, 'insurer', ['--input', p('mine.csv'), '--key', 'resident_id'])]);
    expect(stale.code).toBe(1);
    expectOneLineError(stale.stderr, /stale cache: .* fetch the cache again \(dataport product fetch\)/);
    const f3 = await runCli(['product', 'fetch', ...querier(url, 'insurer'), '--json']);
    expect(lastJson(f3.stdout)).toMatchObject({ mode: 'full', keys: 1500 });
    const q4 = await runCli(['product', 'query', ...querier(url, 'insurer', ['--input', p('mine.csv'), '--key', 'resident_id', '--json'])]);
    expect(lastJson(q4.stdout)).toMatchObject({ queried: 60, matched: 30 });

    serve!.child.kill('SIGINT');
    const done = await serve!.done;
    expect(done.code).toBe(0);

    // Both ledgers hold the co-signed receipts: product version and keys evaluated, and the bill.
    const report = await runCli(['ledger', 'export', '--ledger', p('pharma-ledger')]);
    expect(report.code, report.stderr).toBe(0);
    type Body = { protocol: string; outcome: string; options: Record<string, string>; billing?: { amountMinor: number } };
    const queries = (JSON.parse(report.stdout) as { entries: { entry: { body: Body } }[] }).entries.map((e) => e.entry.body).filter((b) => b.protocol === 'product-query');
    expect(queries.map((b) => [b.outcome, b.options['keys-evaluated']])).toEqual([['completed', '60'], ['completed', '60'], ['refused', undefined]]);
    expect(queries[0]!.options['product-version']).toMatch(/^[0-9a-f]{16}\.0$/);
    expect(queries[1]!.options['product-version']).toMatch(/^[0-9a-f]{16}\.1$/);
    // perRun 100 + 60 keys × perKey 5; a refused run costs nothing.
    expect(queries.map((b) => b.billing?.amountMinor)).toEqual([400, 400, 0]);
  }, 240_000);

  it('a flipped byte in the fetched cache is detected at query time', async () => {
    const url = await startServe();
    const f = await runCli(['product', 'fetch', ...querier(url, 'pharma')]);
    expect(f.code, f.stderr).toBe(0);
    const vdir = p('pharma-cache', 'versions');
    const version = readdirSync(vdir)[0]!;
    const chunk = join(vdir, version, readdirSync(join(vdir, version))[0]!);
    const bytes = readFileSync(chunk);
    bytes[bytes.length - 1]! ^= 0x01;
    writeFileSync(chunk, bytes);
    const q = await runCli(['product', 'query', ...querier(url, 'pharma', ['--input', p('mine.csv'), '--key', 'resident_id'])]);
    expect(q.code).toBe(1);
    expectOneLineError(q.stderr, /cache chunk 0 does not match the signed manifest/);
  }, 120_000);

  it('serves several queriers at once', async () => {
    const url = await startServe();
    for (const who of ['pharma', 'insurer']) {
      const f = await runCli(['product', 'fetch', ...querier(url, who)]);
      expect(f.code, f.stderr).toBe(0);
    }
    writeFileSync(p('few.csv'), csv([index[3]!, index[4]!, 'nope']));
    const runs = await Promise.all(
      ['pharma', 'insurer', 'pharma', 'insurer'].map((who) => runCli(['product', 'query', ...querier(url, who, ['--input', p('few.csv'), '--key', 'resident_id', '--json'])])),
    );
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(lastJson(r.stdout)).toMatchObject({ queried: 3, matched: 2 });
    }
  }, 120_000);
});
