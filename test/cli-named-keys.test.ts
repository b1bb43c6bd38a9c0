/**
 * Issue 12 item 6: `--provider-keys DIR` wanted flat NAME.pub files, but `keygen` writes
 * DIR/identity.pub. loadNamedKeys reads both (name = file or folder name) and refuses ambiguity.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { InputError } from '../src/errors.js';
import { loadNamedKeys } from '../src/cli/identity-files.js';
import { formatPublicKeyFile, generateIdentity } from '../src/session/identity.js';
import { assertBuilt, expectOneLineError, runCli, tempDir } from './cli-helpers.js';

vi.setConfig({ testTimeout: 60_000 });
const tmp = tempDir('dataport-named-keys-');
afterAll(() => tmp.cleanup());
const p = (...parts: string[]) => join(tmp.dir, ...parts);

function keyFile(path: string): Uint8Array {
  const id = generateIdentity();
  writeFileSync(path, formatPublicKeyFile(id.publicKey));
  return id.publicKey;
}

describe('loadNamedKeys', () => {
  it('reads flat NAME.pub files and keygen folders NAME/identity.pub, named, ignoring the rest', async () => {
    mkdirSync(p('mixed', 'hospital-b'), { recursive: true });
    mkdirSync(p('mixed', 'notes'), { recursive: true });
    const a = keyFile(p('mixed', 'hospital-a.pub'));
    const b = keyFile(p('mixed', 'hospital-b', 'identity.pub'));
    writeFileSync(p('mixed', 'hospital-b', 'identity.key'), 'secret, never read');
    writeFileSync(p('mixed', 'README.txt'), 'not a key');
    const keys = await loadNamedKeys(p('mixed'), '--provider-keys', 16);
    expect(keys.map((k) => k.name)).toEqual(['hospital-a', 'hospital-b']);
    expect(keys[0]!.key).toEqual(a);
    expect(keys[1]!.key).toEqual(b);
  });

  it('refuses a name given twice and one key under two names, naming the files', async () => {
    mkdirSync(p('twice', 'a'), { recursive: true });
    keyFile(p('twice', 'a.pub'));
    keyFile(p('twice', 'a', 'identity.pub'));
    await expect(loadNamedKeys(p('twice'), '--provider-keys', 16)).rejects.toThrow(/the name 'a' is given twice \(.*a\/identity\.pub and .*a\.pub\)/);
    mkdirSync(p('dup'), { recursive: true });
    const id = generateIdentity();
    writeFileSync(p('dup', 'x.pub'), formatPublicKeyFile(id.publicKey));
    writeFileSync(p('dup', 'y.pub'), formatPublicKeyFile(id.publicKey));
    await expect(loadNamedKeys(p('dup'), '--keys', 16)).rejects.toThrow(/--keys .*the same key is given as 'x' .* and 'y'/);
  });

  it('refuses an empty folder and too many keys', async () => {
    mkdirSync(p('empty'), { recursive: true });
    await expect(loadNamedKeys(p('empty'), '--provider-keys', 16)).rejects.toBeInstanceOf(InputError);
    mkdirSync(p('many'), { recursive: true });
    for (let i = 0; i < 3; i++) keyFile(p('many', `k${i}.pub`));
    await expect(loadNamedKeys(p('many'), '--provider-keys', 2)).rejects.toThrow(/more than 2 keys/);
  });

  it('aggregate serve refuses an ambiguous --provider-keys folder with one line, before listening', async () => {
    assertBuilt();
    mkdirSync(p('op'), { recursive: true });
    const k = await runCli(['keygen', '--out', p('op')]);
    expect(k.code).toBe(0);
    const r = await runCli(['aggregate', 'serve', '--listen', '127.0.0.1:0', '--providers', '2', '--identity', p('op'),
      '--analyst-key', p('mixed', 'hospital-a.pub'), '--provider-keys', p('twice')]);
    expect(r.code).not.toBe(0);
    expectOneLineError(r.stderr, /--provider-keys .*the name 'a' is given twice/);
  });
});
