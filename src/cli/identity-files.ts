/**
 * The key files the commands read: this party's `identity.key` and a peer's `identity.pub`
 * (formats in src/session/identity.ts). Shared by `dataport psi` and `dataport psi-sum`.
 * @module
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { FILE_MESSAGES as M } from './messages.js';
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
    throw new InputError(M.cannotRead(what, path, err));
  };
  const st = await stat(path).catch(fail);
  if (!st.isFile()) throw new InputError(M.notRegular(what, path));
  if (st.size > maxBytes) throw new InputError(M.tooLarge(what, path, maxBytes));
  return readFile(path, 'utf8').catch(fail);
}

/** Loads `DIR/identity.key`, warning when other users can read it; the seed is wiped after use. */
export async function loadIdentity(dir: string, reporter: Reporter): Promise<Identity> {
  const path = join(dir, 'identity.key');
  const text = await readTextFile(path, 'identity', 4096).catch((err: unknown) => {
    if (err instanceof InputError && /ENOENT/.test(err.message)) {
      throw new InputError(M.noIdentity(dir));
    }
    throw err;
  });
  const st = await stat(path);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    reporter.warn(M.identityReadableByOthers(path, st.mode));
  }
  let secret: Uint8Array;
  try {
    secret = parseSecretKeyFile(text);
  } catch (err) {
    throw new InputError(M.badKeyFile(path, (err as Error).message));
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
    throw new InputError(M.badPeerKey(path, (err as Error).message));
  }
}

/** A public key and the name an operator gave it (file or folder name). */
export interface NamedKey {
  name: string;
  key: Uint8Array;
  /** The file it was read from. */
  file: string;
}

/**
 * Reads a folder of peers' public keys, named: flat `NAME.pub` files and keygen folders
 * `NAME/identity.pub` (name = folder name); other entries are ignored. Refuses, with one line
 * naming the files, a name given twice (`a.pub` and `a/identity.pub`) or one key under two names;
 * at most `maxKeys` keys. `option` names the flag in messages (e.g. `--provider-keys`).
 *
 * @example
 * ```ts
 * const keys = await loadNamedKeys('keys/providers', '--provider-keys', 256); // [{ name: 'hospital-a', key, file }]
 * ```
 */
export async function loadNamedKeys(dir: string, option: string, maxKeys: number): Promise<NamedKey[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new InputError(M.keysDirUnreadable(option, dir, err));
  }
  const files = new Map<string, string>();
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    let name: string | undefined;
    let file: string | undefined;
    if (e.isFile() && e.name.endsWith('.pub') && e.name.length > 4) {
      name = e.name.slice(0, -4);
      file = join(dir, e.name);
    } else if (e.isDirectory()) {
      const candidate = join(dir, e.name, 'identity.pub');
      try {
        if (!(await stat(candidate)).isFile()) continue;
      } catch {
        continue; // not a keygen folder
      }
      name = e.name;
      file = candidate;
    }
    if (name === undefined || file === undefined) continue;
    const other = files.get(name);
    if (other !== undefined) throw new InputError(M.keyNameTwice(option, dir, name, other, file));
    files.set(name, file);
    if (files.size > maxKeys) throw new InputError(M.tooManyKeys(option, dir, maxKeys));
  }
  if (files.size === 0) throw new InputError(M.noKeys(option, dir));
  const out: NamedKey[] = [];
  const seen = new Map<string, NamedKey>();
  for (const [name, file] of files) {
    const key = await loadPeerKey(file);
    const hex = Buffer.from(key).toString('hex');
    const dup = seen.get(hex);
    if (dup !== undefined) throw new InputError(M.sameKeyTwice(option, dir, dup, { name, file }));
    const nk = { name, key, file };
    seen.set(hex, nk);
    out.push(nk);
  }
  return out;
}
