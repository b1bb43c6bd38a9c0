#!/usr/bin/env node
/**
 * The `dataport` command. Each subcommand lives in `commands/<name>.ts` and exports
 * `run(argv: string[]): Promise<number>` (the exit code). Errors reach the user as one line.
 * @module
 */
import { DataportError } from '../errors.js';

const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number> }>> = {
  keygen: () => import('./commands/keygen.js'),
  psi: () => import('./commands/psi.js'),
  'psi-sum': () => import('./commands/psi-sum.js'),
  aggregate: () => import('./commands/aggregate.js'),
  ledger: () => import('./commands/ledger.js'),
};

const USAGE = `usage: dataport <command> [options]

commands:
  keygen      create an Ed25519 identity (--out DIR)
  psi         private set intersection with a peer
  psi-sum     count, sum and mean over a private intersection
  aggregate   multi-party homomorphic aggregation (serve | analyst | provide)
  ledger      verify | export | prove | consistency | report

Run 'dataport <command> --help' for the options of one command.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    console.log('dataport 0.1.0');
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`dataport: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  const mod = await load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // One actionable line; never a stack trace (set DATAPORT_DEBUG=1 to see one).
    const msg = err instanceof DataportError || err instanceof TypeError || err instanceof RangeError ? err.message : String((err as Error)?.message ?? err);
    console.error(`dataport: ${msg}`);
    if (process.env.DATAPORT_DEBUG) console.error(err);
    process.exitCode = 1;
  },
);
