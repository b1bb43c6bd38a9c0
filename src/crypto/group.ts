/**
 * The PSI group: x-only scalar multiplication on curve25519 through one of three backends that
 * give byte-identical results (DESIGN.md §3).
 * @module
 */
import { getNodeCrypto, loadNativeX25519 } from '../platform/node.js';
import { UnsupportedError } from '../errors.js';
import { assertBytes } from '../utils/bytes.js';
import { POINT_BYTES, SCALAR_BYTES } from './constants.js';
import { createNativeBackend } from './backends/native.js';
import { createNobleBackend } from './backends/noble.js';
import { createNodeBackend } from './backends/node.js';
import { BackendNames, type BackendName, type X25519Backend } from './backends/types.js';
import { createWebCryptoBackend, webCryptoHasX25519 } from './backends/webcrypto.js';

export { BackendNames, type BackendName } from './backends/types.js';

/** Scalar multiplication over flat arrays of 32-byte u-coordinates. */
export interface Group {
  /** The backend in use. */
  readonly backend: BackendName;
  /**
   * X25519(secretKey, u) for every 32-byte u of `points` (a flat array, length a multiple of 32).
   * The inputs must already have been checked with `decodePointBatch` if they came from a peer;
   * a low-order input still fails with `InvalidPointError`.
   */
  multiplyBatch(secretKey: Uint8Array, points: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>;
}

/**
 * The backends this runtime offers, fastest first: `native` (Node.js, when the addon was built at
 * install; `DATAPORT_NATIVE=0` turns it off), `node` (Node.js), `webcrypto` (when SubtleCrypto has
 * X25519), `noble` (always).
 *
 * @example
 * ```ts
 * await availableBackends(); // e.g. ['native', 'node', 'webcrypto', 'noble']
 * ```
 */
export async function availableBackends(): Promise<BackendName[]> {
  const out: BackendName[] = [];
  if (loadNativeX25519()) out.push('native');
  if (getNodeCrypto()) out.push('node');
  if (await webCryptoHasX25519()) out.push('webcrypto');
  out.push('noble');
  return out;
}

/**
 * Creates the group with the requested backend, or the fastest available one.
 * Throws `UnsupportedError` when the requested backend is not available here.
 *
 * @example
 * ```ts
 * const group = await createGroup();
 * const masked = await group.multiplyBatch(generateScalar(), encodeToCurveBatch(records, ekm));
 * ```
 */
export async function createGroup(backend?: BackendName): Promise<Group> {
  if (backend !== undefined && !BackendNames.includes(backend)) {
    throw new TypeError(`backend must be one of ${BackendNames.join(', ')}`);
  }
  const available = await availableBackends();
  const name = backend ?? available[0]!;
  if (!available.includes(name)) throw new UnsupportedError(`backend '${name}' is not available in this runtime`);
  let impl: X25519Backend;
  if (name === 'native') impl = createNativeBackend(loadNativeX25519()!);
  else if (name === 'node') impl = createNodeBackend(getNodeCrypto()!);
  else if (name === 'webcrypto') impl = createWebCryptoBackend();
  else impl = createNobleBackend();
  return {
    backend: name,
    multiplyBatch(secretKey, points, signal) {
      assertBytes(secretKey, 'secretKey', SCALAR_BYTES);
      assertBytes(points, 'points');
      if (points.length % POINT_BYTES !== 0) throw new RangeError('points length must be a multiple of 32');
      return impl.multiplyBatch(secretKey, points, signal);
    },
  };
}
