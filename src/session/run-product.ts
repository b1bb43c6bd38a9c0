/**
 * Data products over authenticated sessions (docs/products.md): the holder serves its product
 * ({@link serveProductSession}: cache downloads and OPRF queries, one session each), a querier
 * downloads the cache ({@link fetchProductCache}) and queries it ({@link queryProduct}).
 *
 * Every query is a session with pinned keys whose signed terms name the product, the product
 * version the querier's cache holds and the number of keys; the holder refuses a stale version
 * before anything runs, its `beforeRun` hook (the ledger budget) is charged before the evaluation,
 * and both sides sign a receipt that carries the product version and the keys evaluated.
 * @module
 */
import { AbortError, TermsRefusedError, VerificationFailedError, MalformedMessageError, LimitExceededError } from '../errors.js';
import type { UsageReceipt } from '../ledger/receipt-types.js';
import { createInlineExecutor, type CryptoExecutor } from '../protocols/executor.js';
import { dedupeRecordsAsync, normalizeKeysAsync, rowsForKeys } from '../protocols/psi/normalize.js';
import {
  applyProductDelta,
  decodeProductDelta,
  encodeCacheChunks,
  MAX_INDEX_KEYS,
  MAX_QUERY_KEYS,
  openProductCache,
  PRODUCT_VALUE_BYTES,
  productHash,
  productVersion,
  verifyProductManifest,
  type ProductCacheView,
  type ProductManifest,
} from '../protocols/product/cache.js';
import {
  answerProductQuery,
  createProductQuery,
  decodeFetchRequest,
  decodePayloadFrame,
  encodeGetFile,
  encodePayloadFrame,
  finishProductQuery,
  ProductMessageType,
  type ProductFileKind,
} from '../protocols/product/oprf-query.js';
import { equalBytes, toHex } from '../utils/bytes.js';
import { verifyMessage } from './identity.js';
import type { SessionTerms } from './messages.js';
import { checkKeySchema, KEY_SCHEMA_OPTIONS, keySchemaOf, keySchemaTermsOptions, type KeySchemaSpec } from './key-schema.js';
import { runKeySketch, sketchOf, type SessionRunOptions } from './run-options.js';
import { checkSecurityModel, SECURITY_MODEL_OPTION, withSecurityModel } from './security-model.js';
import { endFailedRun, establishSession, sessionBaseOptions, type AbortedRunContribution, type Session, type SessionPolicy } from './session.js';

/**
 * Protocol names of data-product sessions in terms and receipts.
 * @example
 * ```ts
 * if (receipt.body.protocol === PRODUCT_PROTOCOLS.query) keys += receipt.body.inputSizes.requester ?? 0;
 * ```
 */
export const PRODUCT_PROTOCOLS = Object.freeze({ query: 'product-query', fetch: 'product-fetch' } as const);

/** Terms / receipt options of product sessions. */
const OPT_PRODUCT = 'product';
const OPT_VERSION = 'product-version';
const OPT_KEYS = 'keys-evaluated';

/**
 * What a holder serves: the signed manifest of the current version, its OPRF key and a reader
 * for the chunk and delta files the manifest lists.
 * @example
 * ```ts
 * const holder: ProductHolder = { manifestBytes, manifest, oprfKey, readFile: (kind, i) => readFile(pathOf(kind, i)) };
 * ```
 */
export interface ProductHolder {
  manifestBytes: Uint8Array;
  manifest: ProductManifest;
  /** The product version's OPRF key (32 bytes, secret). */
  oprfKey: Uint8Array;
  /** A chunk (index into `manifest.chunks`) or a delta (index into `manifest.deltas`). */
  readFile(kind: ProductFileKind, index: number): Promise<Uint8Array>;
}

/** Options of {@link serveProductSession}. */
export interface ServeProductOptions extends SessionRunOptions {
  holder: ProductHolder;
  /** Extra policy (purpose required, set-size bounds, a custom check). */
  policy?: SessionPolicy;
  /** Batch crypto (default: a fresh inline executor). */
  executor?: CryptoExecutor;
}

/** What one served session did. */
export interface ServeProductResult {
  protocol: 'product-query' | 'product-fetch';
  peerPublicKey: Uint8Array;
  /** Keys evaluated (query), 0 for a fetch. */
  keysEvaluated: number;
  /** Files sent (fetch). */
  filesSent: number;
  productVersion: string;
  receipt: UsageReceipt;
  bytesSent: number;
  bytesReceived: number;
}

function refusalFor(t: SessionTerms, m: ProductManifest): string | undefined {
  if (t.protocol !== PRODUCT_PROTOCOLS.query && t.protocol !== PRODUCT_PROTOCOLS.fetch) return 'listener does not offer this protocol';
  const known = new Set([OPT_PRODUCT, OPT_VERSION, SECURITY_MODEL_OPTION, ...KEY_SCHEMA_OPTIONS]);
  if (Object.keys(t.options).some((k) => !known.has(k))) return 'unsupported protocol option';
  const model = checkSecurityModel(t);
  if (model !== undefined) return model;
  // A first fetch may leave the product out ("the product you serve"): the querier then checks
  // the manifest's signature, which names the product.
  const firstFetch = t.protocol === PRODUCT_PROTOCOLS.fetch && t.options[OPT_PRODUCT] === undefined;
  if (!firstFetch && t.options[OPT_PRODUCT] !== toHex(m.productId)) return `this listener serves product ${toHex(m.productId)}, not ${String(t.options[OPT_PRODUCT]).slice(0, 40)}`;
  if (t.recipients.length !== 1 || t.recipients[0] !== 'requester') return 'product results go to the querier only';
  if (t.protocol === PRODUCT_PROTOCOLS.fetch) {
    if (t.requesterSetSize !== 0) return 'a fetch carries no keys';
    return undefined;
  }
  const current = productVersion(m);
  const stated = t.options[OPT_VERSION];
  if (stated !== current) {
    return `stale cache: the querier's cache is product version ${String(stated).slice(0, 40)}, the holder now serves ${current}; fetch the cache again (dataport product fetch)`;
  }
  if (t.requesterSetSize < 1 || t.requesterSetSize > MAX_QUERY_KEYS) return `a query must carry 1 to ${MAX_QUERY_KEYS} keys`;
  return checkKeySchema(t, { columns: m.keyColumns, profile: m.profile });
}

/**
 * Holder: runs one product session on `transport` (responder): authenticates the peer, checks the
 * terms (product, version, key schema, sizes), lets `beforeRun` charge the budget, then serves a
 * cache download or evaluates one query, and exchanges the co-signed receipt.
 *
 * @example
 * ```ts
 * const served = await serveProductSession({ transport, identity: hospital, allowAnyPeer: true, holder,
 *   beforeRun: budgetHook, onReceipt: (r) => ledger.append(r) });
 * served.keysEvaluated; // e.g. 1000
 * ```
 */
export async function serveProductSession(options: ServeProductOptions): Promise<ServeProductResult> {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const { holder, transport, signal } = options;
  if (!holder || !(holder.manifestBytes instanceof Uint8Array)) throw new TypeError('holder must be a ProductHolder');
  const m = holder.manifest;
  const base = options.policy ?? {};
  const policy: SessionPolicy = {
    ...base,
    protocols: [PRODUCT_PROTOCOLS.query, PRODUCT_PROTOCOLS.fetch],
    maxSetSize: Math.min(base.maxSetSize ?? MAX_QUERY_KEYS, MAX_QUERY_KEYS),
    check: (t, peer) => refusalFor(t, m) ?? base.check?.(t, peer),
  };
  const sent0 = transport.stats.bytesSent;
  const received0 = transport.stats.bytesReceived;
  const session = await establishSession({ ...sessionBaseOptions(options), role: 'responder', policy, localSetSize: m.count });
  let afterReceipt: Error | undefined;
  const soFar: AbortedRunContribution = { inputSize: m.count, outputSize: 0, computeMs: 0 };
  try {
    if (!session.accepted) {
      const receipt = await session.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 });
      await options.onReceipt?.(receipt);
      afterReceipt = new TermsRefusedError(session.refusalReason ?? 'terms refused');
      throw afterReceipt;
    }
    const t0 = Date.now();
    const isQuery = session.terms.protocol === PRODUCT_PROTOCOLS.query;
    let keys = 0;
    let files = 0;
    if (isQuery) {
      const executor = options.executor ?? (await createInlineExecutor());
      try {
        keys = session.terms.requesterSetSize;
        const frame = await session.channel.receive(signal);
        await session.channel.send(await answerProductQuery(executor, holder.oprfKey, frame, keys, signal));
      } finally {
        if (!options.executor) await executor.close();
      }
    } else {
      files = await serveFetch(session, holder, signal);
    }
    const computeMs = Date.now() - t0;
    soFar.computeMs = computeMs;
    const receipt = await session.exchangeReceipt({
      outcome: 'completed',
      inputSize: m.count,
      outputSize: 0,
      computeMs,
      expectedPeerInputSize: session.terms.requesterSetSize,
      ...(isQuery ? { options: { [OPT_KEYS]: String(keys) } } : {}),
    });
    await options.onReceipt?.(receipt);
    await session.close();
    return {
      protocol: isQuery ? PRODUCT_PROTOCOLS.query : PRODUCT_PROTOCOLS.fetch,
      peerPublicKey: session.peerPublicKey,
      keysEvaluated: keys,
      filesSent: files,
      productVersion: productVersion(m),
      receipt,
      bytesSent: transport.stats.bytesSent - sent0,
      bytesReceived: transport.stats.bytesReceived - received0,
    };
  } catch (e) {
    await endFailedRun(session, e, afterReceipt, soFar, undefined, options.onReceipt);
    throw e;
  }
}

/** Serves GET_MANIFEST / GET_FILE until FETCH_DONE; at most one request per file plus a few. */
async function serveFetch(session: Session, holder: ProductHolder, signal: AbortSignal | undefined): Promise<number> {
  const m = holder.manifest;
  const maxRequests = 2 * (m.chunks.length + m.deltas.length) + 4;
  let files = 0;
  for (let i = 0; i < maxRequests; i++) {
    const req = decodeFetchRequest(await session.channel.receive(signal));
    if (req.type === 'done') return files;
    if (req.type === 'manifest') {
      await session.channel.send(encodePayloadFrame(ProductMessageType.MANIFEST, holder.manifestBytes));
      continue;
    }
    const list = req.kind === 'chunk' ? m.chunks : m.deltas;
    if (req.index >= list.length) throw new MalformedMessageError(`no ${req.kind} ${req.index} in this product version`);
    const bytes = await holder.readFile(req.kind, req.index);
    files++;
    await session.channel.send(encodePayloadFrame(ProductMessageType.FILE, bytes));
  }
  throw new LimitExceededError('too many fetch requests in one session');
}

/**
 * Where a querier keeps a product cache: the current verified version, and a staging area that
 * makes downloads resumable (chunks of a version not yet complete). `createMemoryProductCacheStore`
 * keeps it in memory (browsers, tests); the CLI's store keeps it in a directory.
 * @example
 * ```ts
 * const store = createMemoryProductCacheStore();
 * await fetchProductCache({ transport, identity, peerPublicKey: holderKey, store });
 * ```
 */
export interface ProductCacheStore {
  /** The current version's signed manifest and chunks, or `undefined` when there is none. */
  current(): Promise<{ manifest: Uint8Array; chunks: Uint8Array[] } | undefined>;
  /** Chunks already staged for exactly this signed manifest (by index); unchecked. */
  staged(manifest: Uint8Array): Promise<Map<number, Uint8Array>>;
  /** Stages one verified chunk of `manifest`. */
  stage(manifest: Uint8Array, index: number, chunk: Uint8Array): Promise<void>;
  /** Makes the staged version (every chunk staged) the current one, atomically. */
  commit(manifest: Uint8Array): Promise<void>;
}

/**
 * A {@link ProductCacheStore} in memory.
 * @example
 * ```ts
 * const store = createMemoryProductCacheStore();
 * ```
 */
export function createMemoryProductCacheStore(): ProductCacheStore {
  let cur: { manifest: Uint8Array; chunks: Uint8Array[] } | undefined;
  let staging: { manifest: Uint8Array; chunks: Map<number, Uint8Array> } | undefined;
  return {
    async current() {
      return cur && { manifest: cur.manifest, chunks: [...cur.chunks] };
    },
    async staged(manifest) {
      return staging && equalBytes(staging.manifest, manifest) ? new Map(staging.chunks) : new Map();
    },
    async stage(manifest, index, chunk) {
      if (!staging || !equalBytes(staging.manifest, manifest)) staging = { manifest: manifest.slice(), chunks: new Map() };
      staging.chunks.set(index, chunk.slice());
    },
    async commit(manifest) {
      if (!staging || !equalBytes(staging.manifest, manifest)) throw new RangeError('nothing staged for this manifest');
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < staging.chunks.size; i++) {
        const c = staging.chunks.get(i);
        if (!c) throw new RangeError(`chunk ${i} is not staged`);
        chunks.push(c);
      }
      cur = { manifest: staging.manifest, chunks };
      staging = undefined;
    },
  };
}

/**
 * A cache opened for queries: its verified manifest and the lookup view.
 * @example
 * ```ts
 * const cache = await openStoredProductCache(store, holderKey);
 * cache.manifest.count;
 * ```
 */
export interface OpenedProductCache {
  manifest: ProductManifest;
  view: ProductCacheView;
}

/**
 * Opens the store's current cache: the manifest's signature is checked against the pinned holder
 * key and every chunk against the manifest (a flipped byte anywhere is `VerificationFailedError`).
 * Returns `undefined` when the store holds no cache.
 * @example
 * ```ts
 * const cache = await openStoredProductCache(store, holderKey);
 * ```
 */
export async function openStoredProductCache(store: ProductCacheStore, holderPublicKey: Uint8Array): Promise<OpenedProductCache | undefined> {
  const cur = await store.current();
  if (!cur) return undefined;
  const manifest = verifyProductManifest(cur.manifest, holderPublicKey, verifyMessage);
  return { manifest, view: openProductCache(manifest, cur.chunks) };
}

/** Options of {@link fetchProductCache}. */
export interface FetchProductOptions extends SessionRunOptions {
  /** The holder's identity key: the session's pinned peer and the manifest's signer. */
  peerPublicKey: Uint8Array;
  store: ProductCacheStore;
  /** The product to fetch (16 bytes); default: the one the store holds, else whichever the holder serves. */
  productId?: Uint8Array;
  /** Purpose / authorisation reference (recorded in both ledgers). */
  purpose?: string;
  /** Progress: files received of the files needed. */
  onProgress?: (p: { phase: string; done: number; total: number; unit?: string }) => void;
}

/** What {@link fetchProductCache} did. */
export interface FetchProductResult {
  productVersion: string;
  /** `up-to-date`, `delta` (only deltas fetched), `full` (chunks fetched). */
  mode: 'up-to-date' | 'delta' | 'full';
  /** Files received in this session and chunks reused from an interrupted download. */
  filesFetched: number;
  chunksResumed: number;
  count: number;
  bytesSent: number;
  bytesReceived: number;
  ms: number;
  receipt: UsageReceipt;
}

/**
 * Querier: downloads or updates the product cache in `store` over one authenticated session with
 * the holder (`peerPublicKey` pinned). Same OPRF key and a listed delta path: only the deltas are
 * fetched, applied, and the result checked against the new manifest's chunk hashes; otherwise (a
 * first download, a rotated key, too old a version) every chunk not already staged is fetched,
 * each checked against the signed manifest before it is staged, so an interrupted download resumes
 * with what is on disk. The new version becomes current only once complete.
 *
 * @example
 * ```ts
 * const r = await fetchProductCache({ transport, identity: pharma, peerPublicKey: hospitalKey, store });
 * r.mode; // 'full' the first time, 'delta' after an update, 'up-to-date' otherwise
 * ```
 */
export async function fetchProductCache(options: FetchProductOptions): Promise<FetchProductResult> {
  const t0 = Date.now();
  const { transport, store, peerPublicKey, signal } = options;
  if (!store || typeof store.current !== 'function') throw new TypeError('store must be a ProductCacheStore');
  const existing = await store.current();
  let have: ProductManifest | undefined;
  let productId = options.productId;
  if (existing) {
    try {
      have = verifyProductManifest(existing.manifest, peerPublicKey, verifyMessage);
      productId ??= have.productId;
      // A cache whose chunks no longer match its manifest (a flipped byte on disk) is repaired by
      // a full download, not declared up to date or patched with deltas.
      openProductCache(have, existing.chunks);
    } catch {
      have = undefined; // an unreadable, damaged or foreign cache is replaced
    }
  }
  const sent0 = transport.stats.bytesSent;
  const received0 = transport.stats.bytesReceived;
  const terms: SessionTerms = withSecurityModel({
    protocol: PRODUCT_PROTOCOLS.fetch,
    options: productId !== undefined ? { [OPT_PRODUCT]: toHex(productId) } : {},
    purpose: options.purpose ?? '',
    recipients: ['requester'],
    requesterSetSize: 0,
    responderSetSize: { min: 0, max: MAX_INDEX_KEYS },
    minIntersection: 0,
  });
  const session = await establishSession({ ...sessionBaseOptions(options), role: 'requester', terms });
  const soFar: AbortedRunContribution = { inputSize: 0, outputSize: 0, computeMs: 0 };
  let afterReceipt: Error | undefined;
  try {
    if (!session.accepted) {
      const receipt = await session.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 });
      await options.onReceipt?.(receipt);
      afterReceipt = new TermsRefusedError(session.refusalReason ?? 'terms refused');
      throw afterReceipt;
    }
    const ch = session.channel;
    const get = async (kind: ProductFileKind, index: number): Promise<Uint8Array> => {
      await ch.send(encodeGetFile(kind, index));
      return decodePayloadFrame(await ch.receive(signal), ProductMessageType.FILE);
    };
    await ch.send(encodePayloadFrame(ProductMessageType.GET_MANIFEST));
    const manifestBytes = decodePayloadFrame(await ch.receive(signal), ProductMessageType.MANIFEST);
    const next = verifyProductManifest(manifestBytes, peerPublicKey, verifyMessage);
    if (productId !== undefined && !equalBytes(next.productId, productId)) throw new VerificationFailedError('the holder sent the manifest of another product');
    if (next.count !== session.responderSetSize) throw new VerificationFailedError('the manifest count differs from the size the holder declared');
    let mode: FetchProductResult['mode'] = 'full';
    let fetched = 0;
    let resumed = 0;
    const sameKey = have !== undefined && equalBytes(have.productId, next.productId) && equalBytes(have.keyId, next.keyId);
    if (sameKey && have!.seq > next.seq) throw new VerificationFailedError(`the holder serves version ${productVersion(next)}, older than the cache's ${productVersion(have!)}`);
    if (sameKey && have!.seq === next.seq) mode = 'up-to-date';
    else if (sameKey && have!.seq >= next.firstDeltaFrom) {
      // Delta path: apply every delta since the cache's version, then check the result chunk by
      // chunk against the new signed manifest; any mismatch falls back to a full download.
      const total = next.seq - have!.seq;
      let values = openProductCache(have!, existing!.chunks).values();
      let ok = true;
      for (let s = have!.seq; s < next.seq; s++) {
        const i = s - next.firstDeltaFrom;
        const bytes = await get('delta', i);
        fetched++;
        options.onProgress?.({ phase: 'deltas', done: s - have!.seq + 1, total, unit: 'files' });
        const ref = next.deltas[i]!;
        if (bytes.length !== ref.size || !equalBytes(productHash(bytes), ref.sha256)) throw new VerificationFailedError(`delta ${s}→${s + 1} does not match the signed manifest`);
        const d = decodeProductDelta(bytes);
        if (!equalBytes(d.productId, next.productId) || !equalBytes(d.keyId, next.keyId) || d.fromSeq !== s) throw new VerificationFailedError('delta belongs to another version');
        try {
          values = applyProductDelta(values, d.added, d.removed);
        } catch {
          ok = false;
          break;
        }
      }
      if (ok && values.length / PRODUCT_VALUE_BYTES === next.count) {
        const chunks = encodeCacheChunks(values);
        if (chunks.every((c, j) => c.length === next.chunks[j]!.size && equalBytes(productHash(c), next.chunks[j]!.sha256))) {
          for (let j = 0; j < chunks.length; j++) await store.stage(manifestBytes, j, chunks[j]!);
          await store.commit(manifestBytes);
          mode = 'delta';
        }
      }
    }
    if (mode === 'full') {
      const staged = await store.staged(manifestBytes);
      const total = next.chunks.length;
      for (let j = 0; j < total; j++) {
        const ref = next.chunks[j]!;
        const old = staged.get(j);
        if (old && old.length === ref.size && equalBytes(productHash(old), ref.sha256)) {
          resumed++;
        } else {
          const bytes = await get('chunk', j);
          fetched++;
          if (bytes.length !== ref.size || !equalBytes(productHash(bytes), ref.sha256)) throw new VerificationFailedError(`cache chunk ${j} does not match the signed manifest`);
          await store.stage(manifestBytes, j, bytes);
        }
        options.onProgress?.({ phase: 'chunks', done: j + 1, total, unit: 'files' });
      }
      // Structure (order, counts) is checked before the version becomes current.
      const all = await store.staged(manifestBytes);
      openProductCache(next, Array.from({ length: total }, (_, j) => all.get(j)!));
      await store.commit(manifestBytes);
    }
    await ch.send(encodePayloadFrame(ProductMessageType.FETCH_DONE));
    const computeMs = Date.now() - t0;
    soFar.computeMs = computeMs;
    const receipt = await session.exchangeReceipt({ outcome: 'completed', inputSize: 0, outputSize: 0, computeMs, expectedPeerInputSize: next.count });
    await options.onReceipt?.(receipt);
    await session.close();
    return {
      productVersion: productVersion(next),
      mode,
      filesFetched: fetched,
      chunksResumed: resumed,
      count: next.count,
      bytesSent: transport.stats.bytesSent - sent0,
      bytesReceived: transport.stats.bytesReceived - received0,
      ms: Date.now() - t0,
      receipt,
    };
  } catch (e) {
    await endFailedRun(session, e, afterReceipt, soFar, undefined, options.onReceipt);
    throw e;
  }
}

/** Options of {@link queryProduct}. */
export interface QueryProductOptions extends SessionRunOptions {
  /** The holder's identity key (pinned; it signed the cache). */
  peerPublicKey: Uint8Array;
  /** The verified cache ({@link openStoredProductCache}). */
  cache: OpenedProductCache;
  /** The querier's keys, one per row (a string, or the fields of a multi-column key). */
  records: readonly (readonly string[])[] | readonly string[];
  keySchema?: KeySchemaSpec;
  purpose?: string;
  executor?: CryptoExecutor;
}

/** Result of {@link queryProduct}. */
export interface QueryProductResult {
  productVersion: string;
  /** Distinct keys queried (what the holder learns and bills). */
  queried: number;
  /** Distinct keys found in the product's index. */
  matched: number;
  /** Rows of `records` whose key is in the index, ascending. */
  matchedRows: number[];
  bytesSent: number;
  bytesReceived: number;
  /** Wall-clock ms of the whole query (session, evaluation, lookup). */
  ms: number;
  receipt: UsageReceipt;
}

/**
 * Querier: queries the product with its keys. The keys are normalised and de-duplicated, blinded,
 * evaluated by the holder in one round trip and looked up in the verified cache. The holder
 * refuses a stale cache (`TermsRefusedError` naming both versions: fetch again) and a spent budget
 * (`GuardrailRefusedError`), before evaluating anything.
 *
 * @example
 * ```ts
 * const cache = await openStoredProductCache(store, hospitalKey);
 * const r = await queryProduct({ transport, identity: pharma, peerPublicKey: hospitalKey, cache, records: ids });
 * r.matchedRows; // rows whose key is in the hospital's index
 * ```
 */
export async function queryProduct(options: QueryProductOptions): Promise<QueryProductResult> {
  const t0 = Date.now();
  const { transport, cache, signal } = options;
  if (!cache || !cache.manifest || !cache.view) throw new TypeError('cache must be an opened product cache');
  if (!Array.isArray(options.records)) throw new TypeError('records must be an array');
  if (signal?.aborted) throw new AbortError();
  const m = cache.manifest;
  const schema = keySchemaOf(options.records, options.keySchema);
  if (schema.columns !== m.keyColumns || schema.profile !== m.profile) {
    throw new RangeError(`records have ${schema.columns} key columns (${schema.profile}); the product's keys have ${m.keyColumns} (${m.profile})`);
  }
  const rows = await normalizeKeysAsync(options.records, signal);
  const deduped = await dedupeRecordsAsync(rows, signal);
  const n = deduped.keys.length;
  const sketch = runKeySketch(options, deduped.keys);
  if (n === 0) throw new RangeError('records: no non-empty key to query');
  if (n > MAX_QUERY_KEYS) throw new RangeError(`records: ${n} distinct keys, at most ${MAX_QUERY_KEYS} per query (the false-positive bound)`);
  const sent0 = transport.stats.bytesSent;
  const received0 = transport.stats.bytesReceived;
  const terms: SessionTerms = withSecurityModel({
    protocol: PRODUCT_PROTOCOLS.query,
    options: { [OPT_PRODUCT]: toHex(m.productId), [OPT_VERSION]: productVersion(m), ...keySchemaTermsOptions(schema) },
    purpose: options.purpose ?? '',
    recipients: ['requester'],
    requesterSetSize: n,
    // The holder's declared size is checked below through the version (same version, same count):
    // bounding it here would refuse a stale cache with a vaguer reason than the holder's own.
    responderSetSize: { min: 0, max: MAX_INDEX_KEYS },
    minIntersection: 0,
  });
  const session = await establishSession({ ...sessionBaseOptions(options), role: 'requester', terms });
  const soFar: AbortedRunContribution = { inputSize: n, outputSize: 0, computeMs: 0, ...sketchOf(sketch) };
  let afterReceipt: Error | undefined;
  try {
    if (!session.accepted) {
      const receipt = await session.exchangeReceipt({ outcome: 'refused', inputSize: 0, outputSize: 0, computeMs: 0 });
      await options.onReceipt?.(receipt);
      afterReceipt = new TermsRefusedError(session.refusalReason ?? 'terms refused');
      throw afterReceipt;
    }
    if (session.responderSetSize !== m.count) throw new VerificationFailedError('the holder declared another index size than its signed manifest');
    await sketch?.store(session.sessionId, 'requester');
    const executor = options.executor ?? (await createInlineExecutor());
    let values: Uint8Array;
    try {
      const { frame, state } = await createProductQuery(executor, m.productId, deduped.keys, signal);
      await session.channel.send(frame);
      values = await finishProductQuery(executor, state, await session.channel.receive(signal), signal);
    } finally {
      if (!options.executor) await executor.close();
    }
    const hit = new Uint8Array(n);
    let matched = 0;
    for (let i = 0; i < n; i++) {
      if (cache.view.has(values, i * PRODUCT_VALUE_BYTES)) {
        hit[i] = 1;
        matched++;
      }
    }
    const computeMs = Date.now() - t0;
    Object.assign(soFar, { outputSize: matched, computeMs });
    const receipt = await session.exchangeReceipt({
      outcome: 'completed',
      inputSize: n,
      outputSize: matched,
      computeMs,
      expectedPeerInputSize: m.count,
      options: { [OPT_KEYS]: String(n) },
      ...sketchOf(sketch),
    });
    await options.onReceipt?.(receipt);
    await session.close();
    return {
      productVersion: productVersion(m),
      queried: n,
      matched,
      matchedRows: rowsForKeys(deduped, hit),
      bytesSent: transport.stats.bytesSent - sent0,
      bytesReceived: transport.stats.bytesReceived - received0,
      ms: Date.now() - t0,
      receipt,
    };
  } catch (e) {
    await endFailedRun(session, e, afterReceipt, soFar, undefined, options.onReceipt);
    throw e;
  }
}
