/**
 * `dataport product publish | update | serve | fetch | query`: data products (unbalanced PSI with
 * a published OPRF key index). See docs/products.md and docs/cli.md.
 * @module
 */
import { mkdir, stat } from 'node:fs/promises';
import { AbortError, DataportError, InputError, TimeoutError } from '../../errors.js';
import { DirectoryLock } from '../../ledger/lock.js';
import type { Ledger } from '../../ledger/file-ledger.js';
import { releaseLedgerBudget, reserveLedgerBudget } from '../../ledger/reservations.js';
import type { BudgetPolicy } from '../../ledger/budget.js';
import type { UsageReceipt } from '../../ledger/receipt-types.js';
import { createInlineExecutor, type CryptoExecutor } from '../../protocols/executor.js';
import { MAX_INDEX_KEYS, MAX_NOTE_BYTES, MAX_QUERY_KEYS, openProductCache } from '../../protocols/product/cache.js';
import { buildProduct, buildProductUpdate } from '../../protocols/product/publish.js';
import { NORMALIZATION_PROFILE, normalizeKey } from '../../protocols/psi/normalize.js';
import type { Identity } from '../../session/identity.js';
import { signMessage } from '../../session/identity.js';
import {
  fetchProductCache,
  openStoredProductCache,
  PRODUCT_PROTOCOLS,
  queryProduct,
  serveProductSession,
  type ServeProductResult,
} from '../../session/run-product.js';
import type { SessionTerms } from '../../session/messages.js';
import type { BeforeRunContext } from '../../session/session.js';
import type { FrameTransport } from '../../transport/types.js';
import { connectWebSocket } from '../../transport/websocket-node.js';
import { toBase64, toHex } from '../../utils/bytes.js';
import { createWorkerPool } from '../../workers/index.js';
import { intOption, parseColumnList, parseCommandArgs, parseHostPort, progressHelp, progressOption, PROGRESS_OPTION_SPECS, secondsOption, stringOption } from '../args.js';
import { loadIdentity, loadNamedKeys, loadPeerKey } from '../identity-files.js';
import { keyBytes, readInputKeys, writeMatchingRows, type KeyInput } from '../key-input.js';
import { checkInputOptions, openInput } from '../record-input.js';
import { keySketchHook, loadBudgetPolicy, loadPriceSchedule, openCliLedger, recordReceipt } from '../ledger-wiring.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_LISTEN_TIMEOUT_MS, serveListener, setRefusalLog } from '../listen-loop.js';
import { outputExistsMessage, PRODUCT_ERROR_HINTS, PRODUCT_MESSAGES, PSI_MESSAGES, SESSION_MESSAGES, sessionTimedOutMessage } from '../messages.js';
import { createFileProductCacheStore, loadProductHolder, readHolderChunks, readHolderManifest, readOprfKey, writeProductVersion } from '../product-files.js';
import { createProgress, progressHook, type Progress } from '../progress.js';
import { cliSignal } from '../signals.js';
import { createReporter, type Reporter } from '../summary.js';

const HELP = `usage:
  dataport product publish --input SRC --key COL[,COL…] --identity DIR --out PRODUCT_DIR [--version-note TEXT]
  dataport product update  --product PRODUCT_DIR --identity DIR [--add SRC] [--remove SRC] --key COL[,COL…] [--version-note TEXT]
  dataport product serve   --listen HOST:PORT --product PRODUCT_DIR --identity DIR
                           (--peer-keys DIR | --allow-any-peer) --ledger DIR [--budget FILE] [--price-schedule FILE]
  dataport product fetch   --connect ws://HOST:PORT --identity DIR --peer-key FILE --cache DIR [--product-id HEX]
  dataport product query   --connect ws://HOST:PORT --identity DIR --peer-key FILE --cache DIR
                           --input SRC --key COL[,COL…] [--output FILE] [--json]

A data product is a key index (e.g. a hospital's patient IDs) that many queriers check a few keys
against (unbalanced PSI with an EC-OPRF): the holder publishes an encrypted cache of its keys'
OPRF outputs once; a querier fetches it once (resumable, verified against the holder's signed
manifest) and then each query sends only its own keys, blinded. The querier learns which of its
keys are in the index; the holder learns how many keys were queried.

publish   evaluates every key under a fresh OPRF key; writes PRODUCT_DIR (a new product, or, if
          PRODUCT_DIR already holds one, a key rotation: new version, old caches stop working)
update    adds / removes keys: a new version under the same key, with a delta for queriers
serve     serves fetches and queries until interrupted, many queriers at once; every query is
          charged to the querier's budget (--budget: maxKeys per period per product) BEFORE it is
          evaluated, and the co-signed receipt goes to --ledger
fetch     downloads the cache, or only the deltas since the version in --cache
query     queries the product with the keys of --input; --output writes the rows found

options:
  --input SRC            CSV file with a header row, or a postgres:// / mysql:// URL with --query
  --query SQL            (publish, query) the SELECT whose rows a database --input reads
  --key COL[,COL…]       key column(s); normalised as in dataport psi (NFKC, trim, lower case)
  --identity DIR         this party's identity (dataport keygen)
  --out / --product DIR  the holder's product folder
  --version-note TEXT    free text recorded in the signed manifest (at most ${MAX_NOTE_BYTES} bytes)
  --add SRC / --remove SRC  keys to add / remove (update)
  --listen HOST:PORT     serve address (port 0: any free port, printed on stderr)
  --peer-keys DIR        accept queriers whose *.pub keys are in DIR; --allow-any-peer: anyone authenticated
  --ledger DIR           the usage ledger (required for serve; optional for fetch / query)
  --budget FILE          JSON: {"period":"day","maxQueries":100,"maxKeys":10000} (maxKeys: keys
                         evaluated per period per product, per counterparty)
  --price-schedule FILE  JSON price schedule pricing "product-query" (e.g. {"perKey": N}, at most
                         the schedule's "guidePerKey") and "product-fetch" (or a default)
  --connect URL          the holder's address (ws:// or wss://)
  --peer-key FILE        the holder's identity.pub (pinned; it also signs the cache)
  --cache DIR            the querier's cache folder
  --product-id HEX       the product to fetch the first time (default: the one the holder serves)
  --purpose TEXT         purpose / authorisation reference (recorded in both ledgers)
  --output FILE          rows of --input whose key is in the index (query); --force to replace
  --workers N            worker threads for publish / update (default: cores; 0 = inline)
  --refusal-log FILE     (serve) also append each refused connection to FILE as a JSON line
                         (for dataport supervise --listener-log)
  --timeout SECONDS      per session (default ${DEFAULT_LISTEN_TIMEOUT_MS / 1000})
  --json                 one-line JSON summary as the last line of stdout
${progressHelp()}

Limits: at most ${MAX_INDEX_KEYS} keys per product and ${MAX_QUERY_KEYS} distinct keys per query, so a query
has a false positive with probability at most 2^-52 (96-bit truncated OPRF outputs).`;

const SPEC = {
  input: { type: 'string' },
  query: { type: 'string' },
  key: { type: 'string' },
  identity: { type: 'string' },
  out: { type: 'string' },
  product: { type: 'string' },
  'version-note': { type: 'string' },
  add: { type: 'string' },
  remove: { type: 'string' },
  listen: { type: 'string' },
  'peer-keys': { type: 'string' },
  'allow-any-peer': { type: 'boolean' },
  'refusal-log': { type: 'string' },
  ledger: { type: 'string' },
  budget: { type: 'string' },
  'price-schedule': { type: 'string' },
  connect: { type: 'string' },
  'peer-key': { type: 'string' },
  cache: { type: 'string' },
  'product-id': { type: 'string' },
  purpose: { type: 'string' },
  output: { type: 'string' },
  force: { type: 'boolean' },
  workers: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...PROGRESS_OPTION_SPECS,
} as const;

type Values = ReturnType<typeof parseCommandArgs>['values'];

const ALLOWED: Record<string, readonly string[]> = {
  publish: ['input', 'query', 'key', 'identity', 'out', 'version-note', 'workers'],
  update: ['product', 'identity', 'add', 'remove', 'key', 'version-note', 'workers'],
  serve: ['listen', 'product', 'identity', 'peer-keys', 'allow-any-peer', 'ledger', 'budget', 'price-schedule', 'timeout', 'workers', 'refusal-log'],
  fetch: ['connect', 'identity', 'peer-key', 'cache', 'product-id', 'purpose', 'ledger', 'timeout'],
  query: ['connect', 'identity', 'peer-key', 'cache', 'input', 'query', 'key', 'output', 'force', 'purpose', 'ledger', 'timeout'],
};
const COMMON = ['json', 'help', ...Object.keys(PROGRESS_OPTION_SPECS)];

function checkAllowed(sub: string, values: Values): void {
  for (const [k, v] of Object.entries(values)) {
    if (v === undefined || COMMON.includes(k)) continue;
    if (!ALLOWED[sub]!.includes(k)) throw new InputError(PRODUCT_MESSAGES.notApplicable(k, sub));
  }
}

async function withExecutor<T>(values: Values, fn: (ex: CryptoExecutor) => Promise<T>): Promise<T> {
  const workers = intOption(values, 'workers', 0, 256);
  const ex = workers === 0 ? await createInlineExecutor() : await createWorkerPool(workers !== undefined ? { workers } : {});
  try {
    return await fn(ex);
  } finally {
    await ex.close().catch(() => {});
  }
}

/**
 * The distinct keys of `path`: a CSV file, or (with `query`, `--input` only) a postgres:// or
 * mysql:// URL read through the same input function as `dataport psi` (record-input.ts).
 */
async function readKeyFile(path: string, flag: string, columns: string[], progress: Progress, reporter: Reporter, maxKeys: number, query?: string): Promise<KeyInput> {
  progress.phase(`reading ${flag}`, (await stat(path).catch(() => ({ size: 0 }))).size, 'B');
  try {
    checkInputOptions(path, query);
    const reader = await openInput(path, query, { keepOpen: false });
    const input = await readInputKeys(reader, columns, normalizeKey, { onBytes: (n) => progress.update(n), signal: cliSignal, maxKeys: maxKeys + 1 });
    if (input.ids.length > maxKeys) throw new InputError(PRODUCT_MESSAGES.tooManyKeys(flag, path, maxKeys));
    if (input.skippedRows > 0) reporter.warn(PRODUCT_MESSAGES.skippedRows(flag, input.skippedRows, input.firstSkippedRow));
    return input;
  } finally {
    progress.end();
    progress.stop();
  }
}

function noteOf(values: Values): string | undefined {
  const note = stringOption(values, 'version-note');
  if (note !== undefined && new TextEncoder().encode(note).length > MAX_NOTE_BYTES) throw new InputError(PRODUCT_MESSAGES.noteTooLong(MAX_NOTE_BYTES));
  return note;
}

function signer(identity: Identity): (m: Uint8Array) => Uint8Array {
  return (m) => signMessage(identity.secretKey, m);
}

async function publish(values: Values, reporter: Reporter, progress: Progress, t0: number): Promise<number> {
  const input = stringOption(values, 'input', true);
  const columns = parseColumnList(stringOption(values, 'key', true), '--key');
  const out = stringOption(values, 'out', true);
  const identity = await loadIdentity(stringOption(values, 'identity', true), reporter);
  const note = noteOf(values);
  // Publishing into a folder that holds a product is a rotation: same product id, new key.
  const existing = await readHolderManifest(out, identity.publicKey).catch((e: unknown) => (String((e as Error).message).includes('no published product') ? undefined : Promise.reject(e)));
  const keys = await readKeyFile(input, '--input', columns, progress, reporter, MAX_INDEX_KEYS, stringOption(values, 'query'));
  progress.phase('evaluating OPRF', keys.ids.length, 'keys');
  const built = await withExecutor(values, (executor) =>
    buildProduct({
      executor,
      records: keys.ids.map(keyBytes),
      keyColumns: columns.length,
      profile: NORMALIZATION_PROFILE,
      holderPublicKey: identity.publicKey,
      sign: signer(identity),
      ...(existing ? { productId: existing.manifest.productId } : {}),
      ...(note !== undefined ? { note } : {}),
      signal: cliSignal,
    }),
  );
  progress.end();
  await mkdir(out, { recursive: true, mode: 0o700 });
  await writeProductVersion(out, built, { oprfKey: built.oprfKey, ...(existing ? { previous: existing.manifest } : {}) });
  built.oprfKey.fill(0);
  const m = built.manifest;
  const bytes = built.chunks.reduce((s, c) => s + c.length, 0);
  reporter.info(PRODUCT_MESSAGES.published(existing !== undefined, toHex(m.productId), `${toHex(m.keyId)}.${m.seq}`, m.count, bytes, out));
  if (existing) reporter.warn(PRODUCT_MESSAGES.rotated());
  reporter.json({ ok: true, action: existing ? 'rotate' : 'publish', productId: toHex(m.productId), productVersion: `${toHex(m.keyId)}.${m.seq}`, keys: m.count, inputRecords: keys.rows, cacheBytes: bytes, ms: Math.round(performance.now() - t0) });
  return 0;
}

async function update(values: Values, reporter: Reporter, progress: Progress, t0: number): Promise<number> {
  const dir = stringOption(values, 'product', true);
  const columns = parseColumnList(stringOption(values, 'key', true), '--key');
  const addPath = stringOption(values, 'add');
  const removePath = stringOption(values, 'remove');
  if (addPath === undefined && removePath === undefined) throw new InputError(PRODUCT_MESSAGES.addOrRemove());
  const identity = await loadIdentity(stringOption(values, 'identity', true), reporter);
  const note = noteOf(values);
  const { manifest } = await readHolderManifest(dir, identity.publicKey);
  if (columns.length !== manifest.keyColumns) throw new InputError(PRODUCT_MESSAGES.keyColumns(columns.length, manifest.keyColumns));
  const oprfKey = await readOprfKey(dir, manifest);
  const add = addPath !== undefined ? (await readKeyFile(addPath, '--add', columns, progress, reporter, MAX_INDEX_KEYS)).ids.map(keyBytes) : [];
  const remove = removePath !== undefined ? (await readKeyFile(removePath, '--remove', columns, progress, reporter, MAX_INDEX_KEYS)).ids.map(keyBytes) : [];
  const current = openProductCache(manifest, await readHolderChunks(dir, manifest));
  const u = await withExecutor(values, (executor) =>
    buildProductUpdate({
      executor,
      oprfKey,
      current: manifest,
      currentSorted: current.values(),
      add,
      remove,
      sign: signer(identity),
      ...(note !== undefined ? { note } : {}),
      signal: cliSignal,
    }),
  );
  await writeProductVersion(dir, u, { delta: u.delta, previous: manifest });
  oprfKey.fill(0);
  if (u.alreadyPresent > 0) reporter.warn(PRODUCT_MESSAGES.alreadyPresent(u.alreadyPresent));
  if (u.notPresent > 0) reporter.warn(PRODUCT_MESSAGES.notPresent(u.notPresent));
  const v = `${toHex(u.manifest.keyId)}.${u.manifest.seq}`;
  reporter.info(PRODUCT_MESSAGES.updated(toHex(u.manifest.productId), v, u.added, u.removed, u.manifest.count, u.delta.length));
  reporter.json({ ok: true, action: 'update', productId: toHex(u.manifest.productId), productVersion: v, added: u.added, removed: u.removed, keys: u.manifest.count, deltaBytes: u.delta.length, ms: Math.round(performance.now() - t0) });
  return 0;
}

async function openLedgerOption(values: Values, identity: Identity, required: boolean): Promise<Ledger | undefined> {
  const dir = required ? stringOption(values, 'ledger', true) : stringOption(values, 'ledger');
  return dir === undefined ? undefined : openCliLedger(dir, identity);
}

/** The budget hook of one served session: reserves one query and its keys of this product. */
function productBudget(ledger: Ledger, policy: BudgetPolicy | undefined): ((t: SessionTerms, peer: Uint8Array, ctx: BeforeRunContext) => Promise<void>) & { release(): Promise<void> } {
  let id: string | undefined;
  const hook = async (terms: SessionTerms, peer: Uint8Array, ctx: BeforeRunContext): Promise<void> => {
    if (!policy) return;
    // A fetch uses one query of the budget and no keys; a query also its keys of this product.
    const product = terms.protocol === PRODUCT_PROTOCOLS.query ? { product: { id: terms.options['product']!, keys: terms.requesterSetSize } } : {};
    id = (await reserveLedgerBudget(ledger, { counterparty: peer, policy, records: 0, ...product, sessionId: ctx.sessionId })).id;
  };
  return Object.assign(hook, { release: async () => (id !== undefined ? releaseLedgerBudget(ledger, id).catch(() => undefined) : undefined) });
}

async function serve(values: Values, reporter: Reporter): Promise<number> {
  const listen = parseHostPort(stringOption(values, 'listen', true), '--listen');
  const dir = stringOption(values, 'product', true);
  const peerKeysDir = stringOption(values, 'peer-keys');
  const anyPeer = values['allow-any-peer'] === true;
  if ((peerKeysDir === undefined) === !anyPeer) throw new InputError(PRODUCT_MESSAGES.peerKeysOrAny());
  const timeoutMs = secondsOption(values, 'timeout', DEFAULT_LISTEN_TIMEOUT_MS);
  setRefusalLog(stringOption(values, 'refusal-log'));
  const schedulePath = stringOption(values, 'price-schedule');
  // Fetches are sessions too (recorded, and billed if the schedule says so): both must be priced.
  const schedule = schedulePath !== undefined ? await loadPriceSchedule(schedulePath, PRODUCT_PROTOCOLS.query) : undefined;
  if (schedulePath !== undefined) await loadPriceSchedule(schedulePath, PRODUCT_PROTOCOLS.fetch);
  const budgetPath = stringOption(values, 'budget');
  const budget = budgetPath !== undefined ? await loadBudgetPolicy(budgetPath) : undefined;
  if (budget?.maxRecords !== undefined) throw new InputError(PRODUCT_MESSAGES.budgetRecords(budgetPath!));
  const identity = await loadIdentity(stringOption(values, 'identity', true), reporter);
  const allowedPeers = peerKeysDir !== undefined ? (await loadNamedKeys(peerKeysDir, '--peer-keys', 10_000)).map((k) => k.key) : undefined;
  const first = await loadProductHolder(dir, identity.publicKey); // checked before listening
  const ledger = (await openLedgerOption(values, identity, true))!;
  if (anyPeer) reporter.warn(PRODUCT_MESSAGES.allowAnyPeer());
  const workers = intOption(values, 'workers', 0, 256);
  const executor = workers === 0 ? await createInlineExecutor() : await createWorkerPool(workers !== undefined ? { workers } : {});
  let served = 0;
  let failed = 0;
  try {
    const r = await serveListener<ServeProductResult>(
      {
        listen,
        limits: { overallTimeoutMs: timeoutMs, idleTimeoutMs: Math.min(120_000, timeoutMs) },
        handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_MS,
        maxSessions: 16,
        keepServing: true,
        run: async (transport) => {
          const holder = await loadProductHolder(dir, identity.publicKey);
          const hook = productBudget(ledger, budget);
          try {
            return await serveProductSession({
              transport,
              identity,
              holder,
              executor,
              ...(allowedPeers ? { allowedPeers } : { allowAnyPeer: true }),
              beforeRun: hook,
              ...(schedule ? { priceSchedule: schedule } : {}),
              onReceipt: async (receipt: UsageReceipt) => void (await recordReceipt(ledger, receipt)),
              signal: AbortSignal.any([cliSignal, AbortSignal.timeout(timeoutMs)]),
            });
          } finally {
            holder.oprfKey.fill(0);
            await hook.release();
          }
        },
        onServed: ({ result, error }, who) => {
          if (result) {
            served++;
            const query = result.protocol === PRODUCT_PROTOCOLS.query;
            reporter.info(PRODUCT_MESSAGES.served(who, toBase64(result.peerPublicKey), query, query ? result.keysEvaluated : result.filesSent, result.productVersion, result.receipt.body.billing));
            reporter.json({ ok: true, protocol: result.protocol, peerKey: toBase64(result.peerPublicKey), keysEvaluated: result.keysEvaluated, productVersion: result.productVersion, bytesSent: result.bytesSent, bytesReceived: result.bytesReceived });
            return;
          }
          failed++;
          process.stderr.write(`dataport: ${SESSION_MESSAGES.sessionFailed(who, String((error as Error)?.message ?? error).replace(/\s*\n\s*/g, ' '))}\n`);
        },
      },
      (server) => {
        process.stderr.write(`${SESSION_MESSAGES.listening(server.address().url)}\n`);
        reporter.info(PRODUCT_MESSAGES.serving(toHex(first.manifest.productId), `${toHex(first.manifest.keyId)}.${first.manifest.seq}`, first.manifest.count));
        first.oprfKey.fill(0);
      },
    );
    if ('error' in r && !(r.error instanceof AbortError)) throw r.error;
    reporter.info(PSI_MESSAGES.stopped(served, failed));
    return 0;
  } finally {
    await executor.close().catch(() => {});
    await ledger.close();
    identity.secretKey.fill(0);
  }
}

function asRunError(err: unknown, signal: AbortSignal, where: string, timeoutMs: number): unknown {
  if (signal.aborted && !cliSignal.aborted && (err instanceof AbortError || !(err instanceof DataportError))) {
    return new TimeoutError(sessionTimedOutMessage(`${timeoutMs / 1000}s`, where));
  }
  if (err instanceof DataportError && !(err instanceof InputError)) {
    const hint = PRODUCT_ERROR_HINTS[err.code];
    if (hint !== undefined && !err.message.startsWith(hint)) return new DataportError(err.code, `${hint}${err.message}`, { cause: err });
  }
  return err;
}

/** Connects, runs `fn` over the transport, records the receipt in `--ledger` if given. */
async function asQuerier<T extends { receipt: UsageReceipt }>(
  values: Values,
  reporter: Reporter,
  fn: (c: { transport: FrameTransport; identity: Identity; peerKey: Uint8Array; signal: AbortSignal; onReceipt: (r: UsageReceipt) => Promise<void>; sketch: ReturnType<typeof keySketchHook> }) => Promise<T>,
): Promise<T & { ledgerIndex?: number }> {
  const url = stringOption(values, 'connect', true);
  const timeoutMs = secondsOption(values, 'timeout', DEFAULT_LISTEN_TIMEOUT_MS);
  const identity = await loadIdentity(stringOption(values, 'identity', true), reporter);
  const peerKey = await loadPeerKey(stringOption(values, 'peer-key', true));
  const ledger = await openLedgerOption(values, identity, false);
  const signal = AbortSignal.any([cliSignal, AbortSignal.timeout(timeoutMs)]);
  let index: number | undefined;
  let transport: FrameTransport | undefined;
  try {
    transport = await connectWebSocket(url, { limits: { overallTimeoutMs: timeoutMs, idleTimeoutMs: Math.min(120_000, timeoutMs) }, connectTimeoutMs: Math.min(30_000, timeoutMs), signal });
    const r = await fn({
      sketch: keySketchHook(ledger),
      transport,
      identity,
      peerKey,
      signal,
      onReceipt: async (receipt) => {
        if (ledger) index = (await recordReceipt(ledger, receipt)).index;
      },
    });
    return index !== undefined ? { ...r, ledgerIndex: index } : r;
  } catch (err) {
    throw asRunError(err, signal, url, timeoutMs);
  } finally {
    await transport?.close().catch(() => {});
    await ledger?.close();
    identity.secretKey.fill(0);
  }
}

async function fetch(values: Values, reporter: Reporter, progress: Progress): Promise<number> {
  const cacheDir = stringOption(values, 'cache', true);
  const pidHex = stringOption(values, 'product-id');
  if (pidHex !== undefined && !/^[0-9a-f]{32}$/.test(pidHex)) throw new InputError(PRODUCT_MESSAGES.productId());
  const purpose = stringOption(values, 'purpose') ?? '';
  // One fetch at a time per --cache (docs/products.md): a second one fails at once, before it
  // connects, rather than write the same files; a lock left by a dead process is broken.
  await mkdir(cacheDir, { recursive: true }).catch((err: unknown) => {
    throw new InputError(PRODUCT_MESSAGES.cacheUnwritable(cacheDir, err));
  });
  const lock = new DirectoryLock(cacheDir, { file: 'fetch.lock', busyMessage: (pid, path) => PRODUCT_MESSAGES.cacheBusy(cacheDir, pid, path) });
  try {
    await lock.acquire({ timeoutMs: 0 });
  } catch (err) {
    throw err instanceof TimeoutError ? new InputError(err.message, { cause: err }) : err;
  }
  let r;
  try {
    r = await asQuerier(values, reporter, async ({ transport, identity, peerKey, signal, onReceipt }) => {
      const store = createFileProductCacheStore(cacheDir, peerKey);
      const productId = pidHex !== undefined ? Uint8Array.from(Buffer.from(pidHex, 'hex')) : undefined;
      return fetchProductCache({ transport, identity, peerPublicKey: peerKey, store, signal, purpose, onReceipt, onProgress: progressHook(progress), ...(productId ? { productId } : {}) });
    });
  } finally {
    await lock.release().catch(() => {});
  }
  progress.stop();
  reporter.info(
    r.mode === 'up-to-date'
      ? PRODUCT_MESSAGES.upToDate(cacheDir, r.productVersion, r.count)
      : PRODUCT_MESSAGES.fetched(cacheDir, r.productVersion, r.count, r.mode === 'delta', r.filesFetched, r.chunksResumed, r.bytesReceived),
  );
  reporter.json({ ok: true, productVersion: r.productVersion, mode: r.mode, keys: r.count, filesFetched: r.filesFetched, chunksResumed: r.chunksResumed, bytesSent: r.bytesSent, bytesReceived: r.bytesReceived, ms: r.ms, ledgerIndex: r.ledgerIndex ?? null });
  return 0;
}

async function query(values: Values, reporter: Reporter, progress: Progress): Promise<number> {
  const cacheDir = stringOption(values, 'cache', true);
  const inputPath = stringOption(values, 'input', true);
  const columns = parseColumnList(stringOption(values, 'key', true), '--key');
  const output = stringOption(values, 'output');
  const force = values.force === true;
  if (output !== undefined && !force && (await stat(output).catch(() => undefined))) throw new InputError(`--output ${outputExistsMessage(output)}`);
  const purpose = stringOption(values, 'purpose') ?? '';
  const input = await readKeyFile(inputPath, '--input', columns, progress, reporter, MAX_QUERY_KEYS, stringOption(values, 'query'));
  // --output copies the matching rows of a CSV file; a database --input has no file to copy from.
  if (output !== undefined && input.scan === undefined) throw new InputError(PRODUCT_MESSAGES.outputNeedsFile());
  if (input.ids.length === 0) throw new InputError(PRODUCT_MESSAGES.noKeys(inputPath));
  const r = await asQuerier(values, reporter, async ({ transport, identity, peerKey, signal, onReceipt, sketch }) => {
    const store = createFileProductCacheStore(cacheDir, peerKey);
    const cache = await openStoredProductCache(store, peerKey);
    if (!cache) throw new InputError(PRODUCT_MESSAGES.cacheMissing(cacheDir));
    return queryProduct({ transport, identity, peerPublicKey: peerKey, cache, records: input.fields, keySchema: { columns }, purpose, signal, onReceipt, ...sketch });
  });
  let outputRows: number | null = null;
  if (output !== undefined) {
    const matches = new Set(r.matchedRows.map((i) => input.ids[i]!));
    outputRows = await writeMatchingRows(inputPath, output, columns, normalizeKey, matches, input.scan!.sha256, { signal: cliSignal, force });
  }
  reporter.info(PRODUCT_MESSAGES.found(r.matched, r.queried, r.productVersion));
  if (outputRows !== null) reporter.info(PSI_MESSAGES.wroteRows(outputRows, output!));
  if (r.receipt.body.billing) reporter.info(SESSION_MESSAGES.billed(r.receipt.body.billing));
  reporter.json({ ok: true, productVersion: r.productVersion, queried: r.queried, matched: r.matched, bytesSent: r.bytesSent, bytesReceived: r.bytesReceived, ms: r.ms, outputRows, ledgerIndex: r.ledgerIndex ?? null });
  return 0;
}

/**
 * Runs `dataport product <sub>`; returns the exit code.
 * @example
 * ```ts
 * process.exitCode = await run(['query', '--connect', 'ws://127.0.0.1:7400', '--identity', 'keys/pharma', '--peer-key', 'keys/hospital.pub',
 *   '--cache', 'cache', '--input', 'ids.csv', '--key', 'resident_id', '--json']);
 * ```
 */
export async function run(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub === undefined ? console.error : console.log)(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (!Object.hasOwn(ALLOWED, sub)) throw new InputError(PRODUCT_MESSAGES.unknownSub(sub));
  const { values } = parseCommandArgs(`product ${sub}`, rest, SPEC);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  checkAllowed(sub, values);
  const reporter = createReporter(values.json === true);
  const progress = createProgress(sub === 'serve' ? { mode: 'none' } : progressOption(values));
  try {
    switch (sub) {
      case 'publish':
        return await publish(values, reporter, progress, t0);
      case 'update':
        return await update(values, reporter, progress, t0);
      case 'serve':
        return await serve(values, reporter);
      case 'fetch':
        return await fetch(values, reporter, progress);
      default:
        return await query(values, reporter, progress);
    }
  } finally {
    progress.stop();
  }
}
