import { UnsupportedError } from '../../errors.js';

/** Placeholder until the 'ledger' command lands; fails loudly rather than pretending to work. */
export async function run(_argv: string[]): Promise<number> {
  throw new UnsupportedError("the 'ledger' command is not implemented yet");
}
