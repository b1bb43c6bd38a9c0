import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DataportError,
  MalformedMessageError,
  InvalidPointError,
  LimitExceededError,
  TermsRefusedError,
  VerificationFailedError,
} from '../src/errors.js';
import { createInlineExecutor, type CryptoExecutor } from '../src/protocols/executor.js';
import { normalizeKey, NORMALIZATION_PROFILE } from '../src/protocols/psi/normalize.js';
import {
  answerProductQuery,
  buildProduct,
  buildProductUpdate,
  cacheLayout,
  createProductQuery,
  decodeProductDelta,
  encodeCacheChunks,
  encodeProductDelta,
  MAX_QUERY_KEYS,
  openProductCache,
  PRODUCT_VALUE_BYTES,
  ProductMessageType,
  signProductManifest,
  sortProductValues,
  verifyProductManifest,
  type BuiltProductVersion,
} from '../src/protocols/product/index.js';
import { generateIdentity, signMessage, verifyMessage, type Identity } from '../src/session/identity.js';
import {
  createMemoryProductCacheStore,
  fetchProductCache,
  openStoredProductCache,
  queryProduct,
  serveProductSession,
  type ProductHolder,
  type ServeProductOptions,
} from '../src/session/run-product.js';
import { createMemoryTransportPair } from '../src/transport/memory.js';
import { openLedger } from '../src/ledger/file-ledger.js';
import { parseBudgetPolicy } from '../src/ledger/budget.js';
import { parsePriceSchedule, priceRun } from '../src/ledger/pricing.js';
import { releaseLedgerBudget, reserveLedgerBudget } from '../src/ledger/reservations.js';
import { toHex } from '../src/utils/bytes.js';
import { productHash } from '../src/protocols/product/cache.js';
import { establishSession } from '../src/session/session.js';
import { withSecurityModel } from '../src/session/security-model.js';
import { keySchemaTermsOptions } from '../src/session/key-schema.js';
import { productVersion } from '../src/protocols/product/index.js';

const keyOf = (s: string): Uint8Array => normalizeKey([s])!;

function randomIds(n: number, prefix: string): string[] {
  const out = new Set<string>();
  while (out.size < n) out.add(`${prefix}${Math.floor(Math.random() * 1e12)}`);
  return [...out];
}

let executor: CryptoExecutor;
const hospital: Identity = generateIdentity();
const pharma: Identity = generateIdentity();
const insurer: Identity = generateIdentity();

interface Held {
  version: BuiltProductVersion;
  oprfKey: Uint8Array;
  deltas: Uint8Array[];
}

function holderOf(h: Held): ProductHolder {
  return {
    manifestBytes: h.version.manifestBytes,
    manifest: h.version.manifest,
    oprfKey: h.oprfKey,
    readFile: async (kind, i) => (kind === 'chunk' ? h.version.chunks[i]! : h.deltas[i - 0]!),
  };
}

async function publish(ids: string[], productId?: Uint8Array): Promise<Held> {
  const v = await buildProduct({
    executor,
    records: ids.map(keyOf),
    keyColumns: 1,
    profile: NORMALIZATION_PROFILE,
    holderPublicKey: hospital.publicKey,
    sign: (m) => signMessage(hospital.secretKey, m),
    ...(productId ? { productId } : {}),
  });
  return { version: v, oprfKey: v.oprfKey, deltas: [] };
}

/** Runs one holder session against `client` over a fresh memory pair. */
async function withHolder<T>(
  held: Held,
  client: (transport: ReturnType<typeof createMemoryTransportPair>[0]) => Promise<T>,
  extra: Partial<ServeProductOptions> = {},
): Promise<[T | Error, Awaited<ReturnType<typeof serveProductSession>> | Error]> {
  const [a, b] = createMemoryTransportPair();
  return Promise.all([
    client(a).catch((e: Error) => e),
    serveProductSession({ transport: b, identity: hospital, allowAnyPeer: true, holder: holderOf(held), executor, ...extra }).catch((e: Error) => e),
  ]);
}

beforeAll(async () => {
  executor = await createInlineExecutor();
});
afterAll(async () => {
  await executor.close();
});

describe('product cache format', () => {
  it('chunks round-trip and look up exactly, for every layout', () => {
    for (const n of [0, 5, 1500, (1 << 18) + 3]) {
      const raw = new Uint8Array(n * PRODUCT_VALUE_BYTES);
      globalThis.crypto.getRandomValues(raw.subarray(0, Math.min(raw.length, 65536)));
      for (let off = 65536; off < raw.length; off += 65536) globalThis.crypto.getRandomValues(raw.subarray(off, Math.min(raw.length, off + 65536)));
      const sorted = sortProductValues(raw);
      const chunks = encodeCacheChunks(sorted);
      expect(chunks.length).toBe(2 ** cacheLayout(sorted.length / 12).chunkBits);
      const bytes = chunks.reduce((s, c) => s + c.length, 0);
      if (n >= 1 << 18) expect(bytes / n).toBeLessThanOrEqual(12);
      const m = { count: sorted.length / 12, chunks: chunks.map((c) => ({ size: c.length, sha256: new Uint8Array(32) })) };
      const view = openProductCache(m as never, chunks, { checkHashes: false });
      expect(Buffer.compare(view.values(), sorted)).toBe(0);
      for (let i = 0; i < Math.min(n, 200); i++) expect(view.has(raw, i * 12)).toBe(true);
      const miss = new Uint8Array(12);
      globalThis.crypto.getRandomValues(miss);
      expect(view.has(miss)).toBe(false);
    }
  });
});

describe('product codecs', () => {
  it('deltas round-trip; arbitrary bytes only ever throw MalformedMessageError (deltas) or a DataportError (manifests)', () => {
    const v = (n: number) => sortProductValues(globalThis.crypto.getRandomValues(new Uint8Array(12 * n)));
    const d = { productId: new Uint8Array(16).fill(1), keyId: new Uint8Array(8).fill(2), fromSeq: 7, added: v(5), removed: v(3) };
    expect(decodeProductDelta(encodeProductDelta(d))).toEqual(d);
    for (let i = 0; i < 300; i++) {
      const junk = globalThis.crypto.getRandomValues(new Uint8Array(Math.floor(Math.random() * 400)));
      if (i % 3 === 0) junk.set(new TextEncoder().encode('DPPRODD1').subarray(0, Math.min(8, junk.length)));
      expect(() => decodeProductDelta(junk)).toThrow(MalformedMessageError);
      expect(() => verifyProductManifest(junk, hospital.publicKey, verifyMessage)).toThrow(DataportError);
    }
  });
});

describe('data products over sessions', () => {
  let held: Held;
  let index: string[];
  beforeAll(async () => {
    index = randomIds(3000, '1101');
    held = await publish(index);
  });

  it('query results equal the plain intersection; the receipt carries version and keys evaluated', async () => {
    const store = createMemoryProductCacheStore();
    const [f] = await withHolder(held, (t) => fetchProductCache({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, store, productId: held.version.manifest.productId }));
    if (f instanceof Error) throw f;
    expect(f.mode).toBe('full');
    const cache = (await openStoredProductCache(store, hospital.publicKey))!;
    for (let trial = 0; trial < 3; trial++) {
      const mine = [...index.filter(() => Math.random() < 0.05), ...randomIds(150, '4401')];
      mine.sort(() => Math.random() - 0.5);
      const [q, s] = await withHolder(held, (t) => queryProduct({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, cache, records: mine }));
      if (q instanceof Error) throw q;
      if (s instanceof Error) throw s;
      const inIndex = new Set(index);
      const expected = mine.map((k, i) => (inIndex.has(k) ? i : -1)).filter((i) => i >= 0);
      expect(q.matchedRows).toEqual(expected);
      expect(q.matched).toBe(expected.length);
      expect(s.keysEvaluated).toBe(mine.length);
      expect(q.receipt.body.options['product-version']).toBe(q.productVersion);
      expect(q.receipt.body.options['keys-evaluated']).toBe(String(mine.length));
      expect(q.receipt.body.inputSizes['requester']).toBe(mine.length);
      expect(s.receipt.signatures).toEqual(q.receipt.signatures);
    }
  });

  it('a flipped byte in a chunk or in the manifest is detected', async () => {
    const m = held.version.manifest;
    const chunks = held.version.chunks.map((c) => c.slice());
    chunks[0]![chunks[0]!.length - 3]! ^= 0x01;
    expect(() => openProductCache(m, chunks)).toThrow(VerificationFailedError);
    // Every single flipped bit of the signed manifest is refused (bad signature or bad structure).
    const mb = held.version.manifestBytes;
    for (let i = 0; i < mb.length; i++) {
      const f = mb.slice();
      f[i]! ^= 1 << (i % 8);
      expect(() => verifyProductManifest(f, hospital.publicKey, verifyMessage), `byte ${i}`).toThrow(DataportError);
    }
    expect(() => verifyProductManifest(held.version.manifestBytes, pharma.publicKey, verifyMessage)).toThrow(VerificationFailedError);
  });

  it('updates travel as deltas; rotation makes old caches stale and forces a full fetch', async () => {
    const local = await publish(index.slice(0, 2000));
    const store = createMemoryProductCacheStore();
    const productId = local.version.manifest.productId;
    const fetch = () => withHolder(local, (t) => fetchProductCache({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, store, productId }));
    expect(((await fetch())[0] as { mode: string }).mode).toBe('full');
    expect(((await fetch())[0] as { mode: string }).mode).toBe('up-to-date');
    // Update: add 500, remove 100.
    const u = await buildProductUpdate({
      executor,
      oprfKey: local.oprfKey,
      current: local.version.manifest,
      currentSorted: local.version.sorted,
      add: index.slice(2000, 2500).map(keyOf),
      remove: index.slice(0, 100).map(keyOf),
      sign: (msg) => signMessage(hospital.secretKey, msg),
    });
    expect([u.added, u.removed]).toEqual([500, 100]);
    local.version = u;
    local.deltas.push(u.delta);
    const [d] = await fetch();
    expect(d).toMatchObject({ mode: 'delta', filesFetched: 1, count: 2400 });
    expect((d as { bytesReceived: number }).bytesReceived).toBeLessThan(600 * 12 + 4000);
    let cache = (await openStoredProductCache(store, hospital.publicKey))!;
    const probe = [index[0]!, index[150]!, index[2100]!, index[2700]!];
    const [q] = await withHolder(local, (t) => queryProduct({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, cache, records: probe }));
    expect((q as { matchedRows: number[] }).matchedRows).toEqual([1, 2]);

    // Rotation: a new OPRF key for the same product.
    const rotated = await publish(index.slice(0, 2000), productId);
    const [stale, servedStale] = await withHolder(rotated, (t) => queryProduct({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, cache, records: probe }));
    expect(stale).toBeInstanceOf(TermsRefusedError);
    expect((stale as Error).message).toMatch(/stale cache: .* fetch the cache again/);
    expect(servedStale).toBeInstanceOf(TermsRefusedError);
    const [full] = await withHolder(rotated, (t) => fetchProductCache({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, store }));
    expect(full).toMatchObject({ mode: 'full', count: 2000 });
    cache = (await openStoredProductCache(store, hospital.publicKey))!;
    const [q2] = await withHolder(rotated, (t) => queryProduct({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, cache, records: probe }));
    expect((q2 as { matchedRows: number[] }).matchedRows).toEqual([0, 1]);
  });

  it('an interrupted download resumes from the verified chunks already staged', async () => {
    // Two chunks need 2^17 values; the fetch does not care how they were made, so random values
    // stand in for OPRF outputs here.
    const raw = new Uint8Array((1 << 17) * 12);
    for (let off = 0; off < raw.length; off += 65536) globalThis.crypto.getRandomValues(raw.subarray(off, off + 65536));
    const sorted = sortProductValues(raw);
    const chunks = encodeCacheChunks(sorted);
    const manifest = { ...held.version.manifest, count: sorted.length / 12, chunks: chunks.map((c) => ({ size: c.length, sha256: productHash(c) })) };
    const big: Held = { version: { manifest, manifestBytes: signProductManifest(manifest, (m) => signMessage(hospital.secretKey, m)), chunks, sorted }, oprfKey: held.oprfKey, deltas: [] };
    expect(big.version.chunks.length).toBe(2);
    const store = createMemoryProductCacheStore();
    await store.stage(big.version.manifestBytes, 0, big.version.chunks[0]!);
    const [r] = await withHolder(big, (t) => fetchProductCache({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, store, productId: big.version.manifest.productId }));
    expect(r).toMatchObject({ mode: 'full', chunksResumed: 1, filesFetched: 1 });
    // A staged chunk that does not match is fetched again, not trusted.
    const store2 = createMemoryProductCacheStore();
    const bad = big.version.chunks[0]!.slice();
    bad[bad.length - 1]! ^= 1;
    await store2.stage(big.version.manifestBytes, 0, bad);
    const [r2] = await withHolder(big, (t) => fetchProductCache({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, store: store2, productId: big.version.manifest.productId }));
    expect(r2).toMatchObject({ mode: 'full', chunksResumed: 0, filesFetched: 2 });
  });

  it('concurrent queriers are served independently', async () => {
    const store = createMemoryProductCacheStore();
    await withHolder(held, (t) => fetchProductCache({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, store, productId: held.version.manifest.productId }));
    const cache = (await openStoredProductCache(store, hospital.publicKey))!;
    const inIndex = new Set(index);
    const sets = Array.from({ length: 4 }, (_, i) => [...index.slice(i * 100, i * 100 + 20 + i), ...randomIds(30, `9${i}`)]);
    const results = await Promise.all(
      sets.map((mine, i) =>
        withHolder(held, (t) => queryProduct({ transport: t, identity: i % 2 ? insurer : pharma, peerPublicKey: hospital.publicKey, cache, records: mine })),
      ),
    );
    results.forEach(([q], i) => {
      if (q instanceof Error) throw q;
      expect(q.matched).toBe(sets[i]!.filter((k) => inIndex.has(k)).length);
    });
  });

  it('the key budget is enforced before evaluation and refuses the next query on both sides', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-product-'));
    try {
      const ledger = await openLedger(join(dir, 'holder'), { owner: hospital });
      const qLedger = await openLedger(join(dir, 'querier'), { owner: pharma });
      const policy = parseBudgetPolicy({ period: 'day', maxQueries: 100, maxKeys: 50 });
      const productId = toHex(held.version.manifest.productId);
      const ids: string[] = [];
      const beforeRun: ServeProductOptions['beforeRun'] = async (terms, peer, ctx) => {
        const { id } = await reserveLedgerBudget(ledger, { counterparty: peer, policy, product: { id: productId, keys: terms.requesterSetSize }, sessionId: ctx.sessionId });
        ids.push(id);
      };
      const store = createMemoryProductCacheStore();
      await withHolder(held, (t) => fetchProductCache({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, store, productId: held.version.manifest.productId }));
      const cache = (await openStoredProductCache(store, hospital.publicKey))!;
      const run = (records: string[]) =>
        withHolder(held, (t) => queryProduct({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, cache, records, onReceipt: (r) => qLedger.append(r).then(() => {}) }), {
          beforeRun,
          onReceipt: (r) => ledger.append(r).then(() => {}),
        });
      const [q1, s1] = await run(index.slice(0, 30));
      expect(q1).not.toBeInstanceOf(Error);
      expect(s1).not.toBeInstanceOf(Error);
      const [q2, s2] = await run(index.slice(30, 60));
      // The holder refuses in the handshake (before any point is evaluated): both sides see the reason.
      expect(q2).toBeInstanceOf(TermsRefusedError);
      expect(s2).toBeInstanceOf(TermsRefusedError);
      expect((q2 as Error).message).toMatch(/30 of 50 keys of product/);
      const [q3] = await run(index.slice(30, 50));
      expect(q3).not.toBeInstanceOf(Error);
      for (const l of [ledger, qLedger]) {
        const receipts = await l.readReceipts();
        expect(receipts.map((r) => r.body.outcome)).toEqual(['completed', 'refused', 'completed']);
        expect(receipts.map((r) => r.body.options['keys-evaluated'])).toEqual(['30', undefined, '20']);
      }
      for (const id of ids) await releaseLedgerBudget(ledger, id);
      await ledger.close();
      await qLedger.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('hostile querier input is refused with typed errors before evaluation', async () => {
    const pid = held.version.manifest.productId;
    const { frame } = await createProductQuery(executor, pid, [keyOf('a'), keyOf('b')]);
    // more keys than declared
    await expect(answerProductQuery(executor, held.oprfKey, frame, 1)).rejects.toBeInstanceOf(LimitExceededError);
    // invalid point (low order: u = 0; off the curve: u on the twist)
    const zero = frame.slice();
    zero.fill(0, 5, 37);
    await expect(answerProductQuery(executor, held.oprfKey, zero, 2)).rejects.toBeInstanceOf(InvalidPointError);
    const twist = frame.slice();
    twist[5] = 2;
    twist.fill(0, 6, 37);
    await expect(answerProductQuery(executor, held.oprfKey, twist, 2)).rejects.toBeInstanceOf(InvalidPointError);
    // oversized batch header
    const big = new Uint8Array(5);
    big[0] = ProductMessageType.QUERY;
    new DataView(big.buffer).setUint32(1, MAX_QUERY_KEYS + 1);
    await expect(answerProductQuery(executor, held.oprfKey, big, MAX_QUERY_KEYS + 1)).rejects.toBeInstanceOf(LimitExceededError);
    // a session whose querier sends a bad point: the holder refuses and tells it
    const store = createMemoryProductCacheStore();
    await withHolder(held, (t) => fetchProductCache({ transport: t, identity: pharma, peerPublicKey: hospital.publicKey, store, productId: pid }));
    const cache = (await openStoredProductCache(store, hospital.publicKey))!;
    // A querier that passes the handshake honestly, then sends a low-order point: the holder ends
    // the session with InvalidPointError before multiplying, and the querier is told.
    const m = held.version.manifest;
    const hostile = async (declared: number, frame: Uint8Array): Promise<[unknown, unknown]> => {
      const [a, b] = createMemoryTransportPair();
      const querier = (async () => {
        const session = await establishSession({
          role: 'requester', transport: a, identity: pharma, peerPublicKey: hospital.publicKey,
          terms: withSecurityModel({
            protocol: 'product-query',
            options: { product: toHex(m.productId), 'product-version': productVersion(m), ...keySchemaTermsOptions({ columns: 1, profile: NORMALIZATION_PROFILE }) },
            purpose: '', recipients: ['requester'], requesterSetSize: declared, responderSetSize: { min: 0, max: 1 << 28 }, minIntersection: 0,
          }),
        });
        if (!session.accepted) {
          await session.close();
          throw new TermsRefusedError(session.refusalReason);
        }
        await session.channel.send(frame);
        return session.channel.receive();
      })().catch((e: Error) => e);
      return Promise.all([querier, serveProductSession({ transport: b, identity: hospital, allowAnyPeer: true, holder: holderOf(held), executor }).catch((e: Error) => e)]);
    };
    const [q1, s1] = await hostile(2, zero);
    expect(s1).toBeInstanceOf(InvalidPointError);
    expect(q1).toBeInstanceOf(InvalidPointError);
    const [q2, s2] = await hostile(1, frame);
    expect(s2).toBeInstanceOf(LimitExceededError);
    expect(q2).toBeInstanceOf(LimitExceededError);
    const [q3, s3] = await hostile(MAX_QUERY_KEYS + 1, big);
    expect(s3).toBeInstanceOf(Error);
    expect(q3).toBeInstanceOf(TermsRefusedError);
    expect((q3 as Error).message).toMatch(/1 to 65536 keys|maximum of 65536/);
  });
});

describe('per-key pricing under the guide price', () => {
  it('bills keys × perKey and refuses a perKey above guidePerKey', () => {
    const s = parsePriceSchedule({ id: 'p', currency: 'CNY', guidePerKey: 10, protocols: { 'product-query': { perRun: 100, perKey: 8 } } });
    expect(priceRun(s, { protocol: 'product-query', inputSizes: { requester: 1000, responder: 1 << 20 }, bytesExchanged: 0, outcome: 'completed' }).amountMinor).toBe(100 + 8000);
    expect(() => parsePriceSchedule({ id: 'p', currency: 'CNY', guidePerKey: 5, protocols: { 'product-query': { perKey: 8 } } })).toThrow(/exceeds the guide price/);
  });
});
