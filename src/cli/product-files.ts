/**
 * The files of a data product (docs/products.md, "Files"):
 *
 * Holder, `PRODUCT_DIR`:
 * - `manifest.bin`: the current version's signed manifest, replaced atomically (last step of
 *   publish and update, so the other files of that version are complete before it names them);
 * - `keys/<keyId>.key`: the OPRF key of each key id (mode 0600; a secret like identity.key);
 * - `versions/<keyId>.<seq>/<NNNNN>.bin`: the cache chunks of a version (the current and the
 *   previous one are kept, so a serve that started on the previous version can finish);
 * - `deltas/<keyId>.<fromSeq>.bin`: the delta from seq to seq+1.
 *
 * Querier, `--cache DIR`: `manifest.bin` (current, atomically replaced), `versions/<v>/<NNNNN>.bin`,
 * and `staging.bin`, the manifest of a download in progress (its chunks are staged in its
 * version folder, each verified before it is written, so a download resumes from them).
 * @module
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import { productVersion, verifyProductManifest, type ProductManifest } from '../protocols/product/cache.js';
import type { BuiltProductVersion } from '../protocols/product/publish.js';
import type { ProductFileKind } from '../protocols/product/oprf-query.js';
import type { ProductCacheStore, ProductHolder } from '../session/run-product.js';
import { verifyMessage } from '../session/identity.js';
import { equalBytes, fromBase64, fromHex, toBase64, toHex } from '../utils/bytes.js';
import { writePublicFile, writeSecretFile } from './files.js';
import { PRODUCT_MESSAGES } from './messages.js';

const chunkName = (j: number): string => `${String(j).padStart(5, '0')}.bin`;

async function readOptional(path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function keyFileText(productId: Uint8Array, keyId: Uint8Array, key: Uint8Array): string {
  return `dataport product OPRF key v1\nproduct ${toHex(productId)}\nkey-id ${toHex(keyId)}\nsecret ${toBase64(key)}\n`;
}

/**
 * The current manifest of a holder's product folder (signature checked against `holderKey`).
 * @example
 * ```ts
 * const { manifest, bytes } = await readHolderManifest(dir, identity.publicKey);
 * ```
 */
export async function readHolderManifest(dir: string, holderKey: Uint8Array): Promise<{ manifest: ProductManifest; bytes: Uint8Array }> {
  const bytes = await readOptional(join(dir, 'manifest.bin')).catch((err: unknown) => {
    throw new InputError(PRODUCT_MESSAGES.cannotReadManifest(dir, err));
  });
  if (!bytes) throw new InputError(PRODUCT_MESSAGES.notPublished(dir));
  try {
    return { manifest: verifyProductManifest(bytes, holderKey, verifyMessage), bytes };
  } catch (err) {
    throw new InputError(PRODUCT_MESSAGES.badManifest(dir, (err as Error).message));
  }
}

/**
 * The holder for `product serve`: current manifest, its OPRF key, a reader for its files.
 * Read anew for every session, so an update takes effect without a restart.
 * @example
 * ```ts
 * const holder = await loadProductHolder(dir, identity.publicKey);
 * ```
 */
export async function loadProductHolder(dir: string, holderKey: Uint8Array): Promise<ProductHolder> {
  const { manifest, bytes } = await readHolderManifest(dir, holderKey);
  const oprfKey = await readOprfKey(dir, manifest);
  const version = productVersion(manifest);
  const keyHex = toHex(manifest.keyId);
  return {
    manifestBytes: bytes,
    manifest,
    oprfKey,
    readFile: async (kind: ProductFileKind, index: number) => {
      const path =
        kind === 'chunk' ? join(dir, 'versions', version, chunkName(index)) : join(dir, 'deltas', `${keyHex}.${manifest.firstDeltaFrom + index}.bin`);
      return new Uint8Array(await readFile(path));
    },
  };
}

/**
 * The OPRF key of the manifest's key id.
 * @example
 * ```ts
 * const key = await readOprfKey(dir, manifest);
 * ```
 */
export async function readOprfKey(dir: string, manifest: ProductManifest): Promise<Uint8Array> {
  const path = join(dir, 'keys', `${toHex(manifest.keyId)}.key`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(PRODUCT_MESSAGES.cannotReadKey(dir, path, err));
  }
  const m = /^dataport product OPRF key v1\nproduct ([0-9a-f]{32})\nkey-id ([0-9a-f]{16})\nsecret ([A-Za-z0-9+/=]+)\n$/.exec(text);
  const key = m ? fromBase64(m[3]!) : undefined;
  if (!m || key?.length !== 32 || !equalBytes(fromHex(m[1]!), manifest.productId) || !equalBytes(fromHex(m[2]!), manifest.keyId)) {
    throw new InputError(PRODUCT_MESSAGES.wrongKey(dir, path));
  }
  return key;
}

/**
 * Writes a product version into the holder's folder: its OPRF key (publish), chunks, delta
 * (update), then the manifest, atomically; then removes versions older than the previous one.
 * @example
 * ```ts
 * await writeProductVersion(dir, built, { oprfKey });
 * ```
 */
export async function writeProductVersion(dir: string, v: BuiltProductVersion, extra: { oprfKey?: Uint8Array; delta?: Uint8Array; previous?: ProductManifest }): Promise<void> {
  const version = productVersion(v.manifest);
  const keyHex = toHex(v.manifest.keyId);
  await mkdir(join(dir, 'versions', version), { recursive: true, mode: 0o700 });
  if (extra.oprfKey) {
    await mkdir(join(dir, 'keys'), { recursive: true, mode: 0o700 });
    await writeSecretFile(join(dir, 'keys', `${keyHex}.key`), keyFileText(v.manifest.productId, v.manifest.keyId, extra.oprfKey), false);
  }
  for (let j = 0; j < v.chunks.length; j++) await writePublicFile(join(dir, 'versions', version, chunkName(j)), v.chunks[j]!);
  if (extra.delta) {
    await mkdir(join(dir, 'deltas'), { recursive: true });
    await writePublicFile(join(dir, 'deltas', `${keyHex}.${v.manifest.seq - 1}.bin`), extra.delta);
  }
  await writePublicFile(join(dir, 'manifest.bin'), v.manifestBytes);
  const keep = new Set([version, ...(extra.previous ? [productVersion(extra.previous)] : [])]);
  for (const name of await readdir(join(dir, 'versions')).catch(() => [] as string[])) {
    if (!keep.has(name)) await rm(join(dir, 'versions', name), { recursive: true, force: true });
  }
}

/**
 * The chunks of the holder's current version, in order.
 * @example
 * ```ts
 * const chunks = await readHolderChunks(dir, manifest);
 * ```
 */
export async function readHolderChunks(dir: string, manifest: ProductManifest): Promise<Uint8Array[]> {
  const version = productVersion(manifest);
  const out: Uint8Array[] = [];
  for (let j = 0; j < manifest.chunks.length; j++) out.push(new Uint8Array(await readFile(join(dir, 'versions', version, chunkName(j)))));
  return out;
}

/**
 * The querier's cache folder as a {@link ProductCacheStore}.
 * @example
 * ```ts
 * const store = createFileProductCacheStore('./cache/hospital-index', holderKey);
 * ```
 */
export function createFileProductCacheStore(dir: string, holderKey: Uint8Array): ProductCacheStore {
  const versionOf = (manifest: Uint8Array): string => productVersion(verifyProductManifest(manifest, holderKey, verifyMessage));
  const chunksOf = async (manifest: Uint8Array, onlyPresent: boolean): Promise<Map<number, Uint8Array>> => {
    const m = verifyProductManifest(manifest, holderKey, verifyMessage);
    const out = new Map<number, Uint8Array>();
    for (let j = 0; j < m.chunks.length; j++) {
      const b = await readOptional(join(dir, 'versions', productVersion(m), chunkName(j)));
      if (b) out.set(j, b);
      else if (!onlyPresent) throw new InputError(PRODUCT_MESSAGES.chunkMissing(dir, j, productVersion(m)));
    }
    return out;
  };
  return {
    async current() {
      const manifest = await readOptional(join(dir, 'manifest.bin'));
      if (!manifest) return undefined;
      let chunks: Map<number, Uint8Array>;
      try {
        chunks = await chunksOf(manifest, false);
      } catch (err) {
        if (err instanceof InputError) throw err;
        return { manifest, chunks: [] }; // verified (and reported) by the caller
      }
      return { manifest, chunks: [...chunks.values()] };
    },
    async staged(manifest) {
      const staging = await readOptional(join(dir, 'staging.bin'));
      if (!staging || !equalBytes(staging, manifest)) return new Map();
      return chunksOf(manifest, true);
    },
    async stage(manifest, index, chunk) {
      const staging = await readOptional(join(dir, 'staging.bin'));
      if (!staging || !equalBytes(staging, manifest)) {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        await writePublicFile(join(dir, 'staging.bin'), manifest);
      }
      await mkdir(join(dir, 'versions', versionOf(manifest)), { recursive: true });
      await writePublicFile(join(dir, 'versions', versionOf(manifest), chunkName(index)), chunk);
    },
    async commit(manifest) {
      const version = versionOf(manifest);
      await writePublicFile(join(dir, 'manifest.bin'), manifest);
      await rm(join(dir, 'staging.bin'), { force: true });
      for (const name of await readdir(join(dir, 'versions')).catch(() => [] as string[])) {
        if (name !== version) await rm(join(dir, 'versions', name), { recursive: true, force: true });
      }
    },
  };
}
