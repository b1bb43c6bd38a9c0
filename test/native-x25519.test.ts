import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { x25519 } from '@noble/curves/ed25519.js';
import { loadNativeX25519 } from '../src/platform/node.js';
import { createGroup } from '../src/crypto/index.js';
import { InvalidPointError } from '../src/errors.js';
import { LOW_ORDER_U, P } from '../src/crypto/constants.js';
import { numberToBytesLE } from '../src/crypto/field-ref.js';
import { toHex } from '../src/utils/bytes.js';

// The native addon (native/x25519.c, built by scripts/build-native.mjs) against @noble/curves,
// through both of its kernels: the 64-bit one and, on CPUs with AVX-512 IFMA, the 8-way one.
const native = loadNativeX25519();
const root = fileURLToPath(new URL('..', import.meta.url));

function reference(scalar: Uint8Array, points: Uint8Array): Uint8Array {
  const out = new Uint8Array(points.length);
  for (let i = 0; i < points.length; i += 32) {
    try {
      out.set(x25519.scalarMult(scalar, points.subarray(i, i + 32)), i);
    } catch {
      // noble refuses an all-zero result; the addon writes zeros and reports the index.
    }
  }
  return out;
}

/** u-coordinates as a peer may send them: canonical, >= p (non-canonical), with bit 255 set. */
const uArb = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.bigInt({ min: P, max: 2n ** 255n - 1n }).map((u) => numberToBytesLE(u)),
  fc.constantFrom(...LOW_ORDER_U).map((u) => numberToBytesLE(u)),
);

describe.skipIf(native === undefined)('native X25519 addon', () => {
  const m = native!;
  const kernels = [undefined, ...m.kernels] as const; // the default, then each kernel forced

  it('is required where CI says so', () => {
    if (process.env['DATAPORT_REQUIRE_NATIVE'] === '1') expect(m.kernel).toMatch(/^(ifma8|avx2x4|portable)$/);
    expect(m.kernels[0]).toBe(m.kernel);
    expect(m.kernels.at(-1)).toBe('portable');
  });

  it.each(kernels)('equals @noble/curves on random batches of every size around the kernel widths (kernel %s)', (kernel) => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(uArb, { minLength: 0, maxLength: 80 }),
        (scalar, us) => {
          const points = new Uint8Array(us.length * 32);
          us.forEach((u, i) => points.set(u, 32 * i));
          const out = new Uint8Array(points.length);
          const bad = m.x25519Batch(scalar, points, out, kernel);
          const want = reference(scalar, points);
          expect(toHex(out)).toBe(toHex(want));
          let firstZero = -1;
          for (let i = 0; i < want.length && firstZero < 0; i += 32) if (want.subarray(i, i + 32).every((b) => b === 0)) firstZero = i / 32;
          expect(bad).toBe(firstZero);
        },
      ),
      { numRuns: 60 },
    );
  });

  it.each(kernels)('reports the first low-order point of a large batch without spoiling the others (kernel %s)', (kernel) => {
    const scalar = crypto.getRandomValues(new Uint8Array(32));
    const n = 1000;
    const points = crypto.getRandomValues(new Uint8Array(n * 32));
    points.set(numberToBytesLE(LOW_ORDER_U[2]!), 32 * 517);
    points.set(numberToBytesLE(P + 1n), 32 * 900);
    const out = new Uint8Array(points.length);
    expect(m.x25519Batch(scalar, points, out, kernel)).toBe(517);
    expect(toHex(out)).toBe(toHex(reference(scalar, points)));
  });

  it('works in place (out === points)', () => {
    const scalar = crypto.getRandomValues(new Uint8Array(32));
    const points = crypto.getRandomValues(new Uint8Array(70 * 32));
    const want = reference(scalar, points);
    expect(m.x25519Batch(scalar, points, points)).toBe(-1);
    expect(toHex(points)).toBe(toHex(want));
  });

  it('refuses bad arguments with TypeError / RangeError, never a crash', () => {
    const k = new Uint8Array(32);
    const p = new Uint8Array(64);
    const call = (...a: unknown[]) => () => (m.x25519Batch as (...x: unknown[]) => number)(...a);
    expect(call(k, p)).toThrow(TypeError);
    expect(call('k', p, new Uint8Array(64))).toThrow(TypeError);
    expect(call(k, new Uint16Array(32), new Uint8Array(64))).toThrow(TypeError);
    expect(call(k, p, new Uint8Array(64), 1)).toThrow(TypeError);
    expect(call(k, p, new Uint8Array(64), 'sse9')).toThrow(RangeError);
    expect(call(new Uint8Array(31), p, new Uint8Array(64))).toThrow(RangeError);
    expect(call(k, new Uint8Array(33), new Uint8Array(33))).toThrow(RangeError);
    expect(call(k, p, new Uint8Array(32))).toThrow(RangeError);
    const shared = new Uint8Array(160);
    expect(call(k, shared.subarray(0, 64), shared.subarray(32, 96))).toThrow(RangeError);
    expect(call(shared.subarray(32, 64), shared.subarray(0, 64), new Uint8Array(64))).toThrow(RangeError);
    expect(call(shared.subarray(0, 32), new Uint8Array(64), shared.subarray(16, 80))).toThrow(RangeError);
    expect(m.x25519Batch(k, new Uint8Array(0), new Uint8Array(0))).toBe(-1);
  });

  it('backs the native group, which raises InvalidPointError for a low-order point', async () => {
    const g = await createGroup('native');
    const scalar = crypto.getRandomValues(new Uint8Array(32));
    const points = crypto.getRandomValues(new Uint8Array(600 * 32));
    expect(toHex(await g.multiplyBatch(scalar, points))).toBe(toHex(reference(scalar, points)));
    points.set(numberToBytesLE(0n), 32 * 599);
    await expect(g.multiplyBatch(scalar, points)).rejects.toBeInstanceOf(InvalidPointError);
  });
});

describe('native addon switches', () => {
  it('DATAPORT_NATIVE=0 leaves it out of the available backends', async () => {
    vi.stubEnv('DATAPORT_NATIVE', '0');
    vi.resetModules();
    try {
      const fresh = (await import('../src/crypto/index.js')) as typeof import('../src/crypto/index.js');
      expect(await fresh.availableBackends()).toEqual(['node', 'webcrypto', 'noble']);
      const platform = (await import('../src/platform/node.js')) as typeof import('../src/platform/node.js');
      expect(platform.nativeX25519Absence()).toBe('DATAPORT_NATIVE=0');
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });

  it('the build script skips cleanly (exit 0, one line) when told to or when there is no compiler', () => {
    const skipped = spawnSync(process.execPath, ['scripts/build-native.mjs'], { cwd: root, env: { ...process.env, DATAPORT_SKIP_NATIVE: '1' }, encoding: 'utf8' });
    expect(skipped.status).toBe(0);
    expect(skipped.stderr).toMatch(/not built \(DATAPORT_SKIP_NATIVE=1\)/);
    const noCc = spawnSync(process.execPath, ['scripts/build-native.mjs'], { cwd: root, env: { ...process.env, CC: '/nonexistent/cc' }, encoding: 'utf8' });
    expect(noCc.status).toBe(0);
    expect(noCc.stderr).toMatch(/not built \(no C compiler/);
    // --probe answers without building: 1 where the build would be skipped, 0 where it would run.
    const probeNoCc = spawnSync(process.execPath, ['scripts/build-native.mjs', '--probe'], { cwd: root, env: { ...process.env, CC: '/nonexistent/cc' }, encoding: 'utf8' });
    expect(probeNoCc.status).toBe(1);
    expect(probeNoCc.stderr).toMatch(/not built \(no C compiler/);
    if (native !== undefined) {
      const probe = spawnSync(process.execPath, ['scripts/build-native.mjs', '--probe'], { cwd: root, encoding: 'utf8' });
      expect(probe.status).toBe(0);
      expect(probe.stderr).toBe('');
    }
  });
});

describe.skipIf(native === undefined)('DATAPORT_NATIVE_KERNEL', () => {
  it('makes the named kernel the default, and leaves the addon out when the CPU does not offer it', async () => {
    try {
      for (const k of native!.kernels) {
        vi.stubEnv('DATAPORT_NATIVE_KERNEL', k);
        vi.resetModules();
        const fresh = (await import('../src/platform/node.js')) as typeof import('../src/platform/node.js');
        expect(fresh.loadNativeX25519()?.kernel).toBe(k);
        const scalar = crypto.getRandomValues(new Uint8Array(32));
        const points = crypto.getRandomValues(new Uint8Array(20 * 32));
        const out = new Uint8Array(points.length);
        expect(fresh.loadNativeX25519()!.x25519Batch(scalar, points, out)).toBe(-1);
        expect(toHex(out)).toBe(toHex(reference(scalar, points)));
      }
      vi.stubEnv('DATAPORT_NATIVE_KERNEL', 'no-such-kernel');
      vi.resetModules();
      const fresh = (await import('../src/crypto/index.js')) as typeof import('../src/crypto/index.js');
      expect(await fresh.availableBackends()).toEqual(['node', 'webcrypto', 'noble']);
      const platform = (await import('../src/platform/node.js')) as typeof import('../src/platform/node.js');
      expect(platform.nativeX25519Absence()).toMatch(/^DATAPORT_NATIVE_KERNEL=no-such-kernel is not a kernel this CPU and build offer \(.*portable\)$/);
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});
