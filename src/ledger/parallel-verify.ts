/**
 * Ledger verification with the Ed25519 checks spread over worker threads (Node-only). Three
 * signature checks per entry are most of the cost of `verify`; everything else (checksums,
 * decoding, the tree) stays on the calling thread, in order, so the first problem reported is the
 * same as with the sequential `verifyLedgerBytes`.
 *
 * The workers are self-contained (evaluated source using only `node:crypto`), so they need no
 * module path and work from the source tree, the build and the CLI bundle alike.
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ed25519Verify } from './hash.js';
import { ed25519Precheck } from '../crypto/ed25519.js';
import type { LoadedLedger, SignatureTask, VerifyLedgerOptions } from './verify.js';
import { verifyAndLoad, verifyAndLoadBatched } from './verify.js';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();
parentPort.on('message', ({ id, keys: pks, sigs, msgs, offs, n }) => {
  let bad = -1;
  for (let i = 0; i < n; i++) {
    const pk = Buffer.from(pks.buffer, pks.byteOffset + i * 32, 32);
    const id32 = pk.toString('latin1');
    let key = keys.get(id32);
    if (!key) {
      if (keys.size > 256) keys.clear();
      key = crypto.createPublicKey({ key: Buffer.concat([SPKI, pk]), format: 'der', type: 'spki' });
      keys.set(id32, key);
    }
    let ok = false;
    try {
      ok = crypto.verify(null, msgs.subarray(offs[i], offs[i + 1]), key, sigs.subarray(i * 64, i * 64 + 64));
    } catch {}
    if (!ok) { bad = i; break; }
  }
  parentPort.postMessage({ id, bad });
});
`;

/** Below this many signature checks the worker start-up costs more than it saves. */
const MIN_PARALLEL_TASKS = 6000;
const DEFAULT_CHUNK = 2000;

interface Chunk {
  id: number;
  start: number;
  keys: Uint8Array<ArrayBuffer>;
  sigs: Uint8Array<ArrayBuffer>;
  msgs: Uint8Array<ArrayBuffer>;
  offs: Uint32Array<ArrayBuffer>;
  n: number;
}

function pack(tasks: readonly SignatureTask[], start: number, id: number, chunkSize: number): Chunk {
  const n = Math.min(chunkSize, tasks.length - start);
  const keys = new Uint8Array(n * 32);
  const sigs = new Uint8Array(n * 64);
  const offs = new Uint32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) total += tasks[start + i]!.message.length;
  const msgs = new Uint8Array(total);
  let off = 0;
  for (let i = 0; i < n; i++) {
    const t = tasks[start + i]!;
    keys.set(t.publicKey, i * 32);
    // A malformed signature length cannot verify; leave zeros (the worker rejects them).
    if (t.signature.length === 64) sigs.set(t.signature, i * 64);
    offs[i] = off;
    msgs.set(t.message, off);
    off += t.message.length;
  }
  offs[n] = off;
  return { id, start, keys, sigs, msgs, offs, n };
}

/** Verifies `tasks` on `workers` threads; resolves the first failing position, or -1. */
async function verifyOnWorkers(tasks: readonly SignatureTask[], workers: number, chunkSize: number): Promise<number> {
  // The part of the one verification rule OpenSSL lacks (lengths, canonical non-small-order key,
  // S < L: crypto/ed25519.ts) runs here; the workers run OpenSSL's equation, as ed25519Verify does.
  let firstBad = tasks.findIndex((t) => !ed25519Precheck(t.publicKey, t.signature));
  const limit = firstBad >= 0 ? firstBad : tasks.length;
  const pool = Array.from({ length: workers }, () => new Worker(WORKER_SOURCE, { eval: true }));
  try {
    let next = 0;
    let id = 0;
    let stop = false;
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const pending = new Map<number, number>();
            const send = (): void => {
              if (stop || next >= limit) {
                resolve();
                return;
              }
              const chunk = pack(tasks, next, id++, chunkSize);
              next += chunk.n;
              pending.set(chunk.id, chunk.start);
              w.postMessage(chunk, [chunk.keys.buffer, chunk.sigs.buffer, chunk.msgs.buffer, chunk.offs.buffer]);
            };
            w.on('message', ({ id: cid, bad }: { id: number; bad: number }) => {
              const start = pending.get(cid)!;
              pending.delete(cid);
              if (bad >= 0) {
                const pos = start + bad;
                if (firstBad < 0 || pos < firstBad) firstBad = pos;
                // Chunks not yet handed out all lie after this failure: stop. Chunks before it,
                // still running on other workers, are awaited (one may hold an earlier failure).
                stop = true;
              }
              send();
            });
            w.on('error', reject);
            send();
          }),
      ),
    );
    return firstBad;
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

/** Options of {@link verifyLedgerBytesParallel}. */
export interface ParallelVerifyOptions extends VerifyLedgerOptions {
  /** Worker threads (default: available cores, at most 8; 1 = sequential on this thread). */
  workers?: number;
  /** Fewer signature checks than this are done on this thread (default 6000; tests lower it). */
  minParallelTasks?: number;
  /** Signature checks per message to a worker (default 2000; tests lower it). */
  chunkSize?: number;
}

/** {@link verifyAndLoad} with signature checks on worker threads when the ledger is large enough. */
export async function verifyLedgerBytesParallel(log: Uint8Array, options: ParallelVerifyOptions = {}): Promise<LoadedLedger> {
  const workers = options.workers ?? Math.min(8, availableParallelism());
  if (workers <= 1) return verifyAndLoad(log, options);
  return verifyAndLoadBatched(log, options, async (tasks) => {
    if (tasks.length < (options.minParallelTasks ?? MIN_PARALLEL_TASKS)) return tasks.findIndex((t) => !ed25519Verify(t.publicKey, t.message, t.signature));
    return verifyOnWorkers(tasks, workers, options.chunkSize ?? DEFAULT_CHUNK);
  });
}
