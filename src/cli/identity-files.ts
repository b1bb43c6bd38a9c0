/**
 * The key files the commands read: this party's `identity.key` and a peer's `identity.pub`
 * (formats in src/session/identity.ts). Shared by `dataport psi` and `dataport psi-sum`.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { fsErrorText } from './files.js';
import { identityFromSecretKey, parsePublicKeyFile, parseSecretKeyFile, type Identity } from '../session/identity.js';
import type { Reporter } from './summary.js';

/**
 * The CLI's one checked reader of small files (identities, keys, queries, policies): a regular file
 * of at most `maxBytes`, read as UTF-8; anything else — missing, unreadable (stat works without read
 * permission, so the read itself is checked too), a folder, too large — is an `InputError` naming
 * `what` and the file in one line.
 */
export async function readTextFile(path: string, what: string, maxBytes = 1 << 16): Promise<string> {
  const fail = (err: unknown): never => {
    throw new InputError(`${what} ${path}: cannot read (${fsErrorText(err)})`);
  };
  const st = await stat(path).catch(fail);
  if (!st.isFile()) throw new InputError(`${what} ${path}: not a regular file`);
  if (st.size > maxBytes) throw new InputError(`${what} ${path}: larger than ${maxBytes} bytes`);
  return readFile(path, 'utf8').catch(fail);
}

/** Loads `DIR/identity.key`, warning when other users can read it; the seed is wiped after use. */
export async function loadIdentity(dir: string, reporter: Reporter): Promise<Identity> {
  const path = join(dir, 'identity.key');
  const text = await readTextFile(path, 'identity', 4096).catch((err: unknown) => {
    if (err instanceof InputError && /ENOENT/.test(err.message)) {
      throw new InputError(`no identity in ${dir} (missing identity.key; create one with 'dataport keygen --out ${dir}')`);
    }
    throw err;
  });
  const st = await stat(path);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    reporter.warn(`${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  }
  let secret: Uint8Array;
  try {
    secret = parseSecretKeyFile(text);
  } catch (err) {
    throw new InputError(`${path}: ${(err as Error).message}`);
  }
  const id = identityFromSecretKey(secret);
  secret.fill(0);
  return id;
}

/** Loads a peer's `identity.pub`. */
export async function loadPeerKey(path: string): Promise<Uint8Array> {
  const text = await readTextFile(path, 'peer key', 4096);
  try {
    return parsePublicKeyFile(text);
  } catch (err) {
    throw new InputError(`${path}: ${(err as Error).message} (expected a peer's identity.pub)`);
  }
}
