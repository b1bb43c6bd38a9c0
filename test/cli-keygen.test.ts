import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parsePublicKeyFile, parseSecretKeyFile, identityFromSecretKey } from '../src/session/identity.js';
import { assertBuilt, expectOneLineError, killAll, runCli, tempDir } from './cli-helpers.js';
import { loadNativeX25519 } from '../src/platform/node.js';

const tmp = tempDir('dataport-keygen-');
beforeAll(assertBuilt);
afterEach(killAll);
afterAll(() => tmp.cleanup());

describe('dataport --version', () => {
  it('names the version and the X25519 and SM2 in use (the native addon and its kernel, or the fallback)', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    const native = loadNativeX25519();
    const absent = 'the native addon is not built (node scripts/build-native.mjs in the package)';
    const sm2 = native ? (native.sm2Kernels.includes(native.kernel as never) ? native.kernel : native.sm2Kernels[0]) : undefined;
    expect(r.stdout).toBe(
      `dataport 0.1.0\n${native ? `x25519: native addon (${native.kernel} kernel)` : `x25519: node:crypto (OpenSSL); ${absent}`}\n` +
        `${sm2 ? `sm2: native addon (${sm2} kernel)` : `sm2: portable (JavaScript); ${absent}`}\n`,
    );
  });
});

describe('dataport keygen', () => {
  it('writes a 0600 secret key and the matching public key, and prints the public key', async () => {
    const dir = join(tmp.dir, 'a', 'nested');
    const r = await runCli(['keygen', '--out', dir]);
    expect(r.code).toBe(0);
    const keyText = readFileSync(join(dir, 'identity.key'), 'utf8');
    const pubText = readFileSync(join(dir, 'identity.pub'), 'utf8');
    expect(statSync(join(dir, 'identity.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'identity.pub')).mode & 0o777).toBe(0o644);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const pub = parsePublicKeyFile(pubText);
    expect(identityFromSecretKey(parseSecretKeyFile(keyText)).publicKey).toEqual(pub);
    expect(r.stdout).toBe(pubText);
    // The secret never reaches the terminal.
    expect(r.stdout + r.stderr).not.toContain(keyText.split(' ')[1]!.trim());
  });

  it('refuses to overwrite an existing key unless --force', async () => {
    const dir = join(tmp.dir, 'b');
    expect((await runCli(['keygen', '--out', dir])).code).toBe(0);
    const before = readFileSync(join(dir, 'identity.key'), 'utf8');
    const again = await runCli(['keygen', '--out', dir]);
    expect(again.code).toBe(1);
    expectOneLineError(again.stderr, /identity\.key already exists; refusing to overwrite.*--force/);
    expect(readFileSync(join(dir, 'identity.key'), 'utf8')).toBe(before);

    const forced = await runCli(['keygen', '--out', dir, '--force']);
    expect(forced.code).toBe(0);
    const after = readFileSync(join(dir, 'identity.key'), 'utf8');
    expect(after).not.toBe(before);
    expect(statSync(join(dir, 'identity.key')).mode & 0o777).toBe(0o600);
    expect(identityFromSecretKey(parseSecretKeyFile(after)).publicKey).toEqual(
      parsePublicKeyFile(readFileSync(join(dir, 'identity.pub'), 'utf8')),
    );
  });

  it('fails with one line on a missing --out, an unknown option, and an --out that is a file', async () => {
    const r1 = await runCli(['keygen']);
    expect(r1.code).toBe(1);
    expectOneLineError(r1.stderr, /missing required option --out/);
    const r2 = await runCli(['keygen', '--out', tmp.dir, '--frobnicate']);
    expect(r2.code).toBe(1);
    expectOneLineError(r2.stderr, /unknown option --frobnicate/);
    const file = join(tmp.dir, 'plain-file');
    writeFileSync(file, 'x');
    const r3 = await runCli(['keygen', '--out', file]);
    expect(r3.code).toBe(1);
    expectOneLineError(r3.stderr, /plain-file/);
  });

  it('unknown commands exit 2 with the usage', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
