/**
 * Node.js implementations of the few platform-specific hooks. The browser build replaces this file
 * with `browser.ts` (see tsup.config.ts); both export the same names and types.
 * @module
 */
import * as nodeCrypto from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, parentPort } from 'node:worker_threads';
import type { Endpoint } from 'comlink';
// @ts-expect-error comlink 4.4.2 ships no .d.mts for its ESM Node adapter (the types live in
// dist/umd/node-adapter.d.ts, which NodeNext resolution does not pair with the .mjs); typed below.
import nodeEndpointUntyped from 'comlink/dist/esm/node-adapter.mjs';
import type { WorkerHandle } from '../workers/types.js';
import { NATIVE_X25519_ABI, type NativeX25519 } from '../crypto/backends/types.js';

const nodeEndpoint = nodeEndpointUntyped as (port: import('node:worker_threads').Worker | import('node:worker_threads').MessagePort) => Endpoint;

/** The `node:crypto` module where it exists (Node), `undefined` in browsers. */
export function getNodeCrypto(): typeof import('node:crypto') | undefined {
  return nodeCrypto;
}

let nativeX25519: NativeX25519 | null | undefined;
/** Why {@link loadNativeX25519} found no addon (set by it). */
let nativeAbsence: string | undefined;
const REBUILD = 'node scripts/build-native.mjs in the package';

/** Applies DATAPORT_NATIVE_KERNEL: the addon with that kernel as its default, or null if not offered. */
function withKernel(mod: NativeX25519): NativeX25519 | null {
  const forced = process.env['DATAPORT_NATIVE_KERNEL'];
  if (forced === undefined || forced === '') return mod;
  const kernel = mod.kernels.find((k) => k === forced);
  if (kernel === undefined) {
    nativeAbsence = `DATAPORT_NATIVE_KERNEL=${forced} is not a kernel this CPU and build offer (${mod.kernels.join(', ')})`;
    return null;
  }
  return {
    abi: mod.abi,
    kernel,
    kernels: mod.kernels,
    x25519Batch: (scalar, points, out, k) => mod.x25519Batch(scalar, points, out, k ?? kernel),
    // SM2 follows the forced kernel where it has one of that name (ifma8, portable).
    sm2MultiplyBatch: (scalar, points, out, k) => mod.sm2MultiplyBatch(scalar, points, out, k ?? mod.sm2Kernels.find((s) => s === kernel)),
    sm2Kernels: mod.sm2Kernels,
    ...(mod.sm2LiftX ? { sm2LiftX: mod.sm2LiftX } : {}),
  };
}

/**
 * dataport's native X25519 addon (built by scripts/build-native.mjs at install into
 * `build/dataport_x25519.node` of the package), or `undefined` when it was not built, cannot be
 * loaded, has another interface version, or `DATAPORT_NATIVE=0` is set. `DATAPORT_NATIVE_KERNEL=<name>`
 * (`ifma8`, `avx2x4`, `portable`) makes it use that kernel (for SM2 too, where it has one of that
 * name), or leaves it out when this CPU does not offer it (for benchmarks and for ruling a kernel out). Looked up once per thread,
 * from this file's location upwards (the package root is at most four levels up in both `src/` and
 * `dist/`).
 */
export function loadNativeX25519(): NativeX25519 | undefined {
  if (nativeX25519 !== undefined) return nativeX25519 ?? undefined;
  nativeX25519 = null;
  nativeAbsence = `the native addon is not built (${REBUILD})`;
  if (process.env['DATAPORT_NATIVE'] === '0') {
    nativeAbsence = 'DATAPORT_NATIVE=0';
    return undefined;
  }
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = path.dirname(dir)) {
    const file = path.join(dir, 'build', 'dataport_x25519.node');
    if (!fs.existsSync(path.join(dir, 'package.json')) || !fs.existsSync(file)) continue;
    try {
      const mod = createRequire(import.meta.url)(file) as Partial<NativeX25519>;
      if (mod.abi === NATIVE_X25519_ABI && typeof mod.x25519Batch === 'function' && typeof mod.sm2MultiplyBatch === 'function') nativeX25519 = withKernel(mod as NativeX25519);
      else nativeAbsence = `the native addon was built for another interface version (rebuild: ${REBUILD})`;
    } catch {
      // A build for another platform or a damaged file: fall back to node:crypto.
      nativeAbsence = `the native addon could not be loaded (rebuild: ${REBUILD})`;
    }
    break;
  }
  if (nativeX25519 !== null) nativeAbsence = undefined;
  return nativeX25519 ?? undefined;
}

/**
 * Why {@link loadNativeX25519} offers no addon in this thread (`DATAPORT_NATIVE=0`, not built, a
 * kernel the CPU lacks, …), or `undefined` when it does. Loads it first if that has not happened.
 */
export function nativeX25519Absence(): string | undefined {
  loadNativeX25519();
  return nativeAbsence;
}

/** Number of logical CPUs available to this process. */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Which runtime this build is for. */
export const PLATFORM: 'node' | 'browser' = 'node';

// --- Workers (src/workers/): the only platform-specific part of the worker pool. ---

/**
 * Spawns a `worker_threads` worker running the ES module at `url` and wraps it for the pool.
 *
 * @example
 * ```ts
 * const handle = spawnWorker(new URL('./workers/worker.js', import.meta.url), 'dataport-worker-0');
 * ```
 */
export function spawnWorker(url: URL, name: string): WorkerHandle {
  const limits = workerHeapLimits();
  const worker = new Worker(url, { name, execArgv: workerExecArgv(), ...(limits.maxOldGenerationSizeMb !== undefined ? { resourceLimits: limits } : {}) });
  let terminating = false;
  let exited = false;
  let exitListener: ((reason: string, cause?: unknown) => void) | undefined;
  let lastError: unknown;
  const report = (reason: string, cause?: unknown): void => {
    const l = exitListener;
    exitListener = undefined;
    if (!terminating) l?.(reason, cause);
  };
  // An uncaught error (or a module that fails to load) emits 'error' and then 'exit'; report the
  // error's code or name, not its message, which may echo data.
  worker.on('error', (err) => {
    lastError = err;
    const code = (err as { code?: unknown }).code;
    report(`uncaught ${typeof code === 'string' ? code : err instanceof Error ? err.name : 'error'}`, err);
  });
  worker.on('messageerror', (err) => {
    report('message could not be deserialized', err);
    void worker.terminate();
  });
  const exitedPromise = new Promise<void>((resolve) => {
    worker.once('exit', (code) => {
      exited = true;
      report(`exit code ${code}`, lastError);
      resolve();
    });
  });
  return {
    endpoint: nodeEndpoint(worker),
    onExit(listener) {
      exitListener = listener;
    },
    async terminate() {
      terminating = true;
      if (!exited) await worker.terminate();
      await exitedPromise;
    },
    setKeepAlive(keepAlive) {
      if (keepAlive) worker.ref();
      else worker.unref();
    },
  };
}

/** V8 heap-size flags: per process, refused in a worker's execArgv (ERR_WORKER_INVALID_EXEC_ARGV). */
const HEAP_FLAG = /^--max[-_](old[-_]space|semi[-_]space|young[-_]generation)[-_]size$/;

/**
 * The parent's Node options minus those that describe the main script (`-e` / `--eval`, `-p` /
 * `--print`, `--input-type`): a worker inherits `process.execArgv` by default, and with
 * `--input-type` it refuses to load its module file (ERR_INPUT_TYPE_NOT_ALLOWED). Heap-size flags
 * (`node --max-old-space-size=16000 app.js`) make `new Worker` throw: they are left out here and
 * the old-space limit is passed as the worker's `resourceLimits` instead ({@link workerHeapLimits}).
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const flag = a.split('=', 1)[0]!;
    if (a === '-e' || a === '--eval' || a === '-p' || a === '--print' || a === '--input-type') i++;
    else if (HEAP_FLAG.test(flag)) continue; // V8 takes these only as --flag=value
    else if (!/^--(input-type|eval|print)=/.test(a)) out.push(a);
  }
  return out;
}

/** The parent's `--max-old-space-size` (MB), as a worker's `resourceLimits`; none when not given. */
export function workerHeapLimits(argv: readonly string[] = process.execArgv): { maxOldGenerationSizeMb?: number } {
  for (const a of argv) {
    const [flag, value] = a.split('=', 2) as [string, string | undefined];
    if (!/^--max[-_]old[-_]space[-_]size$/.test(flag)) continue;
    const mb = Number(value);
    return Number.isFinite(mb) && mb > 0 ? { maxOldGenerationSizeMb: mb } : {};
  }
  return {};
}

/**
 * Inside a worker: the comlink endpoint to the thread that spawned it.
 *
 * @example
 * ```ts
 * expose(api, parentEndpoint());
 * ```
 */
export function parentEndpoint(): Endpoint {
  if (!parentPort) throw new TypeError('parentEndpoint() must be called inside a worker');
  return nodeEndpoint(parentPort);
}
