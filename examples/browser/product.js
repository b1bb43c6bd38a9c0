// Query a data product from the browser: the browser build of dataport (served from /dist/), the
// native WebSocket client, WebCrypto X25519 where the browser has it, and an in-memory cache store
// (it lives as long as the page; a real page could keep it in IndexedDB behind the same interface).
import {
  connectNativeWebSocket,
  createMemoryProductCacheStore,
  fetchProductCache,
  generateIdentity,
  initCrypto,
  openStoredProductCache,
  parsePublicKeyFile,
  queryProduct,
} from '/dist/index.js';

const $ = (id) => document.getElementById(id);
const identity = generateIdentity();
const store = createMemoryProductCacheStore();
const ready = initCrypto();
let cache;
$('myKey').textContent = `dataport-ed25519-public-v1 ${btoa(String.fromCharCode(...identity.publicKey))}`;

function state(s, text) {
  document.body.dataset.state = s;
  $('status').textContent = text;
}

async function withHolder(fn) {
  await ready;
  const peerPublicKey = parsePublicKeyFile($('peerKey').value);
  const transport = await connectNativeWebSocket($('url').value.trim());
  try {
    return await fn(transport, peerPublicKey);
  } finally {
    await transport.close().catch(() => {});
  }
}

$('fetch').addEventListener('click', async () => {
  state('busy', 'fetching the cache…');
  try {
    const r = await withHolder((transport, peerPublicKey) => fetchProductCache({ transport, identity, peerPublicKey, store, purpose: 'browser example' }));
    cache = await withHolder(async (_t, peerPublicKey) => openStoredProductCache(store, peerPublicKey));
    $('cacheInfo').textContent = `version ${r.productVersion}, ${r.count} keys, ${r.bytesReceived} bytes (${r.mode})`;
    $('query').disabled = false;
    state('fetched', `cache fetched in ${r.ms} ms`);
  } catch (err) {
    state('error', `error: ${err?.message ?? err}`);
  }
});

$('query').addEventListener('click', async () => {
  state('busy', 'querying…');
  try {
    const lines = $('keys').value.split('\n');
    const keys = lines.map((l) => l.trim()).filter((l) => l.length > 0);
    const r = await withHolder((transport, peerPublicKey) => queryProduct({ transport, identity, peerPublicKey, cache, records: keys, purpose: 'browser example' }));
    $('count').textContent = String(r.matched);
    const table = $('rows');
    for (const tr of [...table.querySelectorAll('tr')].slice(1)) tr.remove();
    for (const i of r.matchedRows) {
      const tr = document.createElement('tr');
      for (const v of [String(i + 1), keys[i]]) {
        const td = document.createElement('td');
        td.textContent = v;
        tr.append(td);
      }
      table.append(tr);
    }
    state('done', `${r.matched} of ${r.queried} keys found (version ${r.productVersion}), ${r.ms} ms`);
  } catch (err) {
    state('error', `error: ${err?.message ?? err}`);
  }
});
