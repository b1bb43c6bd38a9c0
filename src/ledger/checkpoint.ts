/**
 * Checkpoints (signed tree heads) in the C2SP formats:
 * - tlog-checkpoint (https://c2sp.org/tlog-checkpoint): body lines `origin`, tree size (decimal,
 *   no leading zeros), root hash (base64), then optional extension lines;
 * - signed-note (https://c2sp.org/signed-note): the body, a blank line, then signature lines
 *   `— <key name> <base64(key ID || signature)>`, where for Ed25519 the key ID is the first 4 bytes
 *   of SHA-256(name || "\n" || 0x01 || public key) and the signature covers the body bytes.
 *
 * The ledger's key name is its origin, as the checkpoint spec recommends.
 * @module
 */
import { MalformedMessageError, VerificationFailedError } from '../errors.js';
import { assertBytes, equalBytes, fromBase64, toBase64, toHex, utf8 } from '../utils/bytes.js';
import { ed25519Signer, ed25519Verify, sha256 } from './hash.js';
import { HASH_BYTES } from './merkle.js';

/**
 * A tree head: which log, how many entries, which root.
 * @example
 * ```ts
 * const cp: Checkpoint = { origin: 'example.org/ledger', size: tree.size, root: tree.root() };
 * ```
 */
export interface Checkpoint {
  /** The log's unique name (first line of the note), also the key name of its signature. */
  origin: string;
  /** Number of entries. */
  size: number;
  /** RFC 9162 root hash of the first `size` entries (32 bytes). */
  root: Uint8Array;
  /** Optional extension lines (non-empty, no newline). */
  extensions?: string[];
}

/**
 * One signature line of a signed note.
 * @example
 * ```ts
 * const [{ name, keyId }] = parseCheckpoint(text).signatures;
 * ```
 */
export interface NoteSignature {
  name: string;
  /** 4-byte key ID. */
  keyId: Uint8Array;
  /** The signature bytes (64 for Ed25519). */
  signature: Uint8Array;
}

/**
 * A parsed signed checkpoint.
 * @example
 * ```ts
 * const { size, root, signatures } = parseCheckpoint(text);
 * ```
 */
export interface SignedCheckpoint extends Checkpoint {
  extensions: string[];
  /** The signed body text. */
  body: string;
  signatures: NoteSignature[];
}

/**
 * Limits on a checkpoint note from an untrusted source.
 * @example
 * ```ts
 * if (text.length > CHECKPOINT_LIMITS.maxNoteBytes) throw new Error('too large');
 * ```
 */
export const CHECKPOINT_LIMITS = { maxNoteBytes: 16384, maxSignatures: 32, maxLineBytes: 1024 } as const;

const EM_DASH = '\u2014';
const ED25519_ALG = 0x01;

/** A key name or origin: printable ASCII without spaces or `+` (a strict reading of signed-note). */
function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= 255 && /^[\x21-\x2a\x2c-\x7e]+$/.test(name);
}

/**
 * Throws `RangeError` unless `origin` can name a log and its key: 1–255 printable ASCII characters,
 * no space, no `+`.
 * @example
 * ```ts
 * assertOrigin('example.org/ledger');
 * ```
 */
export function assertOrigin(origin: string): void {
  if (typeof origin !== 'string' || !isValidName(origin)) {
    throw new RangeError('origin must be 1-255 printable ASCII characters without spaces or "+"');
  }
}

/**
 * The body text of a checkpoint (what its signatures cover), ending in a newline.
 * @example
 * ```ts
 * const body = formatCheckpointBody({ origin: 'example.org/ledger', size: 3, root });
 * ```
 */
export function formatCheckpointBody(cp: Checkpoint): string {
  assertOrigin(cp.origin);
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) throw new RangeError('size must be a non-negative safe integer');
  assertBytes(cp.root, 'root', HASH_BYTES);
  let text = `${cp.origin}\n${cp.size}\n${toBase64(cp.root)}\n`;
  for (const ext of cp.extensions ?? []) {
    if (typeof ext !== 'string' || ext.length === 0 || /[\x00-\x1f\x7f]/.test(ext)) {
      throw new RangeError('extension lines must be non-empty and free of control characters');
    }
    text += `${ext}\n`;
  }
  return text;
}

/**
 * The signed-note key ID of an Ed25519 key: SHA-256(name || "\n" || 0x01 || publicKey)[0:4].
 * @example
 * ```ts
 * const id = noteKeyId('example.org/ledger', publicKey);
 * ```
 */
export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  assertBytes(publicKey, 'publicKey', 32);
  return sha256(utf8(`${name}\n`), Uint8Array.of(ED25519_ALG), publicKey).slice(0, 4);
}

/**
 * The signed-note verifier key string `<name>+<hex key ID>+<base64(0x01 || publicKey)>`, the form
 * other note tools (e.g. Go's `golang.org/x/mod/sumdb/note`) accept.
 * @example
 * ```ts
 * console.log(formatNoteVerifierKey(origin, publicKey));
 * ```
 */
export function formatNoteVerifierKey(name: string, publicKey: Uint8Array): string {
  assertOrigin(name);
  const key = new Uint8Array(33);
  key[0] = ED25519_ALG;
  key.set(publicKey, 1);
  return `${name}+${toHex(noteKeyId(name, publicKey))}+${toBase64(key)}`;
}

/**
 * A complete signed note from a body and one Ed25519 signature over it (no new signing).
 * @example
 * ```ts
 * const text = formatSignedNote(body, origin, publicKey, signature);
 * ```
 */
export function formatSignedNote(body: string, keyName: string, publicKey: Uint8Array, signature: Uint8Array): string {
  assertBytes(signature, 'signature', 64);
  const sig = new Uint8Array(68);
  sig.set(noteKeyId(keyName, publicKey));
  sig.set(signature, 4);
  return `${body}\n${EM_DASH} ${keyName} ${toBase64(sig)}\n`;
}

/**
 * A checkpoint signed with an Ed25519 key; the key name is the origin.
 * @example
 * ```ts
 * const note = signCheckpoint({ origin, size: tree.size, root: tree.root() }, owner);
 * ```
 */
export function signCheckpoint(cp: Checkpoint, owner: { secretKey: Uint8Array; publicKey: Uint8Array }): string {
  assertBytes(owner.secretKey, 'owner.secretKey', 32);
  const body = formatCheckpointBody(cp);
  const signature = ed25519Signer(owner.secretKey)(utf8(body));
  return formatSignedNote(body, cp.origin, owner.publicKey, signature);
}

function parseDecimal(line: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(line)) throw new MalformedMessageError('checkpoint: bad tree size');
  const n = Number(line);
  if (!Number.isSafeInteger(n)) throw new MalformedMessageError('checkpoint: tree size out of range');
  return n;
}

function parseB64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new MalformedMessageError(`checkpoint: bad base64 in ${what}`);
  try {
    return fromBase64(text);
  } catch {
    throw new MalformedMessageError(`checkpoint: bad base64 in ${what}`);
  }
}

/**
 * Parses a signed checkpoint note; throws `MalformedMessageError` on anything that is not one.
 * Does not check signatures: see {@link verifyCheckpoint}.
 * @example
 * ```ts
 * const { origin, size, root } = parseCheckpoint(text);
 * ```
 */
export function parseCheckpoint(text: string): SignedCheckpoint {
  if (typeof text !== 'string') throw new TypeError('text must be a string');
  if (utf8(text).length > CHECKPOINT_LIMITS.maxNoteBytes) throw new MalformedMessageError('checkpoint: note too large');
  // signed-note: no control characters other than newline.
  if (/[\x00-\x09\x0b-\x1f\x7f]/.test(text)) throw new MalformedMessageError('checkpoint: control character in note');
  const split = text.indexOf('\n\n');
  if (split < 0 || !text.endsWith('\n')) throw new MalformedMessageError('checkpoint: not a signed note');
  const body = text.slice(0, split + 1);
  const sigLines = text.slice(split + 2, -1).split('\n');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) throw new MalformedMessageError('checkpoint: too few lines');
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (!isValidName(origin)) throw new MalformedMessageError('checkpoint: bad origin');
  const size = parseDecimal(sizeLine);
  const root = parseB64(rootLine, 'root');
  if (root.length !== HASH_BYTES) throw new MalformedMessageError('checkpoint: root must be 32 bytes');
  for (const ext of extensions) if (ext.length === 0) throw new MalformedMessageError('checkpoint: empty extension line');
  if (sigLines.length > CHECKPOINT_LIMITS.maxSignatures) throw new MalformedMessageError('checkpoint: too many signatures');
  const signatures: NoteSignature[] = sigLines.map((line) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new MalformedMessageError('checkpoint: bad signature line');
    const raw = parseB64(m[2]!, 'signature');
    if (raw.length < 5) throw new MalformedMessageError('checkpoint: signature too short');
    return { name: m[1]!, keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  if (signatures.length === 0) throw new MalformedMessageError('checkpoint: no signature');
  return { origin, size, root, extensions, body, signatures };
}

/**
 * Parses a checkpoint and checks that it carries a valid Ed25519 signature by `publicKey` under
 * `keyName` (default: the checkpoint's origin); signatures by other keys are ignored. Throws
 * `MalformedMessageError` if it is not a checkpoint and `VerificationFailedError` if no signature
 * verifies.
 * @example
 * ```ts
 * const cp = verifyCheckpoint(text, ownerPublicKey);
 * ```
 */
export function verifyCheckpoint(text: string, publicKey: Uint8Array, options: { keyName?: string; origin?: string } = {}): SignedCheckpoint {
  assertBytes(publicKey, 'publicKey', 32);
  const cp = parseCheckpoint(text);
  if (options.origin !== undefined && cp.origin !== options.origin) throw new VerificationFailedError('checkpoint origin does not match');
  const name = options.keyName ?? cp.origin;
  const keyId = noteKeyId(name, publicKey);
  const message = utf8(cp.body);
  const ok = cp.signatures.some(
    (s) => s.name === name && equalBytes(s.keyId, keyId) && s.signature.length === 64 && ed25519Verify(publicKey, message, s.signature),
  );
  if (!ok) throw new VerificationFailedError('checkpoint signature does not verify');
  return cp;
}
