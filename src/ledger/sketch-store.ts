/**
 * The key sketches a party keeps beside its ledger (`<ledger>/sketches/<session id hex>.json`,
 * mode 0600), one per run that recorded a `<role>-sketch-commit` (src/ledger/key-sketch.ts). They
 * never leave the party; `dataport supervise` reads them and checks each against its receipt's
 * commitment before using it.
 * @module
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MalformedMessageError } from '../errors.js';
import { assertBytes, fromBase64, fromHex, toBase64, toHex } from '../utils/bytes.js';
import { KEY_SKETCH_K, KEY_SKETCH_SALT_BYTES, decodeKeySketch, keySketchCommitment, type KeySketch } from './key-sketch.js';

/**
 * The folder of a ledger directory holding its key sketches.
 * @example
 * ```ts
 * const dir = join(ledgerDir, KEY_SKETCH_DIR);
 * ```
 */
export const KEY_SKETCH_DIR = 'sketches';
/** Larger files are not sketches (a guard before parsing). */
const MAX_SKETCH_FILE_BYTES = 4096 + KEY_SKETCH_K * 16;

/**
 * Writes one run's sketch beside the ledger (atomically: a temporary file renamed into place).
 * @example
 * ```ts
 * await writeKeySketch(ledger.dir, { sessionId, role, sketch, salt });
 * ```
 */
export async function writeKeySketch(
  ledgerDir: string,
  stored: { sessionId: Uint8Array; role: string; sketch: Uint8Array; salt: Uint8Array },
): Promise<string> {
  if (typeof ledgerDir !== 'string' || ledgerDir === '') throw new TypeError('ledgerDir must be a non-empty string');
  assertBytes(stored.sessionId, 'stored.sessionId', 16);
  assertBytes(stored.salt, 'stored.salt', KEY_SKETCH_SALT_BYTES);
  decodeKeySketch(stored.sketch);
  const dir = join(ledgerDir, KEY_SKETCH_DIR);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const name = `${toHex(stored.sessionId)}.json`;
  const json = `${JSON.stringify({ version: 1, sessionId: toHex(stored.sessionId), role: stored.role, sketch: toBase64(stored.sketch), salt: toHex(stored.salt) })}\n`;
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  await fsp.writeFile(tmp, json, { mode: 0o600 });
  await fsp.rename(tmp, join(dir, name));
  return join(dir, name);
}

/**
 * Reads the sketch of session `sessionIdHex` and checks it against `commit` (the receipt's
 * `<role>-sketch-commit`). Resolves `{ sketch }` when it matches, `{ problem: 'missing' }` without
 * a file, and `{ problem: 'mismatch' | 'malformed' }` otherwise (a changed or foreign file).
 * @example
 * ```ts
 * const r = await readKeySketch(dir, toHex(body.sessionId), body.options['requester-sketch-commit']);
 * ```
 */
export async function readKeySketch(
  ledgerDir: string,
  sessionIdHex: string,
  commit: string,
): Promise<{ sketch: KeySketch; problem?: undefined } | { problem: 'missing' | 'mismatch' | 'malformed'; sketch?: undefined }> {
  if (!/^[0-9a-f]{32}$/.test(sessionIdHex)) throw new RangeError('sessionIdHex must be 32 lower-case hex digits');
  let text: string;
  try {
    const path = join(ledgerDir, KEY_SKETCH_DIR, `${sessionIdHex}.json`);
    const st = await fsp.stat(path);
    if (!st.isFile() || st.size > MAX_SKETCH_FILE_BYTES) return { problem: 'malformed' };
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { problem: 'missing' };
    throw e;
  }
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    if (j === null || typeof j !== 'object' || j.version !== 1 || j.sessionId !== sessionIdHex) return { problem: 'malformed' };
    if (typeof j.sketch !== 'string' || typeof j.salt !== 'string' || !/^[0-9a-f]{64}$/.test(j.salt)) return { problem: 'malformed' };
    const bytes = fromBase64(j.sketch);
    if (keySketchCommitment(bytes, fromHex(j.salt)) !== commit) return { problem: 'mismatch' };
    return { sketch: decodeKeySketch(bytes) };
  } catch (e) {
    if (e instanceof SyntaxError || e instanceof MalformedMessageError || e instanceof RangeError || e instanceof TypeError) return { problem: 'malformed' };
    throw e;
  }
}
