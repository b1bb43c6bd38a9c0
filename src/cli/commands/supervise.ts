/**
 * `dataport supervise --ledger DIR [--rules FILE] [--json] [--watch]` (issue 17 part 3,
 * docs/supervise.md): the supervision rules over a ledger, its key sketches and the listeners'
 * refusal logs; alerts as JSON lines or a table; exit 2 when any alert is at error level.
 * Read-only: needs no secret key.
 * @module
 */
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../errors.js';
import { LEDGER_FILES, readLedgerSnapshot } from '../../ledger/node.js';
import { printable } from '../../ledger/report.js';
import { parsePublicKeyFile } from '../../session/identity.js';
import { alertId, type Alert } from '../../supervise/alert.js';
import { MAX_RULES_BYTES, parseSupervisionRules, type SupervisionRules } from '../../supervise/rules.js';
import { sharingRecords, type SharingRecord } from '../../supervise/sharing.js';
import { superviseLedger, type SuperviseResult } from '../../supervise/supervise-ledger.js';
import { fromHex, toBase64 } from '../../utils/bytes.js';
import { intOption, parseCommandArgs, stringListOption, stringOption } from '../args.js';
import type { ParsedOptions } from '../args.js';
import { readTextFile } from '../identity-files.js';
import { FILE_MESSAGES, OPTION_MESSAGES as O, SUPERVISE_CLI_MESSAGES as M } from '../messages.js';
import { cliSignal } from '../signals.js';
import { counterpartyLabels, witnessFiles } from '../ledger-inputs.js';

const HELP = `usage: dataport supervise --ledger DIR [--rules FILE] [--json] [--watch [--interval SECONDS]]
                          [--listener-log FILE ...] [--witness FILE ...] [--public-key FILE]
                          [--names FILE] [--keys DIR] [--sharing-records]

Runs the supervision rules over a ledger (docs/supervise.md): differencing (two runs with one
counterparty whose key sets differ by fewer than k keys, from the runs' key sketches), keys
probed per counterparty per period, rate and off-hours use, first contact, budgets at 80 % and
100 %, runs aborted after data flowed, ledger integrity and witness failures, trace hits, and
refused connections from the listeners' logs. Each alert names the ledger entries it is about,
with inclusion proofs in the tree of the ledger head printed first.

options:
  --ledger DIR         the ledger (its key sketches are read from DIR/sketches)
  --rules FILE         thresholds (JSON; every field optional; defaults in docs/supervise.md)
  --json               one JSON line per alert: {"level","rule","message","messageKey",
                       "counterparty","entries":[{"index","leafHash","proof"}],"at","details"},
                       then a summary line {"ok","alerts","errors","warnings","head"}
  --watch              keep running: re-evaluate when the ledger or a listener log changes (and
                       every --interval seconds, default 2) and print only new alerts; Ctrl-C stops
  --listener-log FILE  a listener's --refusal-log file (repeatable)
  --witness FILE       a checkpoint of this ledger saved elsewhere (repeatable): the ledger must
                       extend it, else a witness alert
  --public-key FILE    the owner's identity.pub: pin the owner key
  --names FILE, --keys DIR
                       label counterparties (as 'dataport ledger report')
  --sharing-records    print the GB/T 35273 §9.2 sharing record of every run instead (date,
                       scale, purpose, recipients; --json: one JSON line each)
  --help               this text

exit codes: 0 no error-level alert, 2 an error-level alert (ledger integrity, witness, budget
spent, trace hit, or a rule set to level error), 1 error (e.g. no ledger, a bad rules file),
130 interrupted before the first evaluation`;

const SPEC = {
  ledger: { type: 'string' },
  rules: { type: 'string' },
  json: { type: 'boolean' },
  watch: { type: 'boolean' },
  interval: { type: 'string' },
  'listener-log': { type: 'string', multiple: true },
  witness: { type: 'string', multiple: true },
  'public-key': { type: 'string' },
  names: { type: 'string' },
  keys: { type: 'string' },
  'sharing-records': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function loadRules(file: string | undefined): Promise<SupervisionRules | undefined> {
  if (file === undefined) return undefined;
  const text = await readTextFile(file, '--rules', MAX_RULES_BYTES);
  try {
    return parseSupervisionRules(text);
  } catch (e) {
    if (e instanceof InputError) throw new InputError(FILE_MESSAGES.invalid('--rules', file, e.message.replace(/^rules: /, '')));
    throw e;
  }
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/** The human table of alerts (one line each; counterparties by label or base64). */
function alertLines(alerts: readonly Alert[], labels: Map<string, string> | undefined): string[] {
  return alerts.map((a) => {
    const who = a.counterparty === null ? '-' : (labels?.get(toBase64(fromHex(a.counterparty))) ?? toBase64(fromHex(a.counterparty)));
    const entries = a.entries.length === 0 ? '-' : a.entries.map((e) => e.index).join(',');
    return `${new Date(a.at).toISOString().slice(0, 19)}Z  ${pad(a.level, 7)}  ${pad(a.rule, 19)}  ${pad(printable(who), 20)}  ${pad(entries, 9)}  ${printable(a.message)}`;
  });
}

function sharingLines(records: readonly SharingRecord[], labels: Map<string, string> | undefined): string[] {
  const lines = [`${pad('entry', 6)}  ${pad('date (UTC)', 20)}  ${pad('protocol', 14)}  ${pad('scale in/out', 24)}  ${pad('recipients', 30)}  purpose`];
  for (const r of records) {
    const scale = `${Object.entries(r.scale.input).map(([k, v]) => `${k}=${v}`).join(' ')} / ${Object.entries(r.scale.output).map(([k, v]) => `${k}=${v}`).join(' ') || '-'}`;
    const rec = r.recipients.map((x) => (x.publicKey === null ? x.role : `${x.role}:${labels?.get(toBase64(fromHex(x.publicKey))) ?? toBase64(fromHex(x.publicKey)).slice(0, 12)}`)).join(' ');
    const purpose = r.purpose === '' ? '(none recorded)' : r.purpose;
    lines.push(`${pad(String(r.index), 6)}  ${r.date.slice(0, 19)}Z  ${pad(printable(r.protocol), 14)}  ${pad(printable(scale), 24)}  ${pad(printable(rec) || '(none recorded)', 30)}  ${printable(purpose)}`);
  }
  return lines;
}

/** What changes when the ledger or a log grows: sizes and times of the files read. */
async function fingerprint(paths: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const p of paths) {
    try {
      const s = await stat(p);
      parts.push(`${s.size}:${s.mtimeMs}`);
    } catch {
      parts.push('-');
    }
  }
  return parts.join('|');
}

/**
 * Runs `dataport supervise`; returns the exit code.
 * @example
 * ```ts
 * const code = await run(['--ledger', 'ledger', '--json']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('supervise', argv, SPEC);
  if (values.help === true) {
    console.log(HELP);
    return 0;
  }
  const dir = stringOption(values, 'ledger', true);
  const json = values.json === true;
  const watchMode = values.watch === true;
  if (values.interval !== undefined && !watchMode) throw new InputError(O.onlyWith('interval', '--watch'));
  const intervalS = intOption(values, 'interval', 1, 3600, 2);
  const rules = await loadRules(stringOption(values, 'rules'));
  const witnesses = await witnessFiles(values);
  const keyFile = stringOption(values, 'public-key');
  const publicKey = keyFile === undefined ? undefined : parsePublicKeyFile(await readTextFile(keyFile, 'public key', 4096));
  const labels = await counterpartyLabels(values);
  const listenerLogs = stringListOption(values, 'listener-log');

  if (values['sharing-records'] === true) {
    if (watchMode) throw new InputError(M.sharingOnlyOnce());
    const snap = await readLedgerSnapshot(dir, publicKey === undefined ? {} : { publicKey });
    const records = sharingRecords(snap.receipts(), snap.ownerPublicKey);
    if (json) for (const r of records) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`${(records.length === 0 ? [M.noSharingRecords()] : sharingLines(records, labels)).join('\n')}\n`);
    return 0;
  }

  const evaluate = (): Promise<SuperviseResult> =>
    superviseLedger({
      ledgerDir: dir,
      ...(rules ? { rules } : {}),
      ...(publicKey ? { publicKey } : {}),
      witnesses,
      listenerLogs,
      ...(labels ? { peerLabels: Object.fromEntries(labels) } : {}),
    });
  const counts = (alerts: readonly Alert[]) => ({
    errors: alerts.filter((a) => a.level === 'error').length,
    warnings: alerts.filter((a) => a.level === 'warning').length,
    infos: alerts.filter((a) => a.level === 'info').length,
  });
  const emit = (alerts: readonly Alert[]): void => {
    if (alerts.length === 0) return;
    process.stdout.write(`${(json ? alerts.map((a) => JSON.stringify(a)) : alertLines(alerts, labels)).join('\n')}\n`);
  };
  const headLine = (r: SuperviseResult): void => {
    // With --json, stdout holds only JSON lines: the head goes to stderr.
    (json ? process.stderr : process.stdout).write(`${M.head(dir, r.head.size, r.head.root, r.head.verified)}\n`);
    if (r.refusalLinesSkipped > 0) process.stderr.write(`dataport: warning: ${M.refusalLinesSkipped(r.refusalLinesSkipped)}\n`);
  };

  if (!watchMode) {
    const r = await evaluate();
    headLine(r);
    emit(r.alerts);
    const c = counts(r.alerts);
    if (json) process.stdout.write(`${JSON.stringify({ ok: c.errors === 0, alerts: r.alerts.length, errors: c.errors, warnings: c.warnings, head: r.head })}\n`);
    else process.stdout.write(`${r.alerts.length === 0 ? M.noAlerts() : M.counts(c.errors, c.warnings, c.infos)}\n`);
    return c.errors > 0 ? 2 : 0;
  }

  // --watch: evaluate, print what is new, wait for a change (fs.watch) or the interval, repeat.
  const watched = [join(dir, LEDGER_FILES.log), join(dir, LEDGER_FILES.checkpoint), ...listenerLogs];
  const seen = new Set<string>();
  let errors = 0;
  let wake: (() => void) | undefined;
  const poke = (): void => wake?.();
  const watchers: FSWatcher[] = [];
  for (const p of [dir, ...listenerLogs]) {
    try {
      watchers.push(watch(p, { persistent: false }, poke));
    } catch {
      // The interval covers a path fs.watch cannot watch (e.g. a network file system).
    }
  }
  cliSignal.addEventListener('abort', poke, { once: true });
  process.stderr.write(`${M.watching(dir, intervalS)}\n`);
  let last = '';
  let first = true;
  try {
    while (!cliSignal.aborted) {
      const fp = await fingerprint(watched);
      if (fp !== last) {
        last = fp;
        const r = await evaluate();
        if (first) headLine(r);
        first = false;
        const fresh = r.alerts.filter((a) => !seen.has(alertId(a)));
        for (const a of fresh) seen.add(alertId(a));
        errors += counts(fresh).errors;
        emit(fresh);
      }
      if (cliSignal.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalS * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    for (const w of watchers) w.close();
    cliSignal.removeEventListener('abort', poke);
  }
  if (json) process.stdout.write(`${JSON.stringify({ ok: errors === 0, alerts: seen.size, errors, interrupted: true })}\n`);
  return errors > 0 ? 2 : 0;
}
