/**
 * `dataport keygen --out DIR [--force]`: creates an Ed25519 identity (DESIGN.md §6).
 *
 * Writes `DIR/identity.key` (the secret seed, mode 0600; an existing key is never replaced unless
 * `--force`) and `DIR/identity.pub` (hand it to peers, who pin it with `--peer-key`), and prints
 * the public key line on stdout.
 * @module
 */
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../../errors.js';
import { formatPublicKeyFile, formatSecretKeyFile, generateIdentity } from '../../session/identity.js';
import { parseCommandArgs, stringOption } from '../args.js';
import { writePublicFile, writeSecretFile } from '../files.js';
import { FILE_MESSAGES, KEYGEN_MESSAGES, keyExistsMessage } from '../messages.js';

const HELP = `usage: dataport keygen --out DIR [--force]

Creates an Ed25519 identity:
  DIR/identity.key   the secret key (mode 0600) - never share it
  DIR/identity.pub   the public key - give it to your peers (they pass it as --peer-key)
and prints the public key.

options:
  --out DIR   directory to write to (created with mode 0700 if missing)
  --force     replace an existing identity.key (the old identity is lost)
  --help      this text`;

/**
 * Runs `dataport keygen`; returns the exit code.
 * @example
 * ```ts
 * process.exitCode = await run(['--out', 'keys/pharma']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs('keygen', argv, {
    out: { type: 'string' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const dir = stringOption(values, 'out', true);
  const force = values.force === true;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new InputError(FILE_MESSAGES.cannotCreateDirectory(dir, err));
  }
  if (!(await stat(dir)).isDirectory()) throw new InputError(FILE_MESSAGES.notADirectory('', dir));
  const keyPath = join(dir, 'identity.key');
  const pubPath = join(dir, 'identity.pub');
  if (!force && (await stat(keyPath).catch(() => undefined))) {
    throw new InputError(keyExistsMessage(keyPath));
  }
  const id = generateIdentity();
  try {
    await writeSecretFile(keyPath, formatSecretKeyFile(id.secretKey), force);
  } finally {
    id.secretKey.fill(0);
  }
  const pub = formatPublicKeyFile(id.publicKey);
  await writePublicFile(pubPath, pub);
  process.stderr.write(`${KEYGEN_MESSAGES.wrote(keyPath, pubPath)}\n`);
  process.stdout.write(pub);
  return 0;
}
