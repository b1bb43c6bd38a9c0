import { UnsupportedError } from '../../errors.js';

/** Placeholder until the 'psi' command lands; fails loudly rather than pretending to work. */
export async function run(_argv: string[]): Promise<number> {
  throw new UnsupportedError("the 'psi' command is not implemented yet");
}
