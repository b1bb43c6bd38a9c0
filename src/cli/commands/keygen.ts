import { UnsupportedError } from '../../errors.js';

/** Placeholder until the 'keygen' command lands; fails loudly rather than pretending to work. */
export async function run(_argv: string[]): Promise<number> {
  throw new UnsupportedError("the 'keygen' command is not implemented yet");
}
