#!/usr/bin/env node
/**
 * The `dataport` command. Each subcommand lives in `commands/<name>.ts` and exports
 * `run(argv: string[]): Promise<number>` (the exit code). Errors reach the user as one line
 * `dataport: <message>` and exit code 1; a stack trace only with `DATAPORT_DEBUG=1`.
 *
 * The process exits as soon as the command has finished and its output is flushed, so a handle
 * left open by a failed peer (a socket, a timer, a worker) can never make the command hang.
 * @module
 */
import { DataportError } from '../errors.js';
import { loadNativeX25519, nativeX25519Absence } from '../platform/node.js';
import { nativeSm2Kernel } from '../crypto/sm2/native.js';
import { cliSignal, interrupt } from './signals.js';
import { failureSummary } from './summary.js';

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  keygen: () => import('./commands/keygen.js'),
  psi: () => import('./commands/psi.js'),
  'psi-sum': () => import('./commands/psi-sum.js'),
  aggregate: () => import('./commands/aggregate.js'),
  ledger: () => import('./commands/ledger.js'),
  'ppca-psi': () => import('./commands/ppca-psi.js'),
  job: () => import('./commands/job.js'),
  product: () => import('./commands/product.js'),
  release: () => import('./commands/release.js'),
  trace: () => import('./commands/trace.js'),
  supervise: () => import('./commands/supervise.js'),
  dashboard: () => import('./commands/dashboard.js'),
};

const USAGE = `usage: dataport <command> [options]

commands:
  keygen      create an Ed25519 identity (--out DIR)
  psi         private set intersection with a peer
  psi-sum     count, sum and mean over a private intersection
  aggregate   multi-party homomorphic aggregation (serve | analyst | provide)
  ledger      verify | checkpoint | cross-check | export | prove | consistency | report
  ppca-psi    PSI with another platform (SecretFlow) over the PPCA 9-2023 protocol
  job         bucketed, resumable PSI jobs (serve | submit | worker | status)
  product     data products: publish a key index once, answer many small queries (unbalanced PSI)
  release     deliver columns of a CSV file to one recipient, fingerprinted for that recipient
  trace       name the release and recipient a leaked file came from (fingerprints)
  supervise   alerts from the ledger: differencing, probing, rate, budgets, integrity, trace hits
  dashboard   the operator's read-only web page over ledgers (usage, billing, budgets, alerts)

Run 'dataport <command> --help' for the options of one command.
Exit codes: 0 success, 1 error (one line on stderr), 2 unknown command, 130 interrupted.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? console.error : console.log)(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    console.log('dataport 0.1.0');
    // Which X25519 PSI will use here: the native addon (and its kernel) or OpenSSL.
    const native = loadNativeX25519();
    console.log(native ? `x25519: native addon (${native.kernel} kernel)` : `x25519: node:crypto (OpenSSL); ${nativeX25519Absence()}`);
    // And which SM2 multiplication the national-curve suites use: the same addon, or portable JavaScript.
    const sm2 = nativeSm2Kernel();
    console.log(sm2 ? `sm2: native addon (${sm2} kernel)` : `sm2: portable (JavaScript); ${nativeX25519Absence()}`);
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    console.error(`dataport: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  const mod = await load();
  return mod.run(rest);
}

/** One line, whatever the error: messages of our typed errors are written for users. */
function describe(err: unknown): string {
  let msg: string;
  if (err instanceof DataportError || err instanceof TypeError || err instanceof RangeError) msg = err.message;
  else if (err instanceof Error) msg = `internal error: ${err.message}`;
  else msg = `internal error: ${String(err)}`;
  return msg.replace(/\s*\n\s*/g, ' ').trim() || 'failed';
}

function flushAndExit(code: number): void {
  // Exit only once stdout and stderr have drained (they are async when piped).
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

process.on('SIGINT', () => {
  // First Ctrl-C: cancel the running command (it ends its session cleanly); second: exit now.
  if (interrupt()) {
    process.stderr.write('dataport: interrupted\n');
    flushAndExit(130);
  }
});
process.on('SIGTERM', () => {
  interrupt();
  process.stderr.write('dataport: terminated\n');
  flushAndExit(143);
});

main(process.argv.slice(2)).then(
  (code) => flushAndExit(code),
  (err: unknown) => {
    if (cliSignal.aborted) {
      // The command ended because of Ctrl-C / SIGTERM (its own error is a consequence).
      process.stderr.write('dataport: interrupted\n');
      flushAndExit(130);
      return;
    }
    const line = describe(err);
    console.error(`dataport: ${line}`);
    // With --json, scripts also get the failure as the last line of stdout.
    if (process.argv.includes('--json')) {
      const code = err instanceof DataportError ? err.code : err instanceof TypeError || err instanceof RangeError ? 'ERR_INPUT' : 'ERR_INTERNAL';
      process.stdout.write(`${JSON.stringify({ ok: false, code, error: line, ...failureSummary(err) })}\n`);
    }
    if (process.env.DATAPORT_DEBUG) console.error(err);
    flushAndExit(1);
  },
);
