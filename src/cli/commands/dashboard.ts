/**
 * `dataport dashboard --ledger DIR[,DIR…] [--listen HOST:PORT] …`: the operator's read-only web
 * page over the ledgers (docs/dashboard.md). Serves until Ctrl-C.
 * @module
 */
import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { InputError } from '../../errors.js';
import { ALERT_LIMITS, parseAlertLines } from '../../dashboard/alerts.js';
import { DASHBOARD_LANGS, type DashboardLang } from '../../dashboard/messages.js';
import type { DashboardLedgerSource } from '../../dashboard/model.js';
import { startDashboard, type AlertBatch, type DashboardOptions } from '../../dashboard/server.js';
import { superviseLedger } from '../../supervise/index.js';
import { choiceOption, parseCommandArgs, parseHostPort, stringListOption, stringOption } from '../args.js';
import type { OptionSpec, ParsedOptions } from '../args.js';
import { readTextFile } from '../identity-files.js';
import { loadRules } from './supervise.js';
import { counterpartyLabels, loadOwnerKey, witnessFiles } from '../ledger-inputs.js';
import { loadBudgetPolicy, loadPriceSchedule } from '../ledger-wiring.js';
import { DASHBOARD_MESSAGES as M, FILE_MESSAGES, OPTION_MESSAGES } from '../messages.js';
import { cliSignal } from '../signals.js';

/** Where the dashboard listens without `--listen`. */
export const DEFAULT_DASHBOARD_LISTEN = '127.0.0.1:7480';

const HELP = `usage: dataport dashboard --ledger DIR[,DIR...] [--listen HOST:PORT] [options]

A read-only web page for the port operator over one or more ledgers: ledger heads and their
verification, witnesses, counterparties (labelled), usage and billing over time (billing against
the guide-price cap of the price schedule), query budgets as gauges, supervision alerts linked to
their ledger entries (with inclusion proofs), releases and trace hits. Chinese and English.
Every ledger is verified completely when read, and read again when its files change.

options:
  --ledger DIR[,DIR...]      the ledgers to show (a run recorded in two of them counts once)
  --listen HOST:PORT         where to serve (default ${DEFAULT_DASHBOARD_LISTEN}; port 0: any free
                             port). Anything but a loopback address exposes the ledgers' contents
                             to the network without TLS or a login: use a reverse proxy
  --public-key FILE[,FILE...]
                             the owners' identity.pub, one per --ledger DIR in the same order:
                             pin the owner keys instead of trusting the ledger headers
  --witness FILE             a checkpoint of one of the ledgers saved elsewhere (repeatable);
                             shown as passed or failed for the ledger of its origin
  --price-schedule FILE      the price schedule: billing is drawn against its guide-price cap
  --budget FILE              the budget policy: where each counterparty stands, as gauges
  --names FILE               labels: JSON {"<base64 key>": "label", ...}
  --keys DIR                 labels from NAME.pub files or keygen folders NAME/identity.pub
  --alerts FILE              alerts: the JSON lines of 'dataport supervise --json' (re-read when
                             the file changes)
  --supervise                run the supervision rules (docs/supervise.md) over each ledger when
                             it is loaded, and show their alerts (with --alerts: both)
  --rules FILE               with --supervise: the rules' thresholds (as 'dataport supervise')
  --listener-log FILE        with --supervise: a listener's --refusal-log file (repeatable)
  --lang zh|en               the page's language when the URL does not choose (default zh)
  --allow-host NAME          a host name the page may be reached by (repeatable; IP addresses
                             and localhost always work): e.g. the name a reverse proxy forwards
  --help                     this text

The page reads JSON from /api/overview, /api/counterparties, /api/usage?period=month|day,
/api/budgets, /api/alerts, /api/records and /api/entry?ledger=L&index=I (docs/dashboard.md).
Exit codes: 0 stopped with Ctrl-C, 1 error (one line on stderr), 2 usage.`;

const SPEC: Record<string, OptionSpec> = {
  ledger: { type: 'string' },
  listen: { type: 'string' },
  'public-key': { type: 'string' },
  witness: { type: 'string', multiple: true },
  'price-schedule': { type: 'string' },
  budget: { type: 'string' },
  names: { type: 'string' },
  keys: { type: 'string' },
  alerts: { type: 'string' },
  supervise: { type: 'boolean' },
  rules: { type: 'string' },
  'listener-log': { type: 'string', multiple: true },
  lang: { type: 'string' },
  'allow-host': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
};

/** `--alerts FILE` as an alert source: read and checked again whenever the file changes. */
function alertsFromFile(path: string): () => Promise<AlertBatch> {
  let stamp = '';
  let cached: AlertBatch | undefined;
  return async () => {
    const st = await stat(path).catch((err: unknown) => {
      throw new InputError(FILE_MESSAGES.cannotRead('--alerts', path, err));
    });
    const now = `${st.size}:${st.mtimeMs}:${st.ino}`;
    if (cached !== undefined && now === stamp) return cached;
    cached = parseAlertLines(await readTextFile(path, '--alerts', ALERT_LIMITS.fileBytes));
    stamp = now;
    return cached;
  };
}

/** `--supervise`: `superviseLedger` (src/supervise) with `--rules`, `--listener-log` and the labels. */
async function supervisor(values: ParsedOptions, labels: ReadonlyMap<string, string> | undefined): Promise<NonNullable<DashboardOptions['supervise']>> {
  const rules = await loadRules(stringOption(values, 'rules'));
  const listenerLogs = stringListOption(values, 'listener-log');
  const peerLabels = labels === undefined ? undefined : Object.fromEntries(labels);
  return ({ dir, publicKey, witnesses }) =>
    superviseLedger({
      ledgerDir: dir,
      witnesses,
      ...(publicKey ? { publicKey } : {}),
      ...(rules ? { rules } : {}),
      ...(listenerLogs.length > 0 ? { listenerLogs } : {}),
      ...(peerLabels ? { peerLabels } : {}),
    });
}

/** A comma list of paths (`--ledger a,b`), none empty. */
function pathList(text: string, option: string): string[] {
  const list = text.split(',').map((p) => p.trim());
  if (list.some((p) => p === '')) throw new InputError(M.emptyPath(option, text));
  return list;
}

/**
 * Runs `dataport dashboard …`; resolves with the exit code once interrupted.
 * @example
 * ```ts
 * process.exitCode = await run(['--ledger', './ledger', '--listen', '127.0.0.1:7480']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('dashboard', argv, SPEC);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const dirs = pathList(stringOption(values, 'ledger', true), 'ledger');
  const twice = dirs.find((d, i) => dirs.indexOf(d) !== i);
  if (twice !== undefined) throw new InputError(M.ledgerTwice(twice));
  const keyFiles = values['public-key'] === undefined ? [] : pathList(stringOption(values, 'public-key', true), 'public-key');
  if (keyFiles.length > 0 && keyFiles.length !== dirs.length) throw new InputError(M.publicKeyCount(keyFiles.length, dirs.length));
  const ledgers: DashboardLedgerSource[] = [];
  for (const [i, dir] of dirs.entries()) {
    ledgers.push(keyFiles[i] === undefined ? { dir } : { dir, publicKey: await loadOwnerKey(keyFiles[i]!) });
  }
  const { host, port } = parseHostPort(stringOption(values, 'listen') ?? DEFAULT_DASHBOARD_LISTEN, 'listen');
  const lang = choiceOption<DashboardLang>(values, 'lang', DASHBOARD_LANGS, 'zh');
  const schedulePath = stringOption(values, 'price-schedule');
  const budgetPath = stringOption(values, 'budget');
  const alertsPath = stringOption(values, 'alerts');
  const loadAlerts = alertsPath === undefined ? undefined : alertsFromFile(alertsPath);
  if (loadAlerts) await loadAlerts(); // an unreadable file is found now, not on the page
  const labels = await counterpartyLabels(values);
  const supervise = values.supervise === true ? await supervisor(values, labels) : undefined;
  if (supervise === undefined && (values.rules !== undefined || values['listener-log'] !== undefined)) {
    throw new InputError(OPTION_MESSAGES.onlyWith(values.rules !== undefined ? 'rules' : 'listener-log', '--supervise'));
  }
  const dashboard = await startDashboard({
    ledgers,
    witnesses: await witnessFiles(values),
    ...(labels ? { labels } : {}),
    ...(schedulePath === undefined ? {} : { priceSchedule: await loadPriceSchedule(schedulePath) }),
    ...(budgetPath === undefined ? {} : { budget: await loadBudgetPolicy(budgetPath) }),
    ...(loadAlerts ? { loadAlerts } : {}),
    ...(supervise ? { supervise } : {}),
    lang,
    host,
    port,
    allowedHosts: stringListOption(values, 'allow-host'),
    onError: (err) => process.stderr.write(`${M.requestFailed(String((err as Error)?.message ?? err).split('\n')[0]!)}\n`),
  }).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') throw new InputError(FILE_MESSAGES.cannotListen(`${host}:${port}`, err));
    throw err;
  });
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) process.stderr.write(`dataport: warning: ${M.notLoopback(host)}\n`);
  process.stderr.write(`${M.listening(dashboard.url)}\n`);
  await new Promise<void>((resolve) => {
    if (cliSignal.aborted) resolve();
    else cliSignal.addEventListener('abort', () => resolve(), { once: true });
  });
  await dashboard.close();
  return 0;
}
