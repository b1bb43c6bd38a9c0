import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from './helpers/postgres.js';
import { assertBuilt, killAll, lastJson, runCli, startCli, tempDir } from './cli-helpers.js';

describe('dataport product with a database --input', () => {
  const tmp = tempDir('dp-product-db-');
  const p = (...parts: string[]) => join(tmp.dir, ...parts);
  let pgs: PostgresServer | undefined;
  const index = Array.from({ length: 300 }, (_, i) => `1101011990${String(i).padStart(8, '0')}`);

  beforeAll(async () => {
    assertBuilt();
    pgs = await startPostgres();
    if (!pgs) return;
    process.env.PGPASSWORD = pgs.password;
    await pgs.query('CREATE TABLE patients (resident_id text, ward text)');
    await pgs.query(`INSERT INTO patients SELECT unnest($1::text[]), 'w1'`, [index]);
    for (const who of ['hospital', 'pharma']) expect((await runCli(['keygen', '--out', p(who)])).code).toBe(0);
    writeFileSync(p('mine.csv'), `resident_id\n${[...index.slice(0, 25), 'x1', 'x2'].join('\n')}\n`);
  }, 120_000);
  afterAll(async () => {
    killAll();
    await pgs?.stop();
    tmp.cleanup();
  });

  it('publishes from PostgreSQL (the same input function as psi) and answers queries exactly', async (t) => {
    if (!pgs) return t.skip();
    const pub = await runCli(['product', 'publish', '--input', pgs.url, '--query', 'SELECT resident_id FROM patients', '--key', 'resident_id', '--identity', p('hospital'), '--out', p('product'), '--workers', '0', '--json']);
    expect(pub.code, pub.stderr).toBe(0);
    expect(lastJson(pub.stdout)).toMatchObject({ keys: 300 });
    expect(pub.stdout + pub.stderr).not.toContain(pgs.password);
    const serve = startCli(['product', 'serve', '--listen', '127.0.0.1:0', '--product', p('product'), '--identity', p('hospital'), '--allow-any-peer', '--ledger', p('ledger'), '--workers', '0']);
    const url = await serve.listening();
    const q = ['--connect', url, '--identity', p('pharma'), '--peer-key', p('hospital', 'identity.pub'), '--cache', p('cache')];
    expect((await runCli(['product', 'fetch', ...q])).code).toBe(0);
    const r = await runCli(['product', 'query', ...q, '--input', p('mine.csv'), '--key', 'resident_id', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ queried: 27, matched: 25 });
    serve.child.kill('SIGINT');
    expect((await serve.done).code).toBe(0);
  }, 120_000);
});
