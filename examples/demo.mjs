// `npm run demo`: the running example of dataport, for real, as separate processes over WebSocket
// on 127.0.0.1, from the deterministic seed data.
//
//   1. A pharmaceutical company (its drug programme's resident IDs) and a hospital (patient
//      records) each create an Ed25519 identity and exchange public keys.
//   2. PSI: which programme patients were treated at the hospital — both learn the matching rows of
//      their OWN file and nothing else; both sign the same usage receipt.
//   3. psi-sum: the total and mean treatment cost and the adverse events of the common patients,
//      without either side learning which patients they are (BFV homomorphic encryption). The
//      hospital reads its admissions straight from PostgreSQL (a throw-away server the demo starts,
//      when Debian's postgresql is installed; otherwise it says why and uses hospital.csv).
//   4. Three hospitals send encrypted per-ward statistics to the port operator, who adds them; only
//      the analyst decrypts, and only the total (BFV; the operator never holds a key).
//   5. The ledgers: each side verifies its co-signed, Merkle-logged usage records and reports.
//
// Every number printed is computed by the processes; the seed generator's truth.json is shown next
// to it so that you can check it.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/main.js');
// DATAPORT_DEMO_DIR: an empty folder to work in (the test suite passes one and removes it).
const work = process.env.DATAPORT_DEMO_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), 'dataport-demo-'));
const data = path.join(work, 'data');
const keys = (who) => path.join(work, 'keys', who);
const ledger = (who) => path.join(work, 'ledgers', who);
// The hospital bills under this schedule; the pharmaceutical company runs only if the hospital
// announces exactly this one (--accept-price-schedule), and both sign the amount in the receipt.
const prices = fileURLToPath(new URL('./price-schedule.json', import.meta.url));

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => console.log(s);
const heading = (s) => say(`\n${bold(`== ${s}`)}`);

/** Runs a command to completion; resolves with { code, stdout, stderr }. */
function run(cmd, args, { onStderr } = {}) {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
    onStderr?.(stderr);
  });
  const done = new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, done };
}

const dataport = (args, opts) => run(process.execPath, [cli, ...args], opts);

/** Starts a listener and resolves with its URL (printed on stderr) and its completion promise. */
function listen(args) {
  return new Promise((resolve, reject) => {
    const p = dataport(args, {
      onStderr: (err) => {
        const m = /listening on (wss?:\/\/\S+)/.exec(err);
        if (m && !p.resolved) {
          p.resolved = true;
          resolve({ url: m[1], done: p.done });
        }
      },
    });
    p.done.then((r) => {
      if (!p.resolved) reject(new Error(`listener exited: ${r.stderr.trim()}`));
    });
  });
}

function lastJson(out, who) {
  const line = out.stdout.trim().split('\n').at(-1);
  if (out.code !== 0 || !line) throw new Error(`${who} failed (exit ${out.code}): ${out.stderr.trim().split('\n').at(-1)}`);
  return JSON.parse(line);
}

async function must(p, who) {
  const r = await p.done;
  if (r.code !== 0) throw new Error(`${who} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r;
}

/** The demo's PostgreSQL while it runs: stopped at the end whatever happens. */
let liveServer;
const ADMISSIONS_SQL = 'SELECT patient_id, ward, cost_yuan, adverse_event FROM admissions';

/**
 * Starts a throw-away PostgreSQL (Debian's binaries, a temporary directory, a free loopback port:
 * the test suite's helper, bundled on the fly) and loads hospital.csv into a table with psql's
 * \copy. Returns undefined — after saying why — when that is not possible here; the demo then
 * uses the CSV file.
 */
async function admissionsInPostgres(csv) {
  try {
    const { build } = await import('esbuild');
    // Bundled next to this file so that its `pg` import resolves to this checkout's node_modules;
    // removed once loaded.
    const helper = path.join(root, 'examples', `.postgres-helper-${process.pid}.mjs`);
    await build({ entryPoints: [path.join(root, 'test/helpers/postgres.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: helper, logLevel: 'error' });
    let loaded;
    try {
      loaded = await import(pathToFileURL(helper).href);
    } finally {
      fs.rmSync(helper, { force: true });
    }
    const { startPostgres, postgresBinDir } = loaded;
    const server = await startPostgres();
    if (!server) {
      say('PostgreSQL is not installed here (apt-get install postgresql): the hospital reads hospital.csv instead');
      return undefined;
    }
    liveServer = server;
    process.env.PGPASSWORD = server.password;
    await server.query('CREATE TABLE admissions (patient_id text, ward text, admission_month text, cost_yuan numeric(12,2), adverse_event integer)');
    const load = await run(path.join(postgresBinDir(), 'psql'), ['-h', '127.0.0.1', '-p', String(server.port), '-U', server.user, '-d', server.database, '-c', `\\copy admissions FROM '${csv}' CSV HEADER`]).done;
    if (load.code !== 0) {
      await server.stop();
      throw new Error(load.stderr.trim());
    }
    return server;
  } catch (err) {
    say(`PostgreSQL could not be started here (${String(err.message ?? err).split('\n')[0]}): the hospital reads hospital.csv instead`);
    return undefined;
  }
}

async function main() {
  say(bold('dataport demo — a pharmaceutical company and a hospital compute together without sharing their data'));
  say(`(working folder: ${work})`);

  heading('1. seed data (synthetic, deterministic)');
  await must(run(process.execPath, [path.join(root, 'seeds/generate.mjs'), '--out', data]), 'seed generator');
  const truth = JSON.parse(fs.readFileSync(path.join(data, 'truth.json'), 'utf8'));
  say(`pharma.csv:   ${truth.psi.pharmaRows} rows, ${truth.psi.pharmaDistinctKeys} distinct resident IDs (with spaces, lower-case x, full-width digits, duplicates)`);
  say(`hospital.csv: ${truth.psi.hospitalRows} admissions of ${truth.psi.hospitalDistinctKeys} patients`);

  heading('2. identities');
  for (const who of ['pharma', 'hospital', 'operator', 'analyst', 'hospital-1', 'hospital-2', 'hospital-3']) {
    const r = await must(dataport(['keygen', '--out', keys(who)]), `keygen ${who}`);
    say(`${who.padEnd(11)} ${r.stdout.trim().split('\n').at(-1)}`);
  }

  heading('3. PSI: which programme patients were treated at the hospital?');
  say('hospital: dataport psi --listen 127.0.0.1:0 --input hospital.csv --key patient_id --reveal both --price-schedule examples/price-schedule.json …');
  const hospital = await listen([
    'psi', '--listen', '127.0.0.1:0', '--input', path.join(data, 'hospital.csv'), '--key', 'patient_id',
    '--identity', keys('hospital'), '--peer-key', path.join(keys('pharma'), 'identity.pub'),
    '--reveal', 'both', '--purpose', 'drug programme follow-up, authorisation DP-2026-014',
    '--output', path.join(work, 'hospital-matches.csv'), '--ledger', ledger('hospital'), '--price-schedule', prices, '--json',
  ]);
  say(`pharma:   dataport psi --connect ${hospital.url} --input pharma.csv --key resident_id --reveal both --accept-price-schedule examples/price-schedule.json …`);
  const pharmaOut = await dataport([
    'psi', '--connect', hospital.url, '--input', path.join(data, 'pharma.csv'), '--key', 'resident_id',
    '--identity', keys('pharma'), '--peer-key', path.join(keys('hospital'), 'identity.pub'),
    '--reveal', 'both', '--purpose', 'drug programme follow-up, authorisation DP-2026-014',
    '--output', path.join(work, 'pharma-matches.csv'), '--ledger', ledger('pharma'), '--accept-price-schedule', prices, '--json',
  ]).done;
  const p = lastJson(pharmaOut, 'pharma');
  const h = lastJson(await hospital.done, 'hospital');
  say(`pharma learned:   ${p.intersectionSize} of its ${p.distinctKeys} programme patients are hospital patients ` +
    `(${fs.readFileSync(path.join(work, 'pharma-matches.csv'), 'utf8').trim().split('\n').length - 1} of its rows written to pharma-matches.csv); ` +
    `the hospital has ${p.peerDistinctKeys} distinct patients`);
  say(`hospital learned: ${h.intersectionSize} of its ${h.distinctKeys} patients are in the programme ` +
    `(${fs.readFileSync(path.join(work, 'hospital-matches.csv'), 'utf8').trim().split('\n').length - 1} admission rows written to hospital-matches.csv)`);
  say(`ground truth:     ${truth.psi.intersectionSize} common patients, ${truth.psi.intersectionHospitalRows} hospital admissions`);
  say(`traffic:          pharma sent ${p.bytesSent} B and received ${p.bytesReceived} B in ${p.ms} ms`);
  say('co-signed usage receipt (identical on both sides; no identifiers in it):');
  say(JSON.stringify(p.receipt, null, 2).split('\n').map((l) => '  ' + l).join('\n'));
  if (p.intersectionSize !== truth.psi.intersectionSize || h.intersectionSize !== truth.psi.intersectionSize) {
    throw new Error('the intersection differs from the ground truth');
  }

  heading('4. psi-sum: their total and mean treatment cost, and how many adverse events?');
  const db = await admissionsInPostgres(path.join(data, 'hospital.csv'));
  const hospitalInput = db ? ['--input', db.url, '--query', ADMISSIONS_SQL] : ['--input', path.join(data, 'hospital.csv')];
  if (db) {
    say(`the hospital's admissions are in PostgreSQL (${db.url}; password in PGPASSWORD, never in the URL)`);
    say(`hospital: dataport psi-sum --listen 127.0.0.1:0 --input ${db.url} --query '${ADMISSIONS_SQL}' --key patient_id --values cost_yuan,adverse_event --min-cohort 10 …`);
  } else {
    say('hospital: dataport psi-sum --listen 127.0.0.1:0 --input hospital.csv --key patient_id --values cost_yuan,adverse_event --min-cohort 10 …');
  }
  const hospital2 = await listen([
    'psi-sum', '--listen', '127.0.0.1:0', ...hospitalInput, '--key', 'patient_id',
    '--values', 'cost_yuan,adverse_event', '--identity', keys('hospital'), '--peer-key', path.join(keys('pharma'), 'identity.pub'),
    '--min-cohort', '10', '--purpose', 'drug programme cost study, authorisation DP-2026-015', '--ledger', ledger('hospital'), '--price-schedule', prices, '--json',
  ]);
  say(`pharma:   dataport psi-sum --connect ${hospital2.url} --input pharma.csv --key resident_id --min-cohort 10 …`);
  const pharmaSum = lastJson(await dataport([
    'psi-sum', '--connect', hospital2.url, '--input', path.join(data, 'pharma.csv'), '--key', 'resident_id',
    '--identity', keys('pharma'), '--peer-key', path.join(keys('hospital'), 'identity.pub'),
    '--min-cohort', '10', '--purpose', 'drug programme cost study, authorisation DP-2026-015', '--ledger', ledger('pharma'), '--accept-price-schedule', prices, '--json',
  ]).done, 'pharma psi-sum');
  const hospitalSum = lastJson(await hospital2.done, 'hospital psi-sum');
  if (db) say(`hospital read ${hospitalSum.inputRecords} admission rows from PostgreSQL in a read-only transaction (source ${hospitalSum.source.kind}, query SHA-256 ${hospitalSum.source.queryHash.slice(0, 16)}…)`);
  for (const [who, r] of [['pharma', pharmaSum], ['hospital', hospitalSum]]) {
    say(`${who.padEnd(9)} learned: ${r.intersectionSize} common patients; total cost ${r.sums?.cost_yuan} yuan ` +
      `(mean per patient ${r.means?.cost_yuan}); ${r.sums?.adverse_event} adverse events — but not which patients`);
  }
  say(`ground truth:     ${truth.psi.intersectionSize} patients, ${truth.psi.intersectionCostSumYuan} yuan ` +
    `(mean per patient ${truth.psi.intersectionCostMeanPerPatientYuan}), ${truth.psi.intersectionAdverseEvents} adverse events`);
  say(`traffic:          pharma sent ${pharmaSum.bytesSent} B, received ${pharmaSum.bytesReceived} B in ${pharmaSum.ms} ms`);
  if (pharmaSum.sums?.cost_yuan !== truth.psi.intersectionCostSumYuan || Number(pharmaSum.sums?.adverse_event) !== truth.psi.intersectionAdverseEvents) {
    throw new Error('the psi-sum result differs from the ground truth');
  }

  heading('5. aggregate: per-ward totals across three hospitals, seen only by the analyst');
  // Every link is authenticated: the operator accepts only these keys; each party pins the operator.
  const providerKeys = path.join(work, 'keys', 'ward-providers');
  fs.mkdirSync(providerKeys, { recursive: true });
  for (const i of [1, 2, 3]) fs.copyFileSync(path.join(keys(`hospital-${i}`), 'identity.pub'), path.join(providerKeys, `hospital-${i}.pub`));
  const operatorPub = path.join(keys('operator'), 'identity.pub');
  say('operator:   dataport aggregate serve --listen 127.0.0.1:0 --providers 3 --identity keys/operator --analyst-key keys/analyst/identity.pub --provider-keys keys/ward-providers --ledger ledgers/operator');
  const operator = await listen(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '3', '--identity', keys('operator'),
    '--analyst-key', path.join(keys('analyst'), 'identity.pub'), '--provider-keys', providerKeys, '--ledger', ledger('operator'), '--json']);
  const query = path.join(root, 'examples/ward-query.json');
  say(`analyst:    dataport aggregate analyst --connect ${operator.url} --query examples/ward-query.json --identity keys/analyst --peer-key keys/operator/identity.pub --ledger ledgers/analyst …`);
  const result = path.join(work, 'ward-result.json');
  const analyst = dataport(['aggregate', 'analyst', '--connect', operator.url, '--query', query, '--output', result, '--identity', keys('analyst'),
    '--peer-key', operatorPub, '--ledger', ledger('analyst'), '--json']);
  const providers = [1, 2, 3].map((i) => {
    say(`hospital-${i}: dataport aggregate provide --connect ${operator.url} --input hospitals/hospital-${i}.csv --identity keys/hospital-${i} --peer-key keys/operator/identity.pub --analyst-key keys/analyst/identity.pub --min-cohort 10 --ledger ledgers/hospital-${i}`);
    return dataport(['aggregate', 'provide', '--connect', operator.url, '--input', path.join(data, 'hospitals', `hospital-${i}.csv`),
      '--identity', keys(`hospital-${i}`), '--peer-key', operatorPub, '--analyst-key', path.join(keys('analyst'), 'identity.pub'), '--min-cohort', '10',
      '--ledger', ledger(`hospital-${i}`), '--json']);
  });
  await must(analyst, 'analyst');
  for (const [i, p] of providers.entries()) await must(p, `hospital-${i + 1}`);
  await must({ done: operator.done }, 'operator');
  const res = JSON.parse(fs.readFileSync(result, 'utf8'));
  say(`the analyst decrypted only the total of ${res.contributors} hospitals (the operator held no key and saw no value):`);
  // Column widths from the data, so long values (means with four places, big sums) stay aligned.
  const header = ['ward', 'patients', 'total cost (yuan)', 'mean cost', 'adverse events', 'truth: patients', 'total cost'];
  const rows = [];
  for (const g of res.groups) {
    const t = truth.aggregation.perWard[g.group];
    if (g.withheld) {
      rows.push([g.group, `withheld (${g.reason})`]);
      continue;
    }
    const stat = (type, column) => g.statistics.find((x) => x.type === type && (column === undefined || x.column === column))?.value;
    const count = stat('count');
    const sum = stat('sum', 'cost_yuan');
    rows.push([g.group, count, sum, stat('mean', 'cost_yuan'), stat('sum', 'adverse_event'), t.count, t.costSumYuan].map(String));
    if (Number(count) !== t.count || sum !== t.costSumYuan || Number(stat('sum', 'adverse_event')) !== t.adverseEvents) {
      throw new Error(`the aggregate for ${g.group} differs from the ground truth`);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.filter((r) => r.length === header.length).map((r) => r[i].length)));
  const line = (cells) => '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  say(line(header));
  for (const r of rows) say(r.length === header.length ? line(r) : `  ${r[0].padEnd(widths[0])}  ${r[1]}`);

  heading('6. the ledgers: every two-party run recorded, co-signed, verifiable');
  for (const who of ['pharma', 'hospital']) {
    const v = await must(dataport(['ledger', 'verify', '--ledger', ledger(who), '--public-key', path.join(keys(who), 'identity.pub'), '--price-schedule', prices, '--json']), `ledger verify ${who}`);
    const j = JSON.parse(v.stdout.trim().split('\n').at(-1));
    if (!j.ok) throw new Error(`the ${who} ledger does not verify`);
    say(`${who.padEnd(8)} dataport ledger verify --price-schedule examples/price-schedule.json → intact: ${j.size} entries, ` +
      `signed checkpoint over ${j.checkpointSize}, owner key pinned; ${j.billingRechecked.checked} of ${j.billingRechecked.billed} billed amounts recomputed, all equal`);
  }
  const op = await must(dataport(['ledger', 'verify', '--ledger', ledger('operator'), '--public-key', operatorPub, '--json']), 'ledger verify operator');
  say(`operator dataport ledger verify → intact: ${JSON.parse(op.stdout.trim().split('\n').at(-1)).size} co-signed aggregation receipts (one per link: the analyst and each hospital)`);
  const report = await must(dataport(['ledger', 'report', '--ledger', ledger('hospital'), '--by', 'protocol', '--format', 'table']), 'ledger report');
  say('hospital: dataport ledger report --by protocol (amounts in fen, co-signed by the pharmaceutical company)');
  say(report.stdout.trimEnd().split('\n').map((l) => '  ' + l).join('\n'));

  say(`\nAll demo files are in ${work}`);
}

main()
  .catch((e) => {
    console.error(`demo failed: ${e.message}`);
    process.exitCode = 1;
  })
  .finally(() => liveServer?.stop());
