import { UnsupportedError } from '../../errors.js';

/** Placeholder until the 'aggregate' command lands; fails loudly rather than pretending to work. */
export async function run(_argv: string[]): Promise<number> {
  throw new UnsupportedError("the 'aggregate' command is not implemented yet");
}
