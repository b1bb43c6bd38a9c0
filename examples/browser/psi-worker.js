// The PSI runs here, in a module Web Worker, so hashing and masking never block the page.
// It uses the browser build of dataport (served from /dist/): the WebCrypto X25519 backend when the
// browser has it, the WebAssembly hash-to-curve, and the native WebSocket client.
import {
  connectNativeWebSocket,
  createInlineExecutor,
  generateIdentity,
  initCrypto,
  parsePublicKeyFile,
  runPsi,
} from '/dist/index.js';

const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

// A fresh identity per page load; a real deployment would load a stored key instead.
const identity = generateIdentity();
const ready = initCrypto();
postMessage({ type: 'ready', publicKey: `dataport-ed25519-public-v1 ${btoa(String.fromCharCode(...identity.publicKey))}` });

self.addEventListener('message', async (e) => {
  const m = e.data;
  if (m?.type !== 'run') return;
  let transport;
  try {
    await ready;
    const peerPublicKey = parsePublicKeyFile(m.peerKey);
    transport = await connectNativeWebSocket(m.url);
    const executor = await createInlineExecutor();
    const r = await runPsi({
      role: 'requester',
      records: m.keys,
      transport,
      identity,
      peerPublicKey,
      executor,
      terms: { reveal: m.reveal === 'both' ? 'both' : 'requester', purpose: 'browser example' },
      onProgress: (p) => postMessage({ type: 'progress', phase: p.phase, done: p.points, total: p.totalPoints }),
    });
    postMessage({
      type: 'result',
      intersectionSize: r.intersectionSize,
      intersectionRows: r.intersectionRows,
      distinctKeys: r.distinctKeys,
      peerDistinctKeys: r.peerDistinctKeys,
      bytesSent: r.bytesSent,
      bytesReceived: r.bytesReceived,
      ms: r.ms,
      sessionId: hex(r.sessionId),
    });
  } catch (err) {
    // Only the message: a stack trace would say nothing useful to the user.
    postMessage({ type: 'error', message: err?.message ?? String(err) });
    try {
      await transport?.close();
    } catch {
      // already closed
    }
  }
});
